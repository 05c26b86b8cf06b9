package reports

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sentitune/sentitune/eval"
)

// The view is what both renderers (HTML and Markdown) show, computed once from an Input.

// metricRow is one line of the side-by-side table.
type metricRow struct {
	Label       string
	Key         string // metrics.json key
	Get         func(*eval.Metrics) *float64
	LowerBetter bool
	Help        string
}

var metricRows = []metricRow{
	{"Accuracy", "accuracy", func(m *eval.Metrics) *float64 { return &m.Accuracy }, false, "share of rows classified correctly"},
	{"Balanced accuracy", "balanced_accuracy", func(m *eval.Metrics) *float64 { return m.BalancedAccuracy }, false, "mean of recall and specificity; robust to class imbalance"},
	{"Precision", "precision", func(m *eval.Metrics) *float64 { return m.Precision }, false, "of rows predicted 1, the share that are 1"},
	{"Recall", "recall", func(m *eval.Metrics) *float64 { return m.Recall }, false, "of rows labelled 1, the share predicted 1"},
	{"Specificity", "specificity", func(m *eval.Metrics) *float64 { return m.Specificity }, false, "of rows labelled 0, the share predicted 0"},
	{"F1", "f1", func(m *eval.Metrics) *float64 { return m.F1 }, false, "harmonic mean of precision and recall (class 1)"},
	{"F1, class 0", "per_class.0.f1", func(m *eval.Metrics) *float64 { return m.PerClass["0"].F1 }, false, "F1 with 0 as the positive class"},
	{"Macro F1", "macro_f1", func(m *eval.Metrics) *float64 { return m.MacroF1 }, false, "mean of the two classes' F1"},
	{"MCC", "mcc", func(m *eval.Metrics) *float64 { return m.MCC }, false, "Matthews correlation: −1 … 1, 0 = chance"},
	{"ROC-AUC", "roc_auc", func(m *eval.Metrics) *float64 { return m.ROCAUC }, false, "chance that a random 1 gets a higher prob than a random 0"},
	{"PR-AUC (AP)", "pr_auc", func(m *eval.Metrics) *float64 { return m.PRAUC }, false, "average precision over the precision-recall curve"},
	{"Log-loss", "log_loss", func(m *eval.Metrics) *float64 { return m.LogLoss }, true, "mean negative log-likelihood of the labels; lower is better"},
	{"Brier score", "brier", func(m *eval.Metrics) *float64 { return m.Brier }, true, "mean squared error of prob; lower is better"},
	{"ECE", "ece", func(m *eval.Metrics) *float64 { return m.ECE }, true, "expected calibration error over 10 bins; lower is better"},
}

type cell struct {
	Text string
	Tip  string
	Best bool
}

type tableRow struct {
	Label string
	Help  string
	Cells []cell
}

type card struct {
	Label, Value, CI, Sub string
	Delta, DeltaClass     string
}

type errorRow struct {
	ID, Text, Prob string
}

type plot struct {
	Title, Caption string
	SVG            string
}

type compareRow struct {
	A, B, Verdict, Method, PValue string
	AOnly, BOnly, Both, Neither   int
	AccA, AccB                    string
	Significant                   bool
}

type view struct {
	Title, Subtitle string
	Note            string
	Warnings        []string
	Verdict         string
	Cards           []card
	Columns         []string
	Rows            []tableRow
	Majority        string
	CM              confusion
	Thresholds      []tableRow
	Plots           []plot
	NoProbNote      string
	Comparisons     []compareRow
	FalsePos        []errorRow
	FalseNeg        []errorRow
	HasText         bool
	Provenance      [][2]string
}

type confusion struct {
	TN, FP, FN, TP                     int
	TNPct, FPPct, FNPct, TPPct         string
	TNAlpha, FPAlpha, FNAlpha, TPAlpha string
}

