package torch

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestUnary(t *testing.T) {
	pos := func(x float64) float64 { return math.Abs(x) + 0.1 }
	cases := []struct {
		name   string
		op     func(s *Scope, a *Tensor) *Tensor
		ref    func(float64) float64
		domain func(float64) float64
	}{
		{"neg", (*Scope).Neg, func(x float64) float64 { return -x }, nil},
		{"exp", (*Scope).Exp, math.Exp, nil},
		{"log", (*Scope).Log, math.Log, pos},
		{"sqrt", (*Scope).Sqrt, math.Sqrt, pos},
		{"rsqrt", (*Scope).Rsqrt, func(x float64) float64 { return 1 / math.Sqrt(x) }, pos},
		{"sigmoid", (*Scope).Sigmoid, sigmoid, nil},
		{"silu", (*Scope).SiLU, func(x float64) float64 { return x * sigmoid(x) }, nil},
		{"tanh", (*Scope).Tanh, math.Tanh, nil},
		{"relu", (*Scope).ReLU, func(x float64) float64 { return math.Max(x, 0) }, nil},
		{"abs", (*Scope).Abs, math.Abs, nil},
		{"sin", (*Scope).Sin, math.Sin, nil},
		{"cos", (*Scope).Cos, math.Cos, nil},
		{"square", (*Scope).Square, func(x float64) float64 { return x * x }, nil},
		{"pow 3", func(s *Scope, a *Tensor) *Tensor { return s.Pow(a, 3) }, func(x float64) float64 { return x * x * x }, nil},
		{"pow -0.5", func(s *Scope, a *Tensor) *Tensor { return s.Pow(a, -0.5) }, func(x float64) float64 { return math.Pow(x, -0.5) }, pos},
		{"pow 2", func(s *Scope, a *Tensor) *Tensor { return s.Pow(a, 2) }, func(x float64) float64 { return x * x }, nil},
		{"mul_scalar", func(s *Scope, a *Tensor) *Tensor { return s.MulScalar(a, -2.5) }, func(x float64) float64 { return -2.5 * x }, nil},
		{"add_scalar", func(s *Scope, a *Tensor) *Tensor { return s.AddScalar(a, 0.75) }, func(x float64) float64 { return x + 0.75 }, nil},
		{"affine", func(s *Scope, a *Tensor) *Tensor { return s.Affine(a, 3, -1) }, func(x float64) float64 { return 3*x - 1 }, nil},
		{"affine identity", func(s *Scope, a *Tensor) *Tensor { return s.Affine(a, 1, 0) }, func(x float64) float64 { return x }, nil},
	}
	r := rng(1)
	in := randArr(r, 2, 3, 5)
	for _, c := range cases {
		for _, dt := range []DType{Float32, Float64} {
			t.Run(c.name+"/"+dt.String(), func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				x := in
				if c.domain != nil {
					x = mapArr(in, c.domain)
				}
				a := s.ToDType(t64(s, x), dt)
				y := c.op(s, a)
				if y.DType() != dt {
					t.Fatalf("dtype %v, want %v", y.DType(), dt)
				}
				tol := 1e-12
				if dt == Float32 {
					tol = 2e-6
				}
				check(t, s, y, mapArr(x, c.ref), tol)
			})
		}
	}
}

func TestBinary(t *testing.T) {
	r := rng(2)
	a := randArr(r, 2, 3, 4)
	b := randArr(r, 3, 1)
	bPos := mapArr(b, func(x float64) float64 { return math.Copysign(math.Abs(x)+0.5, x) })
	cases := []struct {
		name string
		op   func(s *Scope, a, b *Tensor) *Tensor
		b    arr
		ref  func(x, y float64) float64
	}{
		{"add", (*Scope).Add, b, func(x, y float64) float64 { return x + y }},
		{"sub", (*Scope).Sub, b, func(x, y float64) float64 { return x - y }},
		{"mul", (*Scope).Mul, b, func(x, y float64) float64 { return x * y }},
		{"div", (*Scope).Div, bPos, func(x, y float64) float64 { return x / y }},
		{"maximum", (*Scope).Maximum, b, math.Max},
		{"minimum", (*Scope).Minimum, b, math.Min},
		{"add_scaled", func(s *Scope, a, b *Tensor) *Tensor { return s.AddScaled(a, b, -0.3) }, b, func(x, y float64) float64 { return x - 0.3*y }},
		{"same shape add", (*Scope).Add, randArr(r, 2, 3, 4), func(x, y float64) float64 { return x + y }},
		{"leading broadcast mul", (*Scope).Mul, randArr(r, 2, 1, 1), func(x, y float64) float64 { return x * y }},
	}
	for _, c := range cases {
		for _, dt := range []DType{Float32, Float64} {
			t.Run(c.name+"/"+dt.String(), func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				y := c.op(s, s.ToDType(t64(s, a), dt), s.ToDType(t64(s, c.b), dt))
				tol := 1e-12
				if dt == Float32 {
					tol = 1e-6
				}
				check(t, s, y, zip(a, c.b, c.ref), tol)
			})
		}
	}
}

func TestCompare(t *testing.T) {
	a := arr{[]int{2, 3}, []float64{-1, 0, 1, 1, 0, -1}}
	b := arr{[]int{3}, []float64{0, 0, 1}}
	b2f := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	cases := []struct {
		name string
		op   func(s *Scope, a, b *Tensor) *Tensor
		ref  func(x, y float64) float64
	}{
		{"eq", (*Scope).Eq, func(x, y float64) float64 { return b2f(x == y) }},
		{"lt", (*Scope).Lt, func(x, y float64) float64 { return b2f(x < y) }},
		{"gt", (*Scope).Gt, func(x, y float64) float64 { return b2f(x > y) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			y := c.op(s, t32(s, a), t32(s, b))
			if y.DType() != Bool {
				t.Fatalf("dtype %v, want bool", y.DType())
			}
			check(t, s, y, zip(a, b, c.ref), 0)
		})
	}
}

