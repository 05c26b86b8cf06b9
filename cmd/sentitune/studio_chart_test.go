package main

import (
	"math"
	"testing"
)

// scaleResidual is how far, in pixels, a chart's y pixels are from an affine map of the values
// (of their log10 when log): the map through the smallest and the largest value. +Inf when the
// lengths differ or there are fewer than two; 0 when all values are equal.
func scaleResidual(pixels, values []float64, log bool) float64 {
	if len(pixels) != len(values) || len(values) < 2 {
		return math.Inf(1)
	}
	f := func(v float64) float64 { return v }
	if log {
		f = math.Log10
	}
	lo, hi := 0, 0
	for i, v := range values {
		if v < values[lo] {
			lo = i
		}
		if v > values[hi] {
			hi = i
		}
	}
	if values[lo] == values[hi] {
		return 0
	}
	slope := (pixels[hi] - pixels[lo]) / (f(values[hi]) - f(values[lo]))
	worst := 0.0
	for i, v := range values {
		worst = math.Max(worst, math.Abs(pixels[lo]+slope*(f(v)-f(values[lo]))-pixels[i]))
	}
	return worst
}

// TestScaleResidual: pixels drawn on a log scale fit the log map and not the linear one.
func TestScaleResidual(t *testing.T) {
	losses := []float64{14, 7, 2, 1, 0.7}
	pixels := make([]float64, len(losses))
	for i, l := range losses {
		pixels[i] = 228 - 100*math.Log10(l) // 228 px at loss 1, 100 px per decade, up is smaller
	}
	if r := scaleResidual(pixels, losses, true); r > 1e-9 {
		t.Errorf("log map residual %v, want 0", r)
	}
	if r := scaleResidual(pixels, losses, false); r < 20 {
		t.Errorf("linear map residual %v on log pixels, want it large", r)
	}
	if r := scaleResidual(pixels[:2], losses, true); !math.IsInf(r, 1) {
		t.Errorf("mismatched lengths: %v", r)
	}
}
