package main

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// TestIDsFromSourceToReport: a review's id in the input CSV reaches prep's records, predict's
// output and the report's error lists; eval scores the baseline on the model's rows, found by
// id, and refuses predictions of other rows instead of comparing them.
func TestIDsFromSourceToReport(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	texts, labels, err := data.Amazon()
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	w := csv.NewWriter(&buf)
	w.Write([]string{"review_id", "review", "label"})
	for i := range 160 {
		w.Write([]string{fmt.Sprintf("AMZ-%04d", 7*i), texts[i], fmt.Sprint(labels[i])})
	}
	w.Flush()
	in := filepath.Join(dir, "reviews.csv")
	if err := os.WriteFile(in, []byte(buf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	prepDir := filepath.Join(dir, "prep")
	if _, err := runApp(t, "", "prep", "--input", in, "--test-ratio", "0.25", "--out", prepDir); err != nil {
		t.Fatal(err)
	}
	testRecs, err := task.ReadRecords(filepath.Join(prepDir, prep.FileTest))
	if err != nil {
		t.Fatal(err)
	}
	preds := filepath.Join(dir, "preds.csv")
	if _, err := runApp(t, "", "predict", "--model", model, "--device", "cpu", "--input", filepath.Join(prepDir, prep.FileTest), "--out", preds); err != nil {
		t.Fatal(err)
	}
	got, err := eval.ReadPredictions(preds)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(testRecs) {
		t.Fatalf("%d predictions of %d test records", len(got), len(testRecs))
	}
	for i, p := range got {
		if p.ID != testRecs[i].ID || !strings.HasPrefix(p.ID, "AMZ-") || p.Text != "" {
			t.Fatalf("prediction %d: id %q text %q, want the record's source id %q and no text", i, p.ID, p.Text, testRecs[i].ID)
		}
	}

	report := filepath.Join(dir, "report")
	if _, err := runApp(t, "", "eval", "--predictions", preds, "--baseline", prepDir, "--out", report); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(report, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| AMZ-") || !strings.Contains(string(md), "found by id in") {
		t.Errorf("report.md lists no source ids in its errors or does not say how the baseline's rows were found:\n%s", md)
	}

	// Predictions of other rows (the train split) are refused, not compared.
	other := filepath.Join(dir, "train-preds.csv")
	if _, err := runApp(t, "", "predict", "--model", model, "--device", "cpu", "--input", filepath.Join(prepDir, prep.FileTrain), "--out", other); err != nil {
		t.Fatal(err)
	}
	_, err = runApp(t, "", "eval", "--predictions", other, "--baseline", prepDir, "--out", filepath.Join(dir, "report2"))
	if err == nil || !strings.Contains(err.Error(), "120 of 120 prediction ids are not in") {
		t.Fatalf("eval of other rows: error %v, want a refusal", err)
	}
}
