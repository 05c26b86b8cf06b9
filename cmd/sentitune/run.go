package main

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/pipeline"
)

// runOptionTable is run's flags over pipeline.Defaults(); --config is the sectioned run YAML
// (pipeline.LoadConfig), read over the demo's or a real model's defaults.
func runOptionTable() *options[pipeline.Config] {
	o := newOptions(pipeline.Defaults())
	o.readYAML = pipeline.LoadConfig
	o.str("model", "Hugging Face model folder `DIR`, or ORG/NAME[@REV] from a hub cache (default: a random-weight demo model)", func(c *pipeline.Config) *string { return &c.Model })
	o.str("template", templateUsage, func(c *pipeline.Config) *string { return &c.Finetune.Template }) // scoring reads it from the adapter
	o.str("input", "labelled review file (default: the embedded Amazon sentences)", func(c *pipeline.Config) *string { return &c.Input })
	o.str("out", "run folder (default ./sentitune-demo for the demo, ./sentitune-run otherwise)", func(c *pipeline.Config) *string { return &c.Out })
	o.int64("seed", "seed for split, model init and training", func(c *pipeline.Config) *int64 { return &c.Seed })
	o.str("text-col", "text column of --input (default: detected)", func(c *pipeline.Config) *string { return &c.Prep.TextCol })
	o.str("label-col", "label column of --input (default: detected)", func(c *pipeline.Config) *string { return &c.Prep.LabelCol })
	o.str("id-col", "id column of --input carried to the report (default: detected, else the row number)", func(c *pipeline.Config) *string { return &c.Prep.IDCol })
	o.str("labels", "K classes `NAME=ANSWER,...` in class order, e.g. 'negative=0,neutral=1,positive=2' (prep --labels; default: binary 1/0)", func(c *pipeline.Config) *string { return &c.Prep.Labels })
	o.str("label-map", "label values of --input: 'pos=1,neg=0', stars, or stars3|stars5 for K classes (prep --label-map)", func(c *pipeline.Config) *string { return &c.Prep.LabelMap })
	o.str("aspects", "aspect sentiment: `A,B,...` columns of --input (positive/negative/neutral/empty), e.g. data/aspects.jsonl's battery,screen,delivery,price", func(c *pipeline.Config) *string { return &c.Prep.Aspects })
	both := func(name, usage string, train func(*pipeline.Config) *string, score func(*pipeline.Config) *string) {
		custom(o, &cli.StringFlag{Name: name, Usage: usage}, train, func(c *cli.Context, cfg *pipeline.Config) {
			*train(cfg), *score(cfg) = c.String(name), c.String(name)
		})
	}
	both("device", "auto | cpu | cuda | cuda:N (training and scoring)", func(c *pipeline.Config) *string { return &c.Finetune.Device }, func(c *pipeline.Config) *string { return &c.Eval.Device })
	both("dtype", "auto | bf16 | f32", func(c *pipeline.Config) *string { return &c.Finetune.DType }, func(c *pipeline.Config) *string { return &c.Eval.DType })
	o.real("epochs", "training epochs", func(c *pipeline.Config) *float64 { return &c.Finetune.Epochs })
	o.integer("max-steps", "stop training after N optimizer steps", func(c *pipeline.Config) *int { return &c.Finetune.MaxSteps })
	o.str("preset", "demo model preset: tiny | small", func(c *pipeline.Config) *string { return &c.DemoPreset })
	o.str("arch", "demo model architecture: qwen2 (default), "+strings.Join(llm.ArchPresets, ", "), func(c *pipeline.Config) *string { return &c.DemoArch })
	return o
}

func runCommand() *cli.Command {
	o := runOptionTable()
	return &cli.Command{
		Name:  "run",
		Usage: "the whole pipeline in one command (no arguments: the built-in demo)",
		Description: "prep → init-model (demo only) → finetune → eval + report → example predictions.\n" +
			"With no --model, a random-weight Qwen2-architecture model is trained from scratch (the demo);\n" +
			"with no --input, the embedded Amazon review sentences are used. Every stage's options are\n" +
			"reachable through --config run.yaml (sections prep:, finetune:, eval:; keys = the stages' flag names).",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := runConfig(c, o)
			if err != nil {
				return err
			}
			if cfg.Model == "" && cfg.Input == "" {
				fmt.Fprintln(c.App.ErrWriter, "sentitune run: the built-in demo (Amazon review sentences, random-weight Qwen2-architecture model) → "+cfg.Out)
			}
			_, err = pipeline.Run(cfg, c.App.ErrWriter)
			return err
		},
	}
}

// runConfig is the run's configuration: the demo's or a real model's defaults, then --config, then
// the flags given. It is the demo only when no model is named anywhere, flag or YAML.
func runConfig(c *cli.Context, o *options[pipeline.Config]) (pipeline.Config, error) {
	if c.NArg() > 0 {
		return pipeline.Config{}, usageError("run: unexpected argument %q (options are flags, e.g. --model DIR)", c.Args().First())
	}
	o.readYAML = runReader(c.App.ErrWriter) // LLaMA-Factory's YAML too
	model, path := c.String("model"), c.String(configFlag)
	if model == "" && path != "" {
		// The YAML's model: decides the defaults the YAML is then read over.
		probe, err := o.readYAML(path, pipeline.Defaults())
		if err != nil {
			return probe, usageError("run: %w", err)
		}
		model = probe.Model
	}
	base := pipeline.Defaults()
	if model == "" {
		base = pipeline.DemoDefaults()
	} else {
		base.Out = "sentitune-run"
	}
	cfg, err := o.loadOver(c, base)
	if err != nil {
		return cfg, err
	}
	if c.IsSet("epochs") { // the user's epochs, not the demo's step floor
		cfg.DemoMinSteps = 0
	}
	if cfg.Seed == 0 { // a YAML seed: 0 means the default seed
		cfg.Seed = c.Int64("seed")
	}
	if cfg.Model != "" && (c.IsSet("preset") || c.IsSet("arch")) {
		return cfg, usageError("run: --preset and --arch pick the demo's random-weight model; they do not apply with a model (%s)", cfg.Model)
	}
	if cfg.Model == "" {
		if _, err := llm.ArchPresetConfig(cmp.Or(cfg.DemoPreset, "tiny"), cfg.DemoArch); err != nil {
			return cfg, usageError("run: --preset/--arch: %v", err)
		}
	}
	return cfg, checkRunOptions(cfg)
}

// checkRunOptions refuses out-of-range options, from flags or the YAML, before the first stage runs.
func checkRunOptions(cfg pipeline.Config) error {
	if err := checkPrepOptions("run: prep", cfg.Prep.TestRatio, cfg.Prep.ValRatio, cfg.Prep.MaxChars); err != nil {
		return err
	}
	if _, err := task.ParseAspects(cfg.Prep.Aspects); cfg.Prep.Aspects != "" && err != nil {
		return usageError("run: --aspects: %v", err)
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
