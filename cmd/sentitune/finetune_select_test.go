package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
)

// The model-selection options reach the config from flags and from YAML;
// --load-best is on unless turned off.
func TestFinetuneSelectionFlags(t *testing.T) {
	run := func(args ...string) finetune.Config {
		t.Helper()
		var got finetune.Config
		o := finetuneOptionTable()
		cmd := finetuneCommand()
		cmd.Action = func(c *cli.Context) error {
			var err error
			got, err = finetuneConfig(c, o)
			return err
		}
		if err := (&cli.App{Commands: []*cli.Command{cmd}}).Run(append([]string{"sentitune", "finetune", "--model", "m", "--data", "d", "--out", "o"}, args...)); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if cfg := run(); !cfg.LoadBest || cfg.ValRatio != 0.1 || cfg.MetricForBest != finetune.MetricEvalLoss || cfg.EarlyStoppingPatience != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	cfg := run("--eval-every", "5", "--early-stopping-patience", "2", "--metric-for-best", "eval_accuracy", "--val-ratio", "0.2", "--load-best=false")
	if cfg.LoadBest || cfg.ValRatio != 0.2 || cfg.MetricForBest != finetune.MetricEvalAccuracy || cfg.EarlyStoppingPatience != 2 {
		t.Errorf("flags: %+v", cfg)
	}
	yaml := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(yaml, []byte("load-best: false\nval-ratio: 0\nmetric-for-best: eval_label_loss\neval-every: 3\nearly-stopping-patience: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg := run("--config", yaml); cfg.LoadBest || cfg.ValRatio != 0 || cfg.MetricForBest != finetune.MetricEvalLabelLoss || cfg.EarlyStoppingPatience != 4 {
		t.Errorf("YAML: %+v", cfg)
	}
}
