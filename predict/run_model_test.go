package predict

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
)

var sharedOnce struct {
	sync.Once
	sc  *Scorer
	err error
}

// sharedScorer is one tiny-model scorer (batch size 4) for the tests that
// only need some real model; loading takes about a second.
func sharedScorer(t testing.TB) *Scorer {
	t.Helper()
	dir := tinyModel(t)
	sharedOnce.Do(func() {
		sharedOnce.sc, sharedOnce.err = NewScorer(ScorerConfig{ModelDir: dir, Device: "cpu", BatchSize: 4})
	})
	if sharedOnce.err != nil {
		t.Fatal(sharedOnce.err)
	}
	return sharedOnce.sc
}

func sharedLoader(t testing.TB) func() (batchScorer, func(), error) {
	sc := sharedScorer(t)
	return func() (batchScorer, func(), error) { return sc, func() {}, nil }
}

// Shards scored separately and merged equal an unsharded run byte for byte,
// with the real model: each row lands in the same batch either way.
func TestShardsMergedEqualUnsharded(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 61)
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		t.Run(format, func(t *testing.T) {
			whole := filepath.Join(dir, "whole."+format)
			st, err := run(Config{Input: in, Out: whole, Window: 8}, sharedLoader(t))
			if err != nil {
				t.Fatal(err)
			}
			if st.Rows != 61 || st.Tokens.Batches != 8*2 {
				t.Fatalf("stats %+v", st)
			}
			out := filepath.Join(dir, "parts."+format)
			for i := range 3 {
				if _, err := run(Config{Input: in, Out: out, Window: 8, ShardBlock: 8, Shard: Shard{i, 3}}, sharedLoader(t)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := MergeShards(out, ""); err != nil {
				t.Fatal(err)
			}
			assertSameFile(t, whole, out)
		})
	}
}

// Run's rows match scoring the same texts directly, in input order.
func TestRunMatchesScore(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 30)
	out := filepath.Join(dir, "out.csv")
	st, err := Run(Config{Scorer: ScorerConfig{ModelDir: tinyModel(t), Device: "cpu", BatchSize: 4}, Input: in, Out: out, Window: 16})
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := ReadRows(out)
	if err != nil {
		t.Fatal(err)
	}
	texts, labels := amazonRows(t, 30)
	scores, err := sharedScorer(t).Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.ID != fmt.Sprint(i+1) || r.Label != labels[i] || r.Pred != scores[i].Pred || math.Abs(r.Prob-scores[i].Prob) > 1e-6 {
			t.Fatalf("row %d: %+v, want %+v", i, r, scores[i])
		}
	}
	if st.Model.Model != tinyModel(t) || st.Tokens.Tokens == 0 || st.Tokens.PaddingFraction() >= 0.5 {
		t.Fatalf("stats %+v", st)
	}
}
