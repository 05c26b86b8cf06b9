// Package atomicfile writes files so that a reader sees the old content or the new, never half of
// either: the data goes to a temporary file in the same directory, is synced, then renamed over path.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write streams path's new content through write. On any error the temporary file is removed and
// path is untouched. When path is a symbolic link, its target gets the content (see Target).
func Write(path string, write func(io.Writer) error) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// File is a file being written atomically: Write into it, then Commit renames it into place, or
// Abort removes it. Readers of its path see the old content until Commit.
type File struct {
	f    *os.File
	bw   *bufio.Writer
	path string // the target: what Commit replaces
	name string // the path as given, for messages
	done bool
}

// Create starts writing path atomically: a temporary file beside its target (Target), which
// must not be a folder.
func Create(path string) (*File, error) {
	target, err := Target(path)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if st, err := os.Stat(target); err == nil && st.IsDir() {
		return nil, fmt.Errorf("write %s: it is a folder", path)
	}
	dir, base := filepath.Dir(target), filepath.Base(target)
	// An earlier, interrupted write of the same file left its temporary file: ours to remove
	// (best effort: what cannot be removed is no reason to fail this write).
	RemoveStale(dir, "."+base+".tmp-")
	f, err := os.CreateTemp(dir, TempPattern(base))
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	Track(f.Name())
	return &File{f: f, bw: bufio.NewWriterSize(f, 1<<20), path: target, name: path}, nil
}

func (a *File) Write(p []byte) (int, error) { return a.bw.Write(p) }

// Commit flushes, syncs and renames the file into place; on error the temporary file is removed.
func (a *File) Commit() error {
	err := a.bw.Flush()
	if err == nil {
		err = a.f.Chmod(0o644)
	}
	if err == nil {
		err = a.f.Sync()
	}
	if err == nil {
		err = a.f.Close()
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.path)
	}
	if err != nil {
		a.Abort()
		return fmt.Errorf("write %s: %w", a.name, err)
	}
	a.done = true
	Untrack(a.f.Name())
	return nil
}

// Abort removes the temporary file; after Commit (or a second Abort) it does nothing.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
	Untrack(a.f.Name())
}

// maxLinks bounds how many symbolic links Target follows (Linux's own limit is 40).
const maxLinks = 40

// Target is the file a write to path must replace: path itself, or, when path is a symbolic link
// (or a chain of them, dangling or not), the file it finally names. Renaming over the link itself
// would turn it into a regular file and leave its target unchanged.
func Target(path string) (string, error) {
	for range maxLinks {
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&os.ModeSymlink == 0 {
			return path, nil // a missing file is created; other errors surface when it is written
		}
		link, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	return "", fmt.Errorf("more than %d symbolic links in a chain (a loop?)", maxLinks)
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
