package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/predict"
)

// scoreForEval scores the labelled file data.Input (prep's test.json, or any review file prep
// reads: CSV, TSV, JSON, JSON Lines, Parquet, with --text-col/--label-col/--id-col/--label-map)
// with the model of cfg (eval's scorer options, as predict's), and returns one
// prediction per row (ID = the id column, else the row number; Text, Label, Pred, Prob) plus
// provenance for the report (runEval adds the data path and its SHA-256).
//
// A bare model is prompted with the split's own instruction
// and system prompt (as prep wrote them); an adapter brings the prompt it was trained with.
func scoreForEval(c *cli.Context, data predict.Config, cfg predict.ScorerConfig, logEvery time.Duration) ([]eval.Prediction, map[string]string, error) {
	dataPath := data.Input
	fmt.Fprintf(c.App.ErrWriter, "eval: reading %s\n", dataPath)
	recs, skipped, err := predict.ReadLabelled(data)
	if err != nil {
		return nil, nil, fmt.Errorf("eval: --data %w", err)
	}
	if skipped > 0 {
		fmt.Fprintf(c.App.ErrWriter, "eval: %d bad rows of %s skipped (--on-bad-row skip)\n", skipped, dataPath)
	}
	texts := make([]string, len(recs))
	labels := make([]int, len(recs))
	for i, r := range recs {
		texts[i], labels[i] = r.Text, r.Label
	}
	if cfg.AdapterDir == "" && cfg.Instruction == "" && cfg.System == "" {
		cfg.Instruction, cfg.System = recs[0].Instruction, recs[0].System
	}
	if cfg.Device == "" {
		cfg.Device = "auto"
	}
	t0 := time.Now()
	fmt.Fprintf(c.App.ErrWriter, "eval: loading %s\n", cfg.ModelDir)
	sc, err := predict.NewScorer(cfg)
	if err != nil {
		return nil, nil, err
	}
	defer sc.Close()
	load := time.Since(t0)
	info := sc.Info()
	// Records whose instruction is not the one scored with: training saw theirs, eval does not.
	mismatch := 0
	for _, r := range recs {
		if r.Instruction != "" && r.Instruction != info.Instruction {
			mismatch++
		}
	}
	if mismatch > 0 {
		fmt.Fprintf(c.App.ErrWriter, "eval: warning: %d of %d records of %s have another instruction than the one scored with (%q)\n",
			mismatch, len(recs), dataPath, info.Instruction)
	}
	t1 := time.Now()
	rows := progress.New(c.App.ErrWriter, progress.Options{Name: "eval: scoring", Unit: "rows", Total: int64(len(texts)), Interval: logEvery})
	scores, st, err := sc.ScoreStats(texts, func(n int) { rows.Add(int64(n)) })
	rows.Finish()
	if err != nil {
		var te *predict.TextError
		if errors.As(err, &te) {
			return nil, nil, fmt.Errorf("eval: %s row %d: %w", dataPath, recs[te.Index].Row, te.Err)
		}
		return nil, nil, fmt.Errorf("eval: %w", err)
	}
	secs := time.Since(t1).Seconds()
	preds := make([]eval.Prediction, len(recs))
	for i, s := range scores {
		preds[i] = eval.Prediction{ID: recs[i].ID, Text: texts[i], Label: labels[i], Pred: s.Pred, Prob: s.Prob}
	}
	prov := map[string]string{
		"model":           info.Model,
		"device":          info.Device,
		"dtype":           info.DType,
		"chat_template":   info.Chat,
		"instruction":     info.Instruction,
		"label_token_ids": fmt.Sprintf("0→%d, 1→%d", info.LabelIDs[0], info.LabelIDs[1]),
		"max_len":         strconv.Itoa(info.MaxLen),
		"batch_size":      strconv.Itoa(info.BatchSize),
		"threshold":       strconv.FormatFloat(info.Threshold, 'g', -1, 64),
		"scoring":         fmt.Sprintf("label-token logits, one forward pass per batch: %d rows in %.1fs (%.1f rows/s, padding %.1f%%), model load %.1fs", len(recs), secs, float64(len(recs))/max(secs, 1e-9), 100*st.PaddingFraction(), load.Seconds()),
	}
	if info.Adapter != "" {
		prov["adapter"] = info.Adapter
	}
	if info.System != "" {
		prov["system"] = info.System
	}
	if mismatch > 0 {
		prov["instruction_mismatch"] = fmt.Sprintf("%d of %d records", mismatch, len(recs))
	}
	return preds, prov, nil
}
