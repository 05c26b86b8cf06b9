package eval

import (
	"strings"

	"github.com/sentitune/sentitune/internal/task"
)

// ComputeClassPredictions is ComputeMulticlass on predictions read from a K-class file: the
// one-vs-rest ROC curves need every row's K probabilities, so a file where any row lacks
// them is scored without.
func ComputeClassPredictions(classes []string, preds []Prediction, ordered bool) (*MulticlassMetrics, error) {
	y, pred := make([]int, len(preds)), make([]int, len(preds))
	probs := make([][]float64, len(preds))
	all := true
	for i, p := range preds {
		y[i], pred[i], probs[i] = p.Label, p.Pred, p.Probs
		all = all && p.Probs != nil
	}
	if !all {
		probs = nil
	}
	return ComputeMulticlass(classes, y, pred, probs, ordered)
}

// OrderedScale reports whether classes are a rating scale whose distances mean something
// (MAE, quadratic-weighted kappa): prep's stars5 (1..5) or stars3 (negative, neutral, positive).
func OrderedScale(classes []string) bool {
	for _, scale := range []task.Labels{task.Stars5, task.Stars3} {
		same := len(classes) == len(scale)
		for i := 0; same && i < len(classes); i++ {
			same = strings.EqualFold(classes[i], scale[i].Name)
		}
		if same {
			return true
		}
	}
	return false
}
