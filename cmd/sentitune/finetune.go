package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/launch"
)

// finetuneFlag binds one flag to its Config field. Flags override --config:
// only flags given on the command line are applied over the YAML values.
type finetuneFlag struct {
	flag  cli.Flag
	apply func(c *cli.Context, cfg *finetune.Config)
}

func finetuneFlags() []finetuneFlag {
	d := finetune.Defaults()
	str := func(name, usage string, def string, field func(*finetune.Config) *string) finetuneFlag {
		return finetuneFlag{&cli.StringFlag{Name: name, Usage: usage, Value: def},
			func(c *cli.Context, cfg *finetune.Config) { *field(cfg) = c.String(name) }}
	}
	list := func(name, usage string, def finetune.List, field func(*finetune.Config) *finetune.List) finetuneFlag {
		return finetuneFlag{&cli.StringFlag{Name: name, Usage: usage, Value: def.String()},
			func(c *cli.Context, cfg *finetune.Config) { *field(cfg) = finetune.ParseList(c.String(name)) }}
	}
	num := func(name, usage string, def int, field func(*finetune.Config) *int) finetuneFlag {
		return finetuneFlag{&cli.IntFlag{Name: name, Usage: usage, Value: def},
			func(c *cli.Context, cfg *finetune.Config) { *field(cfg) = c.Int(name) }}
	}
	real := func(name, usage string, def float64, field func(*finetune.Config) *float64) finetuneFlag {
		return finetuneFlag{&cli.Float64Flag{Name: name, Usage: usage, Value: def},
			func(c *cli.Context, cfg *finetune.Config) { *field(cfg) = c.Float64(name) }}
	}
	boolean := func(name, usage string, field func(*finetune.Config) *bool) finetuneFlag {
		return finetuneFlag{&cli.BoolFlag{Name: name, Usage: usage},
			func(c *cli.Context, cfg *finetune.Config) { *field(cfg) = c.Bool(name) }}
	}
	return []finetuneFlag{
		str("model", "base model folder `DIR` (Hugging Face layout)", "", func(c *finetune.Config) *string { return &c.Model }),
		str("data", "prep output folder `PREPDIR` (train.json; val.json or test.json for evaluation)", "", func(c *finetune.Config) *string { return &c.Data }),
		str("train", "Alpaca training file `FILE` (instead of --data)", "", func(c *finetune.Config) *string { return &c.TrainFile }),
		str("eval", "Alpaca evaluation file `FILE` (with --train)", "", func(c *finetune.Config) *string { return &c.EvalFile }),
		str("out", "run folder `RUNDIR`", "", func(c *finetune.Config) *string { return &c.Out }),
		boolean("resume", "continue from the newest checkpoint in RUNDIR", func(c *finetune.Config) *bool { return &c.Resume }),
		boolean("overwrite", "start afresh even if RUNDIR holds a run", func(c *finetune.Config) *bool { return &c.Overwrite }),
		str("resume-from", "continue from this checkpoint (`step-N`, or a folder) instead of the newest", "", func(c *finetune.Config) *string { return &c.ResumeFrom }),
		num("lora-r", "LoRA rank", d.LoRAR, func(c *finetune.Config) *int { return &c.LoRAR }),
		real("lora-alpha", "LoRA alpha (scaling alpha/r)", d.LoRAAlpha, func(c *finetune.Config) *float64 { return &c.LoRAAlpha }),
		real("lora-dropout", "dropout on the LoRA path", d.LoRADropout, func(c *finetune.Config) *float64 { return &c.LoRADropout }),
		list("lora-target", "all, or modules like q_proj,v_proj", d.LoRATarget, func(c *finetune.Config) *finetune.List { return &c.LoRATarget }),
		boolean("use-rslora", "rank-stabilised scaling alpha/√r", func(c *finetune.Config) *bool { return &c.UseRSLoRA }),
		real("loraplus-lr-ratio", "LoRA+: B matrices learn at lr × this (0: off)", d.LoRAPlusLRRatio, func(c *finetune.Config) *float64 { return &c.LoRAPlusLRRatio }),
		list("modules-to-save", "fully trained modules: embed_tokens,lm_head", d.ModulesToSave, func(c *finetune.Config) *finetune.List { return &c.ModulesToSave }),
		real("epochs", "passes over the training set", d.Epochs, func(c *finetune.Config) *float64 { return &c.Epochs }),
		num("max-steps", "optimizer steps (0: from --epochs)", d.MaxSteps, func(c *finetune.Config) *int { return &c.MaxSteps }),
		real("lr", "peak learning rate", d.LR, func(c *finetune.Config) *float64 { return &c.LR }),
		str("scheduler", "cosine|linear|constant", d.Scheduler, func(c *finetune.Config) *string { return &c.Scheduler }),
		real("warmup-ratio", "share of steps warming up linearly from 0", d.WarmupRatio, func(c *finetune.Config) *float64 { return &c.WarmupRatio }),
		num("batch-size", "examples per forward pass", d.BatchSize, func(c *finetune.Config) *int { return &c.BatchSize }),
		num("grad-accum", "forward passes per optimizer step", d.GradAccum, func(c *finetune.Config) *int { return &c.GradAccum }),
		num("max-len", "tokens per example; the review is cut to fit, never the answer", d.MaxLen, func(c *finetune.Config) *int { return &c.MaxLen }),
		real("max-grad-norm", "gradient clipping norm (0: off)", d.MaxGradNorm, func(c *finetune.Config) *float64 { return &c.MaxGradNorm }),
		real("weight-decay", "AdamW weight decay", d.WeightDecay, func(c *finetune.Config) *float64 { return &c.WeightDecay }),
		{&cli.Uint64Flag{Name: "seed", Usage: "seed of LoRA init, batches and dropout", Value: d.Seed},
			func(c *cli.Context, cfg *finetune.Config) { cfg.Seed = c.Uint64("seed") }},
		str("device", "auto|cpu|cuda|cuda:N", d.Device, func(c *finetune.Config) *string { return &c.Device }),
		str("dtype", "auto|bf16|f32 (auto: bf16 on CUDA, f32 on CPU)", d.DType, func(c *finetune.Config) *string { return &c.DType }),
		num("eval-every", "evaluate every `N` steps (0: only at the end)", d.EvalEvery, func(c *finetune.Config) *int { return &c.EvalEvery }),
		real("val-ratio", "without a val.json (or --eval): share of the training rows held out, stratified and seeded (at most 1000), to evaluate on; test.json is never read (0: no evaluation)", d.ValRatio, func(c *finetune.Config) *float64 { return &c.ValRatio }),
		str("metric-for-best", "eval_loss|eval_accuracy|eval_label_loss: what makes an evaluation the best", d.MetricForBest, func(c *finetune.Config) *string { return &c.MetricForBest }),
		{&cli.BoolFlag{Name: "load-best", Value: d.LoadBest, Usage: "the adapter written is the best evaluated step's (that step is checkpointed and kept); --load-best=false keeps the last step's"},
			func(c *cli.Context, cfg *finetune.Config) { cfg.LoadBest = c.Bool("load-best") }},
		num("early-stopping-patience", "stop after `N` evaluations in a row without a new best (0: never; needs --eval-every)", d.EarlyStoppingPatience, func(c *finetune.Config) *int { return &c.EarlyStoppingPatience }),
		num("save-every", "checkpoint every `N` steps (0: none)", d.SaveEvery, func(c *finetune.Config) *int { return &c.SaveEvery }),
		num("save-total-limit", "checkpoints kept", d.SaveTotalLimit, func(c *finetune.Config) *int { return &c.SaveTotalLimit }),
		{&cli.DurationFlag{Name: "log-every", Usage: "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line at least every `DURATION`, and one per evaluation", Value: d.LogEvery},
			func(c *cli.Context, cfg *finetune.Config) { cfg.LogEvery = c.Duration("log-every") }},
		list("report-to", "also write metrics to: none|tensorboard (event files in RUNDIR/runs)", d.ReportTo, func(c *finetune.Config) *finetune.List { return &c.ReportTo }),
		num("threads", "CPU threads for libtorch (0: its default)", d.Threads, func(c *finetune.Config) *int { return &c.Threads }),
		boolean("full-logits", "debug/bench: compute all T×V logits like general trainers", func(c *finetune.Config) *bool { return &c.FullLogits }),
		boolean("profile", "time each step's phases (forward, backward, clip, optimizer; device synchronized between them) and print their medians", func(c *finetune.Config) *bool { return &c.Profile }),
		num("nproc", "data parallel: spawn `N` local workers (torchrun-style RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT also work); --batch-size stays the global batch", d.NProc, func(c *finetune.Config) *int { return &c.NProc }),
		str("dist-backend", "auto|gloo|nccl (auto: nccl on CUDA, gloo on CPU)", d.DistBackend, func(c *finetune.Config) *string { return &c.DistBackend }),
		real("dist-timeout", "seconds a collective waits for the other ranks", d.DistTimeout, func(c *finetune.Config) *float64 { return &c.DistTimeout }),
	}
}