func TestMatmulLinear(t *testing.T) {
	r := rng(3)
	mm := []struct{ a, b []int }{
		{[]int{3, 4}, []int{4, 5}},
		{[]int{2, 3, 4}, []int{4, 5}},
		{[]int{2, 3, 4}, []int{2, 4, 5}},
		{[]int{2, 1, 3, 4}, []int{3, 4, 2}},
		{[]int{1, 3, 4}, []int{2, 1, 4, 6}},
	}
	for _, c := range mm {
		for _, dt := range []DType{Float32, Float64, BFloat16} {
			t.Run(fmt.Sprintf("matmul %v x %v/%v", c.a, c.b, dt), func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				a, b := randArr(r, c.a...), randArr(r, c.b...)
				tol := 1e-12
				switch dt {
				case Float32:
					tol = 1e-5
				case BFloat16: // inputs exact in bf16, output rounded to bf16
					a, b = mapArr(a, bf16Round), mapArr(b, bf16Round)
					tol = 3e-2 // absolute for small sums with cancellation (bf16 has 8 significant bits)
				}
				check(t, s, s.Matmul(s.ToDType(t64(s, a), dt), s.ToDType(t64(s, b), dt)), matmulRef(a, b), tol)
			})
		}
	}
	for _, bias := range []bool{false, true} {
		for _, xs := range [][]int{{4}, {3, 4}, {2, 3, 4}} {
			t.Run(fmt.Sprintf("linear x%v bias=%v", xs, bias), func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				x, w, b := randArr(r, xs...), randArr(r, 5, 4), randArr(r, 5)
				var bt *Tensor
				var bp *arr
				if bias {
					bt, bp = t32(s, b), &b
				}
				var want arr
				if len(xs) == 1 {
					x2 := arr{[]int{1, 4}, x.data}
					want = linearRef(x2, w, bp)
					want.shape = []int{5}
				} else {
					want = linearRef(x, w, bp)
				}
				check(t, s, s.Linear(t32(s, x), t32(s, w), bt), want, 1e-5)
			})
		}
	}
}

func TestSoftmax(t *testing.T) {
	r := rng(4)
	a := mapArr(randArr(r, 2, 3, 5), func(x float64) float64 { return 4 * x })
	for _, log := range []bool{false, true} {
		for _, dim := range []int{-1, 0, 1} {
			for _, dt := range []DType{Float32, Float64} {
				t.Run(fmt.Sprintf("log=%v dim=%d %v", log, dim, dt), func(t *testing.T) {
					s := NewScope()
					defer s.Close()
					x := s.ToDType(t64(s, a), dt)
					var y *Tensor
					if log {
						y = s.LogSoftmax(x, int64(dim))
					} else {
						y = s.Softmax(x, int64(dim))
					}
					d := dim
					if d < 0 {
						d += 3
					}
					tol := 1e-12
					if dt == Float32 {
						tol = 2e-6
					}
					check(t, s, y, softmaxRef(a, d, log), tol)
				})
			}
		}
	}
	t.Run("large logits stay finite", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.FromFloat32([]float32{1000, 0, -1000}, 3)
		check(t, s, s.LogSoftmax(x, 0), arr{[]int{3}, []float64{0, -1000, -2000}}, 1e-6)
	})
}

func TestReductions(t *testing.T) {
	r := rng(5)
	a := randArr(r, 2, 3, 4)
	sum := func(acc, v float64) float64 { return acc + v }
	id := func(acc float64, _ int) float64 { return acc }
	mean := func(acc float64, n int) float64 { return acc / float64(n) }
	cases := []struct {
		name string
		op   func(s *Scope, x *Tensor) *Tensor
		want arr
	}{
		{"sum all", func(s *Scope, x *Tensor) *Tensor { return s.Sum(x) }, reduceRef(a, nil, false, 0, sum, id)},
		{"sum dim 1", func(s *Scope, x *Tensor) *Tensor { return s.Sum(x, 1) }, reduceRef(a, []int{1}, false, 0, sum, id)},
		{"sum dims 0,2", func(s *Scope, x *Tensor) *Tensor { return s.Sum(x, 0, 2) }, reduceRef(a, []int{0, 2}, false, 0, sum, id)},
		{"sum_keep -1", func(s *Scope, x *Tensor) *Tensor { return s.SumKeep(x, -1) }, reduceRef(a, []int{-1}, true, 0, sum, id)},
		{"mean all", func(s *Scope, x *Tensor) *Tensor { return s.Mean(x) }, reduceRef(a, nil, false, 0, sum, mean)},
		{"mean dim 2", func(s *Scope, x *Tensor) *Tensor { return s.Mean(x, 2) }, reduceRef(a, []int{2}, false, 0, sum, mean)},
		{"mean_keep 0,1", func(s *Scope, x *Tensor) *Tensor { return s.MeanKeep(x, 0, 1) }, reduceRef(a, []int{0, 1}, true, 0, sum, mean)},
		{"amax dim 1", func(s *Scope, x *Tensor) *Tensor { return s.Amax(x, false, 1) }, reduceRef(a, []int{1}, false, math.Inf(-1), math.Max, id)},
		{"amax keep -1", func(s *Scope, x *Tensor) *Tensor { return s.Amax(x, true, -1) }, reduceRef(a, []int{-1}, true, math.Inf(-1), math.Max, id)},
		{"amin dim 0", func(s *Scope, x *Tensor) *Tensor { return s.Amin(x, false, 0) }, reduceRef(a, []int{0}, false, math.Inf(1), math.Min, id)},
		{"amin all dims keep", func(s *Scope, x *Tensor) *Tensor { return s.Amin(x, true, 0, 1, 2) }, reduceRef(a, []int{0, 1, 2}, true, math.Inf(1), math.Min, id)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			check(t, s, c.op(s, t64(s, a)), c.want, 1e-12)
		})
	}
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("argmax keep=%v", keep), func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			y := s.Argmax(t64(s, a), 2, keep)
			if y.DType() != Int64 {
				t.Fatalf("argmax dtype %v", y.DType())
			}
			want := newArr(2, 3)
			lanes(a.shape, 2, func(offs []int) {
				best := 0
				for k, o := range offs {
					if a.data[o] > a.data[offs[best]] {
						best = k
					}
				}
				want.data[offs[0]/4] = float64(best)
			})
			if keep {
				want.shape = []int{2, 3, 1}
			}
			check(t, s, y, want, 0)
		})
	}
}

