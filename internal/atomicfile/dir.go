package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DirMode says what WriteDir does with a folder that already exists.
type DirMode int

const (
	// Replace swaps the whole folder: the old one is renamed aside, the new one into its place,
	// then the old one removed (callers check first that the old content is theirs to replace).
	Replace DirMode = iota
	// Merge renames each entry of the new folder over its namesake in the old one (atomic per
	// entry); the old folder's other entries stay.
	Merge
)

// WriteDir writes the folder dir: fill writes its entries into a temporary folder beside dir,
// which then takes dir's place (a missing dir is created by one rename; an existing one per mode).
// On any error the temporary folder is removed and dir is untouched (with Merge: the entries
// renamed before the error stay). A symbolic link dir stays a link; its target gets the content.
func WriteDir(dir string, mode DirMode, fill func(tmp string) error) (err error) {
	dir, err = Target(filepath.Clean(dir))
	if err != nil {
		return err
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	// An earlier, interrupted write of the same folder left its temporary folder: ours to remove.
	RemoveStale(parent, "."+base+".tmp-")
	tmp, err := os.MkdirTemp(parent, TempPattern(base))
	if err != nil {
		return err
	}
	Track(tmp)
	defer func() {
		Untrack(tmp)
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.Rename(tmp, dir)
	case err != nil:
		return err
	case !st.IsDir():
		return &fs.PathError{Op: "write", Path: dir, Err: errors.New("not a folder")}
	case mode == Merge:
		return mergeInto(tmp, dir)
	default:
		return swap(tmp, dir)
	}
}

// swap puts folder tmp in dir's place and removes the old dir.
func swap(tmp, dir string) error {
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if undo := os.Rename(old, dir); undo != nil {
			return fmt.Errorf("%w (and the old folder stays at %s: %v)", err, old, undo)
		}
		return err
	}
	return os.RemoveAll(old)
}

// mergeInto renames each entry of tmp over its namesake in dir, then removes tmp.
func mergeInto(tmp, dir string) error {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.RemoveAll(tmp)
}
