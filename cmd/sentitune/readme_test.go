package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the README's ```sh blocks: the ones that promise to run as they stand.
func readmeBlocks(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```sh":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestREADME runs every ```sh block of the README, in order, from a scratch copy of the repository
// root (build/sentitune built from this tree, data/ linked), so the front door cannot rot.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's examples end to end (about a minute)")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	blocks := readmeBlocks(t, filepath.Join(repo, "README.md"))
	if len(blocks) < 4 {
		t.Fatalf("README has %d sh blocks; the subcommand examples are missing", len(blocks))
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(root, "build", "sentitune"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if err := os.Symlink(filepath.Join(repo, "data"), filepath.Join(root, "data")); err != nil {
		t.Fatal(err)
	}
	// finetune --dry-run's example plans a 7B run from the config.json in finetune/testdata alone.
	if err := os.MkdirAll(filepath.Join(root, "finetune"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(repo, "finetune", "testdata"), filepath.Join(root, "finetune", "testdata")); err != nil {
		t.Fatal(err)
	}
	env := os.Environ()
	if os.Getenv("SENTITUNE_TORCH_LIB") == "" {
		env = append(env, "SENTITUNE_TORCH_LIB="+filepath.Join(repo, "build", "libsentitorch.so"))
	}
	for i, b := range blocks {
		start := time.Now()
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", b)
		cmd.Dir, cmd.Env = root, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("README sh block %d failed: %v\n--- block:\n%s--- output (last 3000 bytes):\n%s", i+1, err, b, tail(out.String(), 3000))
		}
		t.Logf("README block %d ok in %.1fs", i+1, time.Since(start).Seconds())
	}
	// The blocks promised these files; check they are there and not empty.
	for _, p := range []string{"work/prep/train.json", "work/run/adapter/adapter_model.safetensors", "work/merged/config.json",
		"work/preds.csv", "work/sharded.jsonl", "work/report/report.html", "work/report2/metrics.json", "work/demo/report/report.html"} {
		if st, err := os.Stat(filepath.Join(root, p)); err != nil || st.Size() == 0 {
			t.Errorf("README examples should have written %s: %v", p, err)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
