// Package scoring is the eval stage's model half: it loads a model (and adapter), scores a
// labelled split with it and returns the predictions and their provenance, which `sentitune eval
// --model` and `sentitune run` both hand to reports.RunEval.
//
// It is a package of its own, not part of eval, because scoring needs libtorch (through
// predict) and eval, the metrics, must build and test without it.
package scoring

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/filehash"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
)

// Config is one scoring of a labelled split.
type Config struct {
	// Data is the labelled file (prep's test.json, or any review file predict reads) and how to
	// read it: Input, InputFormat, Encoding, the column names, LabelMap, OnBadRow.
	Data predict.Config
	// DataFlag names the flag that gave Data.Input in read errors ("--data"), if any.
	DataFlag string
	// Scorer is the model to load. A bare model is prompted with the split's own instruction and
	// system prompt (as prep wrote them) unless they are set; an adapter brings its training prompt.
	Scorer predict.ScorerConfig
	// Loaded is a scorer the caller already holds (run keeps it for its examples); Scorer is then unused.
	Loaded   *predict.Scorer
	Log      io.Writer     // "eval: …" lines: reading, loading, the instruction check, scoring progress
	LogEvery time.Duration // how often progress prints a line when Log is not a terminal
}

// Result is a split's predictions (one per row: ID = the id column, else the row number; Text,
// Label, Pred, Prob) and what the report says about how they were made.
type Result struct {
	Predictions []eval.Prediction
	Provenance  map[string]string
	// Classes names a K-class scorer's classes in class order (the predictions then carry Probs
	// and go to reports.RunClassEval); nil for the binary task.
	Classes []string
}

// Split reads the labelled split cfg.Data, scores every row and returns the predictions with
// their provenance: the model, prompt, label tokens, length, device, speed and the data file
// with its SHA-256. Records that carry another instruction than the one scored with are
// counted, warned about and recorded: training saw theirs, scoring does not.
func Split(cfg Config) (*Result, error) {
	log := cmp.Or[io.Writer](cfg.Log, io.Discard)
	dataPath := cfg.Data.Input
	fmt.Fprintf(log, "eval: reading %s\n", dataPath)
	labels, err := scorerLabels(cfg)
	if err != nil {
		return nil, err
	}
	recs, skipped, err := predict.ReadLabelledOf(cfg.Data, labels)
	if err != nil {
		if cfg.DataFlag != "" {
			return nil, fmt.Errorf("eval: %s %w", cfg.DataFlag, err)
		}
		return nil, fmt.Errorf("eval: %w", err)
	}
	if skipped > 0 {
		fmt.Fprintf(log, "eval: %d bad rows of %s skipped (--on-bad-row skip)\n", skipped, dataPath)
	}
	if m := predict.AnswerMapping(dataPath, recs); m != "" {
		fmt.Fprintln(log, "eval: "+m)
	}
	sc, load := cfg.Loaded, time.Duration(0)
	if sc == nil {
		t0 := time.Now()
		if sc, err = loadScorer(cfg.Scorer, recs, log); err != nil {
			return nil, err
		}
		defer sc.Close()
		load = time.Since(t0)
	}
	info := sc.Info()
	if got := sc.Labels(); labels != nil && got.String() != labels.String() {
		return nil, fmt.Errorf("eval: the scorer has the labels %s, the adapter's sentitune.json %s", got, labels)
	}
	mismatch := otherInstructions(recs, info.Instruction)
	if mismatch > 0 {
		fmt.Fprintf(log, "eval: warning: %d of %d records of %s have another instruction than the one scored with (%q)\n",
			mismatch, len(recs), dataPath, info.Instruction)
	}
	texts := make([]string, len(recs))
	for i, r := range recs {
		texts[i] = r.Text
	}
	t1 := time.Now()
	rows := progress.New(log, progress.Options{Name: "eval: scoring", Unit: "rows", Total: int64(len(texts)), Interval: cfg.LogEvery})
	scores, st, err := sc.ScoreStats(texts, func(n int) { rows.Add(int64(n)) })
	rows.Finish()
	if err != nil {
		var te *predict.TextError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("eval: %s row %d: %w", dataPath, recs[te.Index].Row, te.Err)
		}
		return nil, fmt.Errorf("eval: %w", err)
	}
	secs := time.Since(t1).Seconds()
	preds := make([]eval.Prediction, len(recs))
	for i, s := range scores {
		preds[i] = eval.Prediction{ID: recs[i].ID, Text: recs[i].Text, Label: recs[i].Label, Pred: s.Pred, Prob: s.Prob, Probs: s.Probs}
	}
	prov := provenance(info)
	prov["scoring"] = fmt.Sprintf("label-token logits, one forward pass per batch: %d rows in %.1fs (%.1f rows/s, padding %.1f%%)",
		len(recs), secs, float64(len(recs))/max(secs, 1e-9), 100*st.PaddingFraction())
	if cfg.Loaded == nil {
		prov["scoring"] += fmt.Sprintf(", model load %.1fs", load.Seconds())
	}
	if mismatch > 0 {
		prov["instruction_mismatch"] = fmt.Sprintf("%d of %d records", mismatch, len(recs))
	}
	prov["data"] = dataPath
	if !prep.IsStream(dataPath) { // a pipe was read once already: nothing is left to hash
		if h, err := filehash.SHA256(dataPath); err == nil {
			prov["data_sha256"] = h
		}
	}
	res := &Result{Predictions: preds, Provenance: prov}
	if labels != nil {
		for _, l := range labels {
			res.Classes = append(res.Classes, l.Name)
		}
		prov["labels"] = labels.String()
	}
	return res, nil
}

