package reports

import (
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
)

// The training plot shows the label-token loss (dashed) beside the full loss,
// and the evaluation accuracy in a chart of its own, when the log has them.
func TestTrainingPlotsLabelLossAndAccuracy(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	preds := []eval.Prediction{{Label: 1, Pred: 1, Prob: 0.9}, {Label: 0, Pred: 0, Prob: 0.2}, {Label: 1, Pred: 0, Prob: 0.4}, {Label: 0, Pred: 1, Prob: 0.6}}
	in := Input{Model: Side{Predictions: preds}, Loss: []LossPoint{
		{Step: 1, Loss: 11.9, Split: "train", LabelLoss: f(0.69)},
		{Step: 2, Loss: 11.5, Split: "train", LabelLoss: f(0.41)},
		{Step: 2, Loss: 11.6, Split: "eval", LabelLoss: f(0.52), Accuracy: f(0.625)},
	}}
	if err := in.complete(); err != nil {
		t.Fatal(err)
	}
	titles := map[string]plot{}
	for _, p := range buildPlots(&in) {
		titles[p.Title] = p
	}
	loss, ok := titles["Training loss"]
	if !ok || !strings.Contains(loss.SVG, "train, label tokens") || !strings.Contains(loss.SVG, "eval, label tokens") ||
		!strings.Contains(loss.Caption, "0/1 label logits") {
		t.Errorf("training loss chart without the label-token loss: %+v", loss)
	}
	if acc, ok := titles["Evaluation accuracy"]; !ok || !strings.Contains(acc.SVG, "accuracy") {
		t.Errorf("no evaluation accuracy chart (charts: %v)", titles)
	}
	// A log with the full loss alone draws it alone, as before.
	in.Loss = []LossPoint{{Step: 1, Loss: 2, Split: "train"}, {Step: 2, Loss: 1, Split: "train"}}
	for _, p := range buildPlots(&in) {
		if p.Title == "Evaluation accuracy" || strings.Contains(p.SVG, "label tokens") {
			t.Errorf("chart %q drawn from a log without label loss or accuracy", p.Title)
		}
	}
}
