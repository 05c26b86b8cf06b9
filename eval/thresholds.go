package eval

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ThresholdPoint is what predicting 1 when prob ≥ Threshold scores on a split.
type ThresholdPoint struct {
	Threshold float64  `json:"threshold"`
	TP        int      `json:"tp"`
	FP        int      `json:"fp"`
	TN        int      `json:"tn"`
	FN        int      `json:"fn"`
	Accuracy  float64  `json:"accuracy"`
	Precision *float64 `json:"precision"` // null when nothing is predicted 1
	Recall    *float64 `json:"recall"`    // null when no row is labelled 1
	F1        *float64 `json:"f1"`        // null when both are undefined
}

// ThresholdSweep scores every decision threshold that changes a prediction: each distinct prob,
// ascending, then one just above the highest (everything 0). A threshold between two of them
// predicts as the next one up, so a slider needs no other points.
func ThresholdSweep(preds []Prediction) ([]ThresholdPoint, error) {
	if len(preds) == 0 {
		return nil, errors.New("threshold sweep: no predictions")
	}
	probs := make([]float64, len(preds))
	pos := 0
	for i, p := range preds {
		if !p.HasProb() {
			return nil, fmt.Errorf("threshold sweep: row %d (id %q) has no prob", i+1, p.ID)
		}
		if p.Label != 0 && p.Label != 1 {
			return nil, fmt.Errorf("threshold sweep: row %d (id %q): label %d, want 0 or 1", i+1, p.ID, p.Label)
		}
		probs[i], pos = p.Prob, pos+p.Label
	}
	order := make([]int, len(preds))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] < probs[order[b]] })
	// Walking up the sorted probs, the rows below the threshold are predicted 0.
	var out []ThresholdPoint
	fn, tn := 0, 0
	for k, i := range order {
		if k == 0 || probs[i] != probs[order[k-1]] {
			out = append(out, thresholdPoint(probs[i], pos-fn, len(preds)-pos-tn, tn, fn))
		}
		if preds[i].Label == 1 {
			fn++
		} else {
			tn++
		}
	}
	top := math.Nextafter(probs[order[len(order)-1]], math.Inf(1))
	return append(out, thresholdPoint(top, 0, 0, tn, fn)), nil
}

func thresholdPoint(t float64, tp, fp, tn, fn int) ThresholdPoint {
	p := ThresholdPoint{Threshold: t, TP: tp, FP: fp, TN: tn, FN: fn,
		Accuracy: float64(tp+tn) / float64(tp+fp+tn+fn)}
	if tp+fp > 0 {
		p.Precision = ptr(float64(tp) / float64(tp+fp))
	}
	if tp+fn > 0 {
		p.Recall = ptr(float64(tp) / float64(tp+fn))
	}
	if d := 2*tp + fp + fn; d > 0 && (p.Precision != nil || p.Recall != nil) {
		p.F1 = ptr(float64(2*tp) / float64(d))
	}
	return p
}
