package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/llm"
)

// mergeConfig is what merge needs.
type mergeConfig struct {
	Model   string
	Adapter string
	Out     string
}

func mergeCommand() *cli.Command {
	return &cli.Command{
		Name:  "merge",
		Usage: "merge a LoRA adapter into its base model and write a full model folder",
		Description: "Writes base + adapter as a Hugging Face model folder (same dtype and sharding as the base,\n" +
			"tokenizer and generation files copied) that loads anywhere a Hugging Face model does.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Required: true, Usage: "base model folder"},
			&cli.StringFlag{Name: "adapter", Required: true, Usage: "LoRA adapter folder (e.g. RUNDIR/adapter)"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output folder (must not exist or be empty)"},
		},
		Action: func(c *cli.Context) error {
			return runMerge(mergeConfig{Model: c.String("model"), Adapter: c.String("adapter"), Out: c.String("out")}, c.App.Writer)
		},
	}
}

func runMerge(cfg mergeConfig, out io.Writer) error {
	if err := llm.MergeToFolder(cfg.Model, cfg.Adapter, cfg.Out); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "merged adapter %s into %s: wrote %s\n", cfg.Adapter, cfg.Model, cfg.Out)
	return err
}
