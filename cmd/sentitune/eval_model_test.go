package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/reports"
)

func TestEvalModelScoresTestSplit(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	var recs []map[string]string
	for i := range 12 {
		recs = append(recs, map[string]string{
			"instruction": "Positive or negative? Answer 1 or 0.",
			"input":       fmt.Sprintf("review %d: %s", i, strings.Repeat("good ", 1+i%5)),
			"output":      fmt.Sprint(i % 2),
		})
		if i%3 == 0 { // prep's source ids on some records; the others fall back to record numbers
			recs[i]["id"] = fmt.Sprintf("R-%d", 100+i)
		}
	}
	b, _ := json.Marshal(recs)
	data := filepath.Join(dir, "test.json")
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report")
	if _, err := runApp(t, "", "eval", "--model", model, "--data", data, "--out", report, "--no-baseline"); err != nil {
		t.Fatal(err)
	}
	preds, err := eval.ReadPredictions(filepath.Join(report, reports.PredictionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 12 {
		t.Fatalf("%d predictions", len(preds))
	}
	for i, p := range preds {
		if p.Label != i%2 || p.Text != recs[i]["input"] || p.Prob < 0 || p.Prob > 1 {
			t.Fatalf("prediction %d: %+v", i, p)
		}
		if want := cmp.Or(recs[i]["id"], fmt.Sprint(i+1)); p.ID != want {
			t.Errorf("prediction %d: id %q, want %q", i, p.ID, want)
		}
	}
	html, err := os.ReadFile(filepath.Join(report, reports.HTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{model, "Positive or negative? Answer 1 or 0."} {
		if !strings.Contains(string(html), want) {
			t.Errorf("report.html does not show the provenance %q", want)
		}
	}
}

func TestEvalModelBadData(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "test.json")
	os.WriteFile(bad, []byte(`[{"instruction": "x", "input": "fine", "output": "maybe"}]`), 0o644)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`[{"instruction": "x", "input": "fine", "output": "1"}, {"instruction": "x", "input": " ", "output": "0"}]`), 0o644)
	for _, c := range []struct{ data, want string }{
		{bad, `test.json row 1: output "maybe" is not a label (want 0 or 1)`}, // the answer, parsed as finetune parses it
		{empty, "empty.json row 2: empty text"},
		{filepath.Join(dir, "nope.json"), "nope.json"},
	} {
		_, err := runApp(t, "", "eval", "--model", model, "--data", c.data, "--out", filepath.Join(dir, "r"), "--no-baseline")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.data, err, c.want)
		}
	}
}
