// Package eval turns binary predictions into the metrics a classification owner needs:
// confusion counts, precision/recall/F1, ranking metrics from probabilities, calibration,
// confidence intervals, McNemar's test between two classifiers, and a TF-IDF logistic
// regression baseline. Pure Go: it never needs libtorch.
package eval

import (
	"io"

	"github.com/sentitune/sentitune/internal/table"
)

// Prediction is one scored row, internal/table's row of a predictions file. The positive class
// is 1. Prob is P(label = 1); NaN means the file carried no probability, which leaves the
// probability-based metrics (ROC-AUC, PR-AUC, log-loss, Brier, calibration) undefined.
type Prediction = table.Prediction

// ReadPredictions reads a predictions file (table.ReadPredictions).
func ReadPredictions(path string) ([]Prediction, error) { return table.ReadPredictions(path) }

// ReadPredictionsFrom reads a predictions file from a stream (table.ReadPredictionsFrom).
func ReadPredictionsFrom(r io.Reader, name string) ([]Prediction, error) {
	return table.ReadPredictionsFrom(r, name)
}

// WritePredictionsJSONL writes a report's predictions.jsonl (table.WritePredictionsJSONL).
func WritePredictionsJSONL(w io.Writer, preds []Prediction) error {
	return table.WritePredictionsJSONL(w, preds)
}
