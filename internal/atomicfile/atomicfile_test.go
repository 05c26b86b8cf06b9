package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.json")
	for _, content := range []string{"first", "second"} {
		if err := WriteFile(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

func TestFailedWriteLeavesOldContent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	if err := WriteFile(p, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v, want boom naming %s", err, p)
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("content %q after a failed write, want old", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "x"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

// TestWriteThroughSymlink: a symlinked output stays a link and its target gets the new content,
// written atomically beside the target (relative, absolute, chained and dangling links).
func TestWriteThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "elsewhere")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(other, "preds.csv")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "rel.csv") // → elsewhere/preds.csv
	chain := filepath.Join(dir, "chain.csv")
	abs := filepath.Join(dir, "abs.csv")
	dangling := filepath.Join(dir, "new.csv") // → elsewhere/new.csv, not there yet
	for link, to := range map[string]string{rel: "elsewhere/preds.csv", abs: target, chain: "rel.csv", dangling: "elsewhere/new.csv"} {
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
	}
	for i, link := range []string{rel, abs, chain, dangling} {
		content := []byte(fmt.Sprintf("content %d", i))
		if err := WriteFile(link, content); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("%s is no longer a symbolic link (%v)", link, err)
		}
		want := target
		if link == dangling {
			want = filepath.Join(other, "new.csv")
		}
		if b, err := os.ReadFile(want); err != nil || !bytes.Equal(b, content) {
			t.Fatalf("write through %s: target %s holds %q (%v), want %q", link, want, b, err, content)
		}
	}
	for _, d := range []string{dir, other} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left in %s", e.Name(), d)
			}
		}
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink("loop", loop); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(loop, nil); err == nil || !strings.Contains(err.Error(), loop) {
		t.Fatalf("write through a link loop: err = %v, want one naming %s", err, loop)
	}
}
