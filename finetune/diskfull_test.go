package finetune

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A disk that fills while a checkpoint's optimizer state is written ends the run with an error
// naming the file and "no space left on device" (it was a libtorch abort), leaves no temporary
// folder, and keeps the previous checkpoint intact. The run folder is a tmpfs sized from a
// reference run so that the second checkpoint's adapter fits and its optimizer state does not.
func TestDiskFullWhileCheckpointing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root")
	}
	short := func(out string) Config {
		cfg := testConfig(t, out)
		cfg.MaxSteps, cfg.SaveEvery, cfg.EvalEvery, cfg.ValRatio, cfg.LoadBest = 6, 2, 0, 0, false
		return cfg
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if _, err := Train(short(ref), nil); err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := func(n int64) int64 { return (n + page - 1) / page * page }
	var ckpt, adapter, optim int64
	filepath.WalkDir(filepath.Join(ref, DirCheckpoint, "step-2"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			fi, _ := e.Info()
			ckpt += pages(fi.Size())
			switch {
			case filepath.Base(p) == fileOptimizer:
				optim = fi.Size()
			case strings.Contains(p, ckptAdapterDir):
				adapter += pages(fi.Size())
			}
		}
		return nil
	})
	// step-2, the log, then step-4's adapter and half of its optimizer state.
	size := ckpt + 4*page + adapter + pages(optim/2)

	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", mnt).Run()
	out := filepath.Join(mnt, "run")
	_, err := Train(short(out), nil)
	if err == nil {
		t.Fatalf("training on a %d-byte tmpfs: no error", size)
	}
	if !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), fileOptimizer) ||
		!strings.Contains(err.Error(), "checkpoint step 4") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	ents, _ := os.ReadDir(filepath.Join(out, DirCheckpoint))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 1 || names[0] != "step-2" {
		t.Fatalf("checkpoints folder holds %v, want step-2 alone", names)
	}
	if err := verifyCheckpoint(filepath.Join(out, DirCheckpoint, "step-2")); err != nil {
		t.Fatalf("the previous checkpoint: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, FileRun)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("run.json after a failed run: %v", err)
	}
}
