// Package reports writes an evaluation report directory: metrics.json (machine-readable),
// report.md, and report.html (one self-contained page with inline SVG plots), plus the
// predictions themselves (predictions.jsonl) so later reports can be compared row by row.
// Pure Go: it never needs libtorch.
package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/atomicfile"
)

// LossPoint is one training-log entry: finetune writes RUNDIR/train_log.jsonl lines like
// {"step": N, "loss": x, "lr": y, "split": "train" | "eval"}.
type LossPoint struct {
	Step  int     `json:"step"`
	Loss  float64 `json:"loss"`
	Split string  `json:"split"`
	// LabelLoss is the two-way cross-entropy over the 0/1 label logits; Accuracy an evaluation's.
	LabelLoss *float64 `json:"label_loss,omitempty"`
	Accuracy  *float64 `json:"accuracy,omitempty"`
}

// Side is one classifier's results on the test rows.
type Side struct {
	Name        string
	Metrics     *eval.Metrics     // computed from Predictions when nil
	Predictions []eval.Prediction // may be nil when only metrics are known
}

// Input is everything a report shows. Only Model is required.
type Input struct {
	Title       string // page title; default "sentitune evaluation"
	Model       Side   // the model under evaluation; Name defaults to "model"
	Baseline    *Side  // the TF-IDF baseline on the same rows, when trained
	Others      []Side // other models (earlier reports) shown side by side
	Comparisons []eval.Comparison
	Loss        []LossPoint       // training loss curve, when a run directory is known
	Provenance  map[string]string // model, adapter, data hash, options, date, …
	Note        string            // a plain note shown at the top (e.g. "random-weight demo model")
	Warnings    []string          // things the reader should know (e.g. an unpaired comparison)
}

// File names inside a report directory.
const (
	MetricsFile     = "metrics.json"
	MarkdownFile    = "report.md"
	HTMLFile        = "report.html"
	PredictionsFile = "predictions.jsonl"
)

// sideJSON is a compared classifier in metrics.json: its name and its metrics.
type sideJSON struct {
	Name string `json:"name"`
	*eval.Metrics
}

// metricsDoc is metrics.json: the model's metrics at top level (stable keys: accuracy,
// precision, recall, f1, tp, fp, tn, fn, roc_auc, pr_auc, n, …), then the rest.
type metricsDoc struct {
	*eval.Metrics
	Name        string            `json:"name"`
	Baseline    *sideJSON         `json:"baseline,omitempty"`
	Compared    []sideJSON        `json:"compared,omitempty"`
	Comparisons []eval.Comparison `json:"comparisons,omitempty"`
	Provenance  map[string]string `json:"provenance,omitempty"`
	Note        string            `json:"note,omitempty"`
	Warnings    []string          `json:"warnings,omitempty"`
}

