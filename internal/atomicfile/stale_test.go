package atomicfile

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	dead, live := strconv.Itoa(deadPID(t)), strconv.Itoa(os.Getppid())
	old := time.Now().Add(-time.Hour)
	entries := []struct {
		name  string
		dir   bool
		mtime time.Time
		gone  bool
	}{
		{".preds.csv.tmp-pid" + dead + "-123", false, time.Now(), true},   // its writer is gone
		{".preds.csv.tmp-pid" + live + "-124", false, old, false},         // its writer runs
		{".preds.csv.tmp-55555", false, old, true},                        // no pid (older sentitune), from before this process
		{".preds.csv.tmp-66666", false, time.Now().Add(time.Hour), false}, // no pid, written since this process started
		{".other.csv.tmp-pid" + dead + "-1", false, old, false},           // another file's
		{"preds.csv", false, old, false},                                  // not a temporary file
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.name)
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, e.mtime, e.mtime)
	}
	removed, err := RemoveStale(dir, ".preds.csv.tmp-")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.name)
		_, statErr := os.Stat(p)
		if gone := os.IsNotExist(statErr); gone != e.gone || slices.Contains(removed, p) != e.gone {
			t.Errorf("%s: removed %v, want %v (reported: %v)", e.name, gone, e.gone, removed)
		}
	}
	// Folders go whole: an interrupted checkpoint.
	ck := filepath.Join(dir, "checkpoints", ".tmp-step-4-pid"+dead+"-77")
	os.MkdirAll(filepath.Join(ck, "adapter"), 0o755)
	os.WriteFile(filepath.Join(ck, "adapter", "w"), []byte("x"), 0o644)
	if removed, err := RemoveStale(filepath.Join(dir, "checkpoints"), ".tmp-step-"); err != nil || len(removed) != 1 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	if _, err := os.Stat(ck); !os.IsNotExist(err) {
		t.Fatalf("checkpoint folder: %v", err)
	}
	if removed, err := RemoveStale(filepath.Join(dir, "none"), "."); err != nil || removed != nil {
		t.Fatalf("missing folder: %v, %v", removed, err)
	}
}

// Write removes its own file's stale temporaries, names new ones with its pid, and tracks them
// only while writing.
func TestWriteNamesAndCleansTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run.json")
	stale := filepath.Join(dir, ".run.json.tmp-pid"+strconv.Itoa(deadPID(t))+"-9")
	os.WriteFile(stale, []byte("half"), 0o644)
	var during []string
	err := Write(path, func(w io.Writer) error {
		inFlight.Range(func(k, _ any) bool { during = append(during, k.(string)); return true })
		_, err := w.Write([]byte("{}"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale temporary file: %v", err)
	}
	want := filepath.Join(dir, TempPattern("run.json"))
	if len(during) != 1 || len(during[0]) <= len(want) || during[0][:len(want)] != want {
		t.Fatalf("tracked while writing: %v, want %s…", during, want)
	}
	n := 0
	inFlight.Range(func(any, any) bool { n++; return true })
	if n != 0 {
		t.Fatalf("%d paths still tracked after the write", n)
	}
}

// Only names of our pattern count: a hidden file that merely holds "tmp-" stays.
func TestRemoveStaleKeepsOtherHiddenFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".mytmp-notes")
	os.WriteFile(p, []byte("x"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	if removed, err := RemoveStale(dir, "."); err != nil || len(removed) != 0 {
		t.Fatalf("removed %v, %v", removed, err)
	}
}
