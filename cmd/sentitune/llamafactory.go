package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/llamafactory"
	"github.com/sentitune/sentitune/pipeline"
)

// LLaMA-Factory's training YAML is accepted by finetune --config and run --config as it is: the
// file is recognised by its own keys (model_name_or_path, stage, ...), mapped by
// internal/llamafactory, and every key it ignores is said on stderr, one line each.

// readLlamaFactory reads an LLaMA-Factory YAML and writes its notes to w, once per path.
func readLlamaFactory(path string, w io.Writer, said map[string]bool) (*llamafactory.Config, error) {
	lf, err := llamafactory.Read(path)
	if err != nil {
		return nil, err
	}
	if !said[path] {
		said[path] = true
		for _, n := range lf.Notes {
			fmt.Fprintf(w, "LLaMA-Factory %s: %s\n", path, n)
		}
	}
	return lf, nil
}

// finetuneReader is finetune's --config reader: an LLaMA-Factory file by its keys, else
// finetune's flag-name file.
func finetuneReader(w io.Writer) func(string, finetune.Config) (finetune.Config, error) {
	said := map[string]bool{}
	return func(path string, _ finetune.Config) (finetune.Config, error) {
		if !llamafactory.IsConfig(path) {
			return finetune.LoadConfig(path)
		}
		lf, err := readLlamaFactory(path, w, said)
		if err != nil {
			return finetune.Defaults(), err
		}
		cfg := lf.Finetune
		cfg.TrainFile, cfg.EvalFile, err = lf.Files()
		return cfg, err
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
		lf, err := readLlamaFactory(path, w, said)
		if err != nil {
			return base, err
		}
		train, eval, err := lf.Files()
		if err != nil {
			return base, err
		}
		if eval != "" {
			return base, fmt.Errorf("%s: eval_dataset: run holds out its own test split from the dataset; train on it with sentitune finetune --config", path)
		}
		cfg := base
		cfg.Model, cfg.Input = lf.Finetune.Model, train
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

// datasetFiles resolves finetune's --data DIR --dataset NAME (LLaMA-Factory's registry) to --train.
func datasetFiles(cfg *finetune.Config) error {
	if cfg.Dataset == "" {
		return nil
	}
	if cfg.Data == "" {
		return usageError("finetune: --dataset %s: give the folder holding %s with --data DIR", cfg.Dataset, llamafactory.InfoFile)
	}
	names := strings.Split(cfg.Dataset, ",")
	if len(names) > 1 {
		return usageError("finetune: --dataset %s: sentitune trains on one dataset file; join their files into one, or prep them into one folder", cfg.Dataset)
	}
	ds, err := llamafactory.Resolve(cfg.Data, names)
	if err != nil {
		return usageError("finetune: --dataset: %w", err)
	}
	cfg.Data, cfg.TrainFile = "", ds[0].File
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
