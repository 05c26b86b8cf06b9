package eval

import (
	"fmt"
	"math/rand"
	"testing"
)

// TestMultinomialBaselineNoSignal: labels that have nothing to do with the texts (2,000 rows,
// three classes in turn) leave a small gradient at w = 0, and L-BFGS's line search stopped
// on rounding at 1.0e-5 of it, which failed eval's K-class report; it fits now, and a review of
// words it never saw gets the balanced classes' third each.
func TestMultinomialBaselineNoSignal(t *testing.T) {
	words := []string{"good", "bad", "ok", "great", "awful", "fine", "battery", "screen", "price", "delivery", "slow", "fast", "love", "hate", "meh", "broken", "works", "cheap", "solid", "nice"}
	r := rand.New(rand.NewSource(1))
	texts, labels := make([]string, 2000), make([]int, 2000)
	for i := range texts {
		for range 12 {
			texts[i] += fmt.Sprintf("%s%d ", words[r.Intn(len(words))], r.Intn(200))
		}
		labels[i] = i % 3
	}
	b, err := FitMultinomialBaseline(texts, labels, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Predict("unseen words only") {
		if p < 0.33 || p > 0.34 {
			t.Errorf("P = %v for a review of unseen words, want 1/3", p)
		}
	}
}
