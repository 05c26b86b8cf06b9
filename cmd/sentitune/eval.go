package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/eval/scoring"
	"github.com/sentitune/sentitune/internal/filehash"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/reports"
)

// evalOptions is eval's command line.
type evalOptions struct {
	Report      reports.EvalConfig
	Scorer      predict.ScorerConfig // --model and how to score with it
	Data        predict.Config       // --data and how to read it
	Predictions string               // or a predictions file
	NoBaseline  bool
	Labels      string // a K-class predictions file's classes (stars3, stars5, NAME=ANSWER,... or NAME,...)
	Ordered     bool   // K classes on a scale: MAE and quadratic-weighted kappa
}

func evalOptionTable() *options[evalOptions] {
	def := evalOptions{Scorer: defaultScorer(32), Data: defaultInput()}
	def.Report.Name, def.Report.LogEvery = "model", progress.DefaultInterval
	o := newOptions(def)
	o.str("predictions", "predictions `FILE` with label, pred, prob (- : stdin)", func(e *evalOptions) *string { return &e.Predictions }, "p")
	inputOptions(o, "data", "labelled `FILE` to score (with --model): PREPDIR/test.json, or csv, tsv, json, jsonl, parquet", func(e *evalOptions) *predict.Config { return &e.Data })
	o.str("out", "report folder `REPORTDIR`", func(e *evalOptions) *string { return &e.Report.Out }, "o")
	o.str("baseline", "prep folder `PREPDIR`: train the TF-IDF baseline on its train.json", func(e *evalOptions) *string { return &e.Report.BaselineDir })
	o.boolean("no-baseline", "do not train the baseline", func(e *evalOptions) *bool { return &e.NoBaseline })
	o.str("labels", "K-class predictions: the classes in order, `stars3|stars5|NAME=ANSWER,...|NAME,...` (default: the file's prob_<name> columns)", func(e *evalOptions) *string { return &e.Labels })
	o.boolean("ordered", "K classes on a scale: add MAE and quadratic-weighted kappa (stars3/stars5 names always are)", func(e *evalOptions) *bool { return &e.Ordered })
	o.texts("compare", "earlier report folder `REPORTDIR` to compare with, McNemar on paired rows (repeatable; a name is never split at commas)", func(e *evalOptions) *[]string { return &e.Report.CompareDirs })
	o.str("run", "finetune run folder `RUNDIR`: loss curve from its train_log.jsonl", func(e *evalOptions) *string { return &e.Report.RunDir })
	o.str("name", "this model's `NAME` in tables", func(e *evalOptions) *string { return &e.Report.Name })
	o.str("title", "report title", func(e *evalOptions) *string { return &e.Report.Title })
	o.str("note", "a note shown at the top of the report", func(e *evalOptions) *string { return &e.Report.Note })
	o.duration("log-every", "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line (scoring: rows/s, ETA; the baseline's features) at least every `DURATION`", func(e *evalOptions) *time.Duration { return &e.Report.LogEvery })
	scorerOptions(o, func(e *evalOptions) *predict.ScorerConfig { return &e.Scorer }) // --model, --adapter, --device, ... as predict
	batchTokensOption(o, func(e *evalOptions) *predict.ScorerConfig { return &e.Scorer })
	return o
}

func evalCommand() *cli.Command {
	o := evalOptionTable()
	return &cli.Command{
		Name:  "eval",
		Usage: "score a test split (or read predictions) and write metrics and a report",
		UsageText: "sentitune eval --predictions FILE --out REPORTDIR [--baseline PREPDIR] [--compare REPORTDIR ...] [--run RUNDIR]\n" +
			"   sentitune eval --model DIR [--adapter DIR] --data PREPDIR/test.json|reviews.csv --out REPORTDIR",
		Description: "Writes REPORTDIR/metrics.json, report.md, report.html (one self-contained page) and predictions.jsonl.\n" +
			"Predictions files need label and pred and/or prob columns (id and text optional): CSV, TSV, JSONL, JSON or Parquet.\n" +
			"K classes: label and pred hold class names and prob_<name> columns (one per class) replace prob, or --labels names\n" +
			"the classes; the report then has per-class metrics, the confusion matrix, kappa (MAE and quadratic-weighted kappa\n" +
			"for ordered labels) and one-vs-rest ROC curves, and the baseline is the multinomial one.\n" +
			"The baseline is a TF-IDF word+bigram logistic regression trained on PREPDIR/train.json; with --data it defaults\n" +
			"to the test file's folder when that folder holds a train.json. It scores exactly the model's rows: their text, or\n" +
			"(predictions without text) their rows in PREPDIR/test.json found by id with the same label; eval refuses otherwise.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			opt, err := o.load(c)
			if err != nil {
				return err
			}
			return runEval(c, opt)
		},
	}
}