func finetuneCommand() *cli.Command {
	binds := finetuneFlags()
	flags := []cli.Flag{&cli.StringFlag{Name: "config", Usage: "YAML run file `FILE` (keys are the flag names; flags override it)"}}
	for _, b := range binds {
		flags = append(flags, b.flag)
	}
	return &cli.Command{
		Name:      "finetune",
		Usage:     "LoRA-tune a chat model to answer 1 or 0",
		UsageText: "sentitune finetune --model DIR --data PREPDIR | --train FILE [--eval FILE] --out RUNDIR [options]",
		Description: "Trains a LoRA adapter (PEFT format) with the loss on the answer tokens only, computing the\n" +
			"lm_head at those positions alone. Writes RUNDIR/adapter, train_log.jsonl, loss.png/.svg, run.json\n" +
			"and checkpoints/step-N (with --save-every); --resume continues from the newest checkpoint.\n" +
			"Progress: a bar on a terminal, else a line every --log-every and one per evaluation;\n" +
			"--report-to tensorboard also writes RUNDIR/runs (tensorboard --logdir RUNDIR/runs).",
		Flags: flags,
		Action: func(c *cli.Context) error {
			cfg, err := finetuneConfig(c, binds)
			if err != nil {
				return exitError{2, fmt.Errorf("finetune: %w", err)}
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

// finetuneConfig is Defaults(), then the --config YAML file, then the flags
// given on the command line.
func finetuneConfig(c *cli.Context, binds []finetuneFlag) (finetune.Config, error) {
	cfg := finetune.Defaults()
	if path := c.String("config"); path != "" {
		var err error
		if cfg, err = finetune.LoadConfig(path); err != nil {
			return cfg, err
		}
	}
	for _, b := range binds {
		if c.IsSet(b.flag.Names()[0]) {
			b.apply(c, &cfg)
		}
	}
	return cfg, cfg.Validate()
}
