package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/reports"
)

// TestEvalCommand runs prep on the Amazon sentences, writes a predictions CSV for the test
// split, and evaluates it with the baseline, then again compared with the first report.
func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	prepDir := filepath.Join(dir, "prep")
	if err := newApp().Run([]string{"sentitune", "prep", "--input", filepath.Join("..", "..", "data", "amazon.jsonl"),
		"--test-ratio", "0.2", "--out", prepDir}); err != nil {
		t.Fatal(err)
	}
	texts, labels, err := eval.ReadLabelledAlpaca(filepath.Join(prepDir, "test.json"))
	if err != nil {
		t.Fatal(err)
	}
	// A made-up classifier: right on three rows in four, prob on the side of its answer.
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"id", "text", "label", "pred", "prob"})
	for i := range texts {
		pred, prob := labels[i], 0.3+0.4*float64(labels[i])
		if i%4 == 0 {
			pred, prob = 1-pred, 1-prob
		}
		w.Write([]string{fmt.Sprint(i + 1), texts[i], fmt.Sprint(labels[i]), fmt.Sprint(pred), fmt.Sprint(prob)})
	}
	w.Flush()
	predsPath := filepath.Join(dir, "preds.csv")
	if err := os.WriteFile(predsPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	first := filepath.Join(dir, "report-a,v1") // a comma in the name: --compare must not split it
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"sentitune", "eval", "--predictions", predsPath, "--baseline", prepDir, "--out", first, "--name", "made-up"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"made-up", "TF-IDF baseline", "McNemar made-up vs TF-IDF baseline", "report: " + filepath.Join(first, "report.html")} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{reports.MetricsFile, reports.MarkdownFile, reports.HTMLFile, reports.PredictionsFile} {
		if _, err := os.Stat(filepath.Join(first, f)); err != nil {
			t.Error(err)
		}
	}
	metrics, err := os.ReadFile(filepath.Join(first, reports.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(metrics), `"accuracy": 0.75,`) || !strings.Contains(string(metrics), `"predictions_sha256"`) {
		t.Errorf("metrics.json: accuracy 0.75 and the predictions hash expected")
	}

	second := filepath.Join(dir, "report-b")
	out.Reset()
	app = newApp()
	app.Writer = &out
	if err := app.Run([]string{"sentitune", "eval", "-p", predsPath, "--out", second, "--compare", first, "--name", "again"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "McNemar again vs made-up") {
		t.Errorf("stdout lacks the comparison:\n%s", out.String())
	}

	// --predictions - reads stdin (a pipe): the same rows, the same metrics.
	third := filepath.Join(dir, "report-c")
	if _, err := runApp(t, buf.String(), "eval", "-p", "-", "--out", third, "--no-baseline"); err != nil {
		t.Fatal(err)
	}
	if metrics, err := os.ReadFile(filepath.Join(third, reports.MetricsFile)); err != nil || !strings.Contains(string(metrics), `"accuracy": 0.75,`) {
		t.Errorf("eval -p - (stdin): metrics.json %s, %v; want accuracy 0.75", metrics, err)
	}
}

func TestEvalCommandErrors(t *testing.T) {
	dir := t.TempDir()
	noLabel := filepath.Join(dir, "nolabel.csv")
	if err := os.WriteFile(noLabel, []byte("id,pred,prob\n1,1,0.9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badProb := filepath.Join(dir, "badprob.jsonl")
	if err := os.WriteFile(badProb, []byte("{\"label\":1,\"pred\":1,\"prob\":0.5}\n{\"label\":0,\"pred\":1,\"prob\":1.2}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"no out", []string{"-p", noLabel}, "--out REPORTDIR is required", 0},
		{"nothing to evaluate", []string{"--out", out}, "need --predictions FILE", 0},
		{"both forms", []string{"-p", noLabel, "--model", dir, "--out", out}, "either --predictions or --model", 0},
		{"model without data", []string{"--model", dir, "--out", out}, "--model needs --data", 0},
		{"model data without a text column", []string{"--model", dir, "--data", noLabel, "--out", out}, "nolabel.csv: no text column found among id, pred, prob: name it with --text-col", 0},
		{"missing label", []string{"-p", noLabel, "--out", out}, `missing column "label"`, 0},
		{"prob out of range", []string{"-p", badProb, "--out", out}, "badprob.jsonl line 2: prob 1.2 is outside [0, 1]", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newApp().Run(append([]string{"sentitune", "eval"}, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var ee exitError
			if tc.code != 0 && (!errors.As(err, &ee) || ee.code != tc.code) {
				t.Errorf("exit code: %v, want %d", err, tc.code)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Error("a failed eval created the report directory")
			}
		})
	}
}