// scorerLabels is the K-class label set the split is scored with, read before the model loads
// so that its labels are checked first: the loaded scorer's, else the adapter's sentitune.json;
// nil for the binary task.
func scorerLabels(cfg Config) (task.Labels, error) {
	var ls task.Labels
	switch {
	case cfg.Loaded != nil:
		ls = cfg.Loaded.Labels()
	case cfg.Scorer.AdapterDir != "":
		meta, err := task.ReadOptionalMeta(cfg.Scorer.AdapterDir)
		if err != nil || meta == nil {
			return nil, err
		}
		if ls, err = meta.LabelSet(); err != nil {
			return nil, fmt.Errorf("eval: adapter %s: %w", cfg.Scorer.AdapterDir, err)
		}
	}
	if ls == nil || ls.IsBinary() {
		return nil, nil
	}
	return ls, nil
}

// loadScorer loads the scorer of cfg; a bare model without a prompt of its own gets the split's.
func loadScorer(cfg predict.ScorerConfig, recs []predict.LabelledRow, log io.Writer) (*predict.Scorer, error) {
	if cfg.AdapterDir == "" && cfg.Instruction == "" && cfg.System == "" {
		cfg.Instruction, cfg.System = recs[0].Instruction, recs[0].System
	}
	if cfg.Device == "" {
		cfg.Device = "auto"
	}
	fmt.Fprintf(log, "eval: loading %s\n", cfg.ModelDir)
	return predict.NewScorer(cfg)
}

// otherInstructions counts the records whose own instruction is not the one scored with.
func otherInstructions(recs []predict.LabelledRow, scored string) int {
	n := 0
	for _, r := range recs {
		if r.Instruction != "" && r.Instruction != scored {
			n++
		}
	}
	return n
}

// provenance is what the report shows of the scorer: model, prompt, labels, length, device.
func provenance(info predict.Info) map[string]string {
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
	}
	if info.Labels != "" { // K classes: each answer's token id, in class order
		ls, _ := task.ParseLabels(info.Labels)
		ids := make([]string, min(len(ls), len(info.ClassIDs)))
		for i := range ids {
			ids[i] = fmt.Sprintf("%s→%d", ls[i].Answer, info.ClassIDs[i])
		}
		prov["label_token_ids"] = strings.Join(ids, ", ")
	}
	if info.Adapter != "" {
		prov["adapter"] = info.Adapter
	}
	if info.System != "" {
		prov["system"] = info.System
	}
	return prov
}
