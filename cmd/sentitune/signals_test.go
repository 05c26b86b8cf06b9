package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/internal/torch"
)

// TestSignalHelperProcess is the sentitune process TestSignalRemovesTemps interrupts; alone it does nothing.
func TestSignalHelperProcess(t *testing.T) {
	if os.Getenv("SENTITUNE_SIGNAL_HELPER") != "1" {
		return
	}
	var args []string
	json.Unmarshal([]byte(os.Getenv("SENTITUNE_SIGNAL_ARGS")), &args)
	if err := newApp().Run(append([]string{"sentitune"}, args...)); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// SIGTERM during predict removes the output's temporary file, and the process still dies of
// SIGTERM (it left a hidden .OUT.tmp-* file behind).
func TestSignalRemovesTemps(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	var in bytes.Buffer
	for range 20 { // 20,000 rows: far more than scoring gets through before the signal
		in.Write(data.AmazonJSONL())
	}
	input := filepath.Join(dir, "reviews.jsonl")
	if err := os.WriteFile(input, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "preds.csv")
	args, _ := json.Marshal([]string{"predict", "--model", model, "--device", "cpu", "--input", input, "--out", out})
	if err := torch.Load(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalHelperProcess$")
	cmd.Env = append(os.Environ(), "SENTITUNE_SIGNAL_HELPER=1", "SENTITUNE_SIGNAL_ARGS="+string(args), torch.LibEnv+"="+torch.LibPath())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, ".preds.csv.tmp-*"))
		return m
	}
	for deadline := time.Now().Add(3 * time.Minute); len(temps()) == 0; time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("predict ended before writing: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no temporary output after 3 minutes")
		}
	}
	if tmp := temps()[0]; !strings.Contains(filepath.Base(tmp), ".tmp-pid") {
		t.Errorf("temporary file %s carries no writer pid", tmp)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := <-done
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("predict ended with %v, want death by SIGTERM\n%s", err, stderr.String())
	}
	if left := temps(); len(left) > 0 {
		t.Fatalf("left behind: %v", left)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("%s exists after an interrupted run: %v", out, err)
	}
}
