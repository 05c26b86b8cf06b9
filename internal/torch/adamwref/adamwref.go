// Package adamwref is AdamW's formula in float64 — decoupled weight decay, bias-corrected moments,
// as torch.optim.AdamW defines it — the reference that the engine's optimizer is checked against
// (internal/torch's tests and `sentitune selftest`).
package adamwref

import "math"

// Param is one parameter's values and its optimizer state.
type Param struct {
	P, M, V []float64
	Step    int
}

// Update takes one AdamW step with gradient g.
func (a *Param) Update(g []float64, lr, wd, b1, b2, eps float64) {
	a.Step++
	if a.M == nil {
		a.M, a.V = make([]float64, len(a.P)), make([]float64, len(a.P))
	}
	bc1 := 1 - math.Pow(b1, float64(a.Step))
	bc2 := 1 - math.Pow(b2, float64(a.Step))
	for i := range a.P {
		a.P[i] *= 1 - lr*wd
		a.M[i] = b1*a.M[i] + (1-b1)*g[i]
		a.V[i] = b2*a.V[i] + (1-b2)*g[i]*g[i]
		a.P[i] -= lr / bc1 * a.M[i] / (math.Sqrt(a.V[i])/math.Sqrt(bc2) + eps)
	}
}
