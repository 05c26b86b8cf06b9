package torch

import (
	"fmt"
	"math"
	"testing"
)

// gin is one float64 input of a gradient check.
type gin struct {
	a    arr
	grad bool
}

// gradCase builds an output from its inputs; the checked loss is sum(out ⊙ R) for a fixed random R.
type gradCase struct {
	name string
	ins  []gin
	f    func(s *Scope, xs []*Tensor) *Tensor
}

// evalLoss runs the case on data (one slice per input). With grads it back-propagates and returns
// every input's gradient (nil for inputs that must not get one).
func evalLoss(t *testing.T, c gradCase, data [][]float64, proj *[]float64, grads bool) (float64, [][]float64) {
	t.Helper()
	s := NewScope()
	defer s.Close()
	xs := make([]*Tensor, len(c.ins))
	for i, in := range c.ins {
		xs[i] = s.FromFloat64(data[i], i64s(in.a.shape)...)
		if grads && in.grad {
			if err := xs[i].SetRequiresGrad(true); err != nil {
				t.Fatal(err)
			}
		}
	}
	out := c.f(s, xs)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	if out.DType() != Float64 {
		t.Fatalf("output dtype %v: the check needs f64 end to end", out.DType())
	}
	if *proj == nil {
		r := rng(uint64(len(c.name)))
		*proj = make([]float64, out.Numel())
		for i := range *proj {
			(*proj)[i] = r.NormFloat64()
		}
	}
	loss := s.Sum(s.Mul(out, s.FromFloat64(*proj, out.Shape()...)))
	lv, err := loss.Item()
	if err != nil || s.Err() != nil {
		t.Fatalf("loss: %v %v", err, s.Err())
	}
	if !grads {
		return lv, nil
	}
	if !loss.RequiresGrad() {
		t.Fatal("loss does not require grad")
	}
	s.Backward(loss)
	gs := make([][]float64, len(xs))
	for i, x := range xs {
		g := s.Grad(x)
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if !c.ins[i].grad {
			if g != nil {
				t.Fatalf("input %d does not require grad but got a gradient", i)
			}
			continue
		}
		if g == nil {
			t.Fatalf("input %d: no gradient reached it", i)
		}
		if gs[i], err = g.Float64s(); err != nil {
			t.Fatal(err)
		}
	}
	return lv, gs
}

