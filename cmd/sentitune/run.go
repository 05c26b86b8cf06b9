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
			&cli.StringFlag{Name: "device", Usage: "auto | cpu | cuda | cuda:N (training and scoring)"},
			&cli.StringFlag{Name: "dtype", Usage: "auto | bf16 | f32"},
			&cli.Float64Flag{Name: "epochs", Usage: "training epochs"},
			&cli.IntFlag{Name: "max-steps", Usage: "stop training after N optimizer steps"},
			&cli.StringFlag{Name: "preset", Usage: "demo model preset: tiny | small"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return exitError{2, fmt.Errorf("run: unexpected argument %q (options are flags, e.g. --model DIR)", c.Args().First())}
			}
			cfg := pipeline.Defaults()
			demo := c.String("model") == ""
			if demo {
				cfg = pipeline.DemoDefaults()
			} else {
				cfg.Out = "sentitune-run"
			}
			if p := c.String("config"); p != "" {
				var err error
				if cfg, err = pipeline.LoadConfig(p, cfg); err != nil {
					return exitError{2, err}
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
			if cfg.Model == "" && cfg.Input == "" {
				fmt.Fprintln(os.Stderr, "sentitune run: the built-in demo (Amazon review sentences, random-weight Qwen2-architecture model) → "+cfg.Out)
			}
			_, err := pipeline.Run(cfg, os.Stderr)
			return err
		},
	}
}