func TestShapeOps(t *testing.T) {
	r := rng(6)
	a := randArr(r, 2, 3, 4)
	b := randArr(r, 2, 3, 4)
	c5 := randArr(r, 2, 1, 4)
	cases := []struct {
		name string
		op   func(s *Scope, x, y, z *Tensor) *Tensor
		want func() arr
	}{
		{"reshape", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Reshape(x, 6, -1) }, func() arr { return arr{[]int{6, 4}, a.data} }},
		{"transpose 0,2", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Contiguous(s.Transpose(x, 0, 2)) }, func() arr { return transposeRef(a, 0, 2) }},
		{"transpose -1,-2", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Transpose(x, -1, -2) }, func() arr { return transposeRef(a, 2, 1) }},
		{"permute 2,0,1", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Permute(x, 2, 0, 1) }, func() arr { return permuteRef(a, []int{2, 0, 1}) }},
		{"reshape of permute", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Reshape(s.Permute(x, 1, 0, 2), 3, 8) }, func() arr {
			p := permuteRef(a, []int{1, 0, 2})
			return arr{[]int{3, 8}, p.data}
		}},
		{"narrow dim 2", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Narrow(x, 2, 1, 2) }, func() arr {
			out := newArr(2, 3, 2)
			each(out.shape, func(i []int, f int) { out.data[f] = a.at(i[0], i[1], i[2]+1) })
			return out
		}},
		{"narrow dim -2", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Narrow(x, -2, 2, 1) }, func() arr {
			out := newArr(2, 1, 4)
			each(out.shape, func(i []int, f int) { out.data[f] = a.at(i[0], 2, i[2]) })
			return out
		}},
		{"cat dim 1", func(s *Scope, x, y, z *Tensor) *Tensor { return s.Cat([]*Tensor{x, z, y}, 1) }, func() arr {
			out := newArr(2, 7, 4)
			each(out.shape, func(i []int, f int) {
				switch {
				case i[1] < 3:
					out.data[f] = a.at(i[0], i[1], i[2])
				case i[1] == 3:
					out.data[f] = c5.at(i[0], 0, i[2])
				default:
					out.data[f] = b.at(i[0], i[1]-4, i[2])
				}
			})
			return out
		}},
		{"cat dim -1", func(s *Scope, x, y, _ *Tensor) *Tensor { return s.Cat([]*Tensor{x, y}, -1) }, func() arr {
			out := newArr(2, 3, 8)
			each(out.shape, func(i []int, f int) {
				if i[2] < 4 {
					out.data[f] = a.at(i[0], i[1], i[2])
				} else {
					out.data[f] = b.at(i[0], i[1], i[2]-4)
				}
			})
			return out
		}},
		{"stack dim 0", func(s *Scope, x, y, _ *Tensor) *Tensor { return s.Stack([]*Tensor{x, y}, 0) }, func() arr {
			return arr{[]int{2, 2, 3, 4}, append(append([]float64{}, a.data...), b.data...)}
		}},
		{"stack dim 3", func(s *Scope, x, y, _ *Tensor) *Tensor { return s.Stack([]*Tensor{x, y}, 3) }, func() arr {
			out := newArr(2, 3, 4, 2)
			each(out.shape, func(i []int, f int) {
				src := a
				if i[3] == 1 {
					src = b
				}
				out.data[f] = src.at(i[0], i[1], i[2])
			})
			return out
		}},
		{"unsqueeze 1", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Unsqueeze(x, 1) }, func() arr { return arr{[]int{2, 1, 3, 4}, a.data} }},
		{"squeeze 1", func(s *Scope, _, _, z *Tensor) *Tensor { return s.Squeeze(z, 1) }, func() arr { return arr{[]int{2, 4}, c5.data} }},
		{"squeeze non-1 keeps", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Squeeze(x, 0) }, func() arr { return a }},
		{"expand", func(s *Scope, _, _, z *Tensor) *Tensor { return s.Expand(z, 2, 3, -1) }, func() arr {
			out := newArr(2, 3, 4)
			each(out.shape, func(i []int, f int) { out.data[f] = c5.at(i[0], 0, i[2]) })
			return out
		}},
		{"expand new leading dim", func(s *Scope, _, _, z *Tensor) *Tensor { return s.Contiguous(s.Expand(z, 3, 2, 2, 4)) }, func() arr {
			out := newArr(3, 2, 2, 4)
			each(out.shape, func(i []int, f int) { out.data[f] = c5.at(i[1], 0, i[3]) })
			return out
		}},
		{"clone", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Clone(x) }, func() arr { return a }},
		{"detach", func(s *Scope, x, _, _ *Tensor) *Tensor { return s.Detach(x) }, func() arr { return a }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			check(t, s, c.op(s, t64(s, a), t64(s, b), t64(s, c5)), c.want(), 0)
		})
	}
}

