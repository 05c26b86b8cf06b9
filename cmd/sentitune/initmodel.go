package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/llm"
)

// initModelConfig is what init-model needs.
type initModelConfig struct {
	Preset     string
	Seed       uint64
	Out        string
	DType      string
	LogitScale float64
}

func initModelCommand() *cli.Command {
	return &cli.Command{
		Name:  "init-model",
		Usage: "write a random-weight Qwen2-architecture model folder (for tests and the demo)",
		Description: "Writes config.json, generation_config.json, model.safetensors and the bundled Qwen tokenizer\n" +
			"in Hugging Face format. tiny: 2 layers, hidden 64, 4/2 heads; small: 4 layers, hidden 256, 8/2 heads;\n" +
			"both with the full 151,936-token vocabulary and tied embeddings. Same seed → byte-identical files.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "preset", Value: "tiny", Usage: "model size: tiny or small"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "random seed for the weights"},
			&cli.StringFlag{Name: "out", Required: true, Usage: "output folder (must not exist or be empty)"},
			&cli.StringFlag{Name: "dtype", Value: "f32", Usage: "weight dtype: f32 or bf16"},
			&cli.Float64Flag{Name: "logit-scale", Value: 0, Usage: "set the final norm so that a hidden state along a token's embedding gives it this `LOGIT` " +
				"(0: norm weights 1, logits within about ±1.3 on tiny, too small for an answer to become likely)"},
		},
		Action: func(c *cli.Context) error {
			return runInitModel(initModelConfig{
				Preset:     c.String("preset"),
				Seed:       c.Uint64("seed"),
				Out:        c.String("out"),
				DType:      c.String("dtype"),
				LogitScale: c.Float64("logit-scale"),
			}, c.App.Writer)
		},
	}
}

func runInitModel(cfg initModelConfig, out interface{ Write([]byte) (int, error) }) error {
	opt := llm.InitOptions{Preset: cfg.Preset, Seed: cfg.Seed, DType: cfg.DType, LogitScale: cfg.LogitScale}
	if err := llm.InitRandomModelWith(cfg.Out, opt); err != nil {
		return err
	}
	mc, err := llm.PresetConfig(cfg.Preset)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "wrote %s Qwen2 model (%d layers, hidden %d, %.1fM parameters, %s, seed %d) to %s\n",
		cfg.Preset, mc.NumHiddenLayers, mc.HiddenSize, float64(mc.NumParameters())/1e6, cfg.DType, cfg.Seed, cfg.Out)
	return err
}
