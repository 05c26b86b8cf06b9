package predict

import (
	"math"
	"strings"
	"testing"
)

// TestNewScorerRefusesNaNThreshold: NaN compares false with everything, so "prob ≥ NaN" made every
// prediction 0; the check runs before any model is read.
func TestNewScorerRefusesNaNThreshold(t *testing.T) {
	for _, th := range []float64{math.NaN(), -0.1, 1.1, math.Inf(1)} {
		_, err := NewScorer(ScorerConfig{ModelDir: "/nonexistent/model", Threshold: th})
		if err == nil || !strings.Contains(err.Error(), "threshold") {
			t.Errorf("threshold %v: err = %v, want one naming the threshold", th, err)
		}
	}
}
