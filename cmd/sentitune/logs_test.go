package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/data"
)

// TestLogLinesNotOnATerminal runs prep, finetune and predict with stderr a buffer (as under
// nohup, Slurm or Kubernetes) and a tiny --log-every: each prints plain progress lines with
// its fields, finetune one line per evaluation, and --report-to tensorboard writes RUN/runs.
func TestLogLinesNotOnATerminal(t *testing.T) {
	dir := t.TempDir()
	model := tinyPredictModel(t)
	in := filepath.Join(dir, "reviews.jsonl")
	lines := bytes.SplitAfter(data.AmazonJSONL(), []byte("\n"))
	if err := os.WriteFile(in, bytes.Join(lines[:120], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	prepDir, run := filepath.Join(dir, "prep"), filepath.Join(dir, "run")

	out, err := runApp(t, "", "prep", "--input", in, "--test-ratio", "0.2", "--out", prepDir, "--log-every", "1ns")
	if err != nil {
		t.Fatal(err)
	}
	want(t, "prep", out, `(?m)^prep: reading: [0-9.]+ KiB/[0-9.]+ KiB \(100\.0%\), .*, elapsed .*, ETA 0s$`)

	out, err = runApp(t, "", "finetune", "--model", model, "--data", prepDir, "--out", run, "--device", "cpu",
		"--max-steps", "4", "--batch-size", "4", "--eval-every", "2", "--log-every", "1ns", "--report-to", "tensorboard")
	if err != nil {
		t.Fatal(err)
	}
	want(t, "finetune", out, `(?m)^finetune: step 4/4 \(100\.0%\), epoch [0-9.]+, loss [0-9.]+ \(label [0-9.]+\), lr \S+, grad norm [0-9.]+, \d+ tok/s, mem .+ RSS, elapsed \S+, ETA 0s$`)
	for _, step := range []string{"0", "2", "4"} {
		want(t, "finetune", out, `(?m)^finetune: eval at step `+step+`/4: loss [0-9.]+, label loss [0-9.]+, accuracy [0-9.]+ on \d+ examples$`)
	}
	if strings.Contains(out, "\r") {
		t.Errorf("finetune drew a progress bar into a log:\n%q", out)
	}
	if files, _ := filepath.Glob(filepath.Join(run, "runs", "events.out.tfevents.*")); len(files) != 1 {
		t.Errorf("want one TensorBoard event file in RUN/runs, got %v", files)
	}

	out, err = runApp(t, "", "predict", "--model", model, "--adapter", filepath.Join(run, "adapter"), "--device", "cpu",
		"--input", filepath.Join(prepDir, "test.json"), "--out", filepath.Join(dir, "preds.csv"), "--log-every", "1ns")
	if err != nil {
		t.Fatal(err)
	}
	want(t, "predict", out, `(?m)^predict: 24/24 rows \(100\.0%\), [0-9.]+ rows/s, elapsed \S+, ETA 0s$`)
}

func TestLogEveryMustBePositive(t *testing.T) {
	for _, args := range [][]string{
		{"prep", "--input", "x.csv", "--out", "o", "--log-every", "0s"},
		{"predict", "--model", "m", "--input", "x.csv", "--out", "o.csv", "--log-every", "-1s"},
		{"finetune", "--model", "m", "--data", "d", "--out", "o", "--log-every", "0s"},
	} {
		_, err := runApp(t, "", args...)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 || !regexp.MustCompile(`log-every.*must be a? ?positive`).MatchString(err.Error()) {
			t.Errorf("%s --log-every 0: %v, want a usage error (exit 2) naming log-every", args[0], err)
		}
	}
}

func want(t *testing.T, cmd, out, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(out) {
		t.Errorf("%s output lacks a line matching %s:\n%s", cmd, pattern, out)
	}
}
