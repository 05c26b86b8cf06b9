package reports

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/task"
)

// TestBaselineSameRows: the baseline scores exactly the model's rows. Predictions without text
// are found by id in the prep folder's test.json (ids from prep, or record numbers for older
// prep folders); predictions of other rows are refused instead of compared.
func TestBaselineSameRows(t *testing.T) {
	ex := makeExample(t, 300)
	// test.json as prep now writes it: every record carries its source id.
	recs, err := task.ReadRecords(filepath.Join(ex.prepDir, "test.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].ID = fmt.Sprintf("R-%d", 1000+i)
	}
	withIDs := filepath.Join(t.TempDir(), "prep")
	if err := os.MkdirAll(withIDs, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(recs)
	os.WriteFile(filepath.Join(withIDs, "test.json"), b, 0o644)
	train, _ := os.ReadFile(filepath.Join(ex.prepDir, "train.json"))
	os.WriteFile(filepath.Join(withIDs, "train.json"), train, 0o644)

	// noText is every k-th prediction, in reverse order, with its text dropped and id mapped.
	noText := func(k int, id func(i int) string) []eval.Prediction {
		var out []eval.Prediction
		for i := len(ex.preds) - 1; i >= 0; i -= k {
			p := ex.preds[i]
			p.Text, p.ID = "", id(i)
			out = append(out, p)
		}
		return out
	}
	recordNumber := func(i int) string { return fmt.Sprint(i + 1) }
	prepID := func(i int) string { return fmt.Sprintf("R-%d", 1000+i) }

	t.Run("a subset, by prep ids", func(t *testing.T) {
		preds := noText(4, prepID)
		in, err := RunEval(preds, EvalConfig{Out: t.TempDir(), BaselineDir: withIDs})
		if err != nil {
			t.Fatal(err)
		}
		checkSameRows(t, in, preds, "found by id")
	})
	t.Run("record numbers of an older prep folder", func(t *testing.T) {
		preds := noText(3, recordNumber)
		in, err := RunEval(preds, EvalConfig{Out: t.TempDir(), BaselineDir: ex.prepDir})
		if err != nil {
			t.Fatal(err)
		}
		checkSameRows(t, in, preds, "found by id")
	})
	t.Run("with text", func(t *testing.T) {
		in, err := RunEval(ex.preds[:60], EvalConfig{Out: t.TempDir(), BaselineDir: withIDs})
		if err != nil {
			t.Fatal(err)
		}
		checkSameRows(t, in, ex.preds[:60], "their text")
	})

	t.Run("repeated id in test.json", func(t *testing.T) {
		dup := filepath.Join(t.TempDir(), "prep")
		os.MkdirAll(dup, 0o755)
		recs := append([]task.Record(nil), recs...)
		recs[3].ID = recs[2].ID
		b, _ := json.Marshal(recs)
		os.WriteFile(filepath.Join(dup, "test.json"), b, 0o644)
		os.WriteFile(filepath.Join(dup, "train.json"), train, 0o644)
		_, err := RunEval(noText(1, prepID), EvalConfig{Out: t.TempDir(), BaselineDir: dup})
		if err == nil || !strings.Contains(err.Error(), `records 3 and 4 have the same id "R-1002"`) {
			t.Fatalf("error %v", err)
		}
	})

	for _, tc := range []struct {
		name  string
		preds func() []eval.Prediction
		want  string
	}{
		{"rows of another file", func() []eval.Prediction {
			return noText(1, func(i int) string { return fmt.Sprintf("other-%d", i) })
		}, `200 of 200 prediction ids are not in ` + filepath.Join(withIDs, "test.json") + ` (first: "other-199", "other-198", "other-197")`},
		{"some rows missing", func() []eval.Prediction {
			return append(noText(2, prepID), eval.Prediction{ID: "R-9999", Label: 1, Pred: 1, Prob: 0.9})
		}, `1 of 101 prediction ids are not in`},
		{"labels disagree", func() []eval.Prediction {
			ps := noText(1, prepID)
			ps[5].Label = 1 - ps[5].Label
			return ps
		}, `prediction id "R-1194" is labelled`},
		{"repeated id", func() []eval.Prediction {
			ps := noText(1, prepID)
			ps[7].ID = ps[6].ID
			return ps
		}, `id "R-1193" appears twice in the predictions`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r")
			_, err := RunEval(tc.preds(), EvalConfig{Out: out, BaselineDir: withIDs})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--no-baseline") {
				t.Fatalf("error %v, want %q and a way out", err, tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("a refused eval wrote a report")
			}
		})
	}
}

// checkSameRows asserts the baseline scored the model's rows, paired by id.
func checkSameRows(t *testing.T, in *Input, preds []eval.Prediction, how string) {
	t.Helper()
	if in.Baseline == nil || in.Baseline.Metrics.N != len(preds) {
		t.Fatalf("baseline scored %d rows, the model %d", in.Baseline.Metrics.N, len(preds))
	}
	if len(in.Comparisons) != 1 || in.Comparisons[0].N != len(preds) || in.Comparisons[0].PairedBy != "id" || len(in.Warnings) != 0 {
		t.Errorf("comparisons %+v, warnings %q", in.Comparisons, in.Warnings)
	}
	if !strings.Contains(in.Provenance["baseline"], how) {
		t.Errorf("baseline provenance %q lacks %q", in.Provenance["baseline"], how)
	}
	// The same rows: the baseline's row for each id has the model's label and the full-text score.
	byID := map[string]eval.Prediction{}
	for _, p := range in.Baseline.Predictions {
		byID[p.ID] = p
	}
	for _, p := range preds {
		if q, ok := byID[p.ID]; !ok || q.Label != p.Label || q.Text == "" {
			t.Fatalf("id %q: baseline row %+v, model row %+v", p.ID, q, p)
		}
	}
}

// TestCompareOtherRowsIsAWarning: an earlier report on as many rows, but other ones, gets no
// McNemar test (it would pair rows by position) and the report says why.
func TestCompareOtherRowsIsAWarning(t *testing.T) {
	ex := makeExample(t, 300)
	other := filepath.Join(t.TempDir(), "other")
	if _, err := RunEval(ex.preds[:50], EvalConfig{Out: other}); err != nil {
		t.Fatal(err)
	}
	in, err := RunEval(ex.preds[50:100], EvalConfig{Out: t.TempDir(), CompareDirs: []string{other}})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Comparisons) != 0 || len(in.Warnings) != 1 || !strings.Contains(in.Warnings[0], `not the same rows: id "51" of A is not in B`) {
		t.Errorf("comparisons %+v, warnings %q", in.Comparisons, in.Warnings)
	}
}