func TestIndexOps(t *testing.T) {
	r := rng(7)
	a := randArr(r, 3, 4)
	t.Run("index_select dim 0", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		idx := []int64{2, 0, 2}
		want := newArr(3, 4)
		each(want.shape, func(i []int, f int) { want.data[f] = a.at(int(idx[i[0]]), i[1]) })
		check(t, s, s.IndexSelect(t64(s, a), 0, s.FromInt64(idx, 3)), want, 0)
	})
	t.Run("index_select dim 1", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		idx := []int64{3, 1}
		want := newArr(3, 2)
		each(want.shape, func(i []int, f int) { want.data[f] = a.at(i[0], int(idx[i[1]])) })
		check(t, s, s.IndexSelect(t64(s, a), 1, s.FromInt64(idx, 2)), want, 0)
	})
	t.Run("gather dim 1", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		idx := []int64{0, 3, 1, 1, 2, 0}
		want := newArr(3, 2)
		each(want.shape, func(i []int, f int) { want.data[f] = a.at(i[0], int(idx[f])) })
		check(t, s, s.Gather(t64(s, a), 1, s.FromInt64(idx, 3, 2)), want, 0)
	})
	t.Run("gather dim 0", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		idx := []int64{2, 1, 0, 2}
		want := newArr(1, 4)
		each(want.shape, func(i []int, f int) { want.data[f] = a.at(int(idx[i[1]]), i[1]) })
		check(t, s, s.Gather(t64(s, a), 0, s.FromInt64(idx, 1, 4)), want, 0)
	})
	t.Run("masked_fill broadcast", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		mask := []bool{true, false, false, true}
		want := newArr(3, 4)
		each(want.shape, func(i []int, f int) {
			want.data[f] = a.data[f]
			if mask[i[1]] {
				want.data[f] = -7.5
			}
		})
		check(t, s, s.MaskedFill(t64(s, a), s.FromBool(mask, 4), -7.5), want, 0)
	})
	t.Run("where", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		b := randArr(r, 3, 1)
		cond := make([]bool, 12)
		for i := range cond {
			cond[i] = a.data[i] > 0
		}
		want := newArr(3, 4)
		each(want.shape, func(i []int, f int) {
			if cond[f] {
				want.data[f] = a.data[f]
			} else {
				want.data[f] = b.at(i[0], 0)
			}
		})
		check(t, s, s.Where(s.FromBool(cond, 3, 4), t64(s, a), t64(s, b)), want, 0)
	})
	t.Run("where from comparison", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := t64(s, a)
		zero := s.Zeros([]int64{1}, Float64, CPU)
		check(t, s, s.Where(s.Gt(x, zero), x, zero), mapArr(a, func(v float64) float64 { return math.Max(v, 0) }), 0)
	})
}

func TestCreation(t *testing.T) {
	t.Run("full zeros ones", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		for _, c := range []struct {
			x    *Tensor
			v    float64
			dt   DType
			name string
		}{
			{s.Full([]int64{2, 3}, 2.5, Float32, CPU), 2.5, Float32, "full"},
			{s.Zeros([]int64{4}, Int64, CPU), 0, Int64, "zeros"},
			{s.Ones([]int64{1, 2, 2}, BFloat16, CPU), 1, BFloat16, "ones"},
			{s.Full(nil, -3, Float64, CPU), -3, Float64, "scalar full"},
		} {
			v := vals(t, s, c.x, func() []int {
				var sh []int
				for _, d := range c.x.Shape() {
					sh = append(sh, int(d))
				}
				return sh
			}())
			if c.x.DType() != c.dt {
				t.Errorf("%s: dtype %v want %v", c.name, c.x.DType(), c.dt)
			}
			for _, x := range v {
				if x != c.v {
					t.Errorf("%s: value %v want %v", c.name, x, c.v)
				}
			}
		}
		if n := s.Full(nil, 1, Float32, CPU).Numel(); n != 1 {
			t.Errorf("scalar numel %d", n)
		}
	})
	t.Run("arange", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.Arange(3, 8, Int64, CPU)
		got, err := x.Int64s()
		if err != nil || !slices.Equal(got, []int64{3, 4, 5, 6, 7}) || x.DType() != Int64 {
			t.Fatalf("arange: %v %v %v", got, err, x.DType())
		}
		check(t, s, s.Arange(-2, 1, Float32, CPU), arr{[]int{3}, []float64{-2, -1, 0}}, 0)
	})
	t.Run("randn and manual_seed", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		draw := func(seed uint64) []float64 {
			if err := ManualSeed(seed); err != nil {
				t.Fatal(err)
			}
			return vals(t, s, s.Randn([]int64{100, 100}, Float32, CPU), []int{100, 100})
		}
		a, b, c := draw(7), draw(7), draw(8)
		if !slices.Equal(a, b) {
			t.Fatal("same seed gave different draws")
		}
		if slices.Equal(a, c) {
			t.Fatal("different seeds gave the same draws")
		}
		m, v := 0.0, 0.0
		for _, x := range a {
			m += x
		}
		m /= float64(len(a))
		for _, x := range a {
			v += (x - m) * (x - m)
		}
		v /= float64(len(a))
		if math.Abs(m) > 0.05 || math.Abs(v-1) > 0.05 {
			t.Fatalf("randn mean %v var %v", m, v)
		}
	})
	t.Run("uniform", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		v := vals(t, s, s.Uniform([]int64{5000}, -2, 3, Float64, CPU), []int{5000})
		m := 0.0
		for _, x := range v {
			if x < -2 || x >= 3 {
				t.Fatalf("uniform value %v outside [-2, 3)", x)
			}
			m += x
		}
		if m /= float64(len(v)); math.Abs(m-0.5) > 0.1 {
			t.Fatalf("uniform mean %v, want ≈0.5", m)
		}
	})
	t.Run("from slices wrong count", func(t *testing.T) {
		s := NewScope()
		if s.FromFloat32([]float32{1, 2, 3}, 2, 2) != nil {
			t.Fatal("want nil")
		}
		wantErr(t, s.Err(), "from_float32", "[2 2]")
	})
	t.Run("metadata", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.Zeros([]int64{2, 3, 5}, BFloat16, CPU)
		if x.Dim() != 3 || x.Size(1) != 3 || x.Size(-1) != 5 || x.Size(7) != 0 || x.Numel() != 30 ||
			x.DType() != BFloat16 || x.Device() != CPU || x.String() != "[2 3 5] bf16 cpu" || x.RequiresGrad() {
			t.Fatalf("metadata wrong: %v dim %d size(1) %d numel %d", x, x.Dim(), x.Size(1), x.Numel())
		}
		y := s.FromFloat32([]float32{4}, 1)
		if v, err := y.Item(); err != nil || v != 4 {
			t.Fatalf("item %v %v", v, err)
		}
		if _, err := x.Item(); err == nil {
			t.Fatal("item of 30 elements: no error")
		}
		var nilT *Tensor
		if nilT.Valid() || nilT.String() != "<nil tensor>" || nilT.Shape() != nil {
			t.Fatal("nil tensor metadata")
		}
	})
}

