package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/progress"
)

// EvalConfig says what RunEval adds around a model's predictions.
type EvalConfig struct {
	Out         string            // report directory (created)
	Title       string            // page title; default "sentitune evaluation"
	Name        string            // the model's name in tables; default "model"
	BaselineDir string            // a prep directory: train the TF-IDF baseline on its train.json; "" = no baseline
	CompareDirs []string          // earlier report directories to put side by side (McNemar on paired rows)
	RunDir      string            // a finetune run directory: its train_log.jsonl gives the loss curve; "" = none
	Provenance  map[string]string // model, adapter, data hash, options, …; "date" is added when absent
	Note        string            // plain note shown at the top of the report
	Progress    io.Writer         // where each phase shows progress (a bar on a terminal, else lines); nil = silent
	LogEvery    time.Duration     // without a terminal: the most time between two progress lines (0: progress.DefaultInterval)
}

// RunEval is the whole eval stage for predictions already in memory (sentitune eval and
// sentitune run both call it): compute metrics, train and score the baseline, load the
// comparisons and the loss curve, and write the report into cfg.Out. It returns what was
// written; Summary(in) gives the terminal summary.
//
// The baseline scores the model's own rows: the predictions' texts when every row carries one,
// otherwise their rows in BaselineDir/test.json found by id; it is an error when they are not all there.
func RunEval(preds []eval.Prediction, cfg EvalConfig) (*Input, error) {
	if cfg.Out == "" {
		return nil, errors.New("eval: no report directory")
	}
	if err := checkComparable(cfg.Out, reportKind{}, cfg.CompareDirs); err != nil {
		return nil, err
	}
	m, err := eval.Compute(preds)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	in := &Input{
		Title:      cfg.Title,
		Model:      Side{Name: cfg.Name, Metrics: m, Predictions: preds},
		Provenance: maps.Clone(cfg.Provenance),
		Note:       cfg.Note,
	}
	if in.Model.Name == "" {
		in.Model.Name = "model"
	}
	if in.Provenance == nil {
		in.Provenance = map[string]string{}
	}
	if _, ok := in.Provenance["date"]; !ok {
		in.Provenance["date"] = time.Now().UTC().Format(time.RFC3339)
	}

	if cfg.BaselineDir != "" {
		side, how, err := baselineSide(cfg.BaselineDir, preds, cfg.Progress, cfg.LogEvery)
		if err != nil {
			return nil, err
		}
		in.Baseline = side
		in.Provenance["baseline"] = how
		in.compare(preds, *side)
	}
	for _, dir := range cfg.CompareDirs {
		other, err := ReadReport(dir)
		if err != nil {
			return nil, err
		}
		if other.Name == in.Model.Name {
			other.Name += " (" + dir + ")"
		}
		in.Others = append(in.Others, other)
		in.compare(preds, other)
	}
	if cfg.RunDir != "" {
		if in.Loss, err = ReadTrainLog(filepath.Join(cfg.RunDir, "train_log.jsonl")); err != nil {
			return nil, fmt.Errorf("eval: loss curve: %w", err)
		}
		in.Provenance["run"] = cfg.RunDir
		addRunProvenance(in.Provenance, filepath.Join(cfg.RunDir, "run.json"))
	}
	events := progress.New(cfg.Progress, progress.Options{Name: "eval", Mode: progress.Lines})
	events.Event("writing the report to %s", cfg.Out)
	start := time.Now()
	if err := Write(cfg.Out, *in); err != nil {
		return nil, err
	}
	events.Event("report written in %s", progress.FormatDuration(time.Since(start)))
	return in, nil
}

// compare runs McNemar's test of the model against other; rows that cannot be paired give a
// warning instead of a test.
func (in *Input) compare(preds []eval.Prediction, other Side) {
	c, err := eval.Compare(preds, other.Predictions)
	if err != nil {
		in.Warnings = append(in.Warnings, fmt.Sprintf("no McNemar test against %s: %v", other.Name, err))
		return
	}
	c.A, c.B = in.Model.Name, other.Name
	in.Comparisons = append(in.Comparisons, *c)
}

// baselineSide trains the TF-IDF baseline on prepDir/train.json and scores the model's own rows
// (baselineRows).
func baselineSide(prepDir string, preds []eval.Prediction, progressTo io.Writer, logEvery time.Duration) (*Side, string, error) {
	ids, tt, ll, rows, err := baselineRows(prepDir, preds) // before training: a mismatch fails fast
	if err != nil {
		return nil, "", err
	}
	trainPath := filepath.Join(prepDir, "train.json")
	b, err := fitBaseline(trainPath, filepath.Join(prepDir, ".cache"), progressTo, logEvery)
	if err != nil {
		return nil, "", err
	}
	how := b.String() + ", scored on " + rows
	scored := b.PredictAll(ids, tt, ll)
	m, err := eval.Compute(scored)
	if err != nil {
		return nil, "", fmt.Errorf("eval: baseline: %w", err)
	}
	return &Side{Name: "TF-IDF baseline", Metrics: m, Predictions: scored}, how, nil
}

func allHaveText(preds []eval.Prediction) bool {
	for _, p := range preds {
		if strings.TrimSpace(p.Text) == "" {
			return false
		}
	}
	return len(preds) > 0
}

// addRunProvenance copies run.json's top-level scalars (and one level of nested scalars) into
// prov as "run.key" entries; a missing or unreadable run.json adds nothing.
func addRunProvenance(prov map[string]string, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	var doc map[string]any
	if json.Unmarshal(b, &doc) != nil {
		return
	}
	var walk func(prefix string, v map[string]any, depth int)
	walk = func(prefix string, v map[string]any, depth int) {
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch x := v[k].(type) {
			case string, bool:
				prov[prefix+k] = fmt.Sprint(x)
			case float64:
				prov[prefix+k] = strconv.FormatFloat(x, 'f', -1, 64)
			case map[string]any:
				if depth < 1 {
					walk(prefix+k+".", x, depth+1)
				}
			}
		}
	}
	walk("run.", doc, 0)
}
