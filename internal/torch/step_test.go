package torch

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// countOps runs f with the ATen counter on and returns what it counted.
func countOps(t *testing.T, f func()) ATenCounts {
	t.Helper()
	before, err := ReadATenCounts()
	if err != nil {
		t.Fatal(err)
	}
	if err := CountATen(true); err != nil {
		t.Fatal(err)
	}
	f()
	if err := CountATen(false); err != nil {
		t.Fatal(err)
	}
	after, err := ReadATenCounts()
	if err != nil {
		t.Fatal(err)
	}
	return after.Sub(before)
}

// stepParams makes n f32 parameters of LoRA-like shapes with gradients.
func stepParams(t *testing.T, s *Scope, n int) []*Tensor {
	t.Helper()
	r := rng(21)
	ps := make([]*Tensor, n)
	var loss *Tensor
	for i := range ps {
		ps[i] = t32(s, randArr(r, 4, 3+i%5))
		if err := ps[i].SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
		term := s.Sum(s.Square(ps[i]))
		if loss == nil {
			loss = term
		} else {
			loss = s.Add(loss, term)
		}
	}
	s.Backward(loss)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestStepIsMultiTensor: clipping and the AdamW update are multi-tensor ops over all parameters —
// their kernel launches do not grow with the parameter count (up to multi_tensor_apply's 36-tensor
// chunks) — and neither reads anything back to the host.
func TestStepIsMultiTensor(t *testing.T) {
	launches := map[string][]int64{}
	for _, n := range []int{4, 36} {
		s := NewScope()
		ps := stepParams(t, s, n)
		opt, err := NewAdamW([]ParamGroup{{Params: ps, LR: 1e-2, WeightDecay: 0.1}}, 0.9, 0.999, 1e-8)
		if err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil { // the first step also creates the moments
			t.Fatal(err)
		}
		var norm *Tensor
		clip := countOps(t, func() { norm, err = ClipGradNormTensor(s, ps, 0.5) })
		if err != nil {
			t.Fatal(err)
		}
		step := countOps(t, func() { err = opt.Step() })
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]ATenCounts{"clip": clip, "adamw": step} {
			if c.HostReads != 0 {
				t.Errorf("%d params: %s read the host %d times, want 0", n, name, c.HostReads)
			}
			launches[name] = append(launches[name], c.Launches)
		}
		if v, err := norm.Item(); err != nil || !(v > 0.5) {
			t.Errorf("%d params: norm %v, %v; want the norm before clipping (> 0.5)", n, v, err)
		}
		opt.Close()
		s.Close()
	}
	for name, l := range launches {
		if l[1] != l[0] || l[0] > 12 {
			t.Errorf("%s launches with 4 and 36 parameters: %v; want equal and at most 12", name, l)
		}
	}
}

// TestClipGradNormTensor: the norm stays on the device, equals the host ClipGradNorm's, and the
// gradients come out scaled the same way.
func TestClipGradNormTensor(t *testing.T) {
	for _, maxNorm := range []float64{0.3, 1e6, math.Inf(1)} {
		t.Run(fmt.Sprint(maxNorm), func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			a, b := stepParams(t, s, 5), stepParams(t, s, 5)
			want, err := ClipGradNorm(a, maxNorm)
			if err != nil {
				t.Fatal(err)
			}
			norm, err := ClipGradNormTensor(s, b, maxNorm)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := norm.Item(); err != nil || got != want {
				t.Fatalf("norm %v, %v; want %v", got, err, want)
			}
			for i := range a {
				ga, _ := s.Grad(a[i]).Float32s()
				gb, _ := s.Grad(b[i]).Float32s()
				for j := range ga {
					if ga[j] != gb[j] {
						t.Fatalf("param %d grad %d: %v vs %v", i, j, ga[j], gb[j])
					}
				}
			}
		})
	}
}

// TestLoRALinearOneNode: the LoRA layer is one autograd node whose gradients equal the composite
// graph's (base linear + scaling·(dropout(x)·Aᵀ)·Bᵀ from separate ops), with and without dropout.
func TestLoRALinearOneNode(t *testing.T) {
	r := rng(22)
	x, w, b := randArr(r, 2, 3, 8), randArr(r, 6, 8), randArr(r, 6)
	A, B, up := randArr(r, 4, 8), randArr(r, 6, 4), randArr(r, 2, 3, 6)
	const scaling = 0.75
	for _, p := range []float64{0, 0.3} {
		t.Run(fmt.Sprintf("dropout %v", p), func(t *testing.T) {
			type result struct {
				y, gx, ga, gb []float32
				nodes         int64
			}
			run := func(fused bool) result {
				s := NewScope()
				defer s.Close()
				xt, at, bt := t32(s, x), t32(s, A), t32(s, B)
				for _, v := range []*Tensor{xt, at, bt} {
					_ = v.SetRequiresGrad(true)
				}
				if err := ManualSeed(7); err != nil {
					t.Fatal(err)
				}
				var y *Tensor
				c := countOps(t, func() {
					if fused {
						y = s.LoRALinear(xt, t32(s, w), t32(s, b), at, bt, scaling, p, true)
					} else {
						h := s.Dropout(xt, p, p > 0)
						y = s.Add(s.Linear(xt, t32(s, w), t32(s, b)), s.MulScalar(s.Linear(s.Linear(h, at, nil), bt, nil), scaling))
					}
					s.Backward(s.Sum(s.Mul(y, t32(s, up))))
				})
				var res result
				res.nodes = c.AutogradNodes
				var err error
				if res.y, err = y.Float32s(); err == nil {
					if res.gx, err = s.Grad(xt).Float32s(); err == nil {
						if res.ga, err = s.Grad(at).Float32s(); err == nil {
							res.gb, err = s.Grad(bt).Float32s()
						}
					}
				}
				if err != nil || s.Err() != nil {
					t.Fatal(err, s.Err())
				}
				return res
			}
			got, want := run(true), run(false)
			for _, c := range []struct {
				name      string
				got, want []float32
			}{{"output", got.y, want.y}, {"x grad", got.gx, want.gx}, {"A grad", got.ga, want.ga}, {"B grad", got.gb, want.gb}} {
				for i := range c.want {
					if d := math.Abs(float64(c.got[i] - c.want[i])); d > 1e-6*math.Max(1, math.Abs(float64(c.want[i]))) {
						t.Fatalf("%s[%d]: %v, composite %v", c.name, i, c.got[i], c.want[i])
					}
				}
			}
			// The LoRA node, the loss's sum and mul, and x's, A's and B's AccumulateGrad.
			if got.nodes != 6 || got.nodes >= want.nodes {
				t.Errorf("autograd nodes %d (composite graph %d), want 6", got.nodes, want.nodes)
			}
		})
	}
}

