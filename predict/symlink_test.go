package predict

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWritesThroughSymlinkedOut: --out naming a symbolic link writes the link's target and leaves
// the link in place (it used to be replaced by a regular file, its target unchanged).
func TestRunWritesThroughSymlinkedOut(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 20)
	if err := os.Mkdir(filepath.Join(dir, "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := writeFile(t, filepath.Join(dir, "results", "preds.csv"), []byte("old\n"))
	link := filepath.Join(dir, "preds.csv")
	if err := os.Symlink(filepath.Join("results", "preds.csv"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := run(Config{Input: in, Out: link}, fakeLoader(&fakeScorer{})); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("--out %s is no longer a symbolic link (%v)", link, err)
	}
	b, err := os.ReadFile(target)
	if err != nil || strings.Count(string(b), "\n") != 21 {
		t.Fatalf("target %s holds %q (%v), want a header and 20 rows", target, b, err)
	}
}

// TestRunRefusesOutLinkedToInput: --out a symbolic link to the input would overwrite it through the link.
func TestRunRefusesOutLinkedToInput(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 5)
	link := filepath.Join(dir, "out.jsonl")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(in)
	_, err := run(Config{Input: in, Out: link, Format: FormatJSONL}, fakeLoader(&fakeScorer{}))
	if err == nil || !strings.Contains(err.Error(), "overwrite the input") {
		t.Fatalf("err = %v, want a refusal to overwrite the input", err)
	}
	if after, _ := os.ReadFile(in); string(after) != string(before) {
		t.Fatal("the input changed")
	}
}
