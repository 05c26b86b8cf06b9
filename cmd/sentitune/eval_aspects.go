package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/reports"
)

// isAspectPredictionsFile reports whether path is a file predict wrote for an aspect adapter
// (aspect_<name> columns); pipes are read once and never are.
func isAspectPredictionsFile(path string) bool {
	if path == "-" || table.IsStream(path) {
		return false
	}
	r, err := table.Open(path, table.FormatAuto, table.ReadOptions{})
	if err != nil {
		return false // the ordinary reader reports it
	}
	defer r.Close()
	return table.IsAspectPredictions(r.Columns())
}

// evalAspectPredictions evaluates an aspect predictions file: per-aspect metrics and a report.
func evalAspectPredictions(c *cli.Context, path string, cfg reports.EvalConfig) error {
	cols, rows, err := table.ReadAspectPredictions(path)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return writeAspectEval(c, cols, rows, cfg, map[string]string{"predictions": path})
}

// writeAspectEval computes the per-aspect metrics of rows and writes the report into cfg.Out.
func writeAspectEval(c *cli.Context, cols table.AspectColumns, rows []table.AspectPrediction, cfg reports.EvalConfig, provenance map[string]string) error {
	m, err := eval.ComputeAspects(cols, rows)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := reports.WriteAspectReport(cfg.Out, reports.AspectReport{Title: cfg.Title, Note: cfg.Note, Metrics: m, Provenance: provenance}); err != nil {
		return err
	}
	fmt.Fprint(c.App.Writer, reports.AspectSummary(m))
	fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(cfg.Out, reports.HTMLFile))
	return nil
}

// evalAspectModel scores --data with an aspect adapter (each review once per aspect), keeps the
// predictions in the report folder and evaluates them per aspect.
func evalAspectModel(c *cli.Context, opt evalOptions, cfg reports.EvalConfig) error {
	preds := filepath.Join(cfg.Out, "predictions.csv")
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	d := opt.Data
	st, err := predict.RunAspects(predict.AspectConfig{Scorer: opt.Scorer, Input: d.Input, Format: d.InputFormat, Encoding: d.Encoding,
		TextCol: d.TextCol, IDCol: d.IDCol, Out: preds, KeepText: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "eval: scored %d reviews × %d aspects → %s\n", st.Reviews, len(st.Aspects), preds)
	cols, rows, err := table.ReadAspectPredictions(preds)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	prov := map[string]string{"model": opt.Scorer.ModelDir, "adapter": opt.Scorer.AdapterDir, "data": d.Input, "predictions": preds}
	return writeAspectEval(c, cols, rows, cfg, prov)
}
