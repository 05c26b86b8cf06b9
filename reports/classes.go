package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
)

// ClassSide is one classifier's K-class results on the test rows.
type ClassSide struct {
	Name        string
	Metrics     *eval.MulticlassMetrics
	Predictions []eval.Prediction
}

// ClassInput is everything a K-class report shows: the model, the multinomial TF-IDF baseline
// on the same rows when trained, earlier K-class reports, and McNemar's test against each.
type ClassInput struct {
	Title       string
	Note        string
	Classes     []string // class names in class order
	Ordered     bool     // a rating scale: MAE and quadratic-weighted kappa are shown
	Model       ClassSide
	Baseline    *ClassSide
	Others      []ClassSide
	Comparisons []eval.Comparison
	Loss        []LossPoint // training loss curve, when a run directory is known
	Provenance  map[string]string
	Warnings    []string
}

// classSideJSON is a compared classifier in a K-class metrics.json.
type classSideJSON struct {
	Name string `json:"name"`
	*eval.MulticlassMetrics
}

// classDoc is a K-class metrics.json: "task": "multiclass", the model's metrics at top level
// (n, labels, confusion, accuracy, per_class, macro, micro, weighted, cohen_kappa, mae,
// quadratic_weighted_kappa, roc_auc_ovr_macro, undefined), then the rest.
type classDoc struct {
	Task string `json:"task"`
	*eval.MulticlassMetrics
	Name        string            `json:"name"`
	Ordered     bool              `json:"ordered"`
	Baseline    *classSideJSON    `json:"baseline,omitempty"`
	Compared    []classSideJSON   `json:"compared,omitempty"`
	Comparisons []eval.Comparison `json:"comparisons,omitempty"`
	Provenance  map[string]string `json:"provenance,omitempty"`
	Note        string            `json:"note,omitempty"`
	Warnings    []string          `json:"warnings,omitempty"`
}

