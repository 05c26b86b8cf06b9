package predict

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRunInputPipe: predict --input <(cmd) reads a pipe, which can be read only once, though Run makes
// two passes (check and count, then score): it gives the same output as the file.
func TestRunInputPipe(t *testing.T) {
	dir := t.TempDir()
	in := amazonFile(t, dir, 30)
	want := filepath.Join(dir, "from-file.csv")
	if _, err := run(Config{Input: in, Out: want, Window: 7}, fakeLoader(&fakeScorer{})); err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join(dir, "fd63")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if w, err := os.OpenFile(pipe, os.O_WRONLY, 0); err == nil {
			w.Write(data)
			w.Close()
		}
	}()
	got := filepath.Join(dir, "from-pipe.csv")
	st, err := run(Config{Input: pipe, Out: got, Window: 7}, fakeLoader(&fakeScorer{}))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(want)
	b, _ := os.ReadFile(got)
	if st.Rows != 30 || !bytes.Equal(a, b) {
		t.Fatalf("%d rows from the pipe; output differs from the file's:\n%s\n---\n%s", st.Rows, b, a)
	}
}