func TestDTypeConversions(t *testing.T) {
	in := []float64{0, 1, -1.5, 3.14159265358979, -2.7182818, 1e-3, 65504, 1.0009765625, 0.33333333333, -1234.5678}
	rounders := map[DType]func(float64) float64{
		Float32:  func(x float64) float64 { return float64(float32(x)) },
		BFloat16: func(x float64) float64 { return bf16Round(float64(float32(x))) },
		Float16:  func(x float64) float64 { return f16Round(float64(float32(x))) },
		Float64:  func(x float64) float64 { return float64(float32(x)) },
	}
	for _, dt := range []DType{Float32, BFloat16, Float16, Float64} {
		for _, via := range []string{"to", "to_dtype"} {
			t.Run("f32->"+dt.String()+" "+via, func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				x := s.FromFloat32(f32s(in), int64(len(in)))
				var y *Tensor
				if via == "to" {
					y = s.To(x, dt, CPU)
				} else {
					y = s.ToDType(x, dt)
				}
				if y.DType() != dt {
					t.Fatalf("dtype %v", y.DType())
				}
				want := mapArr(arr{[]int{len(in)}, in}, rounders[dt])
				check(t, s, y, want, 0)
				// and back to f32 loses nothing more
				check(t, s, s.ToDType(y, Float32), want, 0)
			})
		}
	}
	t.Run("f64 keeps precision", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		check(t, s, s.ToDType(s.FromFloat64(in, int64(len(in))), Float64), arr{[]int{len(in)}, in}, 0)
		got, _ := s.ToDType(s.FromFloat64(in, int64(len(in))), Float32).Float64s()
		for i, v := range in {
			if got[i] != float64(float32(v)) {
				t.Fatalf("f64->f32 element %d: %v", i, got[i])
			}
		}
	})
	t.Run("float to i64 truncates, i64 to float", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.ToDType(s.FromFloat32([]float32{1.7, -1.7, 2.5, -0.2, 7}, 5), Int64)
		got, err := x.Int64s()
		if err != nil || !slices.Equal(got, []int64{1, -1, 2, 0, 7}) || x.DType() != Int64 {
			t.Fatalf("f32->i64 %v %v", got, err)
		}
		check(t, s, s.ToDType(s.FromInt64([]int64{-3, 0, 1 << 40}, 3), Float64), arr{[]int{3}, []float64{-3, 0, 1 << 40}}, 0)
	})
	t.Run("bool", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		b := s.ToDType(s.FromFloat32([]float32{0, 2, -0.5, 0}, 4), Bool)
		got, err := b.Int64s()
		if err != nil || !slices.Equal(got, []int64{0, 1, 1, 0}) || b.DType() != Bool {
			t.Fatalf("f32->bool %v %v", got, err)
		}
		check(t, s, s.ToDType(s.FromBool([]bool{true, false, true}, 3), Float32), arr{[]int{3}, []float64{1, 0, 1}}, 0)
		raw, err := s.FromBool([]bool{true, false}, 2).Bytes(Bool)
		if err != nil || !slices.Equal(raw, []byte{1, 0}) {
			t.Fatalf("bool bytes %v %v", raw, err)
		}
	})
	t.Run("bf16 and f16 bytes", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.FromFloat32(f32s(in), int64(len(in)))
		bb, err := x.Bytes(BFloat16)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range in {
			if got := uint16(bb[2*i]) | uint16(bb[2*i+1])<<8; got != bf16Bits(float32(v)) {
				t.Fatalf("bf16 bits of %v: %#04x want %#04x", v, got, bf16Bits(float32(v)))
			}
		}
		// raw bf16 bytes in, values out
		y := s.FromBytes(bb, BFloat16, []int64{int64(len(in))}, CPU)
		check(t, s, y, mapArr(arr{[]int{len(in)}, in}, rounders[BFloat16]), 0)
		// f16: 1.0 is 0x3c00, -2 is 0xc000
		h, err := s.FromFloat32([]float32{1, -2}, 2).Bytes(Float16)
		if err != nil || !slices.Equal(h, []byte{0x00, 0x3c, 0x00, 0xc0}) {
			t.Fatalf("f16 bytes %x %v", h, err)
		}
	})
	t.Run("bytes round trip", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		for _, dt := range []DType{Float32, Float64, Int64, Int32, Uint8, BFloat16, Float16} {
			raw := make([]byte, 6*dt.Size())
			for i := range raw {
				raw[i] = byte(i*37 + 11)
			}
			if dt == BFloat16 || dt == Float16 || dt == Float32 || dt == Float64 {
				// keep exponents away from NaN patterns: clear the top exponent bit of each element
				for i := dt.Size() - 1; i < len(raw); i += dt.Size() {
					raw[i] &= 0x3f
				}
			}
			x := s.FromBytes(raw, dt, []int64{2, 3}, CPU)
			got, err := x.Bytes(dt)
			if err != nil || !slices.Equal(got, raw) {
				t.Fatalf("%v bytes round trip: %v %v", dt, got, err)
			}
		}
		f := []float32{1.5, -2, 3.25e-5, 7e20}
		x := s.FromFloat32(f, 2, 2)
		got, err := x.Float32s()
		if err != nil || !slices.Equal(got, f) {
			t.Fatalf("Float32s round trip %v %v", got, err)
		}
	})
	t.Run("to device cpu and contiguous", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		a := arr{[]int{2, 3}, []float64{1, 2, 3, 4, 5, 6}}
		x := s.ToDevice(t64(s, a), CPU)
		check(t, s, s.Contiguous(s.Transpose(x, 0, 1)), transposeRef(a, 0, 1), 0)
	})
}

