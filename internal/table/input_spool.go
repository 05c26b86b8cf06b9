package table

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// spooledFile is a temporary copy of a stream; Close also removes it.
type spooledFile struct{ *os.File }

func (s spooledFile) Close() error {
	err := s.File.Close()
	if rerr := os.Remove(s.Name()); err == nil {
		err = rerr
	}
	atomicfile.Untrack(s.Name())
	return err
}

// spool copies r into a temporary file (named after name's extension, so format detection by
// name still works) and returns it positioned at the start.
func spool(r io.Reader, name string) (spooledFile, error) {
	f, err := os.CreateTemp("", "sentitune-input-*"+filepath.Ext(name))
	if err != nil {
		return spooledFile{}, fmt.Errorf("read %s: copy the stream to a temporary file: %w", name, err)
	}
	s := spooledFile{f}
	atomicfile.Track(f.Name()) // removed by a SIGINT/SIGTERM handler too (atomicfile.RemoveInFlight)
	if _, err := io.Copy(f, r); err != nil {
		s.Close()
		return spooledFile{}, fmt.Errorf("read %s: copy the stream to %s: %w", name, f.Name(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.Close()
		return spooledFile{}, fmt.Errorf("read %s: %w", name, err)
	}
	return s, nil
}

// IsStream reports whether path is a pipe, a terminal or another file that can be read only once
// (/dev/stdin, a shell's <(cmd)); a missing path is not.
func IsStream(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.Mode().IsRegular() && !st.IsDir()
}

// Spool makes an input that will be read more than once readable again: a stream (IsStream) is
// copied once into a temporary file, whose path is returned with a func that removes it; any other
// path is returned as it is. Open the copy with ReadOptions.Name set to path, so messages name
// the input the user gave.
func Spool(path string) (file string, remove func(), err error) {
	if !IsStream(path) {
		return path, func() {}, nil
	}
	in, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer in.Close()
	s, err := spool(bufio.NewReaderSize(in, 1<<20), path)
	if err != nil {
		return "", nil, err
	}
	if err := s.File.Close(); err != nil {
		os.Remove(s.Name())
		atomicfile.Untrack(s.Name())
		return "", nil, fmt.Errorf("read %s: %w", path, err)
	}
	return s.Name(), func() { os.Remove(s.Name()); atomicfile.Untrack(s.Name()) }, nil
}
