package main

import (
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/llm"
)

// initModelConfig is what init-model needs.
type initModelConfig struct {
	Preset     string
	Arch       string
	Seed       uint64
	Out        string
	DType      string
	LogitScale float64
}

func initModelOptionTable() *options[initModelConfig] {
	o := newOptions(initModelConfig{Preset: "tiny", Arch: "qwen2", DType: "f32"})
	o.str("preset", "model size: tiny, small or 0.5b (Qwen2.5-0.5B's shape)", func(c *initModelConfig) *string { return &c.Preset })
	o.str("arch", "architecture: qwen2, "+strings.Join(llm.ArchPresets, ", ")+" (the preset's sizes, the Qwen tokenizer)",
		func(c *initModelConfig) *string { return &c.Arch })
	o.uint64("seed", "random seed for the weights", func(c *initModelConfig) *uint64 { return &c.Seed })
	o.str("out", "output folder (must not exist or be empty)", func(c *initModelConfig) *string { return &c.Out })
	o.str("dtype", "weight dtype: f32, bf16 or f16", func(c *initModelConfig) *string { return &c.DType })
	o.real("logit-scale", "set the final norm so that a hidden state along a token's embedding gives it this `LOGIT` "+
		"(0: norm weights 1, logits within about ±1.3 on tiny, too small for an answer to become likely)", func(c *initModelConfig) *float64 { return &c.LogitScale })
	return o
}

func initModelCommand() *cli.Command {
	o := initModelOptionTable()
	return &cli.Command{
		Name:  "init-model",
		Usage: "write a random-weight model folder, Qwen2 or --arch (for tests and the demo)",
		Description: "Writes config.json, generation_config.json, model.safetensors and the bundled Qwen tokenizer\n" +
			"in Hugging Face format. tiny: 2 layers, hidden 64, 4/2 heads; small: 4 layers, hidden 256, 8/2 heads;\n" +
			"both with the full 151,936-token vocabulary and tied embeddings. Same seed → byte-identical files.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := o.load(c)
			if err != nil {
				return err
			}
			if err := checkInitModel(cfg); err != nil {
				return err
			}
			return runInitModel(cfg, c.App.Writer)
		},
	}
}

// checkInitModel refuses options init-model cannot write a model with, before writing anything.
func checkInitModel(cfg initModelConfig) error {
	if cfg.Out == "" {
		return usageError("init-model: --out DIR is required")
	}
	if _, err := llm.PresetConfig(cfg.Preset); err != nil {
		return usageError("init-model: --preset: %v", err)
	}
	if _, err := llm.ArchPresetConfig(cfg.Preset, cfg.Arch); err != nil {
		return usageError("init-model: --arch: %v", err)
	}
	if _, err := llm.InitDType(cfg.DType); err != nil {
		return usageError("init-model: --dtype: %v", err)
	}
	if entries, err := os.ReadDir(cfg.Out); err == nil && len(entries) > 0 {
		return usageError("init-model: --out %s exists and is not empty (give a new folder)", cfg.Out)
	}
	if !(cfg.LogitScale >= 0) || math.IsInf(cfg.LogitScale, 0) {
		return usageError("init-model: --logit-scale %v: must be a finite number ≥ 0 (0: norm weights 1)", cfg.LogitScale)
	}
	return nil
}

func runInitModel(cfg initModelConfig, out interface{ Write([]byte) (int, error) }) error {
	opt := llm.InitOptions{Preset: cfg.Preset, Arch: cfg.Arch, Seed: cfg.Seed, DType: cfg.DType, LogitScale: cfg.LogitScale}
	if err := llm.InitRandomModelWith(cfg.Out, opt); err != nil {
		return err
	}
	mc, err := llm.ArchPresetConfig(cfg.Preset, cfg.Arch)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "wrote %s %s model (%d layers, hidden %d, %.1fM parameters, %s, seed %d) to %s\n",
		cfg.Preset, strings.TrimSuffix(mc.Architectures[0], "ForCausalLM"), mc.NumHiddenLayers, mc.HiddenSize, float64(mc.NumParameters())/1e6, cfg.DType, cfg.Seed, cfg.Out)
	return err
}
