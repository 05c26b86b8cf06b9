package selftest

import (
	"math"
	"testing"

	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/internal/torch/adamwref"
)

// TestRunCPU: every check runs on the CPU and passes with errors well under its limit.
func TestRunCPU(t *testing.T) {
	r, err := Run(torch.CPU)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Checks) != 5 || r.Device != "cpu" || r.Libtorch == "" {
		t.Fatalf("report %+v", r)
	}
	for _, c := range r.Checks {
		t.Logf("%-60s pass=%v err=%.2g %s", c.Name, c.Pass, c.MaxErr, c.Detail)
		if !c.Pass {
			t.Errorf("%s failed: %s (error %.3g, limit %.1g)", c.Name, c.Detail, c.MaxErr, c.Limit)
		}
		if c.Limit > 0 && !(c.MaxErr < c.Limit/5) {
			t.Errorf("%s: error %.3g is not well under its limit %.1g on the CPU", c.Name, c.MaxErr, c.Limit)
		}
	}
	if !r.Passed() {
		t.Error("Passed() is false")
	}
}

// TestAdamRefAndRelErr: the float64 AdamW reference takes the first step of
// size lr·sign(g) (bias correction), decays weights, and relErr catches NaN.
func TestAdamRefAndRelErr(t *testing.T) {
	a := &adamwref.Param{P: []float64{1, -2}}
	a.Update([]float64{0.5, -3}, 0.1, 0, 0.9, 0.999, 1e-12)
	if relErr(a.P, []float64{0.9, -1.9}) > 1e-9 {
		t.Errorf("first AdamW step %v, want [0.9 -1.9]", a.P)
	}
	b := &adamwref.Param{P: []float64{1}}
	b.Update([]float64{0}, 0.1, 0.5, 0.9, 0.999, 1e-8)
	if math.Abs(b.P[0]-0.95) > 1e-12 {
		t.Errorf("decay only: %v, want 0.95", b.P[0])
	}
	if !math.IsInf(relErr([]float64{math.NaN()}, []float64{1}), 1) {
		t.Error("relErr of NaN is not +Inf")
	}
	if e := relErr([]float64{1.5, 2}, []float64{1, 2}); math.Abs(e-0.25) > 1e-12 {
		t.Errorf("relErr %v, want 0.25 (0.5 over a scale of 2)", e)
	}
}
