package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/pipeline"
)

// readmeYAML returns the README's run.yaml example (the ```yaml block of its Configuration section).
func readmeYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Configuration")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	_, block, ok := strings.Cut(sec, "```yaml\n")
	if !ok {
		t.Fatal("README's Configuration section has no yaml block")
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// parseRunConfig runs the run command's flag parsing and runConfig, without the pipeline.
func parseRunConfig(t *testing.T, args ...string) (pipeline.Config, error) {
	t.Helper()
	cmd := runCommand()
	var cfg pipeline.Config
	var cfgErr error
	cmd.Action = func(c *cli.Context) error {
		cfg, cfgErr = runConfig(c, runOptionTable())
		return nil
	}
	app := &cli.App{Name: "sentitune", Commands: []*cli.Command{cmd}}
	if err := app.Run(append([]string{"sentitune", "run"}, args...)); err != nil {
		t.Fatal(err)
	}
	return cfg, cfgErr
}

func TestRunConfigModelInYAMLIsNotTheDemo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(path, []byte(readmeYAML(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseRunConfig(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	demo := pipeline.DemoDefaults()
	f := cfg.Finetune
	if cfg.Model != "models/qwen2.5-7b" || cfg.Out != "runs/qwen7b" {
		t.Errorf("model %q out %q, want the YAML's", cfg.Model, cfg.Out)
	}
	if cfg.Note == demo.Note || len(cfg.Examples) > 0 || cfg.DemoPreset != "" {
		t.Errorf("a model run carries the demo's note %q, examples %d or preset %q", cfg.Note, len(cfg.Examples), cfg.DemoPreset)
	}
	if f.DType != "auto" || cfg.Eval.DType != "auto" || cfg.Eval.Device != "auto" {
		t.Errorf("dtype %q/%q, eval device %q: want auto (the demo's are f32 on cpu)", f.DType, cfg.Eval.DType, cfg.Eval.Device)
	}
	if f.Device != "cuda:0" || f.MaxLen != 512 || f.LoRAR != 16 || f.BatchSize != 16 || f.LR != 1e-4 || f.Epochs != 2 {
		t.Errorf("finetune %+v: want the YAML's cuda:0, max-len 512, r 16, batch 16, lr 1e-4, 2 epochs", f)
	}
	if len(f.ModulesToSave) != 0 || f.LoRADropout != 0.05 {
		t.Errorf("modules-to-save %v, dropout %g: want none and 0.05 (the demo trains embed_tokens without dropout)", f.ModulesToSave, f.LoRADropout)
	}
	if cfg.Prep.TestRatio != 0.1 || cfg.Prep.TextCol != "review" || !cfg.Prep.Dedup || cfg.Eval.BatchSize != 64 {
		t.Errorf("prep %+v eval %+v: want the YAML's", cfg.Prep, cfg.Eval)
	}

	// Without a model anywhere it is the demo; a --model flag is a real run too.
	cfg, err = parseRunConfig(t)
	if err != nil || cfg.Note != demo.Note || cfg.Finetune.DType != "f32" || cfg.Out != "sentitune-demo" {
		t.Errorf("no model: note %q dtype %q out %q, %v; want the demo", cfg.Note, cfg.Finetune.DType, cfg.Out, err)
	}
	cfg, err = parseRunConfig(t, "--model", "m")
	if err != nil || cfg.Note != "" || cfg.Finetune.DType != "auto" || cfg.Finetune.MaxLen != 512 || cfg.Out != "sentitune-run" {
		t.Errorf("--model: note %q dtype %q max-len %d out %q, %v", cfg.Note, cfg.Finetune.DType, cfg.Finetune.MaxLen, cfg.Out, err)
	}
	if _, err := parseRunConfig(t, "--model", "m", "--preset", "small"); err == nil {
		t.Error("--preset with a model was accepted")
	}
	// The demo's step floor gives way to the user's --epochs.
	if cfg, err = parseRunConfig(t); err != nil || cfg.DemoMinSteps != pipeline.DemoMinSteps {
		t.Errorf("demo: demo-min-steps %d, %v; want %d", cfg.DemoMinSteps, err, pipeline.DemoMinSteps)
	}
	if cfg, err = parseRunConfig(t, "--epochs", "2"); err != nil || cfg.DemoMinSteps != 0 || cfg.Finetune.Epochs != 2 {
		t.Errorf("--epochs 2: demo-min-steps %d epochs %g, %v; want 0 and 2", cfg.DemoMinSteps, cfg.Finetune.Epochs, err)
	}
}
