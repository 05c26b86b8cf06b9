package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
)

// mergeConfig is what merge needs.
type mergeConfig struct {
	Model   string
	Adapter string
	Out     string
}

func mergeOptionTable() *options[mergeConfig] {
	o := newOptions(mergeConfig{})
	o.str("model", "base model folder `DIR`, or ORG/NAME[@REV] from a hub cache", func(c *mergeConfig) *string { return &c.Model })
	o.str("adapter", "LoRA adapter folder (e.g. RUNDIR/adapter)", func(c *mergeConfig) *string { return &c.Adapter })
	o.str("out", "output folder (must not exist or be empty)", func(c *mergeConfig) *string { return &c.Out })
	return o
}

func mergeCommand() *cli.Command {
	o := mergeOptionTable()
	return &cli.Command{
		Name:  "merge",
		Usage: "merge a LoRA adapter into its base model and write a full model folder",
		Description: "Writes base + adapter as a Hugging Face model folder (same dtype and sharding as the base,\n" +
			"tokenizer and generation files copied) that loads anywhere a Hugging Face model does.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := o.load(c)
			if err != nil {
				return err
			}
			for _, f := range []struct{ name, value string }{{"model", cfg.Model}, {"adapter", cfg.Adapter}, {"out", cfg.Out}} {
				if f.value == "" {
					return usageError("merge: --%s is required", f.name)
				}
			}
			return runMerge(cfg, c.App.Writer)
		},
	}
}

func runMerge(cfg mergeConfig, out io.Writer) error {
	model, err := hub.ResolveModel(cfg.Model) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return err
	}
	extra, err := mergedMeta(model, cfg.Adapter)
	if err != nil {
		return err
	}
	if err := llm.MergeToFolder(model, cfg.Adapter, cfg.Out, extra); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "merged adapter %s into %s: wrote %s\n", cfg.Adapter, cfg.Model, cfg.Out)
	return err
}

// mergedMeta is the adapter's sentitune.json as it is, for the merged folder (none without one),
// once it is known to be for model's shape.
func mergedMeta(model, adapter string) (map[string][]byte, error) {
	cfg, err := llm.LoadConfig(model)
	if err != nil {
		return nil, err
	}
	meta, err := task.ReadMetaFor(adapter, task.BaseShape(cfg.Shape()))
	if err != nil || meta == nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(adapter, task.MetaFile))
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return map[string][]byte{task.MetaFile: b}, nil
}
