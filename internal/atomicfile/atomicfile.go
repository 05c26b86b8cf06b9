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
func Write(path string, write func(io.Writer) error) (err error) {
	target, err := Target(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// An earlier, interrupted write of the same file left its temporary file: ours to remove.
	RemoveStale(filepath.Dir(target), "."+filepath.Base(target)+".tmp-")
	tmp, err := os.CreateTemp(filepath.Dir(target), TempPattern(filepath.Base(target)))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	Track(tmp.Name())
	defer func() {
		Untrack(tmp.Name())
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
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