func TestFromBlobZeroCopy(t *testing.T) {
	buf, unmap := mmapAnon(t, 6*4)
	defer unmap()
	vals0 := []float32{1, 2, 3, 4, 5, 6}
	putF32(buf, vals0)
	s := NewScope()
	x := s.FromBlob(buf, Float32, []int64{2, 3})
	got, err := x.Float32s()
	if err != nil || !slices.Equal(got, vals0) {
		t.Fatalf("from_blob read %v %v", got, err)
	}
	// Changing the mapped bytes is visible through the tensor: no copy was made.
	putF32(buf[8:12], []float32{-42})
	got, _ = x.Float32s()
	if got[2] != -42 {
		t.Fatalf("tensor did not see the mmapped change: %v", got)
	}
	// A derived op copies into libtorch memory.
	y := s.MulScalar(x, 2)
	check(t, s, y, arr{[]int{2, 3}, []float64{2, 4, -84, 8, 10, 12}}, 0)
	if s.FromBlob(buf[:7], Float32, []int64{2}) != nil {
		t.Fatal("from_blob of 7 bytes as 2 f32: want nil")
	}
	wantErr(t, s.Err(), "from_blob", "7 bytes", "[2]")
	s.Close()
}

func TestNN(t *testing.T) {
	r := rng(8)
	t.Run("embedding", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		w := randArr(r, 5, 3)
		ids := []int64{4, 0, 0, 2, 1, 3}
		want := newArr(2, 3, 3)
		each(want.shape, func(i []int, f int) { want.data[f] = w.at(int(ids[i[0]*3+i[1]]), i[2]) })
		check(t, s, s.Embedding(t32(s, w), s.FromInt64(ids, 2, 3)), want, 1e-7)
	})
	for _, bad := range [][]int64{{0, 5}, {-1, 2}} {
		t.Run(fmt.Sprintf("embedding out of range %v", bad), func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			if s.Embedding(s.Zeros([]int64{5, 3}, Float32, CPU), s.FromInt64(bad, 2)) != nil {
				t.Fatal("want nil")
			}
			wantErr(t, s.Err(), "embedding", "out of range", "[5 3]")
		})
	}
	t.Run("rms_norm f32 and f64", func(t *testing.T) {
		for _, dt := range []DType{Float32, Float64} {
			s := NewScope()
			x, w := randArr(r, 2, 3, 8), randArr(r, 8)
			const eps = 1e-6
			want := rmsRef(x, w, eps)
			tol := 1e-12
			if dt == Float32 {
				tol = 2e-6
			}
			y := s.RMSNorm(s.ToDType(t64(s, x), dt), s.ToDType(t64(s, w), dt), eps)
			if y.DType() != dt {
				t.Fatalf("dtype %v", y.DType())
			}
			check(t, s, y, want, tol)
			s.Close()
		}
	})
	t.Run("rms_norm bf16: f32 stats, cast back, times w", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x, w := mapArr(randArr(r, 3, 16), bf16Round), mapArr(randArr(r, 16), bf16Round)
		norm := rmsRef(x, arr{[]int{1}, []float64{1}}, 1e-5)
		want := mapArr(norm, bf16Round)
		want = zip(want, w, func(p, q float64) float64 { return bf16Round(p * q) })
		y := s.RMSNorm(s.ToDType(t64(s, x), BFloat16), s.ToDType(t64(s, w), BFloat16), 1e-5)
		if y.DType() != BFloat16 {
			t.Fatalf("dtype %v", y.DType())
		}
		check(t, s, y, want, 8e-3)
	})
	t.Run("rope half-split", func(t *testing.T) {
		for _, dt := range []DType{Float32, Float64} {
			s := NewScope()
			const B, H, T, D = 2, 3, 5, 8
			x := randArr(r, B, H, T, D)
			cos, sin := ropeTables(T, D, 10000)
			want := ropeRef(x, cos, sin)
			tol := 1e-12
			if dt == Float32 {
				tol = 2e-6
			}
			check(t, s, s.RoPE(s.ToDType(t64(s, x), dt), s.ToDType(t64(s, cos), dt), s.ToDType(t64(s, sin), dt)), want, tol)
			s.Close()
		}
	})
	t.Run("silu_mul", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		g, u := randArr(r, 2, 3, 6), randArr(r, 2, 3, 6)
		check(t, s, s.SiLUMul(t64(s, g), t64(s, u)), zip(g, u, func(a, b float64) float64 { return a * sigmoid(a) * b }), 1e-12)
	})
	t.Run("lora_linear vs base + x·Aᵀ·Bᵀ·scaling", func(t *testing.T) {
		for _, bias := range []bool{false, true} {
			s := NewScope()
			x, w, b := randArr(r, 2, 3, 6), randArr(r, 5, 6), randArr(r, 5)
			A, Bm := randArr(r, 4, 6), randArr(r, 5, 4)
			var bt *Tensor
			var bp *arr
			if bias {
				bt, bp = t32(s, b), &b
			}
			const scaling = 2.5
			base := linearRef(x, w, bp)
			delta := linearRef(linearRef(x, A, nil), Bm, nil)
			want := zip(base, delta, func(p, q float64) float64 { return p + scaling*q })
			// dropout set but train off: no dropout
			y := s.LoRALinear(t32(s, x), t32(s, w), bt, t32(s, A), t32(s, Bm), scaling, 0.3, false)
			check(t, s, y, want, 2e-5)
			y0 := s.LoRALinear(t32(s, x), t32(s, w), bt, t32(s, A), t32(s, Bm), scaling, 0, true)
			check(t, s, y0, want, 2e-5)
			s.Close()
		}
	})
	t.Run("lora_linear bf16 base, f32 adapters", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x, w := mapArr(randArr(r, 3, 8), bf16Round), mapArr(randArr(r, 4, 8), bf16Round)
		A, Bm := randArr(r, 2, 8), randArr(r, 4, 2)
		want := zip(linearRef(x, w, nil), linearRef(linearRef(x, A, nil), Bm, nil), func(p, q float64) float64 { return p + 0.5*q })
		y := s.LoRALinear(s.ToDType(t64(s, x), BFloat16), s.ToDType(t64(s, w), BFloat16), nil, t32(s, A), t32(s, Bm), 0.5, 0, true)
		if y.DType() != BFloat16 {
			t.Fatalf("dtype %v, want the base's bf16", y.DType())
		}
		check(t, s, y, want, 3e-2)
	})
	t.Run("dropout", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.Ones([]int64{10000}, Float32, CPU)
		check(t, s, s.Dropout(x, 0.5, false), mapArr(newArr(10000), func(float64) float64 { return 1 }), 0)
		v := vals(t, s, s.Dropout(x, 0.25, true), []int{10000})
		zeros := 0
		for _, e := range v {
			switch {
			case e == 0:
				zeros++
			case math.Abs(e-1/0.75) > 1e-6:
				t.Fatalf("kept element %v, want 1/(1-p)", e)
			}
		}
		if zeros < 2200 || zeros > 2800 {
			t.Fatalf("%d of 10000 dropped at p=0.25", zeros)
		}
	})
	t.Run("cross_entropy", func(t *testing.T) {
		logits := randArr(r, 6, 5)
		targets := []int64{1, IgnoreIndex, 4, 0, IgnoreIndex, 2}
		per := make([]float64, 6)
		ls := softmaxRef(logits, 1, true)
		sum, n := 0.0, 0
		for i, y := range targets {
			if y == IgnoreIndex {
				continue
			}
			per[i] = -ls.at(i, int(y))
			sum += per[i]
			n++
		}
		for _, c := range []struct {
			red  Reduction
			dt   DType
			want arr
		}{
			{ReduceMean, Float32, arr{nil, []float64{sum / float64(n)}}},
			{ReduceMean, Float64, arr{nil, []float64{sum / float64(n)}}},
			{ReduceMean, BFloat16, arr{nil, []float64{sum / float64(n)}}},
			{ReduceSum, Float32, arr{nil, []float64{sum}}},
			{ReduceNone, Float32, arr{[]int{6}, per}},
		} {
			s := NewScope()
			lg := logits
			tol := 2e-6
			if c.dt == BFloat16 {
				lg = mapArr(logits, bf16Round)
				tol = 2e-2
			}
			y := s.CrossEntropy(s.ToDType(t64(s, lg), c.dt), s.FromInt64(targets, 6), IgnoreIndex, c.red)
			if y.DType() != Float32 && y.DType() != Float64 {
				t.Fatalf("cross_entropy dtype %v", y.DType())
			}
			check(t, s, y, c.want, tol)
			s.Close()
		}
	})
}

