package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/stat"
)

// Metrics are the binary-classification metrics of one set of predictions (positive class 1).
// A pointer field is nil when the value is undefined on this data (for example precision when
// nothing was predicted positive, ROC-AUC when only one class is present); Undefined then says
// why. JSON keys are stable: tools may rely on them.
type Metrics struct {
	N         int `json:"n"`
	Positives int `json:"positives"` // rows with label 1
	Negatives int `json:"negatives"` // rows with label 0
	TP        int `json:"tp"`
	FP        int `json:"fp"`
	TN        int `json:"tn"`
	FN        int `json:"fn"`

	Accuracy         float64  `json:"accuracy"`
	Precision        *float64 `json:"precision"`
	Recall           *float64 `json:"recall"`
	F1               *float64 `json:"f1"`
	Specificity      *float64 `json:"specificity"`
	BalancedAccuracy *float64 `json:"balanced_accuracy"`
	MCC              *float64 `json:"mcc"`

	PerClass       map[string]ClassMetrics `json:"per_class"` // keys "0" and "1"
	MacroPrecision *float64                `json:"macro_precision"`
	MacroRecall    *float64                `json:"macro_recall"`
	MacroF1        *float64                `json:"macro_f1"`

	AccuracyCI  *Interval `json:"accuracy_ci95"`  // Wilson score interval
	PrecisionCI *Interval `json:"precision_ci95"` // Wilson, over tp + fp predictions
	RecallCI    *Interval `json:"recall_ci95"`    // Wilson, over tp + fn positives

	// From prob. PRAUC is average precision (the step-wise area, as scikit-learn's
	// average_precision_score), not the optimistic trapezoid.
	ROCAUC  *float64 `json:"roc_auc"`
	PRAUC   *float64 `json:"pr_auc"`
	LogLoss *float64 `json:"log_loss"`
	Brier   *float64 `json:"brier"`
	ECE     *float64 `json:"ece"` // expected calibration error over Calibration's bins

	Calibration      []Bin      `json:"calibration"`
	BestF1Threshold  *Threshold `json:"best_f1_threshold"`
	BestAccThreshold *Threshold `json:"best_accuracy_threshold"`

	Majority Majority `json:"majority_baseline"`

	// Undefined maps a metric's JSON key to the reason it is null.
	Undefined map[string]string `json:"undefined,omitempty"`

	// Curves for plots (not in JSON: they have up to n points).
	ROC []CurvePoint `json:"-"` // X = false positive rate, Y = true positive rate, from (0,0) to (1,1)
	PR  []CurvePoint `json:"-"` // X = recall, Y = precision, thresholds descending, starting at recall 0
}

// ClassMetrics are the one-vs-rest metrics of one class.
type ClassMetrics struct {
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	F1        *float64 `json:"f1"`
	Support   int      `json:"support"`
}

