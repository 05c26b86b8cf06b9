package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
)

// TestFinetuneConfig checks the order defaults < --config YAML < flags.
func TestFinetuneConfig(t *testing.T) {
	yaml := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(yaml, []byte("model: m\ndata: d\nout: o\nlr: 0.003\nlora-r: 16\nmodules-to-save: [embed_tokens]\nepochs: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (finetune.Config, error) {
		var got finetune.Config
		o := finetuneOptionTable()
		cmd := finetuneCommand()
		cmd.Action = func(c *cli.Context) error {
			var err error
			got, err = finetuneConfig(c, o)
			return err
		}
		app := &cli.App{Commands: []*cli.Command{cmd}}
		err := app.Run(append([]string{"sentitune", "finetune"}, args...))
		return got, err
	}

	cfg, err := run("--config", yaml, "--lr", "0.01", "--lora-target", "q_proj,v_proj", "--seed", "7", "--use-rslora")
	if err != nil {
		t.Fatal(err)
	}
	want := finetune.Defaults()
	want.Model, want.Data, want.Out = "m", "d", "o"
	want.LoRAR, want.ModulesToSave, want.Epochs = 16, finetune.List{"embed_tokens"}, 4 // from the YAML
	want.LR, want.LoRATarget, want.Seed, want.UseRSLoRA = 0.01, finetune.List{"q_proj", "v_proj"}, 7, true
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("config\n%+v\nwant\n%+v", cfg, want)
	}

	cfg, err = run("--model", "m", "--train", "t.json", "--out", "o")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LR != 1e-4 || cfg.LoRAR != 8 || cfg.LoRAAlpha != 16 || cfg.Scheduler != "cosine" || cfg.TrainFile != "t.json" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", yaml, "--lora-r", "0"}, "lora-r must be at least 1"},
		{[]string{"--model", "m", "--out", "o"}, "no training data"},
		{[]string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, "read config"},
	} {
		_, err := run(c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want %q", c.args, err, c.want)
		}
	}
	// Through the real action, a bad option is a usage error (exit code 2).
	err = newApp().Run([]string{"sentitune", "finetune", "--model", "m", "--data", "d", "--out", "o", "--scheduler", "step"})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "scheduler") {
		t.Fatalf("err = %v, want exit code 2 about the scheduler", err)
	}
}
