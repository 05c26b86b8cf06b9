package main

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPredictTextIsNeverSplit: each --text is one review, whatever commas, quotes or newlines it holds.
func TestPredictTextIsNeverSplit(t *testing.T) {
	model := tinyPredictModel(t)
	reviews := []string{
		"Terrible plot, bad acting, awful music",
		`She said "great, really great", then returned it`,
		"First line, of two\nsecond line, with \"quotes\"",
		"sl:::[\"not\",\"json\"]",
	}
	args := []string{"predict", "--model", model, "--device", "cpu"}
	for _, r := range reviews {
		args = append(args, "--text", r)
	}
	out, err := runApp(t, "", args...)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != len(reviews) {
		t.Fatalf("%d --text values gave %d lines:\n%s", len(reviews), len(lines), out)
	}
	// Each line is the score of the whole review: the same as that review alone (-t) or on stdin.
	for i, r := range reviews[:2] {
		alone, err := runApp(t, "", "predict", "--model", model, "--device", "cpu", "-t", r)
		if err != nil {
			t.Fatal(err)
		}
		one, err := runApp(t, r+"\n", "predict", "--model", model, "--device", "cpu")
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Split(out, "\n")[i]; got != strings.TrimSpace(one) || alone != one {
			t.Errorf("--text %q scored %q; alone with -t %q, on stdin %q", r, got, alone, one)
		}
	}
}

// TestNumericFlagsOutOfRange: out-of-range numbers are usage errors (exit 2) naming the flag, before any
// model is loaded (the model folder here does not exist).
func TestNumericFlagsOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"predict", "--text", "x", "--threshold", "NaN"}, "--threshold"},
		{[]string{"predict", "--text", "x", "--threshold", "0"}, "--threshold"},
		{[]string{"predict", "--text", "x", "--threshold", "1.5"}, "--threshold"},
		{[]string{"predict", "--text", "x", "--threshold", "-Inf"}, "--threshold"},
		{[]string{"predict", "--text", "x", "--batch-size", "0"}, "--batch-size"},
		{[]string{"predict", "--text", "x", "--batch-tokens", "-1"}, "--batch-tokens"},
		{[]string{"eval", "--predictions", "p.csv", "--out", "r", "--batch-tokens", "-1"}, "--batch-tokens"},
		{[]string{"predict", "--text", "x", "--max-len", "-1"}, "--max-len"},
		{[]string{"predict", "--text", "x", "--threads", "-2"}, "--threads"},
		{[]string{"predict", "--text", "x", "--generate", "-1"}, "--generate"},
		{[]string{"predict", "--input", "in.csv", "--out", "o.csv", "--window", "0"}, "--window"},
		{[]string{"predict", "--input", "in.csv", "--out", "o.csv", "--shard-block", "0"}, "--shard-block"},
		{[]string{"predict", "--input", "in.csv", "--out", "o.csv", "--log-every", "0s"}, "--log-every"},
		{[]string{"serve", "--max-batch-tokens", "0"}, "--max-batch-tokens"},
		{[]string{"serve", "--max-request-tokens", "-5"}, "--max-request-tokens"},
		{[]string{"serve", "--max-queue-tokens", "0"}, "--max-queue-tokens"},
		{[]string{"eval", "--out", "r", "--threshold", "NaN"}, "--threshold"},
		{[]string{"prep", "--input", "in.csv", "--out", "p", "--test-ratio", "NaN"}, "--test-ratio"},
		{[]string{"prep", "--input", "in.csv", "--out", "p", "--val-ratio", "-0.1"}, "--val-ratio"},
		{[]string{"prep", "--input", "in.csv", "--out", "p", "--test-ratio", "0.6", "--val-ratio", "0.5"}, "--val-ratio"},
		{[]string{"run", "--epochs", "NaN"}, "epochs"},
		{[]string{"run", "--max-steps", "-1"}, "max-steps"},
		{[]string{"predict", "--text", "x", "--threshold", "high"}, "threshold"},
		{[]string{"serve", "--timeout", "soon"}, "timeout"},
		{[]string{"finetune", "--lr", "fast"}, "lr"},
		{[]string{"serve", "--max-body", "1e30"}, "--max-body"},
		{[]string{"serve", "--max-body", "0.4"}, "--max-body"},
		{[]string{"serve", "--max-body", "NaN"}, "--max-body"},
		{[]string{"serve", "--timeout", "0s"}, "--timeout"},
		{[]string{"serve", "--drain", "-1s"}, "--drain"},
		{[]string{"serve", "--max-wait", "0s"}, "--max-wait"},
		{[]string{"serve", "--max-texts", "0"}, "--max-texts"},
		{[]string{"serve", "--max-batch", "-3"}, "--max-batch"},
		{[]string{"serve", "--threshold", "NaN"}, "--threshold"},
		{[]string{"serve", "--batch-size", "-1"}, "--batch-size"},
	} {
		t.Run(strings.Join(tc.args[len(tc.args)-2:], "="), func(t *testing.T) {
			_, err := runApp(t, "", append(tc.args, "--model", "/nonexistent/model")...)
			var ee exitError
			if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("err = %v; want a usage error (exit 2) naming %s", err, tc.flag)
			}
		})
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"65536": 65536, "512KiB": 512 << 10, "1MiB": 1 << 20, "1.5 KiB": 1536, "1GiB": 1 << 30, "2MB": 2 << 20} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "0.4", "-1MiB", "1e30", "2GiB", "0.3KiB", "NaN", "Inf", "", "lots"} {
		if got, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) = %d, want an error", in, got)
		}
	}
}

// TestFinetuneRefusesPipe: a pipe as --train would be hashed (and read by each rank) after it was
// read: refused up front with a usage error naming the flag.
func TestFinetuneRefusesPipe(t *testing.T) {
	pipe := filepath.Join(t.TempDir(), "train.json")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	_, err := runApp(t, "", "finetune", "--model", "/nonexistent/model", "--train", pipe, "--out", filepath.Join(t.TempDir(), "run"))
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "--train") || !strings.Contains(err.Error(), "pipe") {
		t.Fatalf("err = %v; want a usage error naming --train as a pipe", err)
	}
}
