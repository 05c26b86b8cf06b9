package finetune

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/filehash"
)

// fileChecksums lists the SHA-256 of every other file of a checkpoint, in sha256sum's format,
// so `sha256sum -c SHA256SUMS` inside the folder checks it too.
const fileChecksums = "SHA256SUMS"

// writeChecksums records every file under dir (but SHA256SUMS) in dir/SHA256SUMS.
func writeChecksums(dir string) error {
	var files []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel != fileChecksums {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	var b bytes.Buffer
	for _, f := range files {
		h, err := filehash.SHA256(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", h, f)
	}
	return atomicfile.WriteFile(filepath.Join(dir, fileChecksums), b.Bytes())
}

// verifyCheckpoint checks ckpt's files against its SHA256SUMS and that the files a resume reads
// are among them; the error says what is wrong.
func verifyCheckpoint(ckpt string) error {
	b, err := os.ReadFile(filepath.Join(ckpt, fileChecksums))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no %s (written by an older sentitune, or damaged)", fileChecksums)
	}
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for line := 1; sc.Scan(); line++ {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 || name == "" || strings.Contains(name, "..") || filepath.IsAbs(name) {
			return fmt.Errorf("%s line %d: want \"SHA256  FILE\"", fileChecksums, line)
		}
		listed[name] = true
		h, err := filehash.SHA256(filepath.Join(ckpt, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s is missing", name)
		}
		if err != nil {
			return err
		}
		if h != sum {
			return fmt.Errorf("%s: sha256 %.12s…, %s says %.12s…", name, h, fileChecksums, sum)
		}
	}
	for _, need := range []string{fileTrainerState, fileOptimizer, ckptAdapterDir + "/adapter_model.safetensors"} {
		if !listed[need] {
			return fmt.Errorf("%s does not list %s", fileChecksums, need)
		}
	}
	return nil
}

// resumeCheckpoint picks the checkpoint a --resume run continues from: --resume-from's, or the
// newest. It must verify; when the newest does not, the error names the newest previous one that
// does. "" means there is none and the run starts from step 0, which is refused over a finished run.
// finished says that OUT holds a finished run: the caller refuses it (errFinished) once it has
// checked the checkpoint's settings, so a changed setting is named first.
func resumeCheckpoint(cfg Config) (ckpt string, finished bool, err error) {
	paths, steps, err := checkpoints(cfg.Out)
	if err != nil {
		return "", false, err
	}
	_, err = os.Stat(filepath.Join(cfg.Out, FileRun))
	finished = err == nil
	if finished && len(paths) == 0 {
		return "", true, errFinished(cfg)
	}
	ckpt, err = pickCheckpoint(cfg, paths, steps)
	return ckpt, finished, err
}

// errFinished refuses to resume a run that finished: training again would overwrite it.
func errFinished(cfg Config) error {
	return fmt.Errorf("--resume: the run in %s finished (%s): nothing to resume; use --overwrite to train again, or another --out", cfg.Out, FileRun)
}

func pickCheckpoint(cfg Config, paths []string, steps []int) (string, error) {
	if cfg.ResumeFrom != "" {
		ckpt := cfg.ResumeFrom
		if !strings.ContainsRune(ckpt, filepath.Separator) { // a name under RUNDIR/checkpoints: step-N or N
			if _, err := strconv.Atoi(ckpt); err == nil {
				ckpt = "step-" + ckpt
			}
			ckpt = filepath.Join(cfg.Out, DirCheckpoint, ckpt)
		}
		if st, err := os.Stat(ckpt); err != nil || !st.IsDir() {
			return "", fmt.Errorf("--resume-from %s: no checkpoint folder %s (%s)", cfg.ResumeFrom, ckpt, available(steps))
		}
		if err := verifyCheckpoint(ckpt); err != nil {
			return "", fmt.Errorf("--resume-from %s: checkpoint %s is damaged: %v", cfg.ResumeFrom, ckpt, err)
		}
		return ckpt, nil
	}
	if len(paths) == 0 {
		return "", nil
	}
	newest := paths[len(paths)-1]
	verr := verifyCheckpoint(newest)
	if verr == nil {
		return newest, nil
	}
	for i := len(paths) - 2; i >= 0; i-- {
		if verifyCheckpoint(paths[i]) == nil {
			return "", fmt.Errorf("--resume: the newest checkpoint %s is damaged (%v); step-%d is intact: resume from it with --resume-from step-%d",
				newest, verr, steps[i], steps[i])
		}
	}
	return "", fmt.Errorf("--resume: the newest checkpoint %s is damaged (%v), and no older one is intact; use --overwrite to start over", newest, verr)
}

func available(steps []int) string {
	if len(steps) == 0 {
		return "there are no checkpoints"
	}
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = fmt.Sprintf("step-%d", s)
	}
	return "checkpoints: " + strings.Join(names, ", ")
}

// removeStaleTemps removes what interrupted writes of an earlier run left in the run folder and
// its checkpoints folder: hidden .step-N.tmp-… checkpoint folders (.tmp-step-N-… from older
// versions; up to a whole checkpoint each) and .NAME.tmp-… files and folders, when their writer
// is gone (atomicfile.RemoveStale).
func removeStaleTemps(out string) error {
	for _, d := range []struct{ dir, prefix string }{{filepath.Join(out, DirCheckpoint), "."}, {out, "."}} {
		if _, err := atomicfile.RemoveStale(d.dir, d.prefix); err != nil {
			return fmt.Errorf("remove stale temporary files: %w", err)
		}
	}
	return nil
}
