package eval

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestMulticlassMatchesSklearn compares ComputeMulticlass with testdata/multiclass_golden.json,
// written by testdata/multiclass_golden.py from scikit-learn (3 and 5 classes with tied
// probabilities, a class never predicted, a class absent from labels and predictions).
func TestMulticlassMatchesSklearn(t *testing.T) {
	var cases []struct {
		Name    string
		Ordered bool
		Y       []int
		Pred    []int
		Probs   [][]float64
		Want    map[string]any
	}
	readJSONFile(t, "multiclass_golden.json", &cases)
	if len(cases) < 4 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for _, c := range cases {
		var labels []string
		for _, l := range c.Want["labels"].([]any) {
			labels = append(labels, l.(string))
		}
		m, err := ComputeMulticlass(labels, c.Y, c.Pred, c.Probs, c.Ordered)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		delete(c.Want, "labels")
		for i, pc := range c.Want["per_class"].([]any) { // compareJSON compares numbers only
			w := pc.(map[string]any)
			if m.PerClass[i].Label != w["label"] {
				t.Errorf("%s: class %d is %q, want %q", c.Name, i, m.PerClass[i].Label, w["label"])
			}
			delete(w, "label")
		}
		compareJSON(t, c.Name, got, c.Want)
		for _, k := range []string{"mae", "quadratic_weighted_kappa"} {
			if _, has := got[k]; has != c.Ordered {
				t.Errorf("%s: %s present %v, ordered %v", c.Name, k, has, c.Ordered)
			}
		}
		if c.Probs != nil && len(m.ROC) != len(labels) {
			t.Errorf("%s: %d ROC curves, want %d", c.Name, len(m.ROC), len(labels))
		}
	}
}

func TestMulticlassErrors(t *testing.T) {
	three := []string{"negative", "neutral", "positive"}
	for _, tc := range []struct {
		labels  []string
		y, pred []int
		probs   [][]float64
		want    string
	}{
		{three[:1], []int{0}, []int{0}, nil, "at least two"},
		{three, nil, nil, nil, "no predictions"},
		{three, []int{0, 1}, []int{0}, nil, "2 labels, 1 predictions"},
		{three, []int{0, 3}, []int{0, 1}, nil, "row 2: label 3"},
		{three, []int{0}, []int{0}, [][]float64{{1, 0}}, "row 1: 2 probabilities, want 3"},
	} {
		if _, err := ComputeMulticlass(tc.labels, tc.y, tc.pred, tc.probs, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