// RunClassEval is RunEval for K-class predictions (labels and preds are class indices into
// classes): the K-class metrics, the multinomial TF-IDF baseline fitted on
// BaselineDir/train.json and scored on the model's rows, earlier K-class reports side by side,
// and the report written into cfg.Out. ordered adds MAE and quadratic-weighted kappa.
func RunClassEval(preds []eval.Prediction, classes []string, ordered bool, cfg EvalConfig) (*ClassInput, error) {
	if cfg.Out == "" {
		return nil, errors.New("eval: no report directory")
	}
	if err := checkComparable(cfg.Out, reportKind{Task: "multiclass", Classes: classes}, cfg.CompareDirs); err != nil {
		return nil, err
	}
	m, err := eval.ComputeClassPredictions(classes, preds, ordered)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	in := &ClassInput{Title: cfg.Title, Note: cfg.Note, Classes: classes, Ordered: ordered,
		Model: ClassSide{Name: cfg.Name, Metrics: m, Predictions: preds}, Provenance: maps.Clone(cfg.Provenance)}
	if in.Title == "" {
		in.Title = "sentitune evaluation"
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
	events := progress.New(cfg.Progress, progress.Options{Name: "eval", Mode: progress.Lines})
	if cfg.BaselineDir != "" {
		side, how, err := classBaselineSide(cfg.BaselineDir, preds, classes, ordered)
		if err != nil {
			return nil, err
		}
		events.Event("baseline: %s", how)
		in.Baseline, in.Provenance["baseline"] = side, how
		in.compare(*side)
	}
	for _, dir := range cfg.CompareDirs {
		other, err := readClassReport(dir, classes, ordered)
		if err != nil {
			return nil, err
		}
		if other.Name == in.Model.Name {
			other.Name += " (" + dir + ")"
		}
		in.Others = append(in.Others, other)
		in.compare(other)
	}
	if cfg.RunDir != "" {
		if in.Loss, err = ReadTrainLog(filepath.Join(cfg.RunDir, "train_log.jsonl")); err != nil {
			return nil, fmt.Errorf("eval: loss curve: %w", err)
		}
		in.Provenance["run"] = cfg.RunDir
		addRunProvenance(in.Provenance, filepath.Join(cfg.RunDir, "run.json"))
	}
	events.Event("writing the report to %s", cfg.Out)
	if err := WriteClassReport(cfg.Out, in); err != nil {
		return nil, err
	}
	return in, nil
}

// compare runs McNemar's test of the model against other (right or wrong per row: K classes
// pair as two do).
func (in *ClassInput) compare(other ClassSide) {
	c, err := eval.Compare(in.Model.Predictions, other.Predictions)
	if err != nil {
		in.Warnings = append(in.Warnings, fmt.Sprintf("no McNemar test against %s: %v", other.Name, err))
		return
	}
	c.A, c.B = in.Model.Name, other.Name
	in.Comparisons = append(in.Comparisons, *c)
}

// prepLabels is the label set prepDir was prepared with (stats.json's label_set), which names the
// answers its train.json and test.json hold.
func prepLabels(prepDir string) (task.Labels, error) {
	path := filepath.Join(prepDir, "stats.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("eval: baseline: %w", err)
	}
	var stats struct {
		LabelSet string `json:"label_set"`
	}
	if err := json.Unmarshal(b, &stats); err != nil {
		return nil, fmt.Errorf("eval: baseline: %s: %w", path, err)
	}
	if stats.LabelSet == "" {
		return task.Binary, nil
	}
	return task.ParseLabels(stats.LabelSet)
}

// classBaselineSide fits the multinomial TF-IDF baseline on prepDir/train.json and scores the
// model's own rows (baselineRowsOf); prepDir must have been prepared with the same classes.
func classBaselineSide(prepDir string, preds []eval.Prediction, classes []string, ordered bool) (*ClassSide, string, error) {
	ls, err := prepLabels(prepDir)
	if err != nil {
		return nil, "", err
	}
	if !sameNames(ls, classes) {
		return nil, "", fmt.Errorf("eval: baseline: %s was prepared with the labels %s, the predictions have the classes %s; pass --no-baseline or the matching prep folder",
			prepDir, ls, strings.Join(classes, ", "))
	}
	ids, texts, labels, rows, err := baselineRowsOf(prepDir, preds, ls)
	if err != nil {
		return nil, "", err
	}
	trainPath := filepath.Join(prepDir, "train.json")
	b, err := eval.LoadOrFitMultinomialBaseline(trainPath, filepath.Join(prepDir, ".cache"), ls)
	if err != nil {
		return nil, "", fmt.Errorf("eval: baseline: %w", err)
	}
	scored := make([]eval.Prediction, len(texts))
	for i, text := range texts {
		probs := b.Predict(text)
		scored[i] = eval.Prediction{ID: ids[i], Text: text, Label: labels[i], Pred: argmax(probs), Probs: probs}
	}
	m, err := eval.ComputeClassPredictions(classes, scored, ordered)
	if err != nil {
		return nil, "", fmt.Errorf("eval: baseline: %w", err)
	}
	how := fmt.Sprintf("multinomial TF-IDF logistic regression fitted on %s (%d rows), scored on %s", trainPath, b.Rows, rows)
	switch {
	case b.FromCache:
		how += "; the fit read from its cache " + b.CachePath
	case b.CachePath != "":
		how += "; the fit cached in " + b.CachePath
	}
	if b.CacheErr != nil {
		how += fmt.Sprintf("; not cached: %v", b.CacheErr)
	}
	return &ClassSide{Name: "TF-IDF baseline", Metrics: m, Predictions: scored}, how, nil
}

// sameNames reports whether ls names the classes (case aside) in the same order.
func sameNames(ls task.Labels, classes []string) bool {
	if len(ls) != len(classes) {
		return false
	}
	for i, l := range ls {
		if !strings.EqualFold(l.Name, classes[i]) {
			return false
		}
	}
	return true
}

// argmax is the most probable class (the first of equals).
func argmax(probs []float64) int {
	best := 0
	for c, p := range probs {
		if p > probs[best] {
			best = c
		}
	}
	return best
}

// readClassReport loads an earlier K-class report folder for a side-by-side comparison.
func readClassReport(dir string, classes []string, ordered bool) (ClassSide, error) {
	_, preds, err := table.ReadClassPredictions(filepath.Join(dir, PredictionsFile), classes)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ClassSide{}, fmt.Errorf("compare %s: no %s there; is it a sentitune eval report directory?", dir, PredictionsFile)
		}
		return ClassSide{}, fmt.Errorf("compare %s: %w", dir, err)
	}
	var doc struct {
		Name string `json:"name"`
	}
	if b, err := os.ReadFile(filepath.Join(dir, MetricsFile)); err == nil {
		if err := json.Unmarshal(b, &doc); err != nil {
			return ClassSide{}, fmt.Errorf("compare %s: %s: %w", dir, MetricsFile, err)
		}
	}
	if doc.Name == "" || doc.Name == "model" {
		abs, _ := filepath.Abs(dir)
		doc.Name = filepath.Base(abs)
	}
	m, err := eval.ComputeClassPredictions(classes, preds, ordered)
	if err != nil {
		return ClassSide{}, fmt.Errorf("compare %s: %w", dir, err)
	}
	return ClassSide{Name: doc.Name, Metrics: m, Predictions: preds}, nil
}

