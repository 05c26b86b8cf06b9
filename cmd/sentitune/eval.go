package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/filehash"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
	"github.com/sentitune/sentitune/reports"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "score a test split (or read predictions) and write metrics and a report",
		UsageText: "sentitune eval --predictions FILE --out REPORTDIR [--baseline PREPDIR] [--compare REPORTDIR ...] [--run RUNDIR]\n" +
			"   sentitune eval --model DIR [--adapter DIR] --data PREPDIR/test.json|reviews.csv --out REPORTDIR",
		Description: "Writes REPORTDIR/metrics.json, report.md, report.html (one self-contained page) and predictions.jsonl.\n" +
			"Predictions files need label and pred and/or prob columns (id and text optional): CSV, TSV, JSONL, JSON or Parquet.\n" +
			"The baseline is a TF-IDF word+bigram logistic regression trained on PREPDIR/train.json; with --data it defaults\n" +
			"to the test file's folder when that folder holds a train.json. It scores exactly the model's rows: their text, or\n" +
			"(predictions without text) their rows in PREPDIR/test.json found by id with the same label; eval refuses otherwise.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "predictions", Aliases: []string{"p"}, Usage: "predictions `FILE` with label, pred, prob"},
			&cli.StringFlag{Name: "data", Usage: "labelled `FILE` to score (with --model): PREPDIR/test.json, or csv, tsv, json, jsonl, parquet"},
			&cli.StringFlag{Name: "input-format", Value: prep.FormatAuto, Usage: "format of --data: auto|csv|tsv|json|jsonl|parquet|alpaca"},
			&cli.StringFlag{Name: "encoding", Value: "auto", Usage: "text encoding of --data: auto|utf-8|gbk|utf-16"},
			&cli.StringFlag{Name: "text-col", Usage: "text column `NAME` of --data (default: detected; Alpaca: input)"},
			&cli.StringFlag{Name: "label-col", Usage: "label column `NAME` of --data (default: detected; Alpaca: output)"},
			&cli.StringFlag{Name: "id-col", Usage: "id column `NAME` of --data (default: detected, else the row number)"},
			&cli.StringFlag{Name: "label-map", Usage: "label values of --data: 'pos=1,neg=0', or 'stars'"},
			&cli.StringFlag{Name: "on-bad-row", Value: predict.OnBadRowError, Usage: "rows of --data that cannot be read or labelled: error|skip"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "report folder `REPORTDIR`"},
			&cli.StringFlag{Name: "baseline", Usage: "prep folder `PREPDIR`: train the TF-IDF baseline on its train.json"},
			&cli.BoolFlag{Name: "no-baseline", Usage: "do not train the baseline"},
			&cli.StringSliceFlag{Name: "compare", Usage: "earlier report folder `REPORTDIR` to compare with, McNemar on paired rows (repeatable)"},
			&cli.StringFlag{Name: "run", Usage: "finetune run folder `RUNDIR`: loss curve from its train_log.jsonl"},
			&cli.StringFlag{Name: "name", Value: "model", Usage: "this model's `NAME` in tables"},
			&cli.StringFlag{Name: "title", Usage: "report title"},
			&cli.StringFlag{Name: "note", Usage: "a note shown at the top of the report"},
			&cli.DurationFlag{Name: "log-every", Value: progress.DefaultInterval, Usage: "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line (scoring: rows/s, ETA; the baseline's features) at least every `DURATION`"},
		}, scorerFlags(32)...), // --model, --adapter, --device, --dtype, --batch-size, ... as predict
		Action: runEval,
	}
}

func runEval(c *cli.Context) error {
	cfg := reports.EvalConfig{
		Out:         c.String("out"),
		Title:       c.String("title"),
		Name:        c.String("name"),
		BaselineDir: c.String("baseline"),
		CompareDirs: c.StringSlice("compare"),
		RunDir:      c.String("run"),
		Note:        c.String("note"),
		Provenance:  map[string]string{},
		Progress:    c.App.ErrWriter, // each phase: a bar on a terminal, else plain lines
		LogEvery:    c.Duration("log-every"),
	}
	if cfg.Out == "" {
		return errors.New("eval: --out REPORTDIR is required")
	}
	if err := checkScorerFlags(c, "eval", 1); err != nil {
		return err
	}
	check := &flagCheck{c: c, cmd: "eval"}
	check.durations("log-every")
	if check.err != nil {
		return check.err
	}
	predsPath, model, dataPath := c.String("predictions"), c.String("model"), c.String("data")
	var preds []eval.Prediction
	switch {
	case predsPath != "" && model != "":
		return errors.New("eval: give either --predictions or --model, not both")
	case predsPath != "":
		var err error
		fmt.Fprintf(c.App.ErrWriter, "eval: reading %s\n", predsPath)
		if preds, err = eval.ReadPredictions(predsPath); err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "eval: %d predictions\n", len(preds))
		cfg.Provenance["predictions"] = predsPath
		if !prep.IsStream(predsPath) { // a pipe was read once already: nothing is left to hash
			if h, err := filehash.SHA256(predsPath); err == nil {
				cfg.Provenance["predictions_sha256"] = h
			}
		}
	case model != "":
		if dataPath == "" {
			return errors.New("eval: --model needs --data PREPDIR/test.json")
		}
		scored, prov, err := scoreForEval(c, dataPath)
		if err != nil {
			return err
		}
		preds = scored
		for k, v := range prov {
			cfg.Provenance[k] = v
		}
		cfg.Provenance["data"] = dataPath
		if !prep.IsStream(dataPath) { // a pipe was read once already: nothing is left to hash
			if h, err := filehash.SHA256(dataPath); err == nil {
				cfg.Provenance["data_sha256"] = h
			}
		}
		// A test split written by prep has its train split beside it: that is the baseline's.
		if dir := filepath.Dir(dataPath); cfg.BaselineDir == "" && evalFileExists(filepath.Join(dir, "train.json")) {
			cfg.BaselineDir = dir
		}
		// An adapter inside a run folder (RUNDIR/adapter) brings that run's loss curve.
		if a := c.String("adapter"); cfg.RunDir == "" && a != "" && evalFileExists(filepath.Join(a, "..", "train_log.jsonl")) {
			cfg.RunDir = filepath.Dir(filepath.Clean(a))
		}
	default:
		return errors.New("eval: need --predictions FILE, or --model DIR with --data FILE")
	}
	if c.Bool("no-baseline") {
		cfg.BaselineDir = ""
	}
	in, err := reports.RunEval(preds, cfg)
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprint(w, reports.Summary(in))
	fmt.Fprintf(w, "report: %s\n", filepath.Join(cfg.Out, reports.HTMLFile))
	return nil
}

func evalFileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}
