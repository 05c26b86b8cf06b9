package torch

import (
	"math"
	"slices"
	"testing"

	"github.com/sentitune/sentitune/internal/torch/adamwref"
)

// gradsFor sets the parameters' gradients to those of sum(c ⊙ p²)/2 (so g = c ⊙ p) and returns them.
func gradsFor(t *testing.T, ps []*Tensor, cs [][]float64) [][]float64 {
	t.Helper()
	s := NewScope()
	defer s.Close()
	var loss *Tensor
	out := make([][]float64, len(ps))
	for i, p := range ps {
		pv, err := p.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = make([]float64, len(pv))
		for j := range pv {
			out[i][j] = cs[i][j] * pv[j]
		}
		term := s.MulScalar(s.Sum(s.Mul(s.FromFloat64(cs[i], p.Shape()...), s.Square(p))), 0.5)
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
	return out
}

type optFixture struct {
	s      *Scope
	params []*Tensor
	refs   []*adamwref.Param
	cs     [][]float64
}

func newOptFixture(t *testing.T) *optFixture {
	r := rng(12)
	f := &optFixture{s: NewScope()}
	for _, n := range []int{6, 4, 5} {
		a := randArr(r, n)
		p := f.s.FromFloat64(a.data, int64(n))
		if err := p.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
		f.params = append(f.params, p)
		f.refs = append(f.refs, &adamwref.Param{P: append([]float64{}, a.data...)})
		f.cs = append(f.cs, mapArr(randArr(r, n), math.Abs).data)
	}
	return f
}

func TestAdamW(t *testing.T) {
	const b1, b2, eps = 0.9, 0.95, 1e-8
	f := newOptFixture(t)
	defer f.s.Close()
	// group 0: params 0 and 1, lr 1e-2, wd 0.1; group 1: param 2, lr 5e-2, no decay
	lrs, wds := []float64{1e-2, 5e-2}, []float64{0.1, 0}
	groupOf := []int{0, 0, 1}
	opt, err := NewAdamW([]ParamGroup{
		{Params: f.params[:2], LR: lrs[0], WeightDecay: wds[0]},
		{Params: f.params[2:], LR: lrs[1], WeightDecay: wds[1]},
	}, b1, b2, eps)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	if opt.Groups() != 2 {
		t.Fatalf("groups %d", opt.Groups())
	}
	step := func(t *testing.T) {
		t.Helper()
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		gs := gradsFor(t, f.params, f.cs)
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		for i, ref := range f.refs {
			g := groupOf[i]
			ref.Update(gs[i], lrs[g], wds[g], b1, b2, eps)
			got, _ := f.params[i].Float64s()
			if err := near(got, ref.P, 1e-12); err != nil {
				t.Fatalf("step %d param %d: %v", ref.Step, i, err)
			}
		}
	}
	for i := 0; i < 3; i++ {
		step(t)
	}
	// SetLR takes effect on the next step (a schedule changes both groups).
	lrs = []float64{3e-3, 2e-1}
	for g, lr := range lrs {
		if err := opt.SetLR(g, lr); err != nil {
			t.Fatal(err)
		}
	}
	if err := opt.SetLR(2, 1); err == nil {
		t.Fatal("SetLR of group 2 of 2: no error")
	}
	step(t)
	step(t)

	// Copy the state by parameter into a second optimizer over copies of the parameters: the next
	// step must match the first optimizer's exactly, and differ from a fresh optimizer's.
	clone := func() []*Tensor {
		var out []*Tensor
		for _, p := range f.params {
			c := f.s.Detach(f.s.Clone(p))
			if err := c.SetRequiresGrad(true); err != nil {
				t.Fatal(err)
			}
			out = append(out, c)
		}
		return out
	}
	loaded, fresh := clone(), clone()
	mk := func(ps []*Tensor) *AdamW {
		o, err := NewAdamW([]ParamGroup{
			{Params: ps[:2], LR: lrs[0], WeightDecay: wds[0]},
			{Params: ps[2:], LR: lrs[1], WeightDecay: wds[1]},
		}, b1, b2, eps)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	o2, o3 := mk(loaded), mk(fresh)
	defer o2.Close()
	defer o3.Close()
	if st, err := o2.State(f.s, loaded[0]); err != nil || st.Step != 0 || st.ExpAvg != nil {
		t.Fatalf("state before any step: %+v, %v", st, err)
	}
	for i, p := range f.params {
		st, err := opt.State(f.s, p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Step != 5 || !slices.Equal(st.ExpAvg.Shape(), p.Shape()) {
			t.Fatalf("param %d state: step %d, exp_avg %v", i, st.Step, st.ExpAvg.Shape())
		}
		// Through host bytes, as a checkpoint file carries them.
		b1s, _ := st.ExpAvg.Bytes(Float64)
		b2s, _ := st.ExpAvgSq.Bytes(Float64)
		m1 := f.s.FromBytes(b1s, Float64, st.ExpAvg.Shape(), CPU)
		m2 := f.s.FromBytes(b2s, Float64, st.ExpAvgSq.Shape(), CPU)
		if err := o2.SetState(loaded[i], AdamWState{Step: st.Step, ExpAvg: m1, ExpAvgSq: m2}); err != nil {
			t.Fatal(err)
		}
	}
	step(t)
	for _, pair := range []struct {
		o  *AdamW
		ps []*Tensor
	}{{o2, loaded}, {o3, fresh}} {
		gradsFor(t, pair.ps, f.cs)
		if err := pair.o.Step(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range f.params {
		want, _ := f.params[i].Float64s()
		got, _ := loaded[i].Float64s()
		if !slices.Equal(got, want) {
			t.Fatalf("param %d after state copy/step: %v, want %v", i, got, want)
		}
		other, _ := fresh[i].Float64s()
		if near(other, want, 1e-9) == nil {
			t.Fatalf("param %d: a fresh optimizer matched too, so the check proves nothing", i)
		}
	}

	// A tensor the optimizer does not hold, and moments of another shape, are refused.
	st, err := opt.State(f.s, f.params[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = o2.State(f.s, f.params[0])
	wantErr(t, err, "not one of the optimizer's parameters")
	wantErr(t, o2.SetState(f.params[0], st), "not one of the optimizer's parameters")
	wrong := f.s.Zeros([]int64{f.params[0].Numel() + 1}, Float64, CPU)
	wantErr(t, o2.SetState(loaded[0], AdamWState{Step: 1, ExpAvg: wrong, ExpAvgSq: wrong}), "shapes differ")
	o3.Close()
	wantErr(t, o3.Step(), "closed")
	o3.Close() // twice is fine
}

func TestAdamWBadInput(t *testing.T) {
	if _, err := NewAdamW(nil, 0.9, 0.999, 1e-8); err == nil {
		t.Fatal("no groups: no error")
	}
	if _, err := NewAdamW([]ParamGroup{{LR: 1}}, 0.9, 0.999, 1e-8); err == nil {
		t.Fatal("empty group: no error")
	}
	// a parameter without a gradient is skipped by Step
	s := NewScope()
	defer s.Close()
	p := s.FromFloat64([]float64{1, 2}, 2)
	_ = p.SetRequiresGrad(true)
	o, err := NewAdamW([]ParamGroup{{Params: []*Tensor{p}, LR: 0.1, WeightDecay: 0}}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Step(); err != nil {
		t.Fatal(err)
	}
	check(t, s, p, arr{[]int{2}, []float64{1, 2}}, 0)
}

func TestClipGradNorm(t *testing.T) {
	s := NewScope()
	defer s.Close()
	g1, g2 := []float64{3, 0, -4}, []float64{12}
	setup := func() []*Tensor {
		var ps []*Tensor
		for _, g := range [][]float64{g1, g2} {
			p := s.Zeros([]int64{int64(len(g))}, Float64, CPU)
			_ = p.SetRequiresGrad(true)
			// d/dp sum(g ⊙ p) = g
			s.Backward(s.Sum(s.Mul(p, s.FromFloat64(g, int64(len(g))))))
			ps = append(ps, p)
		}
		return ps
	}
	cases := []struct {
		name      string
		max, want float64 // want: the scale applied to the gradients
	}{
		{"clips", 6.5, 6.5 / (13 + 1e-6)},
		{"leaves small norms", 100, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := setup()
			norm, err := ClipGradNorm(ps, c.max)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(norm-13) > 1e-12 {
				t.Fatalf("norm %v, want 13 (before clipping)", norm)
			}
			for i, g := range [][]float64{g1, g2} {
				check(t, s, s.Grad(ps[i]), mapArr(arr{[]int{len(g)}, g}, func(v float64) float64 { return v * c.want }), 1e-12)
			}
		})
	}
	if n, err := ClipGradNorm(nil, 1); err != nil || n != 0 {
		t.Fatalf("empty: %v %v", n, err)
	}
}