// Colours: the model, the baseline, then other models.
var sideColors = []string{"#2563eb", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#0891b2"}

const maxErrors = 10

func (in *Input) sides() []Side {
	out := []Side{in.Model}
	if in.Baseline != nil {
		out = append(out, *in.Baseline)
	}
	return append(out, in.Others...)
}

func buildView(in *Input) *view {
	m := in.Model.Metrics
	v := &view{Title: in.Title, Note: in.Note, Warnings: in.allWarnings()}
	v.Subtitle = fmt.Sprintf("%s · %d test rows (%d labelled 1, %d labelled 0)", in.Model.Name, m.N, m.Positives, m.Negatives)
	if d := in.Provenance["date"]; d != "" {
		v.Subtitle += " · " + d
	}

	var base *eval.Metrics
	if in.Baseline != nil {
		base = in.Baseline.Metrics
	}
	v.Cards = []card{
		pctCard("Accuracy", &m.Accuracy, m.AccuracyCI, base, func(b *eval.Metrics) *float64 { return &b.Accuracy }),
		pctCard("Precision", m.Precision, m.PrecisionCI, base, func(b *eval.Metrics) *float64 { return b.Precision }),
		pctCard("Recall", m.Recall, m.RecallCI, base, func(b *eval.Metrics) *float64 { return b.Recall }),
		pctCard("F1", m.F1, nil, base, func(b *eval.Metrics) *float64 { return b.F1 }),
		decCard("ROC-AUC", m.ROCAUC, base, func(b *eval.Metrics) *float64 { return b.ROCAUC }),
		decCard("PR-AUC", m.PRAUC, base, func(b *eval.Metrics) *float64 { return b.PRAUC }),
	}
	v.Cards[0].Sub = fmt.Sprintf("majority class %.1f%%", 100*m.Majority.Accuracy)
	markTradeOff(&v.Cards[1], &v.Cards[2], v.Cards[3])
	v.Verdict = verdict(in)

	sides := in.sides()
	for _, s := range sides {
		v.Columns = append(v.Columns, s.Name)
	}
	for _, r := range metricRows {
		row := tableRow{Label: r.Label, Help: r.Help}
		best := math.NaN()
		for _, s := range sides {
			if p := r.Get(s.Metrics); p != nil && (math.IsNaN(best) || (r.LowerBetter && *p < best) || (!r.LowerBetter && *p > best)) {
				best = *p
			}
		}
		for _, s := range sides {
			c := cell{Text: "—"}
			if p := r.Get(s.Metrics); p != nil {
				c.Text = fmt.Sprintf("%.3f", *p)
				c.Best = len(sides) > 1 && fmt.Sprintf("%.3f", best) == c.Text
			} else {
				c.Tip = "undefined"
				if why := s.Metrics.Undefined[r.Key]; why != "" {
					c.Tip += ": " + why
				}
			}
			row.Cells = append(row.Cells, c)
		}
		if r.Key == "accuracy" {
			for i, s := range sides {
				if ci := s.Metrics.AccuracyCI; ci != nil {
					row.Cells[i].Tip = fmt.Sprintf("95%% CI %.3f – %.3f", ci.Low, ci.High)
				}
			}
		}
		v.Rows = append(v.Rows, row)
	}
	v.Majority = fmt.Sprintf("Always answering %d (the majority class of this split) scores %.3f accuracy.", m.Majority.Class, m.Majority.Accuracy)

	n := float64(max(1, m.Negatives))
	p := float64(max(1, m.Positives))
	v.CM = confusion{TN: m.TN, FP: m.FP, FN: m.FN, TP: m.TP,
		TNPct: pct(m.TN, m.Negatives), FPPct: pct(m.FP, m.Negatives), FNPct: pct(m.FN, m.Positives), TPPct: pct(m.TP, m.Positives),
		TNAlpha: alpha(float64(m.TN) / n), FPAlpha: alpha(float64(m.FP) / n), FNAlpha: alpha(float64(m.FN) / p), TPAlpha: alpha(float64(m.TP) / p)}

	for _, s := range sides {
		if t := s.Metrics.BestF1Threshold; t != nil {
			v.Thresholds = append(v.Thresholds, thresholdRow(s.Name, "best F1", t))
		}
		if t := s.Metrics.BestAccThreshold; t != nil {
			v.Thresholds = append(v.Thresholds, thresholdRow(s.Name, "best accuracy", t))
		}
	}

	v.Plots = buildPlots(in)
	if m.ROCAUC == nil && m.LogLoss == nil {
		v.NoProbNote = "The predictions carry no probabilities, so ROC, precision-recall, calibration and the probability histogram are not available."
	}
	for _, c := range in.Comparisons {
		v.Comparisons = append(v.Comparisons, compareRow{A: c.A, B: c.B, Verdict: comparisonVerdict(c), Method: methodName(c.Method),
			PValue: pValue(c.PValue), AOnly: c.AOnly, BOnly: c.BOnly, Both: c.BothCorrect, Neither: c.BothWrong,
			AccA: fmt.Sprintf("%.3f", c.AccuracyA), AccB: fmt.Sprintf("%.3f", c.AccuracyB), Significant: c.PValue < 0.05})
	}
	v.FalsePos, v.FalseNeg, v.HasText = confidentErrors(in.Model.Predictions)

	keys := make([]string, 0, len(in.Provenance))
	for k := range in.Provenance {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Provenance = append(v.Provenance, [2]string{k, in.Provenance[k]})
	}
	return v
}

func verdict(in *Input) string {
	m := in.Model.Metrics
	if in.Baseline == nil {
		return fmt.Sprintf("%s: %.1f%% accuracy on %d rows (majority class: %.1f%%). No baseline was trained (pass --baseline PREPDIR to see a TF-IDF logistic regression beside it).",
			in.Model.Name, 100*m.Accuracy, m.N, 100*m.Majority.Accuracy)
	}
	b := in.Baseline.Metrics
	d := 100 * (m.Accuracy - b.Accuracy)
	var s string
	switch {
	case math.Abs(d) < 0.05:
		s = fmt.Sprintf("%s and the TF-IDF baseline are equally accurate (%.1f%%).", in.Model.Name, 100*m.Accuracy)
	case d > 0:
		s = fmt.Sprintf("%s beats the TF-IDF baseline by %.1f accuracy points (%.1f%% vs %.1f%%).", in.Model.Name, d, 100*m.Accuracy, 100*b.Accuracy)
	default:
		s = fmt.Sprintf("%s does not beat the TF-IDF baseline: %.1f%% vs %.1f%% accuracy (%.1f points behind).", in.Model.Name, 100*m.Accuracy, 100*b.Accuracy, -d)
	}
	for _, c := range in.Comparisons {
		if c.B == in.Baseline.Name {
			if c.PValue < 0.05 {
				s += fmt.Sprintf(" The difference is significant (McNemar %s).", pEquals(c.PValue))
			} else {
				s += fmt.Sprintf(" The difference is not significant at 5 %% (McNemar %s).", pEquals(c.PValue))
			}
		}
	}
	return s
}

func pctCard(label string, v *float64, ci *eval.Interval, base *eval.Metrics, get func(*eval.Metrics) *float64) card {
	c := card{Label: label, Value: "—"}
	if v != nil {
		c.Value = fmt.Sprintf("%.1f%%", 100**v)
	}
	if ci != nil {
		c.CI = fmt.Sprintf("95%% CI %.1f – %.1f", 100*ci.Low, 100*ci.High)
	}
	if base != nil && v != nil {
		if b := get(base); b != nil {
			c.Delta, c.DeltaClass = delta(100*(*v-*b), "%+.1f pts vs baseline")
		}
	}
	return c
}

func decCard(label string, v *float64, base *eval.Metrics, get func(*eval.Metrics) *float64) card {
	c := card{Label: label, Value: "—"}
	if v != nil {
		c.Value = fmt.Sprintf("%.3f", *v)
	}
	if base != nil && v != nil {
		if b := get(base); b != nil {
			c.Delta, c.DeltaClass = delta(*v-*b, "%+.3f vs baseline")
		}
	}
	return c
}

func delta(d float64, format string) (string, string) {
	cls := "flat"
	switch {
	case d > 1e-9:
		cls = "up"
	case d < -1e-9:
		cls = "down"
	}
	return strings.Replace(fmt.Sprintf(format, d), "-", "−", 1), cls
}

// markTradeOff handles precision and recall moving in opposite directions: the threshold trades
// one for the other, so a change is better for the user only when F1 moves the same way. The
// one that agrees with F1 keeps its colour; the other is shown neutral ("trade").
func markTradeOff(precision, recall *card, f1 card) {
	if !(precision.DeltaClass == "up" && recall.DeltaClass == "down") && !(precision.DeltaClass == "down" && recall.DeltaClass == "up") {
		return
	}
	for _, c := range []struct {
		this  *card
		other *card
		name  string
	}{{precision, recall, "recall"}, {recall, precision, "precision"}} {
		if c.this.DeltaClass != f1.DeltaClass {
			c.this.DeltaClass = "trade"
			c.this.Sub = "traded against " + c.name + " (" + strings.TrimSuffix(c.other.Delta, " vs baseline") + "); judge by F1"
		}
	}
}

func pct(k, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(n))
}