func runGradCase(t *testing.T, c gradCase) {
	data := make([][]float64, len(c.ins))
	for i, in := range c.ins {
		data[i] = append([]float64{}, in.a.data...)
	}
	var proj []float64
	_, grads := evalLoss(t, c, data, &proj, true)
	const h = 1e-6
	for i, in := range c.ins {
		if !in.grad {
			continue
		}
		nonzero := false
		for j := range data[i] {
			orig := data[i][j]
			var lp, lm float64
			if err := NoGrad(func() error {
				data[i][j] = orig + h
				lp, _ = evalLoss(t, c, data, &proj, false)
				data[i][j] = orig - h
				lm, _ = evalLoss(t, c, data, &proj, false)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			data[i][j] = orig
			fd := (lp - lm) / (2 * h)
			if g := grads[i][j]; math.Abs(g-fd) > 1e-6*(1+math.Abs(fd)) {
				t.Fatalf("input %d element %d: autograd %.10g, finite difference %.10g", i, j, g, fd)
			}
			if math.Abs(fd) > 1e-8 {
				nonzero = true
			}
		}
		if !nonzero {
			t.Fatalf("input %d: every gradient is zero, the check proves nothing", i)
		}
	}
}

func TestGradients(t *testing.T) {
	r := rng(11)
	cos, sin := ropeTables(3, 4, 100)
	padMask := newArr(2, 1, 1, 4)
	padMask.data[4] = -1e9 // batch 1, key 0 padded
	cases := []gradCase{
		{"linear with bias", []gin{{randArr(r, 2, 3, 4), true}, {randArr(r, 5, 4), true}, {randArr(r, 5), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.Linear(x[0], x[1], x[2]) }},
		{"linear without bias", []gin{{randArr(r, 3, 4), true}, {randArr(r, 2, 4), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.Linear(x[0], x[1], nil) }},
		{"matmul batched broadcast", []gin{{randArr(r, 2, 1, 3, 4), true}, {randArr(r, 3, 4, 2), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.Matmul(x[0], x[1]) }},
		{"rms_norm", []gin{{randArr(r, 2, 3, 6), true}, {randArr(r, 6), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.RMSNorm(x[0], x[1], 1e-6) }},
		{"rms_norm by hand (pow mean rsqrt)", []gin{{randArr(r, 2, 5), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.Mul(x[0], s.Rsqrt(s.AddScalar(s.MeanKeep(s.Pow(x[0], 2), -1), 1e-6)))
			}},
		{"rope", []gin{{randArr(r, 1, 2, 3, 4), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.RoPE(x[0], t64(s, cos), t64(s, sin)) }},
		{"sdpa causal", []gin{{randArr(r, 1, 2, 4, 3), true}, {randArr(r, 1, 2, 4, 3), true}, {randArr(r, 1, 2, 4, 3), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.SDPA(x[0], x[1], x[2], nil, true, 0.5) }},
		{"sdpa padding mask", []gin{{randArr(r, 2, 1, 4, 3), true}, {randArr(r, 2, 1, 4, 3), true}, {randArr(r, 2, 1, 4, 3), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.SDPA(x[0], x[1], x[2], t64(s, padMask), false, 0.7) }},
		{"silu_mul", []gin{{randArr(r, 2, 5), true}, {randArr(r, 2, 5), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.SiLUMul(x[0], x[1]) }},
		{"cross_entropy mean with ignore_index", []gin{{randArr(r, 4, 5), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.CrossEntropy(x[0], s.FromInt64([]int64{3, IgnoreIndex, 0, 4}, 4), IgnoreIndex, ReduceMean)
			}},
		{"cross_entropy none", []gin{{randArr(r, 3, 4), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.CrossEntropy(x[0], s.FromInt64([]int64{1, 2, IgnoreIndex}, 3), IgnoreIndex, ReduceNone)
			}},
		{"linear_cross_entropy (chunks of 3 over a vocabulary of 7)", []gin{{randArr(r, 4, 5), true}, {randArr(r, 7, 5), false}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.LinearCrossEntropy(x[0], x[1], s.FromInt64([]int64{6, IgnoreIndex, 0, 3}, 4), IgnoreIndex, 3, true)
			}},
		{"embedding", []gin{{randArr(r, 5, 3), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.Embedding(x[0], s.FromInt64([]int64{4, 1, 1, 0, 4, 2}, 2, 3))
			}},
		{"lora_linear: grads reach A and B, not the frozen base", []gin{
			{randArr(r, 2, 6), false}, {randArr(r, 4, 6), false}, {randArr(r, 4), false}, {randArr(r, 3, 6), true}, {randArr(r, 4, 3), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.LoRALinear(x[0], x[1], x[2], x[3], x[4], 1.5, 0, true) }},
		{"lora_linear: input grad", []gin{
			{randArr(r, 2, 6), true}, {randArr(r, 4, 6), false}, {randArr(r, 3, 6), true}, {randArr(r, 4, 3), true}},
			func(s *Scope, x []*Tensor) *Tensor { return s.LoRALinear(x[0], x[1], nil, x[2], x[3], 0.5, 0, true) }},
		{"log_softmax + gather", []gin{{randArr(r, 3, 5), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.Gather(s.LogSoftmax(x[0], -1), 1, s.FromInt64([]int64{4, 0, 2}, 3, 1))
			}},
		{"softmax, narrow, cat, transpose, reshape", []gin{{randArr(r, 2, 3, 4), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				a := s.Softmax(s.Narrow(x[0], 2, 1, 3), 1)
				b := s.Transpose(s.Narrow(x[0], 2, 0, 1), 1, 2)
				return s.Reshape(s.Cat([]*Tensor{s.Reshape(a, 2, 9), s.Reshape(b, 2, 3)}, 1), -1)
			}},
		{"elementwise chain", []gin{{randArr(r, 3, 3), true}, {mapArr(randArr(r, 3, 3), func(v float64) float64 { return math.Abs(v) + 0.5 }), true}},
			func(s *Scope, x []*Tensor) *Tensor {
				return s.Div(s.Add(s.Tanh(x[0]), s.Exp(s.MulScalar(x[0], 0.3))), s.Sqrt(s.Log(s.AddScalar(x[1], 1))))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runGradCase(t, c) })
	}
}

func TestAutogradMechanics(t *testing.T) {
	t.Run("grads accumulate and zero_grad clears them", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		w := s.FromFloat64([]float64{1, 2, 3}, 3)
		if err := w.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
		if s.Grad(w) != nil || s.Err() != nil {
			t.Fatal("gradient before backward")
		}
		for i := 0; i < 2; i++ {
			s.Backward(s.Sum(s.Square(w)))
		}
		check(t, s, s.Grad(w), arr{[]int{3}, []float64{4, 8, 12}}, 0)
		if err := w.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		if g := s.Grad(w); g != nil || s.Err() != nil {
			t.Fatalf("gradient after zero_grad: %v %v", g, s.Err())
		}
	})
	t.Run("backward of a non-scalar fails cleanly", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		w := s.Ones([]int64{3}, Float32, CPU)
		_ = w.SetRequiresGrad(true)
		s.Backward(s.MulScalar(w, 2))
		wantErr(t, s.Err(), "backward", "[3] f32")
	})
	t.Run("backward without grad fails cleanly", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		s.Backward(s.Sum(s.Ones([]int64{3}, Float32, CPU)))
		wantErr(t, s.Err(), "backward")
	})
	t.Run("detach cuts the graph", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		w := s.Ones([]int64{2}, Float64, CPU)
		_ = w.SetRequiresGrad(true)
		d := s.Detach(s.MulScalar(w, 3))
		if d.RequiresGrad() {
			t.Fatal("detached tensor requires grad")
		}
		c := s.Clone(w)
		if !c.RequiresGrad() {
			t.Fatal("clone lost requires_grad")
		}
	})
}

func TestNoGrad(t *testing.T) {
	s := NewScope()
	defer s.Close()
	w := s.Ones([]int64{2, 2}, Float32, CPU)
	if err := w.SetRequiresGrad(true); err != nil {
		t.Fatal(err)
	}
	var inside []*Tensor
	err := NoGrad(func() error {
		inside = append(inside, s.MulScalar(w, 2), s.Matmul(w, w), s.Linear(w, w, nil), s.Softmax(w, -1), s.Clone(w))
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range inside {
		if x.RequiresGrad() {
			t.Errorf("op %d inside NoGrad requires grad", i)
		}
	}
	if !w.RequiresGrad() {
		t.Fatal("the leaf lost requires_grad")
	}
	// Grad mode is back on afterwards.
	if y := s.MulScalar(w, 2); !y.RequiresGrad() {
		t.Fatal("op after NoGrad does not require grad")
	}
	// NoGrad returns f's error, and nests.
	want := fmt.Errorf("boom")
	if got := NoGrad(func() error { return NoGrad(func() error { return want }) }); got != want {
		t.Fatalf("NoGrad returned %v", got)
	}
	if y := s.MulScalar(w, 2); !y.RequiresGrad() {
		t.Fatal("nested NoGrad left grad mode off")
	}
}
