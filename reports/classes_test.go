package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
)

// TestWriteClassReport: a K-class report folder holds metrics.json with the model's K-class
// metrics at top level and the baseline's beside them, report.md's side-by-side, per-class and
// confusion tables, report.html's sections per classifier and predictions.jsonl in the K-class
// file format, and the run's loss curve; a second report compares with it by row.
func TestWriteClassReport(t *testing.T) {
	classes := []string{"negative", "neutral", "positive"}
	var preds []eval.Prediction
	for i := range 30 {
		y := i % 3
		pred := y
		if i%5 == 0 {
			pred = (y + 1) % 3
		}
		probs := []float64{0.1, 0.1, 0.1}
		probs[pred] = 0.8
		preds = append(preds, eval.Prediction{ID: string(rune('a' + i)), Label: y, Pred: pred, Probs: probs, Text: "review " + string(rune('a'+i))})
	}
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	os.MkdirAll(runDir, 0o755)
	trainLog := `{"step": 1, "loss": 3.2, "label_loss": 1.1, "split": "train"}` + "\n" + `{"step": 2, "loss": 2.5, "label_loss": 0.9, "split": "train"}` + "\n"
	if err := os.WriteFile(filepath.Join(runDir, "train_log.jsonl"), []byte(trainLog), 0o644); err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(dir, "first")
	in, err := RunClassEval(preds, classes, false, EvalConfig{Out: first, Name: "m1", RunDir: runDir})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	b, _ := os.ReadFile(filepath.Join(first, MetricsFile))
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["task"] != "multiclass" || doc["n"] != 30.0 || doc["accuracy"] != 24.0/30 || doc["name"] != "m1" || doc["mae"] != nil {
		t.Errorf("metrics.json: task %v n %v accuracy %v name %v mae %v", doc["task"], doc["n"], doc["accuracy"], doc["name"], doc["mae"])
	}
	md, _ := os.ReadFile(filepath.Join(first, MarkdownFile))
	for _, want := range []string{"| m1 | 0.800 |", "| neutral | ", "| label \\ pred | negative | neutral | positive |", "| negative | 8 | 2 | 0 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	page, _ := os.ReadFile(filepath.Join(first, HTMLFile))
	for _, want := range []string{"<h2>m1</h2>", `<svg class="confusion"`, "ROC", "Training loss", "3-way cross-entropy over the 3 label logits"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if s := ClassSummary(in); !strings.Contains(s, "m1") || !strings.Contains(s, "negative") || strings.Contains(s, "qw_kappa") {
		t.Errorf("summary:\n%s", s)
	}

	// The second model is right on every row: McNemar pairs it with the first by id.
	for i := range preds {
		preds[i].Pred = preds[i].Label
	}
	second, err := RunClassEval(preds, classes, true, EvalConfig{Out: filepath.Join(dir, "second"), Name: "m2", CompareDirs: []string{first}})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Others) != 1 || second.Others[0].Name != "m1" || len(second.Comparisons) != 1 || second.Comparisons[0].PairedBy != "id" || second.Comparisons[0].AOnly != 6 {
		t.Errorf("comparison: others %+v comparisons %+v", second.Others, second.Comparisons)
	}
	if second.Model.Metrics.MAE == nil || *second.Model.Metrics.MAE != 0 {
		t.Errorf("ordered: MAE %v, want 0", second.Model.Metrics.MAE)
	}
}
