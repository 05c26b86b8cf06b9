package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestThresholdSweep: every point scores as Compute does on the predictions that threshold
// makes, the points cover each distinct prob once, and the best F1 is Compute's.
func TestThresholdSweep(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	preds := make([]Prediction, 200)
	for i := range preds {
		label := rng.IntN(2)
		prob := math.Round((0.3*float64(label)+0.7*rng.Float64())*20) / 20 // ties on purpose
		preds[i] = Prediction{Label: label, Prob: prob}
	}
	sweep, err := ThresholdSweep(preds)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[float64]bool{}
	for _, p := range preds {
		distinct[p.Prob] = true
	}
	if len(sweep) != len(distinct)+1 {
		t.Fatalf("%d points for %d distinct probs, want one each and one above", len(sweep), len(distinct))
	}
	bestF1 := sweep[0]
	for k, pt := range sweep {
		if k > 0 && pt.Threshold <= sweep[k-1].Threshold {
			t.Fatalf("thresholds not ascending at %d: %v after %v", k, pt.Threshold, sweep[k-1].Threshold)
		}
		at := make([]Prediction, len(preds))
		for i, p := range preds {
			at[i] = p
			at[i].Pred = boolInt(p.Prob >= pt.Threshold)
		}
		m, err := Compute(at)
		if err != nil {
			t.Fatal(err)
		}
		if pt.TP != m.TP || pt.FP != m.FP || pt.TN != m.TN || pt.FN != m.FN || math.Abs(pt.Accuracy-m.Accuracy) > 1e-12 {
			t.Errorf("threshold %v: %+v, Compute: tp %d fp %d tn %d fn %d acc %v", pt.Threshold, pt, m.TP, m.FP, m.TN, m.FN, m.Accuracy)
		}
		if !samePtr(pt.Precision, m.Precision) || !samePtr(pt.Recall, m.Recall) {
			t.Errorf("threshold %v: precision/recall %v/%v, Compute %v/%v", pt.Threshold, pt.Precision, pt.Recall, m.Precision, m.Recall)
		}
		if pt.F1 != nil && *pt.F1 > *bestF1.F1 {
			bestF1 = pt
		}
	}
	if last := sweep[len(sweep)-1]; last.TP+last.FP != 0 {
		t.Errorf("the top threshold still predicts %d rows as 1", last.TP+last.FP)
	}
	m, _ := Compute(preds)
	if m.BestF1Threshold == nil || m.BestF1Threshold.Threshold != bestF1.Threshold {
		t.Errorf("best F1 at %v, Compute's best_f1_threshold %+v", bestF1.Threshold, m.BestF1Threshold)
	}
}

func TestThresholdSweepRefuses(t *testing.T) {
	for name, preds := range map[string][]Prediction{
		"none":    nil,
		"no prob": {{ID: "a", Label: 1, Prob: math.NaN()}},
		"label 2": {{ID: "b", Label: 2, Prob: 0.5}},
	} {
		if _, err := ThresholdSweep(preds); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func samePtr(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) < 1e-12
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
