package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/prep"
)

// prepOptions is prep's command line.
type prepOptions struct {
	prep.Config
	Synthetic int // bench: generated reviews instead of --input
}

func prepOptionTable() *options[prepOptions] {
	o := newOptions(prepOptions{Config: prep.Config{
		Format: table.FormatAuto, Encoding: "auto", Lang: "auto", TestRatio: 0.1, Seed: 42,
		OnBadRow: prep.OnBadRowError, MaxLen: prep.DefaultMaxLen, Name: "sentitune", LogEvery: progress.DefaultInterval,
	}})
	o.str("input", "`FILE` of labelled reviews", func(p *prepOptions) *string { return &p.Input }, "i")
	o.str("format", "auto|csv|tsv|json|jsonl|parquet|alpaca", func(p *prepOptions) *string { return &p.Format })
	o.str("encoding", "text encoding: auto|utf-8|gbk|utf-16 (auto detects BOMs and GBK)", func(p *prepOptions) *string { return &p.Encoding })
	o.str("text-col", "text column `NAME` (default: detected: text, review, content, comment, sentence, 评论, 内容…)", func(p *prepOptions) *string { return &p.TextCol })
	o.str("label-col", "label column `NAME` (default: detected: label, class, sentiment, rating, 标签…)", func(p *prepOptions) *string { return &p.LabelCol })
	o.str("id-col", "id column `NAME` written as each record's \"id\" (default: detected: id, review_id, uid…, else the source row number; "+prep.IDRowNumber+": row number)", func(p *prepOptions) *string { return &p.IDCol })
	o.str("label-map", "label values: 'pos=1,neg=0,neutral=skip', or 'stars'; 'stars5' (5 classes) or 'stars3' (1-2/3/4-5) for K classes", func(p *prepOptions) *string { return &p.LabelMap })
	o.str("labels", "K classes `NAME=ANSWER,...` in class order, e.g. 'negative=0,neutral=1,positive=2' (default: binary 1/0); answers must be single tokens", func(p *prepOptions) *string { return &p.Labels })
	o.str("aspects", "aspect sentiment: `A,B,...` columns of positive/negative/neutral/empty (not mentioned); one record per review and aspect, split by review", func(p *prepOptions) *string { return &p.Aspects })
	o.str("instruction", "instruction `TEXT` for every record (default: a 1/0 question in --lang; with --aspects a template naming {aspect})", func(p *prepOptions) *string { return &p.Instruction })
	o.str("system", "system prompt `TEXT` written into every record", func(p *prepOptions) *string { return &p.System })
	o.str("lang", "language of the default instruction: zh|en|auto", func(p *prepOptions) *string { return &p.Lang })
	o.real("test-ratio", "share of each label held out in test.json (0: no test split)", func(p *prepOptions) *float64 { return &p.TestRatio })
	o.real("val-ratio", "share of each label in val.json", func(p *prepOptions) *float64 { return &p.ValRatio })
	o.int64("seed", "split seed", func(p *prepOptions) *int64 { return &p.Seed })
	o.boolean("dedup", "drop repeated texts before splitting, so none is in both train and test", func(p *prepOptions) *bool { return &p.Dedup })
	o.integer("max-chars", "truncate texts to `N` characters (0: no limit)", func(p *prepOptions) *int { return &p.MaxChars })
	o.str("on-bad-row", "unparsable rows and unknown labels: error|skip (skip counts them in stats.json)", func(p *prepOptions) *string { return &p.OnBadRow })
	o.str("model", "report token lengths with the tokenizer of the model folder `DIR` (or ORG/NAME[@REV] from a hub cache)", func(p *prepOptions) *string { return &p.Model })
	o.integer("max-len", "with --model: count the rows over `N` prompt + answer tokens, whose end finetune --max-len N cuts", func(p *prepOptions) *int { return &p.MaxLen })
	o.str("name", "dataset name prefix in dataset_info.json", func(p *prepOptions) *string { return &p.Name })
	o.str("out", "write the outputs into folder `DIR` (atomically)", func(p *prepOptions) *string { return &p.Out }, "o")
	o.duration("log-every", "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line on long inputs at least every `DURATION`", func(p *prepOptions) *time.Duration { return &p.LogEvery })
	o.integer("synthetic", "bench: prep N generated ~1 KB reviews instead of --input", func(p *prepOptions) *int { return &p.Synthetic })
	o.hidden()
	return o
}

func prepCommand() *cli.Command {
	o := prepOptionTable()
	return &cli.Command{
		Name:      "prep",
		Usage:     "prepare labelled reviews as instruction data with a held-out split",
		UsageText: "sentitune prep --input FILE --out DIR [options]",
		Description: "Reads CSV/TSV (UTF-8, GBK or UTF-16), JSON arrays, JSON Lines, Parquet or Alpaca files;\n" +
			"cleans the text (HTML, entities, whitespace, control characters; invalid UTF-8 is repaired);\n" +
			"maps labels to 1/0 (1/0, pos/neg, positive/negative, true/false, 好评/差评, or --label-map);\n" +
			"splits by label with a seed; writes train.json, test.json (val.json), dataset_info.json and stats.json.\n" +
			"Star ratings are refused unless mapped: --label-map stars means 1-2 → 0, 3 dropped, 4-5 → 1.\n" +
			"More than two labels: --labels 'negative=0,neutral=1,positive=2', or --label-map stars3 / stars5.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			opt, err := o.load(c)
			if err != nil {
				return err
			}
			return runPrep(c, opt)
		},
	}
}

func runPrep(c *cli.Context, opt prepOptions) error {
	cfg := opt.Config
	cfg.Progress = c.App.ErrWriter // a bar on a terminal, else lines
	if cfg.LogEvery <= 0 {
		return usageError("prep: --log-every must be positive (like 30s or 5m), got %v", cfg.LogEvery)
	}
	if n := opt.Synthetic; n > 0 {
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
		return usageError("prep: --input FILE and --out DIR are required")
	}
	if err := checkPrepOptions("prep", cfg.TestRatio, cfg.ValRatio, cfg.MaxChars); err != nil {
		return err
	}
	if err := registryInput("prep", cfg.Input); err != nil {
		return err
	}
	if cfg.MaxLen < 1 {
		return usageError("prep: --max-len must be at least 1, got %d", cfg.MaxLen)
	}
	st, err := prep.Run(cfg)
	if err != nil {
		return err
	}
	st.WriteSummary(c.App.Writer)
	return nil
}