// Write renders in into dir (created if needed): metrics.json, report.md, report.html and
// predictions.jsonl. Every file is written to a temporary name and renamed, so a failure never
// leaves a half-written file.
func Write(dir string, in Input) error {
	if err := in.complete(); err != nil {
		return fmt.Errorf("report %s: %w", dir, err)
	}
	doc := metricsDoc{Metrics: in.Model.Metrics, Name: in.Model.Name, Comparisons: in.Comparisons,
		Provenance: in.Provenance, Note: in.Note, Warnings: in.allWarnings()}
	if in.Baseline != nil {
		doc.Baseline = &sideJSON{in.Baseline.Name, in.Baseline.Metrics}
	}
	for _, o := range in.Others {
		doc.Compared = append(doc.Compared, sideJSON{o.Name, o.Metrics})
	}
	metricsJSON, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("report %s: encode metrics: %w", dir, err)
	}
	page, err := renderHTML(&in)
	if err != nil {
		return fmt.Errorf("report %s: render html: %w", dir, err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{MetricsFile, append(metricsJSON, '\n')},
		{MarkdownFile, []byte(renderMarkdown(&in))},
		{HTMLFile, page},
	}
	if in.Model.Predictions != nil {
		var buf bytes.Buffer
		if err := eval.WritePredictionsJSONL(&buf, in.Model.Predictions); err != nil {
			return fmt.Errorf("report %s: encode predictions: %w", dir, err)
		}
		files = append(files, struct {
			name string
			data []byte
		}{PredictionsFile, buf.Bytes()})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// complete fills defaults and computes missing metrics.
func (in *Input) complete() error {
	if in.Title == "" {
		in.Title = "sentitune evaluation"
	}
	if in.Model.Name == "" {
		in.Model.Name = "model"
	}
	if err := in.Model.compute(); err != nil {
		return err
	}
	if in.Baseline != nil {
		if in.Baseline.Name == "" {
			in.Baseline.Name = "TF-IDF baseline"
		}
		if err := in.Baseline.compute(); err != nil {
			return err
		}
	}
	for i := range in.Others {
		if in.Others[i].Name == "" {
			in.Others[i].Name = fmt.Sprintf("other %d", i+1)
		}
		if err := in.Others[i].compute(); err != nil {
			return err
		}
	}
	for _, l := range in.Loss {
		if math.IsNaN(l.Loss) || math.IsInf(l.Loss, 0) {
			return fmt.Errorf("loss at step %d is %v", l.Step, l.Loss)
		}
	}
	return nil
}

func (s *Side) compute() error {
	if s.Metrics != nil {
		return nil
	}
	if len(s.Predictions) == 0 {
		return fmt.Errorf("%s: no predictions and no metrics", s.Name)
	}
	m, err := eval.Compute(s.Predictions)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	s.Metrics = m
	return nil
}

// ReadTrainLog reads a finetune train_log.jsonl. Lines without a "loss" (other events) are
// skipped; a missing "split" means "train".
func ReadTrainLog(path string) ([]LossPoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []LossPoint
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for line := 1; sc.Scan(); line++ {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		var rec struct {
			Step      *float64 `json:"step"`
			Loss      *float64 `json:"loss"`
			Split     string   `json:"split"`
			LabelLoss *float64 `json:"label_loss"`
			Accuracy  *float64 `json:"accuracy"`
		}
		if err := json.Unmarshal(l, &rec); err != nil {
			return nil, fmt.Errorf("read %s line %d: %w", path, line, err)
		}
		if rec.Loss == nil {
			continue
		}
		if rec.Step == nil {
			return nil, fmt.Errorf("read %s line %d: loss without step", path, line)
		}
		if rec.Split == "" {
			rec.Split = "train"
		}
		out = append(out, LossPoint{Step: int(*rec.Step), Loss: *rec.Loss, Split: rec.Split, LabelLoss: rec.LabelLoss, Accuracy: rec.Accuracy})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read %s: no loss entries", path)
	}
	return out, nil
}

// ReadReport loads an earlier report directory (its predictions.jsonl and the model name
// from metrics.json) for a side-by-side comparison.
func ReadReport(dir string) (Side, error) {
	preds, err := eval.ReadPredictions(filepath.Join(dir, PredictionsFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Side{}, fmt.Errorf("compare %s: no %s there; is it a sentitune eval report directory?", dir, PredictionsFile)
		}
		return Side{}, fmt.Errorf("compare %s: %w", dir, err)
	}
	var doc struct {
		Name string `json:"name"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, MetricsFile)); err == nil {
		if err := json.Unmarshal(b, &doc); err != nil {
			return Side{}, fmt.Errorf("compare %s: %s: %w", dir, MetricsFile, err)
		}
	}
	s := Side{Name: doc.Name, Predictions: preds}
	if s.Name == "" || s.Name == "model" {
		abs, _ := filepath.Abs(dir)
		s.Name = filepath.Base(abs)
	}
	return s, s.compute()
}

// oneClassShare is the share of rows predicted as one class from which a report warns that
// the decision threshold is misplaced (unless the labels are about as lopsided).
const oneClassShare = 0.95

// allWarnings is in.Warnings plus a warning for each classifier that predicts nearly every
// row as one class: its accuracy then says little, and the threshold table shows better ones.
func (in *Input) allWarnings() []string {
	out := append([]string(nil), in.Warnings...)
	for _, s := range in.sides() {
		if w := oneClassWarning(s); w != "" {
			out = append(out, w)
		}
	}
	return out
}

func oneClassWarning(s Side) string {
	m := s.Metrics
	if m == nil || m.N == 0 {
		return ""
	}
	cls, predicted, labelled := 1, m.TP+m.FP, m.Positives
	if m.TN+m.FN > predicted {
		cls, predicted, labelled = 0, m.TN+m.FN, m.Negatives
	}
	predShare, labelShare := float64(predicted)/float64(m.N), float64(labelled)/float64(m.N)
	if predShare < oneClassShare || labelShare > predShare-0.05 {
		return ""
	}
	w := fmt.Sprintf("%s predicts %.1f%% of rows as %d, though only %.1f%% are labelled %d: its decision threshold is misplaced, and its accuracy (%.3f) says little",
		s.Name, 100*predShare, cls, 100*labelShare, cls, m.Accuracy)
	if m.ROCAUC != nil {
		w += fmt.Sprintf(" about how well it ranks the rows (ROC-AUC %.3f)", *m.ROCAUC)
	}
	if m.BestAccThreshold != nil {
		return w + fmt.Sprintf(". See \"Thresholds on this split\": prob ≥ %.4g would score %.3f accuracy here.", m.BestAccThreshold.Threshold, m.BestAccThreshold.Accuracy)
	}
	return w + ". The predictions carry no probabilities, so no other threshold can be tried here."
}

// Summary is a one-screen text summary of a report for the terminal.
func Summary(in *Input) string {
	var b strings.Builder
	sides := []Side{in.Model}
	if in.Baseline != nil {
		sides = append(sides, *in.Baseline)
	}
	sides = append(sides, in.Others...)
	w := 8
	for _, s := range sides {
		w = max(w, len(s.Name))
	}
	fmt.Fprintf(&b, "%-*s  %8s  %-15s  %9s  %6s  %6s  %7s\n", w, "", "accuracy", "95% CI", "precision", "recall", "f1", "roc_auc")
	for _, s := range sides {
		m := s.Metrics
		ci := ""
		if m.AccuracyCI != nil {
			ci = fmt.Sprintf("[%.3f, %.3f]", m.AccuracyCI.Low, m.AccuracyCI.High)
		}
		fmt.Fprintf(&b, "%-*s  %8.3f  %-15s  %9s  %6s  %6s  %7s\n", w, s.Name, m.Accuracy, ci,
			fmt3(m.Precision), fmt3(m.Recall), fmt3(m.F1), fmt3(m.ROCAUC))
	}
	fmt.Fprintf(&b, "%-*s  %8.3f  (always class %d)\n", w, "majority", in.Model.Metrics.Majority.Accuracy, in.Model.Metrics.Majority.Class)
	for _, c := range in.Comparisons {
		fmt.Fprintf(&b, "McNemar %s vs %s: %s\n", c.A, c.B, comparisonVerdict(c))
	}
	for _, w := range in.allWarnings() {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func fmt3(p *float64) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%.3f", *p)
}

// comparisonVerdict says in words what a McNemar test found.
func comparisonVerdict(c eval.Comparison) string {
	diff := 100 * (c.AccuracyA - c.AccuracyB)
	var what string
	switch {
	case c.AOnly == c.BOnly:
		what = "same accuracy"
	case diff > 0:
		what = fmt.Sprintf("%s is %.1f points more accurate", c.A, diff)
	default:
		what = fmt.Sprintf("%s is %.1f points more accurate", c.B, -diff)
	}
	if c.Method == "none" {
		return what + "; both right and wrong on the same rows (no discordant pairs)"
	}
	sig := "not significant at 5 %"
	if c.PValue < 0.05 {
		sig = "significant at 5 %"
	}
	return fmt.Sprintf("%s; %s (%s, %d discordant pairs): %s", what, pEquals(c.PValue), methodName(c.Method), c.AOnly+c.BOnly, sig)
}

// pEquals states a p-value: "p = 0.0123", or "p < 0.0001" below the printed precision.
func pEquals(p float64) string {
	if p < 0.0001 {
		return "p < 0.0001"
	}
	return "p = " + pValue(p)
}

func pValue(p float64) string {
	if p < 0.0001 {
		return "< 0.0001"
	}
	return fmt.Sprintf("%.4f", p)
}

func methodName(m string) string {
	switch m {
	case "exact":
		return "exact binomial"
	case "chi2":
		return "chi-square, continuity-corrected"
	default:
		return "no discordant pairs"
	}
}
