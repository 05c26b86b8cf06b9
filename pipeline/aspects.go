package pipeline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
	"github.com/sentitune/sentitune/reports"
)

// AspectDemoNote replaces DemoNote in the report of an aspect run on the demo model.
const AspectDemoNote = "Demo run: the model is a small random-weight Qwen2-architecture network (sentitune init-model), " +
	"not a pretrained chat model, and it learns aspect sentiment from a hundred synthetic reviews alone: the scores " +
	"say the aspect pipeline works, not how well a chat model does. Point `sentitune run --model` at a real chat model on a GPU for that."

// runAspectEval scores the test split once per aspect and writes the per-aspect report.
func runAspectEval(cfg Config, res *Result, sc *predict.Scorer, w io.Writer) error {
	preds := filepath.Join(res.ReportDir, "predictions.csv")
	if err := os.MkdirAll(res.ReportDir, 0o755); err != nil {
		return err
	}
	st, err := predict.RunAspectsWith(sc, predict.AspectConfig{Input: filepath.Join(res.PrepDir, prep.FileTest), Out: preds, KeepText: true})
	if err != nil {
		return err
	}
	cols, rows, err := table.ReadAspectPredictions(preds)
	if err != nil {
		return err
	}
	m, err := eval.ComputeAspects(cols, rows)
	if err != nil {
		return err
	}
	note := cfg.Note
	if note == DemoNote {
		note = AspectDemoNote
	}
	model := res.ModelDir
	if cfg.Model == "" {
		model += " (random-weight demo model)"
	}
	err = reports.WriteAspectReport(res.ReportDir, reports.AspectReport{
		Title: "sentitune run (aspects) — " + filepath.Base(filepath.Clean(cfg.Out)), Note: note, Metrics: m,
		Provenance: map[string]string{"model": model, "adapter": res.Train.Adapter, "seed": strconv.FormatInt(cfg.Seed, 10),
			"predictions": preds, "data": filepath.Join(res.PrepDir, prep.FileTest), "command": "sentitune run --aspects"},
	})
	if err != nil {
		return err
	}
	res.Aspects = m
	fmt.Fprintf(w, "   scored %d test reviews × %d aspects → %s\n", st.Reviews, len(st.Aspects), preds)
	fmt.Fprint(indent{w}, reports.AspectSummary(m))
	return nil
}

// runAspectExamples prints each example's answer per aspect.
func runAspectExamples(cfg Config, sc *predict.Scorer, w io.Writer) error {
	if len(cfg.Examples) == 0 {
		return nil
	}
	aspects, rows, err := sc.ScoreAspects(cfg.Examples)
	if err != nil {
		return err
	}
	for i, r := range rows {
		parts := make([]string, len(aspects))
		for k, a := range aspects {
			parts[k] = a + "=" + task.AspectLabels[r.Pred[k]].Name
		}
		fmt.Fprintf(w, "   %s  %s\n", strings.Join(parts, " "), cfg.Examples[i])
	}
	return nil
}