// Interval is a two-sided confidence interval.
type Interval struct {
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// Bin is one reliability bin: predictions with prob in (Low, High] (the first bin includes 0).
// MeanProb and FracPositive are nil for an empty bin.
type Bin struct {
	Low          float64  `json:"low"`
	High         float64  `json:"high"`
	Count        int      `json:"count"`
	MeanProb     *float64 `json:"mean_prob"`
	FracPositive *float64 `json:"frac_positive"`
}

// Threshold is a decision threshold (predict 1 when prob >= Threshold) and the scores it
// reaches on this split.
type Threshold struct {
	Threshold float64  `json:"threshold"`
	Accuracy  float64  `json:"accuracy"`
	F1        *float64 `json:"f1"`
}

// Majority is the classifier that always answers the most frequent label of this split
// (ties go to class 1).
type Majority struct {
	Class    int     `json:"class"`
	Accuracy float64 `json:"accuracy"`
}

// CurvePoint is a point on a ROC or precision-recall curve.
type CurvePoint struct {
	X, Y      float64
	Threshold float64
}

// CalibrationBins is the number of equal-width reliability bins.
const CalibrationBins = 10

// z975 is the standard normal quantile for a two-sided 95 % interval.
const z975 = 1.959963984540054

// logLossEps clips probabilities as scikit-learn does for float64 input.
const logLossEps = 2.220446049250313e-16

// Compute returns the metrics of preds. Probability metrics need every row to carry a prob
// (or none to: then they are undefined). It fails on no rows or on labels/preds other than 0/1.
func Compute(preds []Prediction) (*Metrics, error) {
	if len(preds) == 0 {
		return nil, errors.New("compute metrics: no predictions")
	}
	m := &Metrics{N: len(preds), Undefined: map[string]string{}}
	withProb := 0
	for i, p := range preds {
		if (p.Label != 0 && p.Label != 1) || (p.Pred != 0 && p.Pred != 1) {
			return nil, fmt.Errorf("compute metrics: prediction %d (id %q): label %d / pred %d not 0 or 1", i+1, p.ID, p.Label, p.Pred)
		}
		if p.HasProb() {
			if p.Prob < 0 || p.Prob > 1 {
				return nil, fmt.Errorf("compute metrics: prediction %d (id %q): prob %v outside [0, 1]", i+1, p.ID, p.Prob)
			}
			withProb++
		}
		switch {
		case p.Label == 1 && p.Pred == 1:
			m.TP++
		case p.Label == 0 && p.Pred == 1:
			m.FP++
		case p.Label == 0 && p.Pred == 0:
			m.TN++
		default:
			m.FN++
		}
	}
	if withProb != 0 && withProb != len(preds) {
		return nil, fmt.Errorf("compute metrics: %d of %d predictions have a prob; need all or none", withProb, len(preds))
	}
	m.Positives, m.Negatives = m.TP+m.FN, m.TN+m.FP
	m.confusionMetrics()
	if withProb > 0 {
		m.probabilityMetrics(preds)
	} else {
		for _, k := range []string{"roc_auc", "pr_auc", "log_loss", "brier", "ece", "calibration", "best_f1_threshold", "best_accuracy_threshold"} {
			m.Undefined[k] = "no prob column"
		}
	}
	if len(m.Undefined) == 0 {
		m.Undefined = nil
	}
	return m, nil
}

// ratio returns num/den, or nil (noting why under key) when den is 0.
func (m *Metrics) ratio(key string, num, den int, why string) *float64 {
	if den == 0 {
		m.Undefined[key] = why
		return nil
	}
	return ptr(float64(num) / float64(den))
}

func ptr(x float64) *float64 { return &x }

func (m *Metrics) confusionMetrics() {
	tp, fp, tn, fn := m.TP, m.FP, m.TN, m.FN
	m.Accuracy = float64(tp+tn) / float64(m.N)
	m.Precision = m.ratio("precision", tp, tp+fp, "no positive predictions (tp + fp = 0)")
	m.Recall = m.ratio("recall", tp, tp+fn, "no positive labels (tp + fn = 0)")
	m.F1 = m.ratio("f1", 2*tp, 2*tp+fp+fn, "no positive labels or predictions (2tp + fp + fn = 0)")
	m.Specificity = m.ratio("specificity", tn, tn+fp, "no negative labels (tn + fp = 0)")
	if m.Recall != nil && m.Specificity != nil {
		m.BalancedAccuracy = ptr((*m.Recall + *m.Specificity) / 2)
	} else {
		m.Undefined["balanced_accuracy"] = "needs both classes among the labels"
	}
	den := float64(tp+fp) * float64(tp+fn) * float64(tn+fp) * float64(tn+fn)
	if den == 0 {
		m.Undefined["mcc"] = "a row or column of the confusion matrix is empty"
	} else {
		m.MCC = ptr((float64(tp)*float64(tn) - float64(fp)*float64(fn)) / math.Sqrt(den))
	}

	neg := ClassMetrics{Support: tn + fp}
	neg.Precision = m.ratio("per_class.0.precision", tn, tn+fn, "no negative predictions (tn + fn = 0)")
	neg.Recall = m.ratio("per_class.0.recall", tn, tn+fp, "no negative labels (tn + fp = 0)")
	neg.F1 = m.ratio("per_class.0.f1", 2*tn, 2*tn+fp+fn, "no negative labels or predictions (2tn + fp + fn = 0)")
	pos := ClassMetrics{Support: tp + fn, Precision: m.Precision, Recall: m.Recall, F1: m.F1}
	for k, why := range m.Undefined {
		switch k {
		case "precision", "recall", "f1":
			m.Undefined["per_class.1."+k] = why
		}
	}
	m.PerClass = map[string]ClassMetrics{"0": neg, "1": pos}
	m.MacroPrecision = m.macro("macro_precision", neg.Precision, pos.Precision)
	m.MacroRecall = m.macro("macro_recall", neg.Recall, pos.Recall)
	m.MacroF1 = m.macro("macro_f1", neg.F1, pos.F1)

	m.AccuracyCI = wilson(tp+tn, m.N)
	m.PrecisionCI = wilson(tp, tp+fp)
	m.RecallCI = wilson(tp, tp+fn)
	if m.PrecisionCI == nil {
		m.Undefined["precision_ci95"] = m.Undefined["precision"]
	}
	if m.RecallCI == nil {
		m.Undefined["recall_ci95"] = m.Undefined["recall"]
	}

	m.Majority = Majority{Class: 1, Accuracy: float64(m.Positives) / float64(m.N)}
	if m.Negatives > m.Positives {
		m.Majority = Majority{Class: 0, Accuracy: float64(m.Negatives) / float64(m.N)}
	}
}

func (m *Metrics) macro(key string, a, b *float64) *float64 {
	if a == nil || b == nil {
		m.Undefined[key] = "a per-class value is undefined"
		return nil
	}
	return ptr((*a + *b) / 2)
}

// wilson is the Wilson score interval for k successes in n trials; nil when n = 0.
func wilson(k, n int) *Interval {
	if n == 0 {
		return nil
	}
	p, nf := float64(k)/float64(n), float64(n)
	z2 := z975 * z975
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z975 * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf)) / den
	return &Interval{Low: math.Max(0, center-half), High: math.Min(1, center+half)}
}