func runEval(c *cli.Context, opt evalOptions) error {
	cfg := opt.Report
	cfg.Provenance = map[string]string{}
	cfg.Progress = c.App.ErrWriter // each phase: a bar on a terminal, else plain lines
	if cfg.Out == "" {
		return usageError("eval: --out REPORTDIR is required")
	}
	check := &flagCheck{cmd: "eval"}
	check.checkScorer(opt.Scorer, 1)
	check.positive("log-every", cfg.LogEvery)
	if check.err != nil {
		return check.err
	}
	predsPath, model, dataPath := opt.Predictions, opt.Scorer.ModelDir, opt.Data.Input
	var preds []eval.Prediction
	classes, err := evalClassNames(opt.Labels)
	if err != nil {
		return err
	}
	switch {
	case predsPath != "" && model != "":
		return usageError("eval: give either --predictions or --model, not both")
	case predsPath != "" && isAspectPredictionsFile(predsPath):
		return evalAspectPredictions(c, predsPath, cfg)
	case predsPath != "":
		var err error
		fmt.Fprintf(c.App.ErrWriter, "eval: reading %s\n", predsPath)
		if classes, preds, err = readClassPredictions(c, predsPath, classes); err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "eval: %d predictions\n", len(preds))
		if ids := eval.ScoreUnanswered(preds); len(ids) > 0 { // generated replies with no answer are errors
			note := eval.UnansweredNote(ids, len(preds))
			fmt.Fprintln(c.App.ErrWriter, "eval: "+note)
			cfg.Note = strings.TrimSpace(cfg.Note + "\n\n" + note)
			cfg.Provenance["unanswered_generations"] = strconv.Itoa(len(ids))
		}
		cfg.Provenance["predictions"] = predsPath
		if predsPath != "-" && !table.IsStream(predsPath) { // a pipe was read once already: nothing is left to hash
			if h, err := filehash.SHA256(predsPath); err == nil {
				cfg.Provenance["predictions_sha256"] = h
			}
		}
	case model != "":
		if dataPath == "" {
			return usageError("eval: --model needs --data PREPDIR/test.json")
		}
		if isAspectAdapter(opt.Scorer.AdapterDir) {
			return evalAspectModel(c, opt, cfg)
		}
		scored, err := scoring.Split(scoring.Config{Data: opt.Data, DataFlag: "--data", Scorer: opt.Scorer, Log: c.App.ErrWriter, LogEvery: cfg.LogEvery})
		if err != nil {
			return err
		}
		preds, cfg.Provenance, classes = scored.Predictions, scored.Provenance, scored.Classes
		// A test split written by prep has its train split beside it: that is the baseline's.
		if dir := filepath.Dir(dataPath); cfg.BaselineDir == "" && evalFileExists(filepath.Join(dir, "train.json")) {
			cfg.BaselineDir = dir
		}
		// An adapter inside a run folder (RUNDIR/adapter) brings that run's loss curve.
		if a := opt.Scorer.AdapterDir; cfg.RunDir == "" && a != "" && evalFileExists(filepath.Join(a, "..", "train_log.jsonl")) {
			cfg.RunDir = filepath.Dir(filepath.Clean(a))
		}
	default:
		return usageError("eval: need --predictions FILE, or --model DIR with --data FILE")
	}
	if opt.NoBaseline {
		cfg.BaselineDir = ""
	}
	if classes != nil {
		return runClassEval(c, preds, classes, opt.Ordered, cfg)
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
