package finetune

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// Files of a checkpoint folder checkpoints/step-N/.
const (
	fileTrainerState = "trainer_state.json"
	fileOptimizer    = "optimizer.safetensors"
	ckptAdapterDir   = "adapter"
)

// trainerState is what a checkpoint needs beyond the adapter and optimizer to
// continue exactly: where in the data the run stands and how it draws
// randomness. Batches of epoch e come from LengthGroupedBatches seeded by
// seed+e·1000003, and every step s reseeds libtorch with seed+s, so step,
// epoch and batch cursor pin all the randomness.
type trainerState struct {
	Step          int         `json:"step"`  // optimizer steps done
	Epoch         int         `json:"epoch"` // epoch of the last step (0-based)
	Batch         int         `json:"batch"` // batches of that epoch consumed
	StepsPerEpoch int         `json:"steps_per_epoch"`
	TotalSteps    int         `json:"total_steps"`
	Schedule      Schedule    `json:"schedule"`
	Seed          uint64      `json:"seed"`
	RNG           string      `json:"rng"`
	ElapsedS      float64     `json:"elapsed_s"`
	Fingerprint   fingerprint `json:"fingerprint"`
	Selection     *selection  `json:"selection,omitempty"` // the best evaluation so far and early stopping's count
}

const rngNote = "libtorch reseeded with seed+step before each step; epoch e's batches from seed+e*1000003"

// fingerprint is every setting that changes the numbers of a run. Resuming
// with a different one would not reproduce the uninterrupted run, so it is refused.
type fingerprint struct {
	Model      string            `json:"model"`
	Data       map[string]string `json:"data_sha256"`
	Examples   int               `json:"examples"`
	TotalSteps int               `json:"total_steps"`
	LoRA       string            `json:"lora"`
	Optim      string            `json:"optim"`
	Batching   string            `json:"batching"`
	Seed       uint64            `json:"seed"`
	Compute    string            `json:"compute"`
	FullLogits bool              `json:"full_logits"`
	MaxLen     int               `json:"max_len"`
	// The held-out slice and the metric --load-best ranks by (checkpoints without them resume as before).
	ValRatio      float64 `json:"val_ratio"`
	MetricForBest string  `json:"metric_for_best"`
}

func fingerprintOf(cfg Config, hashes map[string]string, examples, total int) fingerprint {
	abs, err := filepath.Abs(cfg.Model)
	if err != nil {
		abs = cfg.Model
	}
	return fingerprint{
		Model:    abs,
		Data:     hashes,
		Examples: examples, TotalSteps: total,
		LoRA: fmt.Sprintf("r=%d alpha=%g dropout=%g target=%s rslora=%v modules_to_save=%s",
			cfg.LoRAR, cfg.LoRAAlpha, cfg.LoRADropout, cfg.LoRATarget, cfg.UseRSLoRA, cfg.ModulesToSave),
		Optim: fmt.Sprintf("lr=%g scheduler=%s warmup=%g loraplus=%g max_grad_norm=%g weight_decay=%g",
			cfg.LR, cfg.Scheduler, cfg.WarmupRatio, cfg.LoRAPlusLRRatio, cfg.MaxGradNorm, cfg.WeightDecay),
		Batching:   fmt.Sprintf("batch=%d grad_accum=%d", cfg.BatchSize, cfg.GradAccum),
		Seed:       cfg.Seed,
		Compute:    fmt.Sprintf("device=%s dtype=%s", cfg.Device, cfg.DType),
		FullLogits: cfg.FullLogits,
		MaxLen:     cfg.MaxLen,
		ValRatio:   cfg.ValRatio, MetricForBest: cfg.MetricForBest,
	}
}

// diff names the settings that differ between two fingerprints.
func (f fingerprint) diff(g fingerprint) []string {
	a, _ := json.Marshal(f)
	b, _ := json.Marshal(g)
	var ma, mb map[string]any
	json.Unmarshal(a, &ma)
	json.Unmarshal(b, &mb)
	var out []string
	for k, v := range ma {
		va, _ := json.Marshal(v)
		vb, _ := json.Marshal(mb[k])
		if string(va) != string(vb) {
			out = append(out, fmt.Sprintf("%s: checkpoint %s, now %s", k, va, vb))
		}
	}
	sort.Strings(out)
	return out
}

