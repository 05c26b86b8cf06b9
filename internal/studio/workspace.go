package studio

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Workspace is the one folder studio reads and writes; every path a request names is inside it.
type Workspace struct {
	root string // absolute, symlinks resolved
}

// errOutside is a path that leaves the workspace (.., an absolute path, a symlink pointing out).
var errOutside = errors.New("path is outside the workspace")

// OpenWorkspace creates dir when missing and returns it with its symlinks resolved.
func OpenWorkspace(dir string) (Workspace, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Workspace{}, fmt.Errorf("workspace %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Workspace{}, fmt.Errorf("workspace %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return Workspace{}, fmt.Errorf("workspace %s: %w", dir, err)
	}
	return Workspace{root: real}, nil
}

// Root is the workspace's absolute path.
func (w Workspace) Root() string { return w.root }

// Resolve turns a slash-separated path relative to the workspace into an absolute one, refusing
// absolute paths, .. and any existing symlink on the way that resolves outside the workspace.
func (w Workspace) Resolve(rel string) (string, error) {
	if rel == "" || strings.ContainsRune(rel, 0) || strings.Contains(rel, `\`) {
		return "", fmt.Errorf("%q: %w", rel, errOutside)
	}
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") {
		return "", fmt.Errorf("%q: %w", rel, errOutside)
	}
	for _, part := range strings.Split(rel, "/") {
		if part == ".." {
			return "", fmt.Errorf("%q: %w", rel, errOutside)
		}
	}
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	real, err := w.realPath(p)
	if err != nil {
		return "", fmt.Errorf("%q: %w", rel, err)
	}
	if real != w.root && !strings.HasPrefix(real, w.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%q: %w", rel, errOutside)
	}
	return p, nil
}

// realPath resolves the symlinks of p's longest existing prefix and appends the rest unchanged.
func (w Workspace) realPath(p string) (string, error) {
	rest := ""
	for cur := p; ; cur = filepath.Dir(cur) {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if _, lerr := os.Lstat(cur); lerr == nil {
			return "", errOutside // a dangling symlink: where it would point is not ours to create
		}
		if cur == w.root || cur == filepath.Dir(cur) {
			return "", err
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}

// Rel is abs relative to the workspace, slash-separated, for pages and job records.
func (w Workspace) Rel(abs string) string {
	r, err := filepath.Rel(w.root, abs)
	if err != nil {
		return abs
	}
	return filepath.ToSlash(r)
}

// Folders of the workspace.
const (
	dirUploads = "uploads"
	dirData    = "data"
	dirModels  = "models"
	dirRuns    = "runs"
	dirStudio  = ".studio" // job records and logs
)

// list names the entries of a workspace folder (missing: none), folders only when dirs is set.
func (w Workspace) list(folder string, dirs bool) ([]string, error) {
	names := []string{} // a JSON list, never null
	entries, err := os.ReadDir(filepath.Join(w.root, folder))
	if errors.Is(err, fs.ErrNotExist) {
		return names, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() != dirs {
			continue
		}
		names = append(names, e.Name())
	}
	return names, nil
}
