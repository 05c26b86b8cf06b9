package prep

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteAtomicallyFailureLeavesNothing(t *testing.T) {
	failing := []outFile{
		{"train.json", func(w io.Writer) error { _, err := io.WriteString(w, "[new]"); return err }},
		{"test.json", func(w io.Writer) error {
			io.WriteString(w, "[half")
			return errors.New("disk full")
		}},
	}
	t.Run("new folder", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		if err := writeAtomically(dir, failing, nil); err == nil {
			t.Fatal("no error")
		}
		if names := listDir(t, parent); len(names) != 0 {
			t.Errorf("left %v", names)
		}
	})
	t.Run("existing folder", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "out")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "train.json"), []byte("[old]"), 0o644)
		if err := writeAtomically(dir, failing, nil); err == nil {
			t.Fatal("no error")
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "train.json")); string(b) != "[old]" {
			t.Errorf("train.json is %q", b)
		}
		if names := listDir(t, parent); !slices.Equal(names, []string{"out"}) {
			t.Errorf("left %v", names)
		}
		if names := listDir(t, dir); !slices.Equal(names, []string{"train.json"}) {
			t.Errorf("out holds %v", names)
		}
	})
	t.Run("success", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "out")
		ok := failing[:1]
		if err := writeAtomically(dir, ok, nil); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "train.json")); string(b) != "[new]" {
			t.Errorf("train.json is %q", b)
		}
		st, _ := os.Stat(dir)
		if st.Mode().Perm() != 0o755 {
			t.Errorf("folder mode %v", st.Mode())
		}
	})
}
