package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/pipeline"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "the whole pipeline in one command (no arguments: the built-in demo)",
		Description: "prep → init-model (demo only) → finetune → eval + report → example predictions.\n" +
			"With no --model, a random-weight Qwen2-architecture model is trained from scratch (the demo);\n" +
			"with no --input, the embedded Amazon review sentences are used. Every stage's options are\n" +
			"reachable through --config run.yaml (sections prep:, finetune:, eval:; keys = the stages' flag names).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Usage: "Hugging Face model folder (default: a random-weight demo model)"},
			&cli.StringFlag{Name: "input", Usage: "labelled review file (default: the embedded Amazon sentences)"},
			&cli.StringFlag{Name: "out", Usage: "run folder (default ./sentitune-demo for the demo, ./sentitune-run otherwise)"},
			&cli.StringFlag{Name: "config", Usage: "run YAML file (flags override it)"},
			&cli.Int64Flag{Name: "seed", Value: 42, Usage: "seed for split, model init and training"},
			&cli.StringFlag{Name: "text-col", Usage: "text column of --input (default: detected)"},
			&cli.StringFlag{Name: "label-col", Usage: "label column of --input (default: detected)"},
			&cli.StringFlag{Name: "id-col", Usage: "id column of --input carried to the report (default: detected, else the row number)"},
			&cli.StringFlag{Name: "device", Usage: "auto | cpu | cuda | cuda:N (training and scoring)"},
			&cli.StringFlag{Name: "dtype", Usage: "auto | bf16 | f32"},
			&cli.Float64Flag{Name: "epochs", Usage: "training epochs"},
			&cli.IntFlag{Name: "max-steps", Usage: "stop training after N optimizer steps"},
			&cli.StringFlag{Name: "preset", Usage: "demo model preset: tiny | small"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := runConfig(c)
			if err != nil {
				return err
			}
			if cfg.Model == "" && cfg.Input == "" {
				fmt.Fprintln(os.Stderr, "sentitune run: the built-in demo (Amazon review sentences, random-weight Qwen2-architecture model) → "+cfg.Out)
			}
			_, err = pipeline.Run(cfg, os.Stderr)
			return err
		},
	}
}

// runConfig is the run's configuration: the demo's or a real model's defaults, then --config, then
// the flags given. It is the demo only when no model is named anywhere, flag or YAML.
func runConfig(c *cli.Context) (pipeline.Config, error) {
	if c.NArg() > 0 {
		return pipeline.Config{}, usageError("run: unexpected argument %q (options are flags, e.g. --model DIR)", c.Args().First())
	}
	model, path := c.String("model"), c.String("config")
	if model == "" && path != "" {
		// The YAML's model: decides the defaults the YAML is then read over.
		probe, err := pipeline.LoadConfig(path, pipeline.Defaults())
		if err != nil {
			return probe, exitError{2, err}
		}
		model = probe.Model
	}
	cfg := pipeline.Defaults()
	if model == "" {
		cfg = pipeline.DemoDefaults()
	} else {
		cfg.Out = "sentitune-run"
	}
	if path != "" {
		var err error
		if cfg, err = pipeline.LoadConfig(path, cfg); err != nil {
			return cfg, exitError{2, err}
		}
	}
	if c.IsSet("model") {
		cfg.Model = c.String("model")
	}
	if c.IsSet("input") {
		cfg.Input = c.String("input")
	}
	if c.IsSet("out") {
		cfg.Out = c.String("out")
	}
	if c.IsSet("seed") || cfg.Seed == 0 {
		cfg.Seed = c.Int64("seed")
	}
	if c.IsSet("text-col") {
		cfg.Prep.TextCol = c.String("text-col")
	}
	if c.IsSet("label-col") {
		cfg.Prep.LabelCol = c.String("label-col")
	}
	if c.IsSet("id-col") {
		cfg.Prep.IDCol = c.String("id-col")
	}
	if c.IsSet("device") {
		cfg.Finetune.Device, cfg.Eval.Device = c.String("device"), c.String("device")
	}
	if c.IsSet("dtype") {
		cfg.Finetune.DType, cfg.Eval.DType = c.String("dtype"), c.String("dtype")
	}
	if c.IsSet("epochs") {
		cfg.Finetune.Epochs = c.Float64("epochs")
	}
	if c.IsSet("max-steps") {
		cfg.Finetune.MaxSteps = c.Int("max-steps")
	}
	if c.IsSet("preset") {
		cfg.DemoPreset = c.String("preset")
	}
	if cfg.Model != "" && c.IsSet("preset") {
		return cfg, usageError("run: --preset picks the demo's random-weight model; it does not apply with a model (%s)", cfg.Model)
	}
	return cfg, checkRunOptions(cfg)
}

// checkRunOptions refuses out-of-range options, from flags or the YAML, before the first stage runs.
func checkRunOptions(cfg pipeline.Config) error {
	if err := checkPrepOptions("run: prep", cfg.Prep.TestRatio, cfg.Prep.ValRatio, cfg.Prep.MaxChars); err != nil {
		return err
	}
	fc := cfg.Finetune
	fc.Model, fc.Data, fc.Out = "model", "prep", "run" // the pipeline fills these in; the options are checked here
	if err := fc.Validate(); err != nil {
		return usageError("run: finetune: %v", err)
	}
	if cfg.Eval.BatchSize < 1 {
		return usageError("run: eval: batch-size %d: must be at least 1", cfg.Eval.BatchSize)
	}
	return nil
}
