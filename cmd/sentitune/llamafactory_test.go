package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/task"
)

// findCommand is the app's subcommand of that name.
func findCommand(t *testing.T, app *cli.App, name string) *cli.Command {
	t.Helper()
	for _, c := range app.Commands {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no command %s", name)
	return nil
}

// lfFolder writes an LLaMA-Factory dataset folder (dataset_info.json naming reviews.json) and a
// training YAML using it; it returns the YAML's path and the dataset file.
func lfFolder(t *testing.T, extra string) (yamlPath, data string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "reviews.json")
	files := map[string]string{
		"reviews.json":      `[{"instruction": "i", "input": "good", "output": "positive"}]`,
		"dataset_info.json": `{"reviews": {"file_name": "reviews.json"}}`,
		"lf.yaml": "model_name_or_path: m\nstage: sft\nfinetuning_type: lora\ndataset: reviews\ndataset_dir: " + dir +
			"\ntemplate: qwen\noutput_dir: " + filepath.Join(dir, "out") + "\nbf16: true\nlearning_rate: 2.0e-4\nlogging_steps: 5\n" + extra,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "lf.yaml"), data
}

func TestRunReadsLlamaFactoryYAML(t *testing.T) {
	path, data := lfFolder(t, "")
	cfg, err := parseRunConfig(t, "--config", path, "--epochs", "2")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "m" || cfg.Input != data || cfg.Finetune.Template != "qwen" || cfg.Finetune.LR != 2e-4 || cfg.Finetune.DType != "bf16" ||
		cfg.Finetune.Epochs != 2 || cfg.Out != filepath.Join(filepath.Dir(path), "out") || cfg.DemoPreset != "" {
		t.Errorf("run config from LLaMA-Factory's YAML: %+v", cfg)
	}
}

func TestFinetuneLlamaFactoryYAML(t *testing.T) {
	path, data := lfFolder(t, "")
	var stderr bytes.Buffer
	app := newApp()
	app.ErrWriter = &stderr
	o := finetuneOptionTable()
	cmd := findCommand(t, app, "finetune")
	cmd.Action = func(c *cli.Context) error {
		cfg, err := finetuneConfig(c, o)
		if err != nil {
			return err
		}
		if cfg.TrainFile != data || cfg.Model != "m" || cfg.Template != "qwen" || cfg.LR != 2e-4 || cfg.LoRAR != 4 {
			t.Errorf("finetune config from LLaMA-Factory's YAML: %+v", cfg)
		}
		return nil
	}
	if err := app.Run([]string{"sentitune", "finetune", "--config", path, "--lora-r", "4"}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), "LLaMA-Factory "+path+": logging_steps: 5: ignored"); n != 1 {
		t.Errorf("the ignored key is said %d times, want once:\n%s", n, stderr.String())
	}

	// A key LLaMA-Factory does not have is a usage error naming the nearest one.
	bad, _ := lfFolder(t, "learning_rat: 1e-4\n")
	err := newApp().Run([]string{"sentitune", "finetune", "--config", bad})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), `unknown LLaMA-Factory key "learning_rat" (did you mean "learning_rate"?)`) {
		t.Errorf("err = %v, want exit 2 naming learning_rate", err)
	}
}

func TestFinetuneDatasetFlag(t *testing.T) {
	path, data := lfFolder(t, "")
	dir := filepath.Dir(path)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", dir, "--dataset", "nope"}, `has no dataset "nope" (it has: reviews)`},
		{[]string{"--dataset", "reviews"}, "give the folder holding dataset_info.json with --data DIR"},
	} {
		err := newApp().Run(append([]string{"sentitune", "finetune", "--model", "m", "--out", filepath.Join(dir, "o")}, tc.args...))
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want exit 2 with %q", tc.args, err, tc.want)
		}
	}
	app := newApp()
	o := finetuneOptionTable()
	cmd := findCommand(t, app, "finetune")
	cmd.Action = func(c *cli.Context) error {
		cfg, err := finetuneConfig(c, o)
		if err == nil && (cfg.TrainFile != data || cfg.Data != "") {
			t.Errorf("--dataset reviews: train %q, data %q", cfg.TrainFile, cfg.Data)
		}
		return err
	}
	if err := app.Run([]string{"sentitune", "finetune", "--model", "m", "--out", "o", "--data", dir, "--dataset", "reviews"}); err != nil {
		t.Fatal(err)
	}

	// Several names: joined in order into one file, and said.
	var stderr bytes.Buffer
	app = newApp()
	app.ErrWriter = &stderr
	cmd = findCommand(t, app, "finetune")
	cmd.Action = func(c *cli.Context) error {
		cfg, err := finetuneConfig(c, o)
		if err != nil {
			return err
		}
		recs, err := task.ReadRecords(cfg.TrainFile)
		if err != nil || len(recs) != 2 || recs[0].Input != "good" || recs[1].Input != "good" || filepath.Dir(cfg.TrainFile) != filepath.Join(dir, ".sentitune") {
			t.Errorf("--dataset reviews,reviews: train %s: %+v, %v", cfg.TrainFile, recs, err)
		}
		return nil
	}
	if err := app.Run([]string{"sentitune", "finetune", "--model", "m", "--out", "o", "--data", dir, "--dataset", "reviews,reviews"}); err != nil {
		t.Fatal(err)
	}
	if want := "finetune: --dataset reviews,reviews: 2 records (reviews 1 + reviews 1)"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

