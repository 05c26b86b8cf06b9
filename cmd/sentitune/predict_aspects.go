package main

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
)

// isAspectAdapter reports whether --adapter was trained on prep --aspects records; a folder
// that cannot be read is left to the scorer, which names the problem.
func isAspectAdapter(adapterDir string) bool {
	aspects, err := predict.AdapterAspects(adapterDir)
	return err == nil && len(aspects) > 0
}

// predictAspectFile scores a file with an aspect adapter: one column group per aspect.
func predictAspectFile(c *cli.Context, opt predictOptions) error {
	switch {
	case opt.Out == "":
		return usageError("predict: --out FILE is required with --input")
	case opt.ShardSpec != "" || opt.Generate > 0 || opt.Stats != "":
		return usageError("predict: adapter %s scores aspects; --shard, --generate and --stats take a one-label adapter", opt.Scorer.AdapterDir)
	}
	removeTempsOnSignal()
	st, err := predict.RunAspects(predict.AspectConfig{
		Scorer: opt.Scorer, Input: opt.Input, Format: opt.InputFormat, Encoding: opt.Encoding,
		TextCol: opt.TextCol, IDCol: opt.IDCol, Out: opt.Out, OutFmt: opt.Format, KeepText: opt.KeepText,
	})
	if err != nil {
		return err
	}
	st.WriteSummary(c.App.Writer)
	return nil
}

// predictAspectTexts prints, per text, each aspect's answer and its probability:
// "battery=positive:0.91 screen=none:0.88".
func predictAspectTexts(c *cli.Context, cfg predict.ScorerConfig, texts []string) error {
	sc, err := predict.NewScorer(cfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	aspects, rows, err := sc.ScoreAspects(texts)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(c.App.Writer)
	defer w.Flush()
	for _, r := range rows {
		parts := make([]string, len(aspects))
		for k, a := range aspects {
			parts[k] = fmt.Sprintf("%s=%s:%.6f", a, task.AspectLabels[r.Pred[k]].Name, r.Probs[k][r.Pred[k]])
		}
		fmt.Fprintln(w, strings.Join(parts, " "))
	}
	return nil
}
