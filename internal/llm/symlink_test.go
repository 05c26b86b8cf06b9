package llm

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteDirAtomicThroughSymlink: an output folder named by a symbolic link (merge --out, the
// adapter) keeps the link; the folder it points to gets the new files.
func TestWriteDirAtomicThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "disk2", "merged")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "config.json"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "merged")
	if err := os.Symlink(filepath.Join("disk2", "merged"), link); err != nil {
		t.Fatal(err)
	}
	err := writeDirAtomic(link, []string{"config.json"}, func(tmp string) error {
		return os.WriteFile(filepath.Join(tmp, "config.json"), []byte("new"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("%s is no longer a symbolic link (%v)", link, err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "config.json")); err != nil || string(b) != "new" {
		t.Fatalf("target holds %q (%v), want the new content", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(target)); len(entries) != 1 {
		t.Fatalf("left beside the target: %v", entries)
	}
}
