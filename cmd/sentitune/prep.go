package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/prep"
)

func prepCommand() *cli.Command {
	return &cli.Command{
		Name:      "prep",
		Usage:     "prepare labelled reviews as instruction data with a held-out split",
		UsageText: "sentitune prep --input FILE --out DIR [options]",
		Description: "Reads CSV/TSV (UTF-8, GBK or UTF-16), JSON arrays, JSON Lines, Parquet or Alpaca files;\n" +
			"cleans the text (HTML, entities, whitespace, control characters; invalid UTF-8 is repaired);\n" +
			"maps labels to 1/0 (1/0, pos/neg, positive/negative, true/false, 好评/差评, or --label-map);\n" +
			"splits by label with a seed; writes train.json, test.json (val.json), dataset_info.json and stats.json.\n" +
			"Star ratings are refused unless mapped: --label-map stars means 1-2 → 0, 3 dropped, 4-5 → 1.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "`FILE` of labelled reviews"},
			&cli.StringFlag{Name: "format", Value: prep.FormatAuto, Usage: "auto|csv|tsv|json|jsonl|parquet|alpaca"},
			&cli.StringFlag{Name: "encoding", Value: "auto", Usage: "text encoding: auto|utf-8|gbk|utf-16 (auto detects BOMs and GBK)"},
			&cli.StringFlag{Name: "text-col", Usage: "text column `NAME` (default: detected: text, review, content, comment, sentence, 评论, 内容…)"},
			&cli.StringFlag{Name: "label-col", Usage: "label column `NAME` (default: detected: label, class, sentiment, rating, 标签…)"},
			&cli.StringFlag{Name: "id-col", Usage: "id column `NAME` written as each record's \"id\" (default: detected: id, review_id, uid…, else the source row number; " + prep.IDRowNumber + ": row number)"},
			&cli.StringFlag{Name: "label-map", Usage: "label values: 'pos=1,neg=0,neutral=skip', or 'stars'"},
			&cli.StringFlag{Name: "instruction", Usage: "instruction `TEXT` for every record (default: a 1/0 question in --lang)"},
			&cli.StringFlag{Name: "system", Usage: "system prompt `TEXT` written into every record"},
			&cli.StringFlag{Name: "lang", Value: "auto", Usage: "language of the default instruction: zh|en|auto"},
			&cli.Float64Flag{Name: "test-ratio", Value: 0.1, Usage: "share of each label held out in test.json (0: no test split)"},
			&cli.Float64Flag{Name: "val-ratio", Value: 0, Usage: "share of each label in val.json"},
			&cli.Int64Flag{Name: "seed", Value: 42, Usage: "split seed"},
			&cli.BoolFlag{Name: "dedup", Usage: "drop repeated texts before splitting, so none is in both train and test"},
			&cli.IntFlag{Name: "max-chars", Usage: "truncate texts to `N` characters (0: no limit)"},
			&cli.StringFlag{Name: "on-bad-row", Value: prep.OnBadRowError, Usage: "unparsable rows and unknown labels: error|skip (skip counts them in stats.json)"},
			&cli.StringFlag{Name: "model", Usage: "report token lengths with the tokenizer of the model folder `DIR`"},
			&cli.IntFlag{Name: "max-len", Value: prep.DefaultMaxLen, Usage: "with --model: count the rows over `N` prompt + answer tokens, whose end finetune --max-len N cuts"},
			&cli.StringFlag{Name: "name", Value: "sentitune", Usage: "dataset name prefix in dataset_info.json"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "write the outputs into folder `DIR` (atomically)"},
			&cli.DurationFlag{Name: "log-every", Value: progress.DefaultInterval, Usage: "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line on long inputs at least every `DURATION`"},
			&cli.IntFlag{Name: "synthetic", Hidden: true, Usage: "bench: prep N generated ~1 KB reviews instead of --input"},
		},
		Action: runPrep,
	}
}

func runPrep(c *cli.Context) error {
	cfg := prep.Config{
		Input:       c.String("input"),
		Format:      c.String("format"),
		Encoding:    c.String("encoding"),
		TextCol:     c.String("text-col"),
		LabelCol:    c.String("label-col"),
		IDCol:       c.String("id-col"),
		LabelMap:    c.String("label-map"),
		Instruction: c.String("instruction"),
		System:      c.String("system"),
		Lang:        c.String("lang"),
		TestRatio:   c.Float64("test-ratio"),
		ValRatio:    c.Float64("val-ratio"),
		Seed:        c.Int64("seed"),
		Dedup:       c.Bool("dedup"),
		MaxChars:    c.Int("max-chars"),
		OnBadRow:    c.String("on-bad-row"),
		Model:       c.String("model"),
		MaxLen:      c.Int("max-len"),
		Name:        c.String("name"),
		Out:         c.String("out"),
	}
	cfg.Progress, cfg.LogEvery = c.App.ErrWriter, c.Duration("log-every") // a bar on a terminal, else lines
	if cfg.LogEvery <= 0 {
		return usageError("prep: --log-every must be positive (like 30s or 5m), got %v", cfg.LogEvery)
	}
	if n := c.Int("synthetic"); n > 0 {
		dir, err := os.MkdirTemp("", "sentitune-synthetic-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Input = filepath.Join(dir, "synthetic.csv")
		f, err := os.Create(cfg.Input)
		if err != nil {
			return err
		}
		if err := prep.GenerateSyntheticReviews(f, n, cfg.Seed); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if cfg.Input == "" || cfg.Out == "" {
		return exitError{2, fmt.Errorf("prep: --input FILE and --out DIR are required")}
	}
	if err := checkPrepOptions("prep", cfg.TestRatio, cfg.ValRatio, cfg.MaxChars); err != nil {
		return err
	}
	if cfg.MaxLen < 1 {
		return exitError{2, fmt.Errorf("prep: --max-len must be at least 1, got %d", cfg.MaxLen)}
	}
	st, err := prep.Run(cfg)
	if err != nil {
		return err
	}
	st.WriteSummary(c.App.Writer)
	return nil
}