// finetune --nproc N --config lf.yaml: LLaMA-Factory's per-device batch × N is the global --batch-size.
func TestFinetuneLlamaFactoryPerDeviceBatch(t *testing.T) {
	path, _ := lfFolder(t, "per_device_train_batch_size: 4\ngradient_accumulation_steps: 2\nmax_samples: 1\n")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "dataset: reviews\n", "dataset: reviews,reviews\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args  []string
		batch int
	}{
		{nil, 4},
		{[]string{"--nproc", "3"}, 12},
		{[]string{"--nproc", "3", "--batch-size", "5"}, 5}, // a flag given is the global batch as it is
	} {
		var stderr bytes.Buffer
		app := newApp()
		app.ErrWriter = &stderr
		o := finetuneOptionTable()
		findCommand(t, app, "finetune").Action = func(c *cli.Context) error {
			cfg, err := finetuneConfig(c, o)
			if err != nil {
				return err
			}
			if cfg.BatchSize != tc.batch || cfg.GradAccum != 2 {
				t.Errorf("%v: batch %d, grad accum %d; want %d, 2", tc.args, cfg.BatchSize, cfg.GradAccum, tc.batch)
			}
			if recs, err := task.ReadRecords(cfg.TrainFile); err != nil || len(recs) != 2 {
				t.Errorf("dataset: reviews,reviews with max_samples 1: %d records, %v; want 2", len(recs), err)
			}
			return nil
		}
		if err := app.Run(append([]string{"sentitune", "finetune", "--config", path}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		if said := strings.Contains(stderr.String(), "per_device_train_batch_size: 4 on 3 processes: --batch-size 12"); said != (len(tc.args) > 0) {
			t.Errorf("%v: the per-device note said %v:\n%s", tc.args, said, stderr.String())
		}
	}
}

// eval reads LLaMA-Factory's generated_predictions.jsonl: answers parsed from the replies, a reply
// without one counted as an error and named in the report.
func TestEvalGeneratedPredictions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "generated_predictions.jsonl")
	body := `{"prompt": "p", "predict": "1", "label": "1"}
{"prompt": "p", "predict": "positive", "label": "0"}
{"prompt": "p", "predict": "The review is negative.", "label": "negative"}
{"prompt": "p", "predict": "I cannot tell", "label": "1"}
`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	app := newApp()
	var stdout, stderr bytes.Buffer
	app.Writer, app.ErrWriter = &stdout, &stderr
	if err := app.Run([]string{"sentitune", "eval", "--predictions", path, "--out", out}); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	note := "1 of 4 generations held no answer (no 1/0 or label word) and are counted as errors: ids 4"
	if !strings.Contains(string(md), note) || !strings.Contains(stderr.String(), note) {
		t.Errorf("the unanswered row is not reported:\n%s\n%s", md, stderr.String())
	}
	if !strings.Contains(string(md), "50.0% accuracy on 4 rows") {
		t.Errorf("accuracy should count the unanswered row as an error (2 of 4):\n%s", md)
	}
}

// prep given dataset_info.json says it is the registry and names its files.
func TestPrepRefusesRegistry(t *testing.T) {
	path, _ := lfFolder(t, "")
	info := filepath.Join(filepath.Dir(path), "dataset_info.json")
	err := newApp().Run([]string{"sentitune", "prep", "--input", info, "--out", filepath.Join(t.TempDir(), "p")})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 2 || !strings.Contains(err.Error(), "LLaMA-Factory's dataset registry") ||
		!strings.Contains(err.Error(), "reviews → reviews.json") || !strings.Contains(err.Error(), "--dataset NAME") {
		t.Errorf("err = %v", err)
	}
}
