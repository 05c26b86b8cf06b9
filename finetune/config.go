// Package finetune LoRA-tunes a chat model to answer "1" or "0" for a review:
// the training loop (Train), its schedule, length-grouped batching,
// checkpoints and resume, the training log, run.json and the loss plot.
package finetune

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is every option of a training run, nanoGPT style: one flat list of
// named values. Defaults() gives LLaMA-Factory's defaults; the YAML keys of a
// --config file are the command-line flag names.
type Config struct {
	Model     string `yaml:"model" json:"model"`         // Hugging Face model folder, or ORG/NAME[@REV] in a hub cache (hub.ResolveModel)
	Template  string `yaml:"template" json:"template"`   // chat template: "" the model's own, a built-in name or a .jinja file
	Data      string `yaml:"data" json:"data"`           // prep output folder: train.json, optional val.json / test.json
	TrainFile string `yaml:"train" json:"train"`         // or an Alpaca file to train on ...
	EvalFile  string `yaml:"eval" json:"eval"`           // ... and an optional one to evaluate on
	Dataset   string `yaml:"dataset" json:"dataset"`     // a name in Data's dataset_info.json (LLaMA-Factory's registry), resolved to TrainFile by the CLI
	Out       string `yaml:"out" json:"out"`             // run folder
	Resume    bool   `yaml:"resume" json:"resume"`       // continue from the newest checkpoint in Out
	Overwrite bool   `yaml:"overwrite" json:"overwrite"` // start afresh even if Out holds a run

	// ResumeFrom resumes from this checkpoint (step-N, N, or a folder) instead of the newest.
	ResumeFrom string `yaml:"resume-from" json:"resume-from"`

	// Labels is a K-class label set "negative=0,neutral=1,positive=2" (prep's --labels); LabelMap
	// a preset, stars3 or stars5. Neither: the prep folder's stats.json label_set, else binary.
	Labels   string `yaml:"labels" json:"labels"`
	LabelMap string `yaml:"label-map" json:"label-map"`

	LoRAR           int     `yaml:"lora-r" json:"lora-r"`
	LoRAAlpha       float64 `yaml:"lora-alpha" json:"lora-alpha"`
	LoRADropout     float64 `yaml:"lora-dropout" json:"lora-dropout"`
	LoRATarget      List    `yaml:"lora-target" json:"lora-target"`             // "all" or module names (q_proj, v_proj, ...)
	UseRSLoRA       bool    `yaml:"use-rslora" json:"use-rslora"`               // scaling alpha/√r instead of alpha/r
	LoRAPlusLRRatio float64 `yaml:"loraplus-lr-ratio" json:"loraplus-lr-ratio"` // > 0: B matrices train at lr × ratio
	ModulesToSave   List    `yaml:"modules-to-save" json:"modules-to-save"`     // fully trained modules, e.g. embed_tokens

	Epochs         float64 `yaml:"epochs" json:"epochs"`
	MaxSteps       int     `yaml:"max-steps" json:"max-steps"` // > 0 overrides Epochs
	LR             float64 `yaml:"lr" json:"lr"`
	Scheduler      string  `yaml:"scheduler" json:"scheduler"` // cosine | linear | constant
	WarmupRatio    float64 `yaml:"warmup-ratio" json:"warmup-ratio"`
	BatchSize      int     `yaml:"batch-size" json:"batch-size"` // examples per forward pass
	GradAccum      int     `yaml:"grad-accum" json:"grad-accum"` // forward passes per optimizer step
	MaxLen         int     `yaml:"max-len" json:"max-len"`       // prompt + answer tokens; the review is cut to fit
	MaxGradNorm    float64 `yaml:"max-grad-norm" json:"max-grad-norm"`
	WeightDecay    float64 `yaml:"weight-decay" json:"weight-decay"`
	Seed           uint64  `yaml:"seed" json:"seed"`
	Device         string  `yaml:"device" json:"device"`         // auto | cpu | cuda | cuda:N
	DType          string  `yaml:"dtype" json:"dtype"`           // auto | bf16 | f32 (auto: bf16 on CUDA, f32 on CPU)
	EvalEvery      int     `yaml:"eval-every" json:"eval-every"` // steps between evaluations (0: only at the end)
	SaveEvery      int     `yaml:"save-every" json:"save-every"` // steps between checkpoints (0: none)
	SaveTotalLimit int     `yaml:"save-total-limit" json:"save-total-limit"`
	Threads        int     `yaml:"threads" json:"threads"` // CPU threads for libtorch (0: its default)

	// Model selection: evaluation never reads test.json (that is `eval`'s); without a val
	// split, ValRatio of the training rows (stratified, at most 1000) are held out for it.
	ValRatio              float64 `yaml:"val-ratio" json:"val-ratio"`
	EarlyStoppingPatience int     `yaml:"early-stopping-patience" json:"early-stopping-patience"` // evaluations without a new best before stopping (0: never)
	MetricForBest         string  `yaml:"metric-for-best" json:"metric-for-best"`                 // eval_loss | eval_accuracy | eval_label_loss
	LoadBest              bool    `yaml:"load-best" json:"load-best"`                             // the adapter written is the best evaluated step's

	// GradientCheckpointing keeps only each decoder layer's input in the forward and recomputes
	// the layer in backward: auto (on for CUDA, off on CPU) | on | off.
	GradientCheckpointing string `yaml:"gradient-checkpointing" json:"gradient-checkpointing"`
	// QuantizationBit keeps the frozen base's projections in 4-bit NF4 (QLoRA) or 8-bit per-row
	// absmax, dequantized per projection as it runs; 0: as loaded (LLaMA-Factory's quantization_bit).
	QuantizationBit int `yaml:"quantization-bit" json:"quantization-bit"`
	// StaticShapes runs every micro-batch at one of a few planned shapes (static.go): rows padded
	// to a length bucket, short batches filled with rows the loss ignores. CUDAGraphs would capture
	// each shape's step as a CUDA graph: GPU-only, off by default, refused until capture exists.
	StaticShapes bool `yaml:"static-shapes" json:"static-shapes"`
	CUDAGraphs   bool `yaml:"cuda-graphs" json:"cuda-graphs"`
	// DryRun prints the run's memory plan (PlanMemory) and trains nothing.
	DryRun bool `yaml:"dry-run" json:"-"`
	// FullLogits computes the logits of every position (T×V) and picks the answer
	// rows from them, as general-purpose trainers do. A debug and benchmark switch.
	FullLogits bool `yaml:"full-logits" json:"full-logits"`
	// LogEvery is the most time between two progress lines when stderr is not a terminal.
	LogEvery time.Duration `yaml:"log-every" json:"log-every"`
	// ReportTo names where metrics go besides train_log.jsonl: none | tensorboard (RUNDIR/runs).
	ReportTo List `yaml:"report-to" json:"report-to"`
	// Profile times each step's phases (forward, backward, clipping, optimizer, ...),
	// waiting for the device between them, and reports their medians at the end.
	Profile bool `yaml:"profile" json:"profile"`
	// Trace writes a Chrome/Perfetto trace of TraceSteps steps (every ATen op and autograd node) to this file.
	Trace string `yaml:"trace" json:"trace"`

	// Data parallelism (dist.go): BatchSize stays the global batch, split across ranks.
	NProc       int     `yaml:"nproc" json:"nproc"`               // local worker processes the command spawns (0, 1: none)
	DistBackend string  `yaml:"dist-backend" json:"dist-backend"` // auto | gloo | nccl (auto: nccl on CUDA, gloo on CPU)
	DistTimeout float64 `yaml:"dist-timeout" json:"dist-timeout"` // seconds a collective may wait for the other ranks
}

