package predict

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// Benchmarks for the bench issue (go test ./predict -run '^$' -bench . -benchtime 3x):
//
//	BenchmarkScoreVsGenerate   rows/s of label scoring and of greedy --generate on the same rows
//	BenchmarkScoreVsForward    scoring's token rate against a bare batched Hidden forward over the same batches
//	BenchmarkPaddingIMDB       padding fraction of the length-sorted batches on IMDB-like review lengths
//
// Each runs on the tiny preset (hidden 64, 2 layers) and the small one (hidden 256, 4 layers), both
// with the real 151,936-token Qwen vocabulary.

var smallOnce struct {
	sync.Once
	dir string
	err error
}

func presetModel(b *testing.B, preset string) string {
	if preset == "tiny" {
		return tinyModel(b)
	}
	smallOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			smallOnce.err = err
			return
		}
		smallOnce.dir = filepath.Join(dir, "small")
		smallOnce.err = llm.InitRandomModel(smallOnce.dir, "small", 1, "f32")
	})
	if smallOnce.err != nil {
		b.Fatal(smallOnce.err)
	}
	return smallOnce.dir
}

func BenchmarkScoreVsGenerate(b *testing.B) {
	texts, _ := digitFreeRows(b, 64)
	for _, preset := range []string{"tiny", "small"} {
		sc := newTinyScorer(b, ScorerConfig{ModelDir: presetModel(b, preset), BatchSize: 16})
		b.Run(preset+"/score", func(b *testing.B) {
			for b.Loop() {
				if _, err := sc.Score(texts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		// A tuned model answers "1<|im_end|>": 2 steps is generation at its cheapest.
		for _, n := range []int{2, 8} {
			b.Run(fmt.Sprintf("%s/generate-%d", preset, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := sc.Generate(texts, n); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(texts)*b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}

func BenchmarkScoreVsForward(b *testing.B) {
	texts, _ := amazonRows(b, 256)
	for _, preset := range []string{"tiny", "small"} {
		sc := newTinyScorer(b, ScorerConfig{ModelDir: presetModel(b, preset), BatchSize: 16})
		ids, order, err := sc.lengthOrder(cleanAllMust(b, texts))
		if err != nil {
			b.Fatal(err)
		}
		var batches [][][]int
		tokens := 0
		for lo := 0; lo < len(order); lo += 16 {
			var batch [][]int
			for _, i := range order[lo:min(lo+16, len(order))] {
				batch = append(batch, ids[i])
				tokens += len(ids[i])
			}
			batches = append(batches, batch)
		}
		// Interleaved batch by batch, so that load from other processes hits both alike.
		b.Run(preset, func(b *testing.B) {
			var bare, score time.Duration
			for b.Loop() {
				for _, batch := range batches {
					t0 := time.Now()
					err := sc.withModel(func(m *llm.Model) error {
						s := torch.NewScope()
						defer s.Close()
						h, err := m.HiddenAt(s, llm.Batch{IDs: batch}, nil, nil, false)
						if err != nil {
							return err
						}
						_, err = s.Narrow(s.Narrow(h, 0, 0, 1), 1, 0, 1).Float32s() // wait for the result
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if _, _, err := sc.ScoreIDs(batch); err != nil {
						b.Fatal(err)
					}
					bare, score = bare+t1.Sub(t0), score+time.Since(t1)
				}
			}
			b.ReportMetric(float64(tokens*b.N)/bare.Seconds(), "bare-tokens/s")
			b.ReportMetric(float64(tokens*b.N)/score.Seconds(), "score-tokens/s")
			b.ReportMetric(100*bare.Seconds()/score.Seconds(), "%-of-bare")
		})
	}
}

func cleanAllMust(tb testing.TB, texts []string) []string {
	out, err := cleanAll(texts)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// imdbLikeTexts builds n reviews from the bundled sentences with word counts
// drawn from a log-normal fitted to IMDB's (median 174 words, mean 231,
// long tail to ~2,500).
func imdbLikeTexts(tb testing.TB, n int, seed uint64) []string {
	sentences, _ := amazonRows(tb, 999)
	rng := rand.New(rand.NewPCG(seed, 1))
	mu, sigma := math.Log(174), 0.75
	out := make([]string, n)
	for i := range out {
		words := int(math.Exp(mu + sigma*rng.NormFloat64()))
		words = max(10, min(words, 2500))
		var b strings.Builder
		for w := 0; w < words; {
			s := sentences[rng.IntN(len(sentences))]
			b.WriteString(s + " ")
			w += len(strings.Fields(s))
		}
		out[i] = b.String()
	}
	return out
}

// BenchmarkPaddingIMDB reports the padding of Run's batching (windows of
// 4096 rows sorted by length, batches of 16 and 64) at max length 512,
// finetune's default, and with no cut; and, for contrast, in input order.
func BenchmarkPaddingIMDB(b *testing.B) {
	texts := imdbLikeTexts(b, 8192, 1)
	for _, maxLen := range []int{512, 4096} {
		sc := newTinyScorer(b, ScorerConfig{MaxLen: maxLen})
		var lengths []int
		for _, t := range texts {
			ids, err := sc.encode(cleanText(t))
			if err != nil {
				b.Fatal(err)
			}
			lengths = append(lengths, len(ids))
		}
		for _, batch := range []int{16, 64} {
			b.Run(fmt.Sprintf("max-len-%d/batch-%d", maxLen, batch), func(b *testing.B) {
				var sorted, unsorted TokenStats
				for b.Loop() {
					sorted, unsorted = paddingOf(lengths, DefaultWindow, batch, true), paddingOf(lengths, DefaultWindow, batch, false)
				}
				b.ReportMetric(100*sorted.PaddingFraction(), "%-padding-sorted")
				b.ReportMetric(100*unsorted.PaddingFraction(), "%-padding-unsorted")
			})
		}
	}
}

// paddingOf plans Run's batches over prompt lengths without running the model.
func paddingOf(lengths []int, window, batch int, sorted bool) TokenStats {
	var st TokenStats
	for lo := 0; lo < len(lengths); lo += window {
		w := append([]int(nil), lengths[lo:min(lo+window, len(lengths))]...)
		if sorted {
			slices.Sort(w)
		}
		for i := 0; i < len(w); i += batch {
			rows := make([][]int, 0, batch)
			for _, n := range w[i:min(i+batch, len(w))] {
				rows = append(rows, make([]int, n))
			}
			st.add(batchStats(rows))
		}
	}
	return st
}

// The padding goal (≤ 5 % on IMDB-like lengths) as a test, so it cannot regress.
func TestPaddingIMDBLike(t *testing.T) {
	sc := sharedScorer(t)
	texts := imdbLikeTexts(t, 4096, 2)
	lengths := make([]int, len(texts))
	for i, text := range texts {
		ids, err := sc.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		lengths[i] = len(ids)
	}
	t0 := time.Now()
	st := paddingOf(lengths, DefaultWindow, 16, true)
	if f := st.PaddingFraction(); f > 0.05 {
		t.Fatalf("padding %.1f%% with length-sorted batches of 16, want ≤ 5%%", 100*f)
	}
	un := paddingOf(lengths, DefaultWindow, 16, false)
	t.Logf("IMDB-like lengths (max len %d): padding %.2f%% sorted vs %.1f%% in input order (%v)", sc.maxLen, 100*st.PaddingFraction(), 100*un.PaddingFraction(), time.Since(t0))
	// And it is what scoreTexts really does.
	_, real, err := sc.scoreTexts(cleanAllMust(t, texts[:64]), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := paddingOf(lengths[:64], DefaultWindow, sc.batchSize, true); real.Padding != want.Padding || real.Tokens != want.Tokens {
		t.Fatalf("scoreTexts padding %+v, planned %+v", real, want)
	}
}
