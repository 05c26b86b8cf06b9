package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// MulticlassMetrics are the metrics of K-class single-label predictions (classes 0..K-1, in the
// task's label order). Per-class values are nil when undefined; the averages count an
// undefined class value as 0, as scikit-learn does (zero_division=0). JSON keys are stable.
type MulticlassMetrics struct {
	N         int      `json:"n"`
	Labels    []string `json:"labels"`    // class names in class order
	Confusion [][]int  `json:"confusion"` // [true class][predicted class]
	Accuracy  float64  `json:"accuracy"`

	PerClass []LabelMetrics `json:"per_class"` // in class order
	Macro    Average        `json:"macro"`
	Micro    Average        `json:"micro"`
	Weighted Average        `json:"weighted"` // weighted by support

	CohenKappa *float64 `json:"cohen_kappa"`
	// For ordered labels (stars): distances in classes.
	MAE            *float64 `json:"mae,omitempty"`
	QuadraticKappa *float64 `json:"quadratic_weighted_kappa,omitempty"`

	// One-vs-rest ROC-AUC per class (in PerClass) and their mean over the classes where it is
	// defined, when every row carries the K probabilities.
	ROCAUCMacro *float64 `json:"roc_auc_ovr_macro"`

	// Undefined maps a metric's JSON key to the reason it is null.
	Undefined map[string]string `json:"undefined,omitempty"`

	// One-vs-rest ROC curves per class for plots (not in JSON).
	ROC [][]CurvePoint `json:"-"`
}

