package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/studio"
)

// TestStudioTrainFormIsFinetune: studio's Train form offers every finetune flag but those it
// names as left out, and the command line it shows and its --config YAML are the same run: both
// parse to one finetune.Config, with every option of the form set away from its default.
func TestStudioTrainFormIsFinetune(t *testing.T) {
	var flags []string
	for _, f := range finetuneCommand().Flags {
		flags = append(flags, f.Names()[0])
	}
	form := studio.TrainFormFlags()
	for _, f := range flags {
		if !slices.Contains(form, f) && studio.TrainFormOmits[f] == "" {
			t.Errorf("finetune --%s is neither on studio's Train form nor in TrainFormOmits", f)
		}
	}
	for _, f := range form {
		if !slices.Contains(flags, f) {
			t.Errorf("studio's Train form offers --%s, which finetune does not have", f)
		}
	}

	parse := func(args ...string) finetune.Config {
		t.Helper()
		var got finetune.Config
		o := finetuneOptionTable()
		cmd := finetuneCommand()
		cmd.Action = func(c *cli.Context) error {
			var err error
			got, err = o.load(c)
			return err
		}
		if err := (&cli.App{Commands: []*cli.Command{cmd}}).Run(append([]string{"sentitune"}, args...)); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return got
	}
	options := map[string]string{
		"template": "qwen", "quantization-bit": "4", "labels": "negative=0,neutral=1,positive=2", "max-len": "256", "val-ratio": "0.2",
		"epochs": "2.5", "max-steps": "100", "lr": "0.0003", "scheduler": "linear", "warmup-ratio": "0.1", "batch-size": "16",
		"grad-accum": "2", "max-grad-norm": "0.5", "weight-decay": "0.01", "seed": "7", "dtype": "bf16",
		"eval-every": "10", "metric-for-best": "eval_accuracy", "load-best": "false", "early-stopping-patience": "3",
		"save-every": "20", "save-total-limit": "4", "gradient-checkpointing": "on", "static-shapes": "true", "report-to": "tensorboard",
		"lora-r": "16", "lora-alpha": "32", "lora-dropout": "0.1", "lora-target": "q_proj,v_proj", "use-rslora": "true",
		"loraplus-lr-ratio": "16", "modules-to-save": "embed_tokens,lm_head",
		"device": "cuda:1", "threads": "4", "nproc": "2", "dist-backend": "nccl", "dist-timeout": "120",
	}
	for _, f := range form {
		if options[f] == "" && f != "label-map" { // label-map: a preset, which excludes --labels
			t.Errorf("the test sets no value for the form's --%s", f)
		}
	}
	args, y, err := studio.FinetuneArgs("models/m", "data/d", "runs/r", true, options)
	if err != nil {
		t.Fatal(err)
	}
	fromArgs := parse(args...)
	yamlPath := filepath.Join(t.TempDir(), "run.yaml")
	os.WriteFile(yamlPath, []byte(y), 0o644)
	fromYAML := parse("finetune", "--config", yamlPath)
	if !reflect.DeepEqual(fromArgs, fromYAML) {
		t.Errorf("the command line and the YAML studio shows differ:\nargs %+v\nyaml %+v\n%s", fromArgs, fromYAML, y)
	}
	if fromArgs.QuantizationBit != 4 || fromArgs.GradientCheckpointing != "on" || fromArgs.Labels != options["labels"] ||
		fromArgs.Template != "qwen" || !fromArgs.Resume || fromArgs.LoRATarget.String() != "q_proj,v_proj" {
		t.Errorf("parsed form: %+v", fromArgs)
	}
}
