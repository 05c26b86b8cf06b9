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
