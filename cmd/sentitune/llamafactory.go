package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/launch"
	"github.com/sentitune/sentitune/internal/llamafactory"
	"github.com/sentitune/sentitune/pipeline"
)

// LLaMA-Factory's training YAML is accepted by finetune --config and run --config as it is: the
// file is recognised by its own keys (model_name_or_path, stage, ...), mapped by
// internal/llamafactory, and every key it ignores is said on stderr, one line each.

// lfRun is an LLaMA-Factory YAML read for one command: its config and its datasets' files.
type lfRun struct {
	*llamafactory.Config
	train, eval string
}

// readLlamaFactory reads an LLaMA-Factory YAML for a run on procs processes, resolves its datasets
// and writes its notes to w, once per path.
func readLlamaFactory(path string, procs int, w io.Writer, said map[string]bool) (lfRun, error) {
	lf, err := llamafactory.Read(path)
	if err != nil {
		return lfRun{}, err
	}
	lf.Processes(procs)
	train, eval, notes, err := lf.Files()
	if err != nil {
		return lfRun{}, fmt.Errorf("%s: %w", path, err)
	}
	if !said[path] {
		said[path] = true
		for _, n := range append(lf.Notes, notes...) {
			fmt.Fprintf(w, "LLaMA-Factory %s: %s\n", path, n)
		}
	}
	return lfRun{lf, train, eval}, nil
}

// processes is how many data-parallel processes finetune runs on: --nproc, else torchrun's WORLD_SIZE.
func processes(c *cli.Context) int {
	if n := c.Int("nproc"); n > 1 {
		return n
	}
	n, err := strconv.Atoi(os.Getenv(launch.EnvWorldSize))
	if err != nil {
		return 1
	}
	return n
}

// finetuneReader is finetune's --config reader: an LLaMA-Factory file by its keys (its
// per-device batch on procs processes), else finetune's flag-name file.
func finetuneReader(w io.Writer, procs int) func(string, finetune.Config) (finetune.Config, error) {
	said := map[string]bool{}
	return func(path string, _ finetune.Config) (finetune.Config, error) {
		if !llamafactory.IsConfig(path) {
			return finetune.LoadConfig(path)
		}
		lf, err := readLlamaFactory(path, procs, w, said)
		if err != nil {
			return finetune.Defaults(), err
		}
		cfg := lf.Finetune
		cfg.TrainFile, cfg.EvalFile = lf.train, lf.eval
		return cfg, nil
	}
}

// runReader is run's --config reader: an LLaMA-Factory file (its dataset is run's --input, prepared
// as any review file), else run's sectioned YAML.
func runReader(w io.Writer) func(string, pipeline.Config) (pipeline.Config, error) {
	said := map[string]bool{}
	return func(path string, base pipeline.Config) (pipeline.Config, error) {
		if !llamafactory.IsConfig(path) {
			return pipeline.LoadConfig(path, base)
		}
		lf, err := readLlamaFactory(path, 1, w, said)
		if err != nil {
			return base, err
		}
		if lf.eval != "" {
			return base, fmt.Errorf("%s: eval_dataset: run holds out its own test split from the dataset; train on it with sentitune finetune --config", path)
		}
		cfg := base
		cfg.Model, cfg.Input = lf.Finetune.Model, lf.train
		if lf.Finetune.Out != "" {
			cfg.Out = lf.Finetune.Out
		}
		cfg.Seed = int64(lf.Finetune.Seed)
		cfg.Finetune = lf.Finetune
		cfg.Finetune.Model, cfg.Finetune.Out = "", ""
		cfg.Eval.DType = lf.Finetune.DType
		if lf.EvalBatch > 0 {
			cfg.Eval.BatchSize = lf.EvalBatch
		}
		return cfg, nil
	}
}

// datasetFiles resolves finetune's --data DIR --dataset NAME[,NAME…] (LLaMA-Factory's registry) to
// --train: the dataset's file, or the datasets joined into one file, said on w.
func datasetFiles(cfg *finetune.Config, w io.Writer) error {
	if cfg.Dataset == "" {
		return nil
	}
	if cfg.Data == "" {
		return usageError("finetune: --dataset %s: give the folder holding %s with --data DIR", cfg.Dataset, llamafactory.InfoFile)
	}
	var names []string
	for _, n := range strings.Split(cfg.Dataset, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	path, note, err := llamafactory.TrainingFile(cfg.Data, names, 0)
	if err != nil {
		return usageError("finetune: --dataset: %w", err)
	}
	if note != "" {
		fmt.Fprintf(w, "finetune: --dataset %s\n", note)
	}
	cfg.Data, cfg.TrainFile = "", path
	return nil
}

// registryInput refuses LLaMA-Factory's dataset registry given as a review file, naming its
// datasets' files and the command that reads it as a registry.
func registryInput(cmd, input string) error {
	if filepath.Base(input) != llamafactory.InfoFile {
		return nil
	}
	dir := filepath.Dir(input)
	list, err := llamafactory.Describe(dir)
	if err != nil {
		return usageError("%s: --input %s: %v", cmd, input, err)
	}
	return usageError("%s: --input %s is LLaMA-Factory's dataset registry, not a review file: give one of its files (%s) as --input %s/FILE, "+
		"or train on one as it is with sentitune finetune --data %s --dataset NAME", cmd, input, list, dir, dir)
}
