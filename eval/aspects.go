package eval

import (
	"fmt"

	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
)

// AspectMetrics are the metrics of aspect-sentiment predictions: per aspect, the K-class
// metrics of its four classes (task.AspectLabels) over every review. JSON keys are stable.
type AspectMetrics struct {
	Reviews int            `json:"reviews"`
	Labels  []string       `json:"labels"` // class names in class order
	Aspects []AspectResult `json:"aspects"`
	// Means over the aspects of their accuracy and macro F1.
	MeanAccuracy float64 `json:"mean_accuracy"`
	MeanMacroF1  float64 `json:"mean_macro_f1"`
}

// AspectResult is one aspect's metrics; Mentioned counts the reviews whose label mentions it.
type AspectResult struct {
	Aspect    string             `json:"aspect"`
	Mentioned int                `json:"mentioned"`
	Metrics   *MulticlassMetrics `json:"metrics"`
}

// ComputeAspects returns ComputeMulticlass of each aspect's column of rows (labels, predictions
// and, when the file has them, probabilities).
func ComputeAspects(cols table.AspectColumns, rows []table.AspectPrediction) (*AspectMetrics, error) {
	if !cols.Label {
		return nil, fmt.Errorf("aspect metrics: the predictions have no label_<aspect> columns (score labelled reviews)")
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("aspect metrics: no predictions")
	}
	names := make([]string, len(task.AspectLabels))
	for i, l := range task.AspectLabels {
		names[i] = l.Name
	}
	out := &AspectMetrics{Reviews: len(rows), Labels: names}
	for k, a := range cols.Aspects {
		y, pred := make([]int, len(rows)), make([]int, len(rows))
		var probs [][]float64
		mentioned := 0
		for i, r := range rows {
			y[i], pred[i] = r.Label[k], r.Pred[k]
			if cols.Prob {
				probs = append(probs, r.Probs[k])
			}
			if y[i] != task.NotMentioned {
				mentioned++
			}
		}
		m, err := ComputeMulticlass(names, y, pred, probs, false)
		if err != nil {
			return nil, fmt.Errorf("aspect %s: %w", a, err)
		}
		out.Aspects = append(out.Aspects, AspectResult{Aspect: a, Mentioned: mentioned, Metrics: m})
		out.MeanAccuracy += m.Accuracy / float64(len(cols.Aspects))
		out.MeanMacroF1 += m.Macro.F1 / float64(len(cols.Aspects))
	}
	return out, nil
}
