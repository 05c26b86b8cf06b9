package torch

import (
	"math"
	"strings"
	"testing"
)

// TestLinearCrossEntropy: the chunked one-pass loss and its gradient equal
// CrossEntropy(Linear(h, w), ReduceSum) and its gradient, for chunk sizes that
// do and do not divide the vocabulary, in f32 and bf16; misuse is an error.
func TestLinearCrossEntropy(t *testing.T) {
	r := rng(21)
	const N, H, V = 6, 16, 203
	h0, w0 := randArr(r, N, H), randArr(r, V, H)
	for i := range w0.data {
		w0.data[i] *= 3 // logits spread over several units, so the running max moves between chunks
	}
	targets := []int64{5, IgnoreIndex, 202, 0, 77, 101}
	type res struct {
		loss float64
		grad []float64
	}
	run := func(t *testing.T, dt DType, fused bool, chunk int) res {
		t.Helper()
		s := NewScope()
		defer s.Close()
		h := s.ToDType(t64(s, h0), dt)
		if err := h.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
		w := s.ToDType(t64(s, w0), dt)
		y := s.FromInt64(targets, N)
		var loss *Tensor
		if fused {
			loss = s.LinearCrossEntropy(h, w, y, IgnoreIndex, chunk, true)
		} else {
			loss = s.CrossEntropy(s.Linear(h, w, nil), y, IgnoreIndex, ReduceSum)
		}
		s.Backward(s.MulScalar(loss, 0.5)) // a non-unit upstream gradient
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		lv, err := loss.Item()
		if err != nil {
			t.Fatal(err)
		}
		g, err := s.ToDType(s.Grad(h), Float64).Float64s()
		if err != nil {
			t.Fatal(err)
		}
		return res{lv, g}
	}
	for _, c := range []struct {
		dt  DType
		tol float64
	}{{Float32, 2e-5}, {BFloat16, 2e-2}} {
		want := run(t, c.dt, false, 0)
		for _, chunk := range []int{1, 7, 64, 203, 4096} {
			got := run(t, c.dt, true, chunk)
			if d := math.Abs(got.loss-want.loss) / math.Abs(want.loss); d > c.tol {
				t.Errorf("%v chunk %d: loss %.7g, linear+cross_entropy %.7g (rel %.2g)", c.dt, chunk, got.loss, want.loss, d)
			}
			num, den := 0.0, 0.0
			for i := range want.grad {
				num += (got.grad[i] - want.grad[i]) * (got.grad[i] - want.grad[i])
				den += want.grad[i] * want.grad[i]
			}
			if rel := math.Sqrt(num / den); rel > c.tol {
				t.Errorf("%v chunk %d: gradient rel. L2 %.2g from linear+cross_entropy's", c.dt, chunk, rel)
			}
			if row := got.grad[1*H : 2*H]; maxAbs(row) != 0 {
				t.Errorf("%v chunk %d: the ignored row got gradient %v", c.dt, chunk, row)
			}
		}
	}

	t.Run("errors", func(t *testing.T) {
		for _, c := range []struct {
			name, want string
			f          func(s *Scope, h, w *Tensor) *Tensor
		}{
			{"trainable weight", "frozen", func(s *Scope, h, w *Tensor) *Tensor {
				_ = w.SetRequiresGrad(true)
				return s.LinearCrossEntropy(h, w, s.FromInt64(targets, N), IgnoreIndex, 64, true)
			}},
			{"target outside the vocabulary", "outside the vocabulary", func(s *Scope, h, w *Tensor) *Tensor {
				return s.LinearCrossEntropy(h, w, s.FromInt64([]int64{1, 2, 3, V, 4, 5}, N), IgnoreIndex, 64, true)
			}},
			{"shapes", "[N, H]", func(s *Scope, h, w *Tensor) *Tensor {
				return s.LinearCrossEntropy(s.Transpose(h, 0, 1), w, s.FromInt64(targets, N), IgnoreIndex, 64, true)
			}},
			{"backward without want_grad", "without want_grad", func(s *Scope, h, w *Tensor) *Tensor {
				_ = h.SetRequiresGrad(true)
				l := s.LinearCrossEntropy(h, w, s.FromInt64(targets, N), IgnoreIndex, 64, false)
				s.Backward(l)
				return l
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				c.f(s, s.ToDType(t64(s, h0), Float32), s.ToDType(t64(s, w0), Float32))
				if err := s.Err(); err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one mentioning %q", err, c.want)
				}
			})
		}
	})
}

func maxAbs(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, math.Abs(x))
	}
	return m
}