func alpha(f float64) string { return fmt.Sprintf("%.2f", 0.08+0.5*f) }

func thresholdRow(name, what string, t *eval.Threshold) tableRow {
	f1 := "—"
	if t.F1 != nil {
		f1 = fmt.Sprintf("%.3f", *t.F1)
	}
	return tableRow{Label: name, Cells: []cell{{Text: what}, {Text: fmt.Sprintf("%.4g", t.Threshold)}, {Text: fmt.Sprintf("%.3f", t.Accuracy)}, {Text: f1}}}
}

// confidentErrors returns the false positives with the highest prob and the false negatives
// with the lowest: the mistakes the model was surest about.
func confidentErrors(preds []eval.Prediction) (fp, fn []errorRow, hasText bool) {
	var fps, fns []eval.Prediction
	for _, p := range preds {
		if p.Text != "" {
			hasText = true
		}
		switch {
		case p.Label == 0 && p.Pred == 1:
			fps = append(fps, p)
		case p.Label == 1 && p.Pred == 0:
			fns = append(fns, p)
		}
	}
	sort.SliceStable(fps, func(i, j int) bool { return fps[i].Prob > fps[j].Prob })
	sort.SliceStable(fns, func(i, j int) bool { return fns[i].Prob < fns[j].Prob })
	conv := func(ps []eval.Prediction) []errorRow {
		var out []errorRow
		for _, p := range ps[:min(len(ps), maxErrors)] {
			r := errorRow{ID: p.ID, Text: truncate(p.Text, 400), Prob: "—"}
			if p.HasProb() {
				r.Prob = fmt.Sprintf("%.3f", p.Prob)
			}
			out = append(out, r)
		}
		return out
	}
	return conv(fps), conv(fns), hasText
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func buildPlots(in *Input) []plot {
	var out []plot
	sides := in.sides()
	m := in.Model.Metrics
	if m.ROCAUC != nil {
		c := chart{Title: "ROC curve", XLabel: "false positive rate", YLabel: "true positive rate", XMax: 1, YMax: 1, Diagonal: true, Legend: "br"}
		for i, s := range sides {
			if s.Metrics.ROCAUC == nil {
				continue
			}
			c.Series = append(c.Series, series{Name: fmt.Sprintf("%s (AUC %.3f)", s.Name, *s.Metrics.ROCAUC), Color: sideColors[i%len(sideColors)], Points: thin(curve(s.Metrics.ROC)), Dash: dashFor(i)})
		}
		out = append(out, plot{Title: "ROC", SVG: c.svg(), Caption: "Each point is a threshold on prob; the dashed diagonal is a coin flip."})
	}
	if m.PRAUC != nil {
		prev := float64(m.Positives) / float64(m.N)
		c := chart{Title: "Precision-recall curve", XLabel: "recall", YLabel: "precision", XMax: 1, YMax: 1, HLine: &prev,
			HLineLabel: fmt.Sprintf("chance: precision = share of 1s (%.3f)", prev), Legend: "bl"}
		for i, s := range sides {
			if s.Metrics.PRAUC == nil {
				continue
			}
			c.Series = append(c.Series, series{Name: fmt.Sprintf("%s (AP %.3f)", s.Name, *s.Metrics.PRAUC), Color: sideColors[i%len(sideColors)], Points: thin(curve(s.Metrics.PR)), Step: true, Dash: dashFor(i)})
		}
		out = append(out, plot{Title: "Precision-recall", SVG: c.svg(), Caption: fmt.Sprintf("Dashed line: the precision of guessing (%.1f%% of rows are 1).", 100*prev)})
	}
	if m.Calibration != nil {
		c := chart{Title: "Calibration (reliability)", XLabel: "mean predicted P(1) in bin", YLabel: "fraction labelled 1", XMax: 1, YMax: 1, Diagonal: true, Legend: "br"}
		for i, s := range sides {
			if s.Metrics.Calibration == nil {
				continue
			}
			sr := series{Name: s.Name, Color: sideColors[i%len(sideColors)], Markers: true, Dash: dashFor(i)}
			if s.Metrics.ECE != nil {
				sr.Name = fmt.Sprintf("%s (ECE %.3f)", s.Name, *s.Metrics.ECE)
			}
			for _, b := range s.Metrics.Calibration {
				if b.Count == 0 {
					continue
				}
				sr.Points = append(sr.Points, [2]float64{*b.MeanProb, *b.FracPositive})
				sr.Tips = append(sr.Tips, fmt.Sprintf("%s: prob in (%.1f, %.1f], %d rows, mean prob %.3f, %.1f%% labelled 1",
					s.Name, b.Low, b.High, b.Count, *b.MeanProb, 100**b.FracPositive))
			}
			c.Series = append(c.Series, sr)
		}
		out = append(out, plot{Title: "Calibration", SVG: c.svg(), Caption: "Points on the diagonal mean prob can be read as a probability. Hover a point for its bin."})
	}
	if m.LogLoss != nil && in.Model.Predictions != nil {
		const nb = 20
		edges := make([]float64, nb+1)
		for i := range edges {
			edges[i] = float64(i) / nb
		}
		neg, pos := make([]float64, nb), make([]float64, nb)
		for _, p := range in.Model.Predictions {
			b := min(int(p.Prob*nb), nb-1)
			if p.Label == 1 {
				pos[b]++
			} else {
				neg[b]++
			}
		}
		top := 1.0
		for i := range neg {
			top = math.Max(top, math.Max(neg[i], pos[i]))
		}
		c := chart{Title: "Predicted P(1) by true class — " + in.Model.Name, XLabel: "prob", YLabel: "rows", XMax: 1, YMax: niceCeil(top * 1.08),
			Bars: []bars{{Name: "labelled 0", Color: "#ef4444", Edges: edges, Counts: neg}, {Name: "labelled 1", Color: "#2563eb", Edges: edges, Counts: pos}}}
		out = append(out, plot{Title: "Probability histogram", SVG: c.svg(), Caption: "A good classifier piles the 0s near 0 and the 1s near 1; overlap is where it errs."})
	}
	out = append(out, lossPlots(in.Loss, "two-way cross-entropy over the 0/1 label logits")...)
	return out
}

// lossPlots draws the run's training loss (and evaluation accuracy when logged); labelLoss says
// what the dashed label loss is ("two-way cross-entropy over the 0/1 label logits").
func lossPlots(loss []LossPoint, labelLoss string) []plot {
	if len(loss) == 0 {
		return nil
	}
	var out []plot
	bySplit := map[string][][2]float64{}
	labelBySplit, accuracy := map[string][][2]float64{}, [][2]float64{}
	var splits []string
	lo, hi := math.Inf(1), math.Inf(-1)
	minStep, maxStep := math.Inf(1), math.Inf(-1)
	for _, l := range loss {
		if _, ok := bySplit[l.Split]; !ok {
			splits = append(splits, l.Split)
		}
		bySplit[l.Split] = append(bySplit[l.Split], [2]float64{float64(l.Step), l.Loss})
		lo, hi = math.Min(lo, l.Loss), math.Max(hi, l.Loss)
		minStep, maxStep = math.Min(minStep, float64(l.Step)), math.Max(maxStep, float64(l.Step))
		if l.LabelLoss != nil && !math.IsNaN(*l.LabelLoss) && !math.IsInf(*l.LabelLoss, 0) {
			labelBySplit[l.Split] = append(labelBySplit[l.Split], [2]float64{float64(l.Step), *l.LabelLoss})
			lo, hi = math.Min(lo, *l.LabelLoss), math.Max(hi, *l.LabelLoss)
		}
		if l.Accuracy != nil && l.Split == "eval" {
			accuracy = append(accuracy, [2]float64{float64(l.Step), *l.Accuracy})
		}
	}
	sort.Strings(splits)
	pad := (hi - lo) * 0.06
	c := chart{Title: "Training loss", XLabel: "step", YLabel: "loss", XMin: minStep, XMax: maxStep, YMin: math.Max(0, lo-pad), YMax: hi + pad + 1e-9, Legend: "tr"}
	colors := map[string]string{"train": "#2563eb", "eval": "#f59e0b"}
	for i, sp := range splits {
		pts := bySplit[sp]
		sort.SliceStable(pts, func(a, b int) bool { return pts[a][0] < pts[b][0] })
		col, ok := colors[sp]
		if !ok {
			col = sideColors[(i+2)%len(sideColors)]
		}
		c.Series = append(c.Series, series{Name: sp, Color: col, Points: thin(pts), Markers: sp == "eval" && len(pts) <= 60})
		if lp := labelBySplit[sp]; len(lp) > 0 {
			sort.SliceStable(lp, func(a, b int) bool { return lp[a][0] < lp[b][0] })
			c.Series = append(c.Series, series{Name: sp + ", label tokens", Color: col, Dash: "5 3", Points: thin(lp), Markers: sp == "eval" && len(lp) <= 60})
		}
	}
	caption := "From the run's train_log.jsonl."
	if len(labelBySplit) > 0 {
		caption += " Solid: cross-entropy of the answer tokens over the whole vocabulary; dashed: the " + labelLoss + ", the part that decides the prediction."
	}
	out = append(out, plot{Title: "Training loss", SVG: c.svg(), Caption: caption})
	if len(accuracy) > 0 {
		sort.SliceStable(accuracy, func(a, b int) bool { return accuracy[a][0] < accuracy[b][0] })
		a := chart{Title: "Evaluation accuracy during training", XLabel: "step", YLabel: "accuracy", XMin: minStep, XMax: maxStep, YMin: 0, YMax: 1, Legend: "br",
			Series: []series{{Name: "eval", Color: "#f59e0b", Points: thin(accuracy), Markers: len(accuracy) <= 60}}}
		out = append(out, plot{Title: "Evaluation accuracy", SVG: a.svg(),
			Caption: "On the run's validation rows (never the test rows), at each evaluation; a falling loss with a flat accuracy is not a better classifier."})
	}
	return out
}

func curve(ps []eval.CurvePoint) [][2]float64 {
	out := make([][2]float64, len(ps))
	for i, p := range ps {
		out[i] = [2]float64{p.X, p.Y}
	}
	return out
}

func dashFor(i int) string {
	if i == 0 {
		return ""
	}
	return []string{"7 4", "2 3", "10 3 2 3"}[(i-1)%3]
}

func niceCeil(v float64) float64 {
	t := ticks(0, v)
	step := 1.0
	if len(t) > 1 {
		step = t[1] - t[0]
	}
	return math.Ceil(v/step) * step
}