// sides lists the model, the baseline and the others, in table order.
func (in *ClassInput) sides() []ClassSide {
	out := []ClassSide{in.Model}
	if in.Baseline != nil {
		out = append(out, *in.Baseline)
	}
	return append(out, in.Others...)
}

// WriteClassReport writes dir/metrics.json, report.md, report.html and predictions.jsonl (the
// K-class predictions file: class names, prob_<name>), each file atomically.
func WriteClassReport(dir string, in *ClassInput) error {
	doc := classDoc{Task: "multiclass", MulticlassMetrics: in.Model.Metrics, Name: in.Model.Name, Ordered: in.Ordered,
		Comparisons: in.Comparisons, Provenance: in.Provenance, Note: in.Note, Warnings: in.Warnings}
	if in.Baseline != nil {
		doc.Baseline = &classSideJSON{in.Baseline.Name, in.Baseline.Metrics}
	}
	for _, o := range in.Others {
		doc.Compared = append(doc.Compared, classSideJSON{o.Name, o.Metrics})
	}
	metrics, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("report %s: encode metrics: %w", dir, err)
	}
	preds, err := classPredictionsJSONL(in.Classes, in.Model.Predictions)
	if err != nil {
		return fmt.Errorf("report %s: encode predictions: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{MetricsFile, append(metrics, '\n')},
		{MarkdownFile, []byte(classMarkdown(in))},
		{HTMLFile, []byte(classHTML(in))},
		{PredictionsFile, preds},
	} {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// classPredictionsJSONL is the model's rows as a K-class predictions file (JSON Lines).
func classPredictionsJSONL(classes []string, preds []eval.Prediction) ([]byte, error) {
	cols := table.Columns{Label: true, Prob: len(preds) > 0, Classes: classes}
	for _, p := range preds {
		cols.Prob = cols.Prob && p.Probs != nil
		cols.Text = cols.Text || p.Text != ""
	}
	var buf bytes.Buffer
	w, err := table.NewPredictionWriter(&buf, table.FormatJSONL, cols)
	if err != nil {
		return nil, err
	}
	for _, p := range preds {
		if err := w.Write(p); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), w.Close()
}

// ClassSummary is the K-class report's terminal summary: one line per classifier, the model's
// per-class table and confusion matrix, the McNemar verdicts and the warnings.
func ClassSummary(in *ClassInput) string {
	var b strings.Builder
	w := 8
	for _, s := range in.sides() {
		w = max(w, len(s.Name))
	}
	fmt.Fprintf(&b, "%-*s  %8s  %8s  %11s  %7s", w, "", "accuracy", "macro_f1", "weighted_f1", "kappa")
	if in.Ordered {
		fmt.Fprintf(&b, "  %6s  %7s", "mae", "qw_kappa")
	}
	fmt.Fprintf(&b, "  %11s\n", "roc_auc_ovr")
	for _, s := range in.sides() {
		m := s.Metrics
		fmt.Fprintf(&b, "%-*s  %8.3f  %8.3f  %11.3f  %7s", w, s.Name, m.Accuracy, m.Macro.F1, m.Weighted.F1, fmt3(m.CohenKappa))
		if in.Ordered {
			fmt.Fprintf(&b, "  %6s  %8s", fmt3(m.MAE), fmt3(m.QuadraticKappa))
		}
		fmt.Fprintf(&b, "  %11s\n", fmt3(m.ROCAUCMacro))
	}
	m := in.Model.Metrics
	cw := 9
	for _, c := range in.Classes {
		cw = max(cw, len(c))
	}
	fmt.Fprintf(&b, "%s per class:\n  %-*s  %9s  %6s  %6s  %7s\n", in.Model.Name, cw, "class", "precision", "recall", "f1", "support")
	for _, c := range m.PerClass {
		fmt.Fprintf(&b, "  %-*s  %9s  %6s  %6s  %7d\n", cw, c.Label, fmt3(c.Precision), fmt3(c.Recall), fmt3(c.F1), c.Support)
	}
	fmt.Fprintf(&b, "confusion (rows: label, columns: pred):\n  %-*s", cw, "")
	for _, c := range in.Classes {
		fmt.Fprintf(&b, "  %*s", cw, c)
	}
	b.WriteString("\n")
	for i, row := range m.Confusion {
		fmt.Fprintf(&b, "  %-*s", cw, in.Classes[i])
		for _, n := range row {
			fmt.Fprintf(&b, "  %*d", cw, n)
		}
		b.WriteString("\n")
	}
	for _, c := range in.Comparisons {
		fmt.Fprintf(&b, "McNemar %s vs %s: %s\n", c.A, c.B, comparisonVerdict(c))
	}
	for _, w := range in.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// classHeadline is the side-by-side table's rows: name, then each metric formatted.
func classHeadline(in *ClassInput) (head []string, rows [][]string) {
	head = []string{"", "accuracy", "macro F1", "weighted F1", "Cohen's κ"}
	if in.Ordered {
		head = append(head, "MAE (classes)", "quadratic-weighted κ")
	}
	head = append(head, "ROC-AUC (macro, one vs rest)")
	for _, s := range in.sides() {
		m := s.Metrics
		row := []string{s.Name, fmt.Sprintf("%.3f", m.Accuracy), fmt.Sprintf("%.3f", m.Macro.F1), fmt.Sprintf("%.3f", m.Weighted.F1), fmt3(m.CohenKappa)}
		if in.Ordered {
			row = append(row, fmt3(m.MAE), fmt3(m.QuadraticKappa))
		}
		rows = append(rows, append(row, fmt3(m.ROCAUCMacro)))
	}
	return head, rows
}

func classMarkdown(in *ClassInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", in.Title)
	if in.Note != "" {
		fmt.Fprintf(&b, "> %s\n\n", in.Note)
	}
	m := in.Model.Metrics
	fmt.Fprintf(&b, "%d test rows, %d classes: %s.\n\n", m.N, len(in.Classes), strings.Join(in.Classes, ", "))
	head, rows := classHeadline(in)
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|---" + strings.Repeat("|---:", len(head)-1) + "|\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	for _, c := range in.Comparisons {
		fmt.Fprintf(&b, "\nMcNemar %s vs %s: %s\n", c.A, c.B, comparisonVerdict(c))
	}
	for _, w := range in.Warnings {
		fmt.Fprintf(&b, "\n**Warning:** %s\n", w)
	}
	fmt.Fprintf(&b, "\n## %s per class\n\n| class | precision | recall | F1 | support | ROC-AUC (one vs rest) |\n|---|---:|---:|---:|---:|---:|\n", in.Model.Name)
	for _, c := range m.PerClass {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %s |\n", c.Label, opt(c.Precision), opt(c.Recall), opt(c.F1), c.Support, opt(c.ROCAUC))
	}
	b.WriteString("\n## Confusion matrix (rows: label, columns: prediction)\n\n| label \\ pred | " + strings.Join(in.Classes, " | ") + " |\n|---" + strings.Repeat("|---:", len(in.Classes)) + "|\n")
	for i, row := range m.Confusion {
		cells := make([]string, len(row))
		for j, n := range row {
			cells[j] = fmt.Sprint(n)
		}
		fmt.Fprintf(&b, "| %s | %s |\n", in.Classes[i], strings.Join(cells, " | "))
	}
	b.WriteString(provenanceMarkdown(in.Provenance))
	return b.String()
}

// classHTML is a self-contained page: the side-by-side table, then the model's and the
// baseline's K-class sections (heatmap, per-class bars, one-vs-rest ROC).
func classHTML(in *ClassInput) string {
	var b strings.Builder
	e := html.EscapeString
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<h1>%s</h1>\n",
		e(in.Title), aspectCSS+classCSS, e(in.Title))
	if in.Note != "" {
		fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n", e(in.Note))
	}
	for _, w := range in.Warnings {
		fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n", e(w))
	}
	fmt.Fprintf(&b, "<p>%d test rows, %d classes: %s.</p>\n", in.Model.Metrics.N, len(in.Classes), e(strings.Join(in.Classes, ", ")))
	head, rows := classHeadline(in)
	b.WriteString("<table>\n<tr>")
	for _, h := range head {
		fmt.Fprintf(&b, "<th>%s</th>", e(h))
	}
	b.WriteString("</tr>\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "<tr><td>%s</td>", e(r[0]))
		for _, v := range r[1:] {
			fmt.Fprintf(&b, "<td class=\"num\">%s</td>", e(v))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
	for _, c := range in.Comparisons {
		fmt.Fprintf(&b, "<p>McNemar %s vs %s: %s</p>\n", e(c.A), e(c.B), e(comparisonVerdict(c)))
	}
	for _, s := range in.sides() {
		fmt.Fprintf(&b, "<h2>%s</h2>\n%s", e(s.Name), MulticlassHTML(s.Metrics))
	}
	if plots := lossPlots(in.Loss, fmt.Sprintf("%d-way cross-entropy over the %d label logits", len(in.Classes), len(in.Classes))); len(plots) > 0 {
		b.WriteString("<h2>Training</h2>\n")
		for _, p := range plots {
			fmt.Fprintf(&b, "<figure class=\"train\">%s<figcaption>%s</figcaption></figure>\n", p.SVG, e(p.Caption))
		}
	}
	if len(in.Provenance) > 0 {
		b.WriteString("<h2>Provenance</h2>\n<table>\n")
		for _, k := range slices.Sorted(maps.Keys(in.Provenance)) {
			fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", e(k), e(in.Provenance[k]))
		}
		b.WriteString("</table>\n")
	}
	b.WriteString("</main>\n</body>\n</html>\n")
	return b.String()
}

// classCSS sets each classifier's three plots side by side instead of each a page wide.
const classCSS = `
section.multiclass svg{display:inline-block;width:32%;min-width:300px;vertical-align:top;margin:12px 1% 0 0}
section.multiclass p{margin:8px 0}
figure.train{display:inline-block;width:48%;min-width:320px;margin:0 1% 12px 0}
figure.train svg{width:100%}
figcaption{color:#64748b;font-size:12.5px}`
