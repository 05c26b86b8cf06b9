package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/launch"
)

// finetuneOptionTable is finetune's options over finetune.Defaults(); --config is read by
// finetune.LoadConfig (keys are the flag names).
func finetuneOptionTable() *options[finetune.Config] {
	o := newOptions(finetune.Defaults())
	o.readYAML = func(path string, _ finetune.Config) (finetune.Config, error) { return finetune.LoadConfig(path) }
	list := func(name, usage string, field func(*finetune.Config) *finetune.List) {
		custom(o, &cli.StringFlag{Name: name, Usage: usage, Value: field(&o.def).String()}, field,
			func(c *cli.Context, cfg *finetune.Config) { *field(cfg) = finetune.ParseList(c.String(name)) })
	}
	o.str("model", "base model: a Hugging Face folder `DIR`, or ORG/NAME[@REV] from the Hugging Face or ModelScope cache", func(c *finetune.Config) *string { return &c.Model })
	o.str("template", templateUsage, func(c *finetune.Config) *string { return &c.Template })
	o.str("data", "prep output folder `PREPDIR` (train.json; val.json or test.json for evaluation)", func(c *finetune.Config) *string { return &c.Data })
	o.str("train", "Alpaca training file `FILE` (instead of --data)", func(c *finetune.Config) *string { return &c.TrainFile })
	o.str("eval", "Alpaca evaluation file `FILE` (with --train)", func(c *finetune.Config) *string { return &c.EvalFile })
	o.str("dataset", "`NAME[,NAME...]` in --data DIR's dataset_info.json (LLaMA-Factory's registry): train on the file it names, or on several joined in order, each through its columns mapping", func(c *finetune.Config) *string { return &c.Dataset })
	o.str("labels", "K classes `NAME=ANSWER,...` in class order, as prep's --labels (default: the --data folder's, else binary 1/0); answers must be single tokens", func(c *finetune.Config) *string { return &c.Labels })
	o.str("label-map", "stars3|stars5: the K-class presets of prep's --label-map", func(c *finetune.Config) *string { return &c.LabelMap })
	o.str("out", "run folder `RUNDIR`", func(c *finetune.Config) *string { return &c.Out })
	o.boolean("resume", "continue from the newest checkpoint in RUNDIR", func(c *finetune.Config) *bool { return &c.Resume })
	o.boolean("overwrite", "start afresh even if RUNDIR holds a run", func(c *finetune.Config) *bool { return &c.Overwrite })
	o.str("resume-from", "continue from this checkpoint (`step-N`, or a folder) instead of the newest", func(c *finetune.Config) *string { return &c.ResumeFrom })
	o.integer("lora-r", "LoRA rank", func(c *finetune.Config) *int { return &c.LoRAR })
	o.real("lora-alpha", "LoRA alpha (scaling alpha/r)", func(c *finetune.Config) *float64 { return &c.LoRAAlpha })
	o.real("lora-dropout", "dropout on the LoRA path", func(c *finetune.Config) *float64 { return &c.LoRADropout })
	list("lora-target", "all, or modules like q_proj,v_proj", func(c *finetune.Config) *finetune.List { return &c.LoRATarget })
	o.boolean("use-rslora", "rank-stabilised scaling alpha/√r", func(c *finetune.Config) *bool { return &c.UseRSLoRA })
	o.real("loraplus-lr-ratio", "LoRA+: B matrices learn at lr × this (0: off)", func(c *finetune.Config) *float64 { return &c.LoRAPlusLRRatio })
	list("modules-to-save", "fully trained modules: embed_tokens,lm_head", func(c *finetune.Config) *finetune.List { return &c.ModulesToSave })
	o.real("epochs", "passes over the training set", func(c *finetune.Config) *float64 { return &c.Epochs })
	o.integer("max-steps", "optimizer steps (0: from --epochs)", func(c *finetune.Config) *int { return &c.MaxSteps })
	o.real("lr", "peak learning rate", func(c *finetune.Config) *float64 { return &c.LR })
	o.str("scheduler", "cosine|linear|constant", func(c *finetune.Config) *string { return &c.Scheduler })
	o.real("warmup-ratio", "share of steps warming up linearly from 0", func(c *finetune.Config) *float64 { return &c.WarmupRatio })
	o.integer("batch-size", "examples per forward pass", func(c *finetune.Config) *int { return &c.BatchSize })
	o.integer("grad-accum", "forward passes per optimizer step", func(c *finetune.Config) *int { return &c.GradAccum })
	o.integer("max-len", "tokens per example; the review is cut to fit, never the answer", func(c *finetune.Config) *int { return &c.MaxLen })
	o.real("max-grad-norm", "gradient clipping norm (0: off)", func(c *finetune.Config) *float64 { return &c.MaxGradNorm })
	o.real("weight-decay", "AdamW weight decay", func(c *finetune.Config) *float64 { return &c.WeightDecay })
	o.uint64("seed", "seed of LoRA init, batches and dropout", func(c *finetune.Config) *uint64 { return &c.Seed })
	o.str("device", "auto|cpu|cuda|cuda:N", func(c *finetune.Config) *string { return &c.Device })
	o.str("dtype", "auto|bf16|f32 (auto: bf16 on CUDA, f32 on CPU)", func(c *finetune.Config) *string { return &c.DType })
	o.integer("eval-every", "evaluate every `N` steps (0: only at the end)", func(c *finetune.Config) *int { return &c.EvalEvery })
	o.real("val-ratio", "without a val.json (or --eval): share of the training rows held out, stratified and seeded (at most 1000), to evaluate on; test.json is never read (0: no evaluation)", func(c *finetune.Config) *float64 { return &c.ValRatio })
	o.str("metric-for-best", "eval_loss|eval_accuracy|eval_label_loss: what makes an evaluation the best", func(c *finetune.Config) *string { return &c.MetricForBest })
	o.boolean("load-best", "the adapter written is the best evaluated step's (that step is checkpointed and kept); --load-best=false keeps the last step's", func(c *finetune.Config) *bool { return &c.LoadBest })
	o.integer("early-stopping-patience", "stop after `N` evaluations in a row without a new best (0: never; needs --eval-every)", func(c *finetune.Config) *int { return &c.EarlyStoppingPatience })
	o.integer("save-every", "checkpoint every `N` steps (0: none)", func(c *finetune.Config) *int { return &c.SaveEvery })
	o.integer("save-total-limit", "checkpoints kept", func(c *finetune.Config) *int { return &c.SaveTotalLimit })
	o.duration("log-every", "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line at least every `DURATION`, and one per evaluation", func(c *finetune.Config) *time.Duration { return &c.LogEvery })
	list("report-to", "also write metrics to: none|tensorboard (event files in RUNDIR/runs)", func(c *finetune.Config) *finetune.List { return &c.ReportTo })
	o.integer("threads", "CPU threads for libtorch (0: its default)", func(c *finetune.Config) *int { return &c.Threads })
	o.str("gradient-checkpointing", "auto|on|off: keep only each decoder layer's input and recompute the layer in backward, for less memory (auto: on for CUDA, off on CPU)", func(c *finetune.Config) *string { return &c.GradientCheckpointing })
	o.integer("quantization-bit", "4|8: keep the frozen base's projections in 4-bit NF4 (QLoRA, double-quantized absmax) or 8-bit per-row absmax (weight-only, not LLM.int8), dequantized per projection as it runs (0: none)", func(c *finetune.Config) *int { return &c.QuantizationBit })
	o.boolean("static-shapes", "run every micro-batch at one of at most 8 planned shapes (rows padded to a length bucket, short batches filled with rows the loss ignores; the same loss and gradients): the shapes --cuda-graphs would capture", func(c *finetune.Config) *bool { return &c.StaticShapes })
	o.boolean("cuda-graphs", "GPU only, off by default: capture each static-shape step as a CUDA graph and replay it (refused for now: capture is not built yet)", func(c *finetune.Config) *bool { return &c.CUDAGraphs })
	o.boolean("dry-run", "print the memory this run needs on its device (weights, LoRA, gradients, AdamW, activations with and without checkpointing, workspace, runtime) and train nothing; needs only --model", func(c *finetune.Config) *bool { return &c.DryRun })
	o.boolean("full-logits", "debug/bench: compute all T×V logits like general trainers", func(c *finetune.Config) *bool { return &c.FullLogits })
	o.boolean("profile", "time each step's phases (forward, backward, clip, optimizer; device synchronized between them) and print their medians", func(c *finetune.Config) *bool { return &c.Profile })
	o.str("trace", "write a Chrome/Perfetto trace (chrome://tracing, ui.perfetto.dev) of 5 steps to `FILE`: every ATen op and autograd node with its host time, and the step phases", func(c *finetune.Config) *string { return &c.Trace })
	o.integer("nproc", "data parallel: spawn `N` local workers (torchrun-style RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT also work); --batch-size stays the global batch, split across the workers (LLaMA-Factory's per_device_train_batch_size × N: a --config YAML of LLaMA-Factory's is scaled so)", func(c *finetune.Config) *int { return &c.NProc })
	o.str("dist-backend", "auto|gloo|nccl (auto: nccl on CUDA, gloo on CPU)", func(c *finetune.Config) *string { return &c.DistBackend })
	o.real("dist-timeout", "seconds a collective waits for the other ranks", func(c *finetune.Config) *float64 { return &c.DistTimeout })
	return o
}

