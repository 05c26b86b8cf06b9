package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
)

// TestAspectCommands: prep --aspects, a short finetune, then predict (file and --text) and eval
// (from the predictions file and from the model) on the aspect adapter.
func TestAspectCommands(t *testing.T) {
	dir := t.TempDir()
	model := tinyPredictModel(t)
	prepDir, run := filepath.Join(dir, "prep"), filepath.Join(dir, "run")
	aspects := []string{"battery", "screen", "delivery", "price"}
	steps := [][]string{
		{"prep", "--input", "../../data/aspects.jsonl", "--aspects", strings.Join(aspects, ","), "--test-ratio", "0.2", "--out", prepDir},
		{"finetune", "--model", model, "--data", prepDir, "--out", run, "--max-steps", "2", "--batch-size", "8", "--max-len", "96", "--device", "cpu"},
	}
	for _, args := range steps {
		if out, err := runApp(t, "", args...); err != nil {
			t.Fatalf("%s: %v\n%s", args[0], err, out)
		}
	}
	adapter := filepath.Join(run, "adapter")
	preds := filepath.Join(dir, "preds.jsonl")
	if out, err := runApp(t, "", "predict", "--model", model, "--adapter", adapter, "--input", filepath.Join(prepDir, "test.json"), "--out", preds, "--device", "cpu"); err != nil {
		t.Fatalf("predict: %v\n%s", err, out)
	}
	cols, rows, err := table.ReadAspectPredictions(preds)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cols.Aspects, aspects) || !cols.Label || !cols.Prob || len(rows) != 25 {
		t.Fatalf("predictions: %+v, %d rows", cols, len(rows))
	}
	for _, r := range rows {
		for k := range aspects {
			sum := 0.0
			for _, p := range r.Probs[k] {
				sum += p
			}
			if math.Abs(sum-1) > 1e-6 || r.Probs[k][r.Pred[k]] != slices.Max(r.Probs[k]) {
				t.Errorf("review %s aspect %s: pred %d, probs %v", r.ID, aspects[k], r.Pred[k], r.Probs[k])
			}
		}
	}

	out, err := runApp(t, "", "predict", "--model", model, "--adapter", adapter, "--device", "cpu", "--text", "Great battery.", "--text", "Late delivery.")
	if err != nil {
		t.Fatalf("predict --text: %v\n%s", err, out)
	}
	line := regexp.MustCompile(`^battery=(negative|neutral|positive|none):[0-9.]+ screen=\S+ delivery=\S+ price=\S+$`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if !line.MatchString(l) {
			t.Errorf("predict --text line %q", l)
		}
	}

	want, err := eval.ComputeAspects(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, fromModel := filepath.Join(dir, "report"), filepath.Join(dir, "report-model")
	if out, err := runApp(t, "", "eval", "--predictions", preds, "--out", fromFile); err != nil {
		t.Fatalf("eval --predictions: %v\n%s", err, out)
	}
	if out, err := runApp(t, "", "eval", "--model", model, "--adapter", adapter, "--data", filepath.Join(prepDir, "test.json"), "--out", fromModel, "--device", "cpu"); err != nil {
		t.Fatalf("eval --model: %v\n%s", err, out)
	}
	for _, report := range []string{fromFile, fromModel} {
		var got struct {
			Task    string              `json:"task"`
			Aspects []eval.AspectResult `json:"aspects"`
		}
		b, err := os.ReadFile(filepath.Join(report, "metrics.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Task != "aspects" || len(got.Aspects) != len(aspects) {
			t.Fatalf("%s: %s", report, b)
		}
		for k, a := range want.Aspects {
			g := got.Aspects[k]
			if g.Aspect != a.Aspect || g.Metrics.Accuracy != a.Metrics.Accuracy || g.Metrics.Macro.F1 != a.Metrics.Macro.F1 || !slices.EqualFunc(g.Metrics.Confusion, a.Metrics.Confusion, slices.Equal) {
				t.Errorf("%s aspect %s: accuracy %v macro F1 %v, want %v %v (ComputeAspects of the predictions)", report, a.Aspect, g.Metrics.Accuracy, g.Metrics.Macro.F1, a.Metrics.Accuracy, a.Metrics.Macro.F1)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(fromFile, "report.html")); err != nil {
		t.Error(err)
	}
	meta, err := task.ReadMeta(adapter)
	if err != nil || !slices.Equal(meta.Aspects, aspects) {
		t.Errorf("sentitune.json aspects %v, %v", meta, err)
	}
}