// group is the rows sharing one prob value, visited from the highest prob down.
type group struct {
	prob       float64
	tp, fp     int // cumulative counts of rows with prob >= this value
	posInGroup int
}

func (m *Metrics) probabilityMetrics(preds []Prediction) {
	n := float64(m.N)
	var ll, brier float64
	for _, p := range preds {
		q := math.Min(math.Max(p.Prob, logLossEps), 1-logLossEps)
		if p.Label == 1 {
			ll -= math.Log(q)
		} else {
			ll -= math.Log(1 - q)
		}
		d := p.Prob - float64(p.Label)
		brier += d * d
	}
	m.LogLoss, m.Brier = ptr(ll/n), ptr(brier/n)
	m.calibration(preds)

	// Cumulative counts over distinct prob values, highest first; tied rows move together,
	// which is what makes ROC/PR handle ties like scikit-learn.
	idx := make([]int, len(preds))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return preds[idx[a]].Prob > preds[idx[b]].Prob })
	var groups []group
	tp, fp := 0, 0
	for k, i := range idx {
		if preds[i].Label == 1 {
			tp++
		} else {
			fp++
		}
		if k+1 == len(idx) || preds[idx[k+1]].Prob != preds[i].Prob {
			prevTP := 0
			if len(groups) > 0 {
				prevTP = groups[len(groups)-1].tp
			}
			groups = append(groups, group{prob: preds[i].Prob, tp: tp, fp: fp, posInGroup: tp - prevTP})
		}
	}
	m.thresholds(groups)

	pos, neg := m.Positives, m.Negatives
	if pos == 0 {
		m.Undefined["pr_auc"] = "no positive labels"
	} else {
		// Average precision: sum over thresholds of (R_k - R_{k-1}) · P_k.
		ap := 0.0
		m.PR = append(m.PR, CurvePoint{X: 0, Y: 1, Threshold: math.Inf(1)})
		for _, g := range groups {
			prec := float64(g.tp) / float64(g.tp+g.fp)
			ap += float64(g.posInGroup) / float64(pos) * prec
			m.PR = append(m.PR, CurvePoint{X: float64(g.tp) / float64(pos), Y: prec, Threshold: g.prob})
		}
		m.PRAUC = ptr(ap)
	}
	if pos == 0 || neg == 0 {
		m.Undefined["roc_auc"] = "needs both classes among the labels"
		return
	}
	y := make([]float64, len(preds))
	classes := make([]bool, len(preds))
	for k := range idx {
		p := preds[idx[len(idx)-1-k]] // ascending, as stat.ROC wants
		y[k], classes[k] = p.Prob, p.Label == 1
	}
	tpr, fpr, thresh := stat.ROC(nil, y, classes, nil)
	m.ROCAUC = ptr(integrate.Trapezoidal(fpr, tpr))
	for i := range tpr {
		m.ROC = append(m.ROC, CurvePoint{X: fpr[i], Y: tpr[i], Threshold: thresh[i]})
	}
}

