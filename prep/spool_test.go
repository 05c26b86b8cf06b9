package prep

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// fifo returns a named pipe that a goroutine fills with the content of src: like a shell's <(cat src).
func fifo(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fd63")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		w.Write(data)
		w.Close()
	}()
	return p
}

func readAll(t *testing.T, r Reader) []string {
	t.Helper()
	defer r.Close()
	var rows []string
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, strings.Join(rec.Values, "|"))
	}
}

// TestOpenPipe: a pipe is read in one pass, Parquet included (it needs random access, so it is
// spooled to a temporary file that Close removes).
func TestOpenPipe(t *testing.T) {
	tmp := t.TempDir()
	spoolDir := t.TempDir()
	t.Setenv("TMPDIR", spoolDir)
	pq := filepath.Join(tmp, "reviews.parquet")
	writeParquet(t, pq)
	for _, src := range []string{pq, "testdata/in/reviews.csv", "testdata/in/reviews.jsonl"} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			want, err := Open(src, FormatAuto, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantRows := readAll(t, want)
			r, err := Open(fifo(t, src), FormatAuto, ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, r); strings.Join(got, "\n") != strings.Join(wantRows, "\n") || len(got) == 0 {
				t.Fatalf("through a pipe: %q, from the file: %q", got, wantRows)
			}
		})
	}
	if left, _ := filepath.Glob(filepath.Join(spoolDir, "sentitune-input-*")); len(left) > 0 {
		t.Errorf("spooled copies left behind: %v", left)
	}
}

// TestSpool: a stream is copied once to a file that can be opened again (messages name the
// stream via ReadOptions.Name); a regular file is used as it is.
func TestSpool(t *testing.T) {
	p := fifo(t, "testdata/in/reviews.csv")
	file, remove, err := Spool(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r, err := Open(file, FormatAuto, ReadOptions{Name: p})
		if err != nil {
			t.Fatal(err)
		}
		if r.Info().Path != p || len(readAll(t, r)) == 0 {
			t.Fatalf("second reading of the spooled %s: path %q", p, r.Info().Path)
		}
	}
	remove()
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("spooled copy %s not removed: %v", file, err)
	}
	if f, _, err := Spool("testdata/in/reviews.csv"); err != nil || f != "testdata/in/reviews.csv" {
		t.Fatalf("regular file spooled to %q, %v", f, err)
	}
}

// TestSpoolRemovedOnSignal: the spooled copy is tracked, so a SIGINT/SIGTERM handler's
// atomicfile.RemoveInFlight removes it when the process is stopped mid-run.
func TestSpoolRemovedOnSignal(t *testing.T) {
	file, remove, err := Spool(fifo(t, "testdata/in/reviews.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	atomicfile.RemoveInFlight()
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("spooled copy %s survived RemoveInFlight: %v", file, err)
	}
}
