package prep

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRunOutThroughSymlink: prep --out naming a symbolic link to a folder (existing or not yet
// made) writes into the link's target and leaves the link in place.
func TestRunOutThroughSymlink(t *testing.T) {
	for _, exists := range []bool{true, false} {
		dir := t.TempDir()
		target := filepath.Join(dir, "data", "prep")
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if exists {
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		link := filepath.Join(dir, "prep")
		if err := os.Symlink(filepath.Join("data", "prep"), link); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(Config{Input: "testdata/in/reviews.csv", Out: link, TestRatio: 0.5, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("target existing %v: %s is no longer a symbolic link (%v)", exists, link, err)
		}
		if _, err := os.Stat(filepath.Join(target, FileTrain)); err != nil {
			t.Fatalf("target existing %v: %v", exists, err)
		}
	}
}