func TestSDPA(t *testing.T) {
	r := rng(9)
	const B, H, Tq, D = 2, 2, 5, 4
	scale := 1 / math.Sqrt(D)
	q, k, v := randArr(r, B, H, Tq, D), randArr(r, B, H, Tq, D), randArr(r, B, H, Tq, D)
	// left padding: batch 0 has none, batch 1 has two padded positions
	pad := []int{0, 2}
	mask := newArr(B, 1, 1, Tq)
	each(mask.shape, func(i []int, f int) {
		if i[3] < pad[i[0]] {
			mask.data[f] = -1e9
		}
	})
	cases := []struct {
		name   string
		causal bool
		mask   *arr
		kLen   int
	}{
		{"plain", false, nil, Tq},
		{"causal", true, nil, Tq},
		{"padding mask", false, &mask, Tq},
		{"causal + padding mask", true, &mask, Tq},
		{"causal with longer keys", true, nil, 7},
	}
	for _, c := range cases {
		for _, dt := range []DType{Float32, Float64, BFloat16} {
			t.Run(c.name+"/"+dt.String(), func(t *testing.T) {
				s := NewScope()
				defer s.Close()
				kk, vv := k, v
				if c.kLen != Tq {
					kk, vv = randArr(r, B, H, c.kLen, D), randArr(r, B, H, c.kLen, D)
				}
				want, masked := sdpaRef(q, kk, vv, c.mask, c.causal, scale)
				var mt *Tensor
				if c.mask != nil {
					mt = s.ToDType(t64(s, *c.mask), dt)
				}
				y := s.SDPA(s.ToDType(t64(s, q), dt), s.ToDType(t64(s, kk), dt), s.ToDType(t64(s, vv), dt), mt, c.causal, scale)
				got := vals(t, s, y, want.shape)
				tol := 1e-10
				switch dt {
				case Float32:
					tol = 1e-5
				case BFloat16: // bf16 inputs and output around an f32 softmax
					tol = 5e-2
				}
				if y.DType() != dt {
					t.Fatalf("dtype %v, want %v", y.DType(), dt)
				}
				for row := 0; row < B*H*Tq; row++ {
					for d := 0; d < D; d++ {
						g := got[row*D+d]
						if math.IsNaN(g) || math.IsInf(g, 0) {
							t.Fatalf("row %d: non-finite output %v", row, g)
						}
						if masked[row] {
							continue // a fully masked query row only has to be finite
						}
						if w := want.data[row*D+d]; math.Abs(g-w) > tol*(1+math.Abs(w)) {
							t.Fatalf("row %d col %d: got %.9g want %.9g", row, d, g, w)
						}
					}
				}
				if c.mask != nil && c.causal {
					n := 0
					for _, m := range masked {
						if m {
							n++
						}
					}
					if n != H*pad[1] {
						t.Fatalf("%d fully masked rows, want %d (the test must exercise them)", n, H*pad[1])
					}
				}
			})
		}
	}
}