func finetuneCommand() *cli.Command {
	o := finetuneOptionTable()
	return &cli.Command{
		Name:      "finetune",
		Usage:     "LoRA-tune a chat model to answer 1 or 0",
		UsageText: "sentitune finetune --model DIR --data PREPDIR | --train FILE [--eval FILE] --out RUNDIR [options]",
		Description: "Trains a LoRA adapter (PEFT format) with the loss on the answer tokens only, computing the\n" +
			"lm_head at those positions alone. Writes RUNDIR/adapter, train_log.jsonl, loss.png/.svg, run.json\n" +
			"and checkpoints/step-N (with --save-every); --resume continues from the newest checkpoint.\n" +
			"Progress: a bar on a terminal, else a line every --log-every and one per evaluation;\n" +
			"--report-to tensorboard also writes RUNDIR/runs (tensorboard --logdir RUNDIR/runs).",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := finetuneConfig(c, o)
			if err != nil {
				return err
			}
			if cfg.DryRun {
				return printMemoryPlan(c, cfg) // finetune_plan.go
			}
			if err := checkCUDAGraphs(cfg); err != nil {
				return err
			}
			if err := checkFinetuneFiles(cfg); err != nil {
				return err
			}
			if cfg.NProc > 1 && os.Getenv(launch.EnvWorldSize) == "" {
				return launchFinetune(c, cfg.NProc) // finetune_launch.go
			}
			removeTempsOnSignal()
			res, err := finetune.Train(cfg, c.App.ErrWriter) // a bar on a terminal, else lines every --log-every
			var lost *launch.PeerLostError
			if errors.As(err, &lost) { // another rank's failure: a launcher names that one
				return exitError{launch.ExitPeerFailed, fmt.Errorf("finetune: %w", err)}
			}
			if err != nil {
				return fmt.Errorf("finetune: %w", err)
			}
			if res.Rank != 0 {
				return nil // rank 0 reports
			}
			w := c.App.Writer
			fmt.Fprintf(w, "steps %d, final loss %.4f, %.2f steps/s, %.0f tokens/s\n", res.Steps, res.FinalLoss, res.StepsPerSecond, res.TokensPerSecond)
			if res.Eval != nil {
				fmt.Fprintf(w, "eval (step %d): loss %.4f, label loss %.4f, accuracy %.4f (%d examples)\n",
					res.Eval.Step, res.Eval.Loss, res.Eval.LabelLoss, res.Eval.Accuracy, res.Eval.Examples)
			}
			fmt.Fprintf(w, "adapter: %s\n", res.Adapter)
			finetune.WriteProfile(w, res.Profile, res.ProfileOps)
			return nil
		},
	}
}

// finetuneConfig is Defaults(), then the --config YAML file, then the flags given on the
// command line; an option that cannot work is a usage error.
func finetuneConfig(c *cli.Context, o *options[finetune.Config]) (finetune.Config, error) {
	o.readYAML = finetuneReader(c.App.ErrWriter, processes(c)) // LLaMA-Factory's YAML too
	cfg, err := o.load(c)
	if err != nil || cfg.DryRun { // a plan needs no data or run folder
		return cfg, err
	}
	if err := datasetFiles(&cfg, c.App.ErrWriter); err != nil {
		return cfg, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError("finetune: %w", err)
	}
	return cfg, nil
}