// LabelMetrics are one class's one-vs-rest metrics.
type LabelMetrics struct {
	Label     string   `json:"label"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	F1        *float64 `json:"f1"`
	Support   int      `json:"support"`
	ROCAUC    *float64 `json:"roc_auc"`
}

// Average is an averaged precision, recall and F1.
type Average struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
}

// ComputeMulticlass returns the metrics of true classes y and predicted classes pred over the
// named labels. probs, when not nil, holds each row's K class probabilities. ordered adds MAE
// and quadratic-weighted kappa.
func ComputeMulticlass(labels []string, y, pred []int, probs [][]float64, ordered bool) (*MulticlassMetrics, error) {
	k := len(labels)
	switch {
	case k < 2:
		return nil, fmt.Errorf("compute metrics: %d labels; need at least two", k)
	case len(y) == 0:
		return nil, errors.New("compute metrics: no predictions")
	case len(pred) != len(y) || (probs != nil && len(probs) != len(y)):
		return nil, fmt.Errorf("compute metrics: %d labels, %d predictions and %d probability rows", len(y), len(pred), len(probs))
	}
	m := &MulticlassMetrics{N: len(y), Labels: labels, Confusion: make([][]int, k), Undefined: map[string]string{}}
	for i := range m.Confusion {
		m.Confusion[i] = make([]int, k)
	}
	for i := range y {
		if y[i] < 0 || y[i] >= k || pred[i] < 0 || pred[i] >= k {
			return nil, fmt.Errorf("compute metrics: row %d: label %d / pred %d not a class 0..%d", i+1, y[i], pred[i], k-1)
		}
		if probs != nil && len(probs[i]) != k {
			return nil, fmt.Errorf("compute metrics: row %d: %d probabilities, want %d", i+1, len(probs[i]), k)
		}
		m.Confusion[y[i]][pred[i]]++
	}
	m.classMetrics()
	m.CohenKappa = m.kappa("cohen_kappa", func(i, j int) float64 { return b2f(i != j) })
	if ordered {
		m.QuadraticKappa = m.kappa("quadratic_weighted_kappa", func(i, j int) float64 { return float64((i - j) * (i - j)) })
		sum := 0
		for i := range y {
			sum += abs(y[i] - pred[i])
		}
		m.MAE = ptr(float64(sum) / float64(m.N))
	}
	if probs != nil {
		m.rocOneVsRest(y, probs)
	} else {
		m.Undefined["roc_auc_ovr_macro"] = "no probabilities"
	}
	if len(m.Undefined) == 0 {
		m.Undefined = nil
	}
	return m, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func abs(x int) int { return max(x, -x) }

// sums returns the confusion matrix's row sums (support) and column sums (predicted counts).
func (m *MulticlassMetrics) sums() (rows, cols []int) {
	rows, cols = make([]int, len(m.Labels)), make([]int, len(m.Labels))
	for i, r := range m.Confusion {
		for j, c := range r {
			rows[i] += c
			cols[j] += c
		}
	}
	return rows, cols
}

func (m *MulticlassMetrics) classMetrics() {
	rows, cols := m.sums()
	correct := 0
	for i, name := range m.Labels {
		tp := m.Confusion[i][i]
		correct += tp
		key := "per_class." + name + "."
		c := LabelMetrics{Label: name, Support: rows[i]}
		c.Precision = m.undef(key+"precision", tp, cols[i], "never predicted")
		c.Recall = m.undef(key+"recall", tp, rows[i], "not among the labels")
		c.F1 = m.undef(key+"f1", 2*tp, rows[i]+cols[i], "neither a label nor predicted")
		m.PerClass = append(m.PerClass, c)
		w := float64(rows[i]) / float64(m.N)
		for _, a := range []struct {
			v   *float64
			dst *float64
			wdt *float64
		}{{c.Precision, &m.Macro.Precision, &m.Weighted.Precision}, {c.Recall, &m.Macro.Recall, &m.Weighted.Recall}, {c.F1, &m.Macro.F1, &m.Weighted.F1}} {
			if a.v != nil {
				*a.dst += *a.v / float64(len(m.Labels))
				*a.wdt += *a.v * w
			}
		}
	}
	m.Accuracy = float64(correct) / float64(m.N)
	// Single-label micro averages over all classes all equal accuracy.
	m.Micro = Average{m.Accuracy, m.Accuracy, m.Accuracy}
}

// undef returns num/den, or nil (noting why under key) when den is 0.
func (m *MulticlassMetrics) undef(key string, num, den int, why string) *float64 {
	if den == 0 {
		m.Undefined[key] = why
		return nil
	}
	return ptr(float64(num) / float64(den))
}

// kappa is the weighted Cohen's kappa 1 - Σw·O / Σw·E, E the outer product of the margins / n.
func (m *MulticlassMetrics) kappa(key string, weight func(i, j int) float64) *float64 {
	rows, cols := m.sums()
	var obs, exp float64
	for i := range m.Confusion {
		for j, c := range m.Confusion[i] {
			w := weight(i, j)
			obs += w * float64(c)
			exp += w * float64(rows[i]) * float64(cols[j]) / float64(m.N)
		}
	}
	if exp == 0 {
		m.Undefined[key] = "chance agreement is perfect (one class among labels and predictions)"
		return nil
	}
	return ptr(1 - obs/exp)
}

// rocOneVsRest fills each class's one-vs-rest ROC-AUC and curve and their macro mean.
func (m *MulticlassMetrics) rocOneVsRest(y []int, probs [][]float64) {
	m.ROC = make([][]CurvePoint, len(m.Labels))
	sum, n := 0.0, 0
	for c := range m.Labels {
		pos := make([]bool, len(y))
		score := make([]float64, len(y))
		for i := range y {
			pos[i], score[i] = y[i] == c, probs[i][c]
		}
		curve, auc := rocCurve(pos, score)
		if auc == nil {
			m.Undefined["per_class."+m.Labels[c]+".roc_auc"] = "the class is all or none of the labels"
			continue
		}
		m.ROC[c], m.PerClass[c].ROCAUC = curve, auc
		sum += *auc
		n++
	}
	if n == 0 {
		m.Undefined["roc_auc_ovr_macro"] = "no class has a defined ROC-AUC"
		return
	}
	m.ROCAUCMacro = ptr(sum / float64(n))
}

// rocCurve returns the ROC curve (thresholds descending, tied scores one step) and its area
// by the trapezoid rule, or a nil area when pos is all true or all false.
func rocCurve(pos []bool, score []float64) ([]CurvePoint, *float64) {
	idx := make([]int, len(pos))
	np := 0
	for i := range idx {
		idx[i] = i
		if pos[i] {
			np++
		}
	}
	nn := len(pos) - np
	if np == 0 || nn == 0 {
		return nil, nil
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] > score[idx[b]] })
	curve := []CurvePoint{{X: 0, Y: 0, Threshold: math.Inf(1)}}
	tp, fp, area := 0, 0, 0.0
	for a := 0; a < len(idx); {
		b := a
		for b < len(idx) && score[idx[b]] == score[idx[a]] {
			if pos[idx[b]] {
				tp++
			} else {
				fp++
			}
			b++
		}
		x, yy := float64(fp)/float64(nn), float64(tp)/float64(np)
		last := curve[len(curve)-1]
		area += (x - last.X) * (yy + last.Y) / 2
		curve = append(curve, CurvePoint{X: x, Y: yy, Threshold: score[idx[a]]})
		a = b
	}
	return curve, &area
}