// prepareOut creates the run folder. A fresh run refuses a folder that holds
// another run unless cfg.Overwrite; with cfg.Resume it returns the newest
// checkpoint ("" when there is none yet), checked against fp.
func prepareOut(cfg Config, fp fingerprint) (ckpt string, err error) {
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return "", fmt.Errorf("run folder: %w", err)
	}
	if err := removeStaleTemps(cfg.Out); err != nil {
		return "", err
	}
	ours := []string{FileLog, FileRun, FilePlotPNG, FilePlotSVG, DirAdapter, DirCheckpoint}
	if cfg.Resume || cfg.ResumeFrom != "" {
		ckpt, finished, err := resumeCheckpoint(cfg)
		if err != nil || ckpt == "" {
			return "", err
		}
		st, err := readTrainerState(ckpt)
		if err != nil {
			return "", err
		}
		if d := st.Fingerprint.diff(fp); len(d) > 0 {
			return "", fmt.Errorf("cannot resume %s: the run's settings changed (%s); use the original settings, or a new --out",
				ckpt, strings.Join(d, "; "))
		}
		if finished {
			return "", errFinished(cfg)
		}
		return ckpt, nil
	}
	var found []string
	for _, name := range ours {
		if _, err := os.Stat(filepath.Join(cfg.Out, name)); err == nil {
			found = append(found, name)
		}
	}
	if len(found) > 0 && !cfg.Overwrite {
		return "", fmt.Errorf("run folder %s already holds a run (%s): use --resume to continue it, --overwrite to start over, or another --out",
			cfg.Out, strings.Join(found, ", "))
	}
	for _, name := range found {
		if err := os.RemoveAll(filepath.Join(cfg.Out, name)); err != nil {
			return "", fmt.Errorf("overwrite: %w", err)
		}
	}
	return "", nil
}

// checkpoints lists RUNDIR/checkpoints/step-N folders, oldest first.
func checkpoints(out string) ([]string, []int, error) {
	dir := filepath.Join(out, DirCheckpoint)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	type ck struct {
		path string
		step int
	}
	var cks []ck
	for _, e := range ents {
		n, ok := strings.CutPrefix(e.Name(), "step-")
		if !ok || !e.IsDir() {
			continue // temporary folders of an interrupted save
		}
		step, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		cks = append(cks, ck{filepath.Join(dir, e.Name()), step})
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].step < cks[j].step })
	paths, steps := make([]string, len(cks)), make([]int, len(cks))
	for i, c := range cks {
		paths[i], steps[i] = c.path, c.step
	}
	return paths, steps, nil
}

func readTrainerState(ckpt string) (*trainerState, error) {
	b, err := os.ReadFile(filepath.Join(ckpt, fileTrainerState))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", ckpt, err)
	}
	var st trainerState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %s: %w", ckpt, fileTrainerState, err)
	}
	return &st, nil
}

// saveCheckpoint writes checkpoints/step-N (adapter, optimizer state, trainer
// state) into a temporary folder and renames it into place, then drops the
// oldest checkpoints beyond cfg.SaveTotalLimit.
func saveCheckpoint(cfg Config, model *llm.Model, opt *torch.AdamW, meta task.Meta, st trainerState) error {
	dir := filepath.Join(cfg.Out, DirCheckpoint)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	final := filepath.Join(dir, fmt.Sprintf("step-%d", st.Step))
	st.RNG = rngNote
	// A step-N left by an earlier, interrupted attempt is replaced whole.
	err := atomicfile.WriteDir(final, atomicfile.Replace, func(tmp string) error {
		if err := SaveAdapter(model, filepath.Join(tmp, ckptAdapterDir), meta); err != nil {
			return err
		}
		if err := saveOptimizer(filepath.Join(tmp, fileOptimizer), opt, model.TrainableParams()); err != nil {
			return err
		}
		if err := writeJSONAtomic(filepath.Join(tmp, fileTrainerState), st); err != nil {
			return err
		}
		return writeChecksums(tmp)
	})
	if err != nil {
		return fmt.Errorf("checkpoint step %d: %w", st.Step, err)
	}
	paths, steps, err := checkpoints(cfg.Out)
	if err != nil {
		return err
	}
	for i := 0; len(paths) > cfg.SaveTotalLimit && i < len(paths)-1; { // the newest always stays
		if cfg.LoadBest && st.Selection != nil && st.Selection.isBest(steps[i]) {
			i++ // kept for --load-best
			continue
		}
		if err := os.RemoveAll(paths[i]); err != nil {
			return fmt.Errorf("remove old checkpoint: %w", err)
		}
		paths, steps = append(paths[:i], paths[i+1:]...), append(steps[:i], steps[i+1:]...)
	}
	return nil
}

// loadCheckpoint attaches the adapter of ckpt (its weights become the
// trainable parameters) and returns the checkpoint's trainer state. The
// optimizer, built over those parameters, then loads ckpt's moments (loadOptimizer).
func loadCheckpoint(ckpt string, model *llm.Model) (*trainerState, error) {
	st, err := readTrainerState(ckpt)
	if err != nil {
		return nil, err
	}
	if _, err := LoadAdapter(model, filepath.Join(ckpt, ckptAdapterDir)); err != nil {
		return nil, fmt.Errorf("resume from %s: %w", ckpt, err)
	}
	return st, nil
}
