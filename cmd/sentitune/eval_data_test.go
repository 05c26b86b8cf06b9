package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/reports"
)

// TestEvalDataFormats: eval --data reads every format prep reads, not only prep's Alpaca output
// (a CSV gave "invalid character 'i' looking for beginning of value"), with detected or named
// text, label and id columns, and scores the same rows the same way in each.
func TestEvalDataFormats(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	type review struct {
		ID        string `parquet:"review_id"`
		Text      string `parquet:"review"`
		Sentiment string `parquet:"sentiment"`
	}
	var rows []review
	for i := range 9 {
		rows = append(rows, review{fmt.Sprintf("R%d", 10+i), fmt.Sprintf("review %d, %s", i, strings.Repeat("fine ", 1+i%4)),
			[]string{"negative", "positive"}[i%2]})
	}
	var csv, tsv, jsonl bytes.Buffer
	csv.WriteString("review_id,review,sentiment\n")
	tsv.WriteString("review_id\treview\tsentiment\n")
	for _, r := range rows {
		fmt.Fprintf(&csv, "%s,%q,%s\n", r.ID, r.Text, r.Sentiment)
		fmt.Fprintf(&tsv, "%s\t%s\t%s\n", r.ID, r.Text, r.Sentiment)
		fmt.Fprintf(&jsonl, "{\"review_id\": %q, \"review\": %q, \"sentiment\": %q}\n", r.ID, r.Text, r.Sentiment)
	}
	var pq bytes.Buffer
	if err := parquet.Write(&pq, rows); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"reviews.csv": csv.Bytes(), "reviews.tsv": tsv.Bytes(), "reviews.jsonl": jsonl.Bytes(), "reviews.parquet": pq.Bytes()}
	var first []eval.Prediction
	for _, name := range []string{"reviews.csv", "reviews.tsv", "reviews.jsonl", "reviews.parquet"} {
		t.Run(name, func(t *testing.T) {
			data := filepath.Join(dir, name)
			if err := os.WriteFile(data, files[name], 0o644); err != nil {
				t.Fatal(err)
			}
			report := filepath.Join(dir, "report-"+name)
			if out, err := runApp(t, "", "eval", "--model", model, "--data", data, "--out", report, "--no-baseline", "--id-col", "review_id"); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			preds, err := eval.ReadPredictions(filepath.Join(report, reports.PredictionsFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(preds) != len(rows) {
				t.Fatalf("%d predictions of %d rows", len(preds), len(rows))
			}
			for i, p := range preds {
				if p.ID != rows[i].ID || p.Label != i%2 || p.Text != rows[i].Text {
					t.Fatalf("prediction %d: %+v, want id %s label %d text %q", i, p, rows[i].ID, i%2, rows[i].Text)
				}
				if first != nil && (p.Prob != first[i].Prob || p.Pred != first[i].Pred) {
					t.Errorf("row %d scored %.6f here and %.6f from the CSV", i, p.Prob, first[i].Prob)
				}
			}
			if first == nil {
				first = preds
			}
		})
	}
	// Columns with other names are named with --text-col and --label-col; a file without a label column
	// is refused naming the flag.
	named := filepath.Join(dir, "named.csv")
	os.WriteFile(named, []byte("body,verdict\nworks well,pos\nbroke at once,neg\n"), 0o644)
	if out, err := runApp(t, "", "eval", "--model", model, "--data", named, "--out", filepath.Join(dir, "r-named"), "--no-baseline",
		"--text-col", "body", "--label-col", "verdict"); err != nil {
		t.Fatalf("--text-col/--label-col: %v\n%s", err, out)
	}
	unlabelled := filepath.Join(dir, "unlabelled.csv")
	os.WriteFile(unlabelled, []byte("text\nworks well\n"), 0o644)
	if _, err := runApp(t, "", "eval", "--model", model, "--data", unlabelled, "--out", filepath.Join(dir, "r-none"), "--no-baseline"); err == nil ||
		!strings.Contains(err.Error(), "--label-col") || !strings.Contains(err.Error(), unlabelled) {
		t.Fatalf("no label column: %v; want an error naming the file and --label-col", err)
	}
}

// TestEvalDataPipe: eval --data from a pipe reads it once; it used to hash the file again afterwards,
// which blocks forever on a named pipe with no writer left.
func TestEvalDataPipe(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	pipe := filepath.Join(dir, "reviews.csv")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	go func() {
		if w, err := os.OpenFile(pipe, os.O_WRONLY, 0); err == nil {
			w.WriteString("text,label\nworks well,1\nbroke at once,0\nlove it,1\n")
			w.Close()
		}
	}()
	report := filepath.Join(dir, "report")
	done := make(chan error, 1)
	go func() {
		_, err := runApp(t, "", "eval", "--model", model, "--data", pipe, "--out", report, "--no-baseline")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("eval --data from a pipe did not finish")
	}
	preds, err := eval.ReadPredictions(filepath.Join(report, reports.PredictionsFile))
	if err != nil || len(preds) != 3 {
		t.Fatalf("%d predictions, %v; want 3", len(preds), err)
	}
}