// Defaults returns LLaMA-Factory's defaults for LoRA supervised fine-tuning.
func Defaults() Config {
	return Config{
		LoRAR:                 8,
		LoRAAlpha:             16,
		LoRADropout:           0.05,
		LoRATarget:            List{"all"},
		Epochs:                3,
		LR:                    1e-4,
		Scheduler:             "cosine",
		WarmupRatio:           0.03,
		BatchSize:             8,
		GradAccum:             1,
		MaxLen:                512,
		MaxGradNorm:           1.0,
		Seed:                  42,
		Device:                "auto",
		DType:                 "auto",
		SaveTotalLimit:        2,
		ValRatio:              0.1,
		MetricForBest:         MetricEvalLoss,
		LoadBest:              true,
		DistBackend:           "auto",
		GradientCheckpointing: "auto",
		DistTimeout:           60,
		LogEvery:              30 * time.Second,
	}
}

// LoadConfig reads a YAML run file over Defaults(). Unknown keys are errors,
// so a misspelt option does not silently fall back to its default.
func LoadConfig(path string) (Config, error) {
	cfg := Defaults()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return cfg, fmt.Errorf("read config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate reports the first option that cannot work.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"lora-alpha", c.LoRAAlpha}, {"lora-dropout", c.LoRADropout}, {"loraplus-lr-ratio", c.LoRAPlusLRRatio}, {"epochs", c.Epochs},
		{"lr", c.LR}, {"warmup-ratio", c.WarmupRatio}, {"max-grad-norm", c.MaxGradNorm}, {"weight-decay", c.WeightDecay}, {"dist-timeout", c.DistTimeout}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) { // NaN passes every comparison below
			return fmt.Errorf("%s must be a finite number, got %v", f.name, f.v)
		}
	}
	switch {
	case c.Model == "":
		return errors.New("no model folder (--model)")
	case c.Out == "":
		return errors.New("no run folder (--out)")
	case c.Data == "" && c.TrainFile == "":
		return errors.New("no training data: give --data PREPDIR or --train FILE")
	case c.Data != "" && (c.TrainFile != "" || c.EvalFile != ""):
		return errors.New("give either --data PREPDIR or --train FILE [--eval FILE], not both")
	case (c.Resume || c.ResumeFrom != "") && c.Overwrite:
		return errors.New("give --resume (or --resume-from) or --overwrite, not both")
	case c.LoRAR <= 0:
		return fmt.Errorf("lora-r must be at least 1, got %d", c.LoRAR)
	case c.LoRAAlpha <= 0:
		return fmt.Errorf("lora-alpha must be positive, got %g", c.LoRAAlpha)
	case c.LoRADropout < 0 || c.LoRADropout >= 1:
		return fmt.Errorf("lora-dropout must be in [0, 1), got %g", c.LoRADropout)
	case len(c.LoRATarget) == 0:
		return errors.New("lora-target is empty (use all, or names like q_proj,v_proj)")
	case c.LoRAPlusLRRatio < 0:
		return fmt.Errorf("loraplus-lr-ratio must be >= 0, got %g", c.LoRAPlusLRRatio)
	case c.Epochs <= 0 && c.MaxSteps <= 0:
		return fmt.Errorf("epochs must be positive (or set max-steps), got %g", c.Epochs)
	case c.MaxSteps < 0:
		return fmt.Errorf("max-steps must be >= 0, got %d", c.MaxSteps)
	case c.LR <= 0:
		return fmt.Errorf("lr must be positive, got %g", c.LR)
	case c.Scheduler != "cosine" && c.Scheduler != "linear" && c.Scheduler != "constant":
		return fmt.Errorf("scheduler must be cosine, linear or constant, got %q", c.Scheduler)
	case c.WarmupRatio < 0 || c.WarmupRatio >= 1:
		return fmt.Errorf("warmup-ratio must be in [0, 1), got %g", c.WarmupRatio)
	case c.BatchSize <= 0:
		return fmt.Errorf("batch-size must be at least 1, got %d", c.BatchSize)
	case c.GradAccum <= 0:
		return fmt.Errorf("grad-accum must be at least 1, got %d", c.GradAccum)
	case c.MaxLen <= 0:
		return fmt.Errorf("max-len must be positive, got %d", c.MaxLen)
	case c.MaxGradNorm < 0:
		return fmt.Errorf("max-grad-norm must be >= 0 (0 disables clipping), got %g", c.MaxGradNorm)
	case c.WeightDecay < 0:
		return fmt.Errorf("weight-decay must be >= 0, got %g", c.WeightDecay)
	case c.EvalEvery < 0 || c.SaveEvery < 0:
		return errors.New("eval-every and save-every must be >= 0")
	case c.SaveTotalLimit < 1:
		return fmt.Errorf("save-total-limit must be at least 1, got %d", c.SaveTotalLimit)
	case !(c.ValRatio >= 0 && c.ValRatio <= 0.5):
		return fmt.Errorf("val-ratio must be in [0, 0.5], got %g", c.ValRatio)
	case c.EarlyStoppingPatience < 0:
		return fmt.Errorf("early-stopping-patience must be >= 0, got %d", c.EarlyStoppingPatience)
	case c.EarlyStoppingPatience > 0 && c.EvalEvery == 0:
		return errors.New("early-stopping-patience needs evaluations during training: set eval-every")
	case c.MetricForBest != "" && !validMetricForBest(c.MetricForBest):
		return fmt.Errorf("metric-for-best must be one of %s, got %q", strings.Join(MetricsForBest, ", "), c.MetricForBest)
	case !slices.Contains(gradientCheckpointingValues, strings.ToLower(c.GradientCheckpointing)):
		return fmt.Errorf("gradient-checkpointing must be auto, on or off, got %q", c.GradientCheckpointing)
	case c.QuantizationBit != 0 && c.QuantizationBit != 4 && c.QuantizationBit != 8:
		return fmt.Errorf("quantization-bit must be 4 or 8 (or 0 for none), got %d", c.QuantizationBit)
	case c.Threads < 0:
		return fmt.Errorf("threads must be >= 0, got %d", c.Threads)
	case c.NProc < 0:
		return fmt.Errorf("nproc must be >= 0, got %d", c.NProc)
	case c.DistBackend != "" && c.DistBackend != "auto" && c.DistBackend != "gloo" && c.DistBackend != "nccl":
		return fmt.Errorf("dist-backend must be auto, gloo or nccl, got %q", c.DistBackend)
	case c.DistTimeout <= 0:
		return fmt.Errorf("dist-timeout must be positive (seconds), got %g", c.DistTimeout)
	case c.LogEvery <= 0:
		return fmt.Errorf("log-every must be positive (like 30s or 5m), got %v", c.LogEvery)
	}
	if _, err := c.flagLabels(); err != nil {
		return err
	}
	for _, t := range c.ReportTo {
		if !slices.Contains(ReportTargets, strings.ToLower(t)) {
			return fmt.Errorf("report-to must be one of %s, got %q", strings.Join(ReportTargets, ", "), t)
		}
	}
	return nil
}

// List is a list of names written either as a YAML sequence or as one
// comma-separated string ("q_proj,v_proj"), like the command-line flag.
type List []string

// ParseList splits a comma-separated flag value, dropping blanks.
func ParseList(s string) List {
	var l List
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			l = append(l, f)
		}
	}
	return l
}

// String is the comma-separated form.
func (l List) String() string { return strings.Join(l, ",") }

// UnmarshalYAML accepts "a,b" or [a, b].
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = ParseList(n.Value)
		return nil
	case yaml.SequenceNode:
		var s []string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*l = ParseList(strings.Join(s, ","))
		return nil
	}
	return fmt.Errorf("line %d: want a name list like q_proj,v_proj or [q_proj, v_proj]", n.Line)
}