func rmsRef(x, w arr, eps float64) arr {
	out := newArr(x.shape...)
	last := len(x.shape) - 1
	lanes(x.shape, last, func(offs []int) {
		ms := 0.0
		for _, o := range offs {
			ms += x.data[o] * x.data[o]
		}
		inv := 1 / math.Sqrt(ms/float64(len(offs))+eps)
		for k, o := range offs {
			wk := w.data[0]
			if len(w.data) > 1 {
				wk = w.data[k]
			}
			out.data[o] = x.data[o] * inv * wk
		}
	})
	return out
}

// ropeTables are Hugging Face's cos/sin [T, D]: inv_freq = 1/θ^(2i/D), emb = cat(freqs, freqs).
func ropeTables(T, D int, theta float64) (arr, arr) {
	cos, sin := newArr(T, D), newArr(T, D)
	for p := 0; p < T; p++ {
		for i := 0; i < D/2; i++ {
			f := float64(p) / math.Pow(theta, float64(2*i)/float64(D))
			for _, d := range []int{i, i + D/2} {
				cos.data[p*D+d], sin.data[p*D+d] = math.Cos(f), math.Sin(f)
			}
		}
	}
	return cos, sin
}

func ropeRef(x, cos, sin arr) arr {
	out := newArr(x.shape...)
	D := x.shape[len(x.shape)-1]
	each(x.shape, func(i []int, f int) {
		d := i[len(i)-1]
		var rot float64
		if d < D/2 {
			rot = -x.data[f+D/2]
		} else {
			rot = x.data[f-D/2]
		}
		out.data[f] = x.data[f]*cos.bcast(i) + rot*sin.bcast(i)
	})
	return out
}

// sdpaRef is softmax(q·kᵀ·scale + mask)·v with causal keys j ≤ i + (Tk−Tq). masked[row] reports a query
// row whose every allowed key carries the -1e9 mask (its output is only required to be finite).
func sdpaRef(q, k, v arr, mask *arr, causal bool, scale float64) (arr, []bool) {
	B, H, Tq, D := q.shape[0], q.shape[1], q.shape[2], q.shape[3]
	Tk := k.shape[2]
	out := newArr(B, H, Tq, D)
	masked := make([]bool, B*H*Tq)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < Tq; i++ {
				var sc []float64
				var js []int
				all := true
				for j := 0; j < Tk; j++ {
					if causal && j > i+Tk-Tq {
						continue
					}
					s := 0.0
					for d := 0; d < D; d++ {
						s += q.at(b, h, i, d) * k.at(b, h, j, d)
					}
					s *= scale
					if mask != nil {
						m := mask.bcast([]int{b, h, i, j})
						if m > -1e8 {
							all = false
						}
						s += m
					} else {
						all = false
					}
					sc = append(sc, s)
					js = append(js, j)
				}
				row := (b*H+h)*Tq + i
				masked[row] = all
				mx := math.Inf(-1)
				for _, s := range sc {
					mx = math.Max(mx, s)
				}
				z := 0.0
				for n := range sc {
					sc[n] = math.Exp(sc[n] - mx)
					z += sc[n]
				}
				for d := 0; d < D; d++ {
					acc := 0.0
					for n, j := range js {
						acc += sc[n] / z * v.at(b, h, j, d)
					}
					out.data[row*D+d] = acc
				}
			}
		}
	}
	return out, masked
}
