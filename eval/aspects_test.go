package eval

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/table"
)

// TestComputeAspectsIsMulticlassPerAspect: each aspect's metrics are ComputeMulticlass of that
// aspect's rows alone.
func TestComputeAspectsIsMulticlassPerAspect(t *testing.T) {
	cols := table.AspectColumns{Aspects: []string{"battery", "price"}, Label: true, Prob: true}
	p := func(c int) []float64 { q := []float64{0.1, 0.1, 0.1, 0.1}; q[c] = 0.7; return q }
	labels := [][2]int{{2, 3}, {0, 3}, {3, 1}, {1, 0}, {2, 2}, {3, 3}}
	preds := [][2]int{{2, 3}, {1, 3}, {3, 3}, {1, 0}, {0, 2}, {3, 1}}
	var rows []table.AspectPrediction
	for i := range labels {
		rows = append(rows, table.AspectPrediction{ID: string(rune('a' + i)), Label: labels[i][:], Pred: preds[i][:],
			Probs: [][]float64{p(preds[i][0]), p(preds[i][1])}})
	}
	got, err := ComputeAspects(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reviews != 6 || len(got.Aspects) != 2 {
		t.Fatalf("got %d reviews, %d aspects", got.Reviews, len(got.Aspects))
	}
	for k, a := range cols.Aspects {
		var y, pred []int
		var probs [][]float64
		for i := range rows {
			y, pred, probs = append(y, labels[i][k]), append(pred, preds[i][k]), append(probs, p(preds[i][k]))
		}
		want, err := ComputeMulticlass(got.Labels, y, pred, probs, false)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.Aspects[k]; r.Aspect != a || !reflect.DeepEqual(r.Metrics.Confusion, want.Confusion) || r.Metrics.Macro != want.Macro ||
			r.Metrics.Accuracy != want.Accuracy || *r.Metrics.ROCAUCMacro != *want.ROCAUCMacro {
			t.Errorf("aspect %s: %+v, want %+v", a, r.Metrics, want)
		}
	}
	if m := got.Aspects[0]; m.Mentioned != 4 || m.Metrics.Accuracy != 4.0/6 {
		t.Errorf("battery: mentioned %d, accuracy %v; want 4 and 4/6", m.Mentioned, m.Metrics.Accuracy)
	}
	if want := (got.Aspects[0].Metrics.Accuracy + got.Aspects[1].Metrics.Accuracy) / 2; got.MeanAccuracy != want {
		t.Errorf("mean accuracy %v, want %v", got.MeanAccuracy, want)
	}
	cols.Label = false
	if _, err := ComputeAspects(cols, rows); err == nil || !strings.Contains(err.Error(), "label_") {
		t.Errorf("unlabelled predictions: err %v", err)
	}
}
