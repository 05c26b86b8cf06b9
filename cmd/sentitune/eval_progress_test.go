package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/reports"
)

// TestEvalBaselineCachedAndPhasesShown: with stderr not a terminal, eval prints a plain line for
// each phase (reading, the baseline's features and Newton iterations, the report); a second
// eval on the same prep folder reads the cached fit instead of fitting, with the same result.
func TestEvalBaselineCachedAndPhasesShown(t *testing.T) {
	dir := t.TempDir()
	prepDir := filepath.Join(dir, "prep")
	if _, err := runApp(t, "", "prep", "--input", filepath.Join("..", "..", "data", "amazon.jsonl"), "--test-ratio", "0.2", "--out", prepDir); err != nil {
		t.Fatal(err)
	}
	texts, labels, err := eval.ReadLabelledAlpaca(filepath.Join(prepDir, "test.json"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"id", "text", "label", "pred", "prob"})
	for i := range texts {
		w.Write([]string{fmt.Sprint(i + 1), texts[i], fmt.Sprint(labels[i]), fmt.Sprint(labels[i]), fmt.Sprint(0.2 + 0.6*float64(labels[i]))})
	}
	w.Flush()
	predsPath := filepath.Join(dir, "preds.csv")
	if err := os.WriteFile(predsPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	baselineOf := func(report string) json.RawMessage {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join(report, reports.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc["baseline"]) == 0 {
			t.Fatalf("%s has no baseline", report)
		}
		return doc["baseline"]
	}
	first, second := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	out, err := runApp(t, "", "eval", "--predictions", predsPath, "--baseline", prepDir, "--out", first, "--log-every", "1ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"eval: reading " + predsPath, fmt.Sprintf("eval: %d predictions", len(texts)),
		"eval: baseline: fitting on " + filepath.Join(prepDir, "train.json"), "eval: baseline features: 256/800 rows", "eval: baseline features: 800/800 rows (100.0%)",
		"eval: baseline: Newton iteration 1: objective", "eval: baseline: fitted in", "eval: writing the report to " + first, "eval: report written in"} {
		if !strings.Contains(out, want) {
			t.Errorf("first eval's output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("a bar's carriage return in output that is not a terminal:\n%q", out)
	}

	out, err = runApp(t, "", "eval", "--predictions", predsPath, "--baseline", prepDir, "--out", second)
	if err != nil {
		t.Fatal(err)
	}
	if want := "eval: baseline: read the fit from " + filepath.Join(prepDir, ".cache", "baseline-"); !strings.Contains(out, want) {
		t.Errorf("second eval's output lacks %q:\n%s", want, out)
	}
	if strings.Contains(out, "Newton iteration") || strings.Contains(out, "fitting on") {
		t.Errorf("the second eval fitted the baseline again:\n%s", out)
	}
	if a, b := baselineOf(first), baselineOf(second); !bytes.Equal(a, b) {
		t.Errorf("the cached baseline's metrics differ from the fitted one's:\n%s\n%s", a, b)
	}
}

// TestEvalModelShowsScoringProgress: eval --model prints the model load and scoring lines
// (rows, rows/s, ETA) when stderr is not a terminal.
func TestEvalModelShowsScoringProgress(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	var recs []map[string]string
	for i := range 12 {
		recs = append(recs, map[string]string{"instruction": "Positive or negative? Answer 1 or 0.",
			"input": fmt.Sprintf("review %d: %s", i, strings.Repeat("fine ", 1+i%4)), "output": fmt.Sprint(i % 2)})
	}
	b, _ := json.Marshal(recs)
	data := filepath.Join(dir, "test.json")
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runApp(t, "", "eval", "--model", model, "--data", data, "--out", filepath.Join(dir, "report"),
		"--no-baseline", "--batch-size", "4", "--log-every", "1ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"eval: reading " + data, "eval: loading " + model, "eval: scoring: 4/12 rows (33.3%)", "eval: scoring: 12/12 rows (100.0%)", " rows/s", "ETA ", "eval: report written in"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := runApp(t, "", "eval", "--model", model, "--data", data, "--out", filepath.Join(dir, "r2"), "--log-every", "0s"); err == nil {
		t.Error("--log-every 0s accepted")
	}
}
