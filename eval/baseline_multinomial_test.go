package eval

import (
	"math"
	"strings"
	"testing"
)

// TestMultinomialBaselineMatchesSklearn fits three made-up classes on the Amazon sample (see
// testdata/multinomial_golden.py) and compares the held-out probabilities and the objective
// with scikit-learn's features solved tightly by SciPy.
func TestMultinomialBaselineMatchesSklearn(t *testing.T) {
	var golden struct {
		Vocabulary int         `json:"vocabulary"`
		Objective  float64     `json:"objective"`
		Probs      [][]float64 `json:"probs"`
	}
	readJSONFile(t, "multinomial_golden.json", &golden)
	texts, labels := readAmazon(t)
	var trX, teX []string
	var trY []int
	for i := range texts {
		y := labels[i]
		if i%3 == 0 {
			y = 2
		}
		if i%5 == 0 {
			teX = append(teX, texts[i])
		} else {
			trX, trY = append(trX, texts[i]), append(trY, y)
		}
	}
	m, err := FitMultinomialBaseline(trX, trY, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m.features.Features() != golden.Vocabulary {
		t.Errorf("vocabulary %d terms, scikit-learn %d", m.features.Features(), golden.Vocabulary)
	}
	if rel := math.Abs(m.Objective-golden.Objective) / golden.Objective; rel > 1e-6 {
		t.Errorf("objective %.10g, SciPy's optimum %.10g (relative difference %.2g)", m.Objective, golden.Objective, rel)
	}
	maxDiff := 0.0
	for i, text := range teX {
		for c, p := range m.Predict(text) {
			maxDiff = math.Max(maxDiff, math.Abs(p-golden.Probs[i][c]))
		}
	}
	if maxDiff > 1e-5 {
		t.Errorf("probabilities differ from scikit-learn by up to %g (want <= 1e-5)", maxDiff)
	}
	t.Logf("max probability difference %.2g", maxDiff)
}

func TestMultinomialBaselineErrors(t *testing.T) {
	for _, tc := range []struct {
		labels []int
		k      int
		want   string
	}{
		{[]int{0, 1}, 1, "at least two classes"},
		{[]int{0, 3}, 3, "row 2: label 3"},
		{[]int{1, 1}, 3, "all 2 training rows have label 1"},
	} {
		if _, err := FitMultinomialBaseline([]string{"good thing", "bad thing"}, tc.labels, tc.k); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}
