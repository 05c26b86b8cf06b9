package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// processStart dates this process: a temporary entry without a writer pid (named by an older
// sentitune) that was last modified before it cannot belong to a write this process started.
var processStart = time.Now()

// PIDTag goes into temporary names before the random suffix ("pid1234-"), so that RemoveStale
// can tell a dead writer's leftovers from a live writer's.
func PIDTag() string { return "pid" + strconv.Itoa(os.Getpid()) + "-" }

// TempPattern is the os.CreateTemp / os.MkdirTemp pattern for a temporary entry that will be
// renamed to base: ".BASE.tmp-pidPID-" and random digits.
func TempPattern(base string) string { return "." + base + ".tmp-" + PIDTag() }

var writerPID = regexp.MustCompile(`tmp-(?:.*-)?pid(\d+)-\d+$`)

// RemoveStale removes the entries of dir whose names start with prefix, hold ".tmp-" (ours: a
// TempPattern name, or an interrupted checkpoint's .tmp-step-N-…) and were left by a writer that
// is gone: the pid in the name is no live process, or, for names without one, the entry is older
// than this process. It returns the paths removed; a missing dir is not an error.
func RemoveStale(dir, prefix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.Contains(name, ".tmp-") {
			continue
		}
		if m := writerPID.FindStringSubmatch(name); m != nil {
			pid, err := strconv.Atoi(m[1])
			if err != nil || pid == os.Getpid() || alive(pid) {
				continue
			}
		} else if info, err := e.Info(); err != nil || !info.ModTime().Before(processStart) {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.RemoveAll(path); err != nil {
			return removed, err
		}
		removed = append(removed, path)
	}
	return removed, nil
}

// alive reports whether process pid exists (EPERM: it does, under another user).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// inFlight holds the temporary files and folders being written now, for RemoveInFlight.
var inFlight sync.Map

// Track records a temporary path being written; Untrack forgets it once renamed or removed.
func Track(path string)   { inFlight.Store(path, struct{}{}) }
func Untrack(path string) { inFlight.Delete(path) }

// RemoveInFlight removes every tracked temporary path: what a signal handler does before the
// process dies, so an interrupted write leaves nothing behind.
func RemoveInFlight() {
	inFlight.Range(func(k, _ any) bool {
		os.RemoveAll(k.(string))
		return true
	})
}