// TestFusedNodes: RMSNorm, RoPE, SiLUMul and (on libtorch < 2.1) SDPA are one autograd node each, with
// the composite graph's outputs and input gradients.
func TestFusedNodes(t *testing.T) {
	r := rng(23)
	x, w, up, kv := randArr(r, 2, 3, 4, 8), randArr(r, 8), randArr(r, 2, 3, 4, 8), randArr(r, 2, 3, 4, 8)
	cos, sin := ropeTables(4, 8, 100)
	table := func(s *Scope, a arr) *Tensor { return s.Reshape(s.ToDType(t64(s, a), Float32), 1, 1, 4, 8) } // as the decoder's
	cases := []struct {
		name             string
		fused, composite func(s *Scope, x *Tensor) *Tensor
	}{
		{"rms_norm", func(s *Scope, x *Tensor) *Tensor { return s.RMSNorm(x, t32(s, w), 1e-6) },
			func(s *Scope, x *Tensor) *Tensor {
				return s.Mul(t32(s, w), s.Mul(x, s.Rsqrt(s.AddScalar(s.MeanKeep(s.Pow(x, 2), -1), 1e-6))))
			}},
		{"rope", func(s *Scope, x *Tensor) *Tensor {
			return s.RoPE(x, table(s, cos), table(s, sin))
		}, func(s *Scope, x *Tensor) *Tensor {
			rot := s.Cat([]*Tensor{s.Neg(s.Narrow(x, -1, 4, 4)), s.Narrow(x, -1, 0, 4)}, -1)
			return s.Add(s.Mul(x, table(s, cos)), s.Mul(rot, table(s, sin)))
		}},
		{"silu_mul", func(s *Scope, x *Tensor) *Tensor { return s.SiLUMul(x, t32(s, up)) },
			func(s *Scope, x *Tensor) *Tensor { return s.Mul(s.SiLU(x), t32(s, up)) }},
		{"sdpa causal", func(s *Scope, x *Tensor) *Tensor { return s.SDPA(x, t32(s, up), t32(s, kv), nil, true, 0.5) },
			func(s *Scope, x *Tensor) *Tensor {
				scores := s.MulScalar(s.Matmul(x, s.Transpose(t32(s, up), -2, -1)), 0.5)
				hide := make([]bool, 16)
				for i := range 4 {
					for j := i + 1; j < 4; j++ {
						hide[4*i+j] = true
					}
				}
				return s.Matmul(s.Softmax(s.MaskedFill(scores, s.FromBool(hide, 4, 4), -1e9), -1), t32(s, kv))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := func(f func(s *Scope, x *Tensor) *Tensor) (y, gx []float32, nodes int64) {
				s := NewScope()
				defer s.Close()
				xt := t32(s, x)
				_ = xt.SetRequiresGrad(true)
				var out *Tensor
				n := countOps(t, func() {
					out = f(s, xt)
					s.Backward(s.Sum(out))
				}).AutogradNodes
				y, err := out.Float32s()
				if err == nil {
					gx, err = s.Grad(xt).Float32s()
				}
				if err != nil || s.Err() != nil {
					t.Fatal(err, s.Err())
				}
				return y, gx, n
			}
			y, gx, nodes := run(c.fused)
			wy, wgx, wnodes := run(c.composite)
			for i := range wy {
				if d := math.Abs(float64(y[i] - wy[i])); d > 1e-6*math.Max(1, math.Abs(float64(wy[i]))) {
					t.Fatalf("output %d: %v, composite %v", i, y[i], wy[i])
				}
			}
			for i := range wgx {
				if d := math.Abs(float64(gx[i] - wgx[i])); d > 1e-6*math.Max(1, math.Abs(float64(wgx[i]))) {
					t.Fatalf("x grad %d: %v, composite %v", i, gx[i], wgx[i])
				}
			}
			if v, _ := Version(); c.name == "sdpa causal" && !strings.HasPrefix(v, "1.") && !strings.HasPrefix(v, "2.0.") {
				return // libtorch's own SDPA: its node count is libtorch's
			}
			if nodes != 3 { // the op's node, the sum's, x's AccumulateGrad
				t.Errorf("autograd nodes %d (composite %d), want 3", nodes, wnodes)
			}
		})
	}
}
