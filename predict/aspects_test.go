package predict

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// fakeAspectScorer answers "positive" for an aspect whose name is in the review, else "none",
// and records the prompts it saw.
type fakeAspectScorer struct {
	aspects []string
	prompts []aspectPrompt
}

func (f *fakeAspectScorer) aspectInfo() (string, []string, error) {
	return task.AspectInstruction("en"), f.aspects, nil
}

func (f *fakeAspectScorer) scorePrompts(prompts []aspectPrompt) ([][]float64, TokenStats, error) {
	f.prompts = append(f.prompts, prompts...)
	out := make([][]float64, len(prompts))
	for i, p := range prompts {
		out[i] = []float64{0.1, 0.1, 0.1, 0.7}
		for _, a := range f.aspects {
			if p.instruction == task.RenderAspect(task.AspectInstruction("en"), a) && strings.Contains(strings.ToLower(p.text), a) {
				out[i] = []float64{0.1, 0.1, 0.7, 0.1}
			}
		}
	}
	return out, TokenStats{Rows: int64(len(prompts)), Batches: 1}, nil
}

func TestRunAspectsColumns(t *testing.T) {
	aspects := []string{"battery", "screen", "delivery", "price"}
	dir := t.TempDir()
	prepDir := filepath.Join(dir, "prep")
	if _, err := prep.Run(prep.Config{Input: "../data/aspects.jsonl", Aspects: strings.Join(aspects, ","), TestRatio: 0.2, Seed: 42, Out: prepDir}); err != nil {
		t.Fatal(err)
	}
	truth := aspectTruth(t, "../data/aspects.jsonl", aspects)
	for _, input := range []string{filepath.Join(prepDir, "test.json"), "../data/aspects.jsonl"} {
		t.Run(filepath.Base(input), func(t *testing.T) {
			out := filepath.Join(dir, filepath.Base(input)+".csv")
			fake := &fakeAspectScorer{aspects: aspects}
			st, err := runAspects(AspectConfig{Input: input, Out: out, KeepText: true}, table.FormatCSV, fake)
			if err != nil {
				t.Fatal(err)
			}
			header, _, _ := strings.Cut(readString(t, out), "\n")
			want := []string{"id", "text"}
			for _, a := range aspects {
				want = append(append(want, "label_"+a, "aspect_"+a), task.AspectProbColumns(a)...)
			}
			if header != strings.Join(want, ",") {
				t.Errorf("header %s\nwant   %s", header, strings.Join(want, ","))
			}
			cols, rows, err := table.ReadAspectPredictions(out)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cols.Aspects, aspects) || !cols.Label || len(rows) != st.Reviews || len(fake.prompts) != len(rows)*len(aspects) {
				t.Fatalf("%d rows, %d prompts, columns %+v", len(rows), len(fake.prompts), cols)
			}
			for i, r := range rows {
				if !reflect.DeepEqual(r.Label, truth[r.ID]) {
					t.Errorf("review %s: labels %v, want %v", r.ID, r.Label, truth[r.ID])
				}
				for k, a := range aspects {
					p := fake.prompts[i*len(aspects)+k]
					if !strings.Contains(p.instruction, a) || p.text != r.Text {
						t.Errorf("review %s aspect %s scored with %q on %q", r.ID, a, p.instruction, p.text)
					}
					want := task.NotMentioned
					if strings.Contains(strings.ToLower(r.Text), a) {
						want = 2
					}
					if r.Pred[k] != want || r.Probs[k][want] != 0.7 {
						t.Errorf("review %s aspect %s: pred %d probs %v, want %d", r.ID, a, r.Pred[k], r.Probs[k], want)
					}
				}
			}
		})
	}
}

// aspectTruth reads the aspect sample's labels by review id.
func aspectTruth(t *testing.T, path string, aspects []string) map[string][]int {
	t.Helper()
	r, err := table.Open(path, table.FormatAuto, table.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cols := r.Columns()
	out := map[string][]int{}
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		var labels []int
		for _, a := range aspects {
			c, err := task.ParseAspectValue(rec.Get(slices.Index(cols, a)))
			if err != nil {
				t.Fatal(err)
			}
			labels = append(labels, c)
		}
		out[rec.Get(slices.Index(cols, "id"))] = labels
	}
	return out
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunAspectsRefusals(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "recs.jsonl")
	os.WriteFile(in, []byte(`{"instruction":"i","input":"Good battery","output":"2","id":"1","aspect":"battery"}`+"\n"), 0o644)
	fake := &fakeAspectScorer{aspects: []string{"battery", "screen"}}
	if _, err := runAspects(AspectConfig{Input: in, Out: filepath.Join(dir, "o.csv")}, table.FormatCSV, fake); err == nil || !strings.Contains(err.Error(), "no screen record") {
		t.Errorf("a review without every aspect: err %v", err)
	}
	if _, err := aspectOutFormat(AspectConfig{Input: in, Out: filepath.Join(dir, "o.parquet")}); err == nil || !strings.Contains(err.Error(), "csv or jsonl") {
		t.Errorf("parquet output: err %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "o.csv")); !os.IsNotExist(err) {
		t.Error("a failed run wrote its output")
	}
}