// calibration fills reliability bins (first bin [0, 0.1], then (0.1, 0.2], …, as
// scikit-learn's calibration_curve) and the expected calibration error.
func (m *Metrics) calibration(preds []Prediction) {
	width := 1.0 / CalibrationBins
	bins := make([]Bin, CalibrationBins)
	sumProb := make([]float64, CalibrationBins)
	sumPos := make([]float64, CalibrationBins)
	for i := range bins {
		bins[i].Low, bins[i].High = float64(i)*width, float64(i+1)*width
	}
	bins[CalibrationBins-1].High = 1
	for _, p := range preds {
		b := 0
		for b < CalibrationBins-1 && bins[b].High < p.Prob {
			b++
		}
		bins[b].Count++
		sumProb[b] += p.Prob
		sumPos[b] += float64(p.Label)
	}
	ece := 0.0
	for i := range bins {
		if c := float64(bins[i].Count); c > 0 {
			bins[i].MeanProb, bins[i].FracPositive = ptr(sumProb[i]/c), ptr(sumPos[i]/c)
			ece += c / float64(m.N) * math.Abs(sumPos[i]/c-sumProb[i]/c)
		}
	}
	m.Calibration, m.ECE = bins, ptr(ece)
}

// thresholds finds the decision thresholds (predict 1 when prob >= t, t among the observed
// probs) with the best F1 and the best accuracy; ties go to the lowest threshold. Accuracy also
// considers predicting everything 0 (t just above the highest prob).
func (m *Metrics) thresholds(groups []group) {
	pos, neg := m.Positives, m.Negatives
	var bestF1, bestAcc *Threshold
	for k := len(groups) - 1; k >= 0; k-- { // ascending thresholds
		g := groups[k]
		t := &Threshold{Threshold: g.prob, Accuracy: float64(g.tp+neg-g.fp) / float64(m.N)}
		if d := 2*g.tp + g.fp + (pos - g.tp); d > 0 {
			t.F1 = ptr(float64(2*g.tp) / float64(d))
		}
		if t.F1 != nil && (bestF1 == nil || *t.F1 > *bestF1.F1) {
			bestF1 = t
		}
		if bestAcc == nil || t.Accuracy > bestAcc.Accuracy {
			bestAcc = t
		}
	}
	allNeg := &Threshold{Threshold: math.Nextafter(groups[0].prob, math.Inf(1)), Accuracy: float64(neg) / float64(m.N)}
	if pos > 0 {
		allNeg.F1 = ptr(0)
	}
	if allNeg.Accuracy > bestAcc.Accuracy {
		bestAcc = allNeg
	}
	if pos == 0 {
		m.Undefined["best_f1_threshold"] = "no positive labels"
		bestF1 = nil
	}
	m.BestF1Threshold, m.BestAccThreshold = bestF1, bestAcc
}
