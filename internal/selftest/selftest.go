// Package selftest checks the engine on the device it will train on: the optimizer, gradient
// clipping, the fused loss and the model's partial last layer against independent float64
// computations in Go. It is what `sentitune selftest` runs — on a new GPU box, after a libtorch
// upgrade, or when a shim is rebuilt — before trusting a long run to it.
package selftest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/internal/torch/adamwref"
)

// Check is one check's outcome.
type Check struct {
	Name    string  `json:"name"`
	Pass    bool    `json:"pass"`
	MaxErr  float64 `json:"max_rel_err"` // the largest relative error seen (0 where not applicable)
	Limit   float64 `json:"limit"`
	Detail  string  `json:"detail"`
	Seconds float64 `json:"seconds"`
}

// Report is a selftest run.
type Report struct {
	Libtorch string  `json:"libtorch"`
	Device   string  `json:"device"`
	Checks   []Check `json:"checks"`
}

// Passed reports whether every check passed.
func (r *Report) Passed() bool {
	for _, c := range r.Checks {
		if !c.Pass {
			return false
		}
	}
	return len(r.Checks) > 0
}

// Run runs every check on dev.
func Run(dev torch.Device) (*Report, error) {
	if err := torch.Load(); err != nil {
		return nil, err
	}
	v, err := torch.Version()
	if err != nil {
		return nil, err
	}
	r := &Report{Libtorch: v, Device: dev.String()}
	for _, c := range []struct {
		name  string
		limit float64
		f     func(dev torch.Device) (float64, string, error)
	}{
		{"adamw: 2 groups, 5 steps, lr change", 1e-5, checkAdamW},
		{"clip_grad_norm", 1e-5, checkClip},
		{"linear_cross_entropy vs linear + cross_entropy", 1e-5, checkLinearCE},
		{"model: last layer at chosen positions (HiddenAt vs Hidden)", 1e-5, checkHiddenAt},
		{"model: LoRA train step reaches every adapter", 0, checkTrainStep},
	} {
		t0 := time.Now()
		e, detail, err := c.f(dev)
		ch := Check{Name: c.name, MaxErr: e, Limit: c.limit, Detail: detail, Seconds: time.Since(t0).Seconds()}
		switch {
		case err != nil:
			ch.Detail = err.Error()
		case c.limit > 0:
			ch.Pass = e <= c.limit
		default:
			ch.Pass = true
		}
		r.Checks = append(r.Checks, ch)
	}
	return r, nil
}

// relErr is max |got − want| / max(max |want|, tiny): the worst error relative to the data's scale.
func relErr(got, want []float64) float64 {
	scale, worst := 1e-30, 0.0
	for i := range want {
		scale = max(scale, math.Abs(want[i]))
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst / scale
}

func randn(rng *rand.Rand, n int, std float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = std * rng.NormFloat64()
	}
	return out
}

// param makes an f32 leaf on dev that requires grad.
func param(s *torch.Scope, vals []float64, dev torch.Device) (*torch.Tensor, error) {
	p := s.To(s.FromFloat64(vals, int64(len(vals))), torch.Float32, dev)
	if err := s.Err(); err != nil {
		return nil, err
	}
	p = s.Detach(p)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return p, p.SetRequiresGrad(true)
}

func values(s *torch.Scope, t *torch.Tensor) ([]float64, error) {
	v := s.To(t, torch.Float64, torch.CPU)
	if err := s.Err(); err != nil {
		return nil, err
	}
	return v.Float64s()
}

// setGrads gives each parameter the gradient of sum(c ⊙ p) (that is, c) and returns it as rounded
// to f32, as the device holds it.
func setGrads(ps []*torch.Tensor, cs [][]float64, dev torch.Device) ([][]float64, error) {
	s := torch.NewScope()
	defer s.Close()
	var loss *torch.Tensor
	out := make([][]float64, len(ps))
	for i, p := range ps {
		c := s.To(s.FromFloat64(cs[i], int64(len(cs[i]))), torch.Float32, dev)
		term := s.Sum(s.Mul(p, c))
		if loss == nil {
			loss = term
		} else {
			loss = s.Add(loss, term)
		}
		out[i] = make([]float64, len(cs[i]))
		for j, x := range cs[i] {
			out[i][j] = float64(float32(x))
		}
	}
	s.Backward(loss)
	return out, s.Err()
}

func checkAdamW(dev torch.Device) (float64, string, error) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	rng := rand.New(rand.NewPCG(1, 2))
	s := torch.NewScope()
	defer s.Close()
	sizes := []int{1000, 37, 256}
	groupOf := []int{0, 0, 1}
	lrs, wds := []float64{1e-2, 3e-2}, []float64{0.1, 0}
	var ps []*torch.Tensor
	var refs []*adamwref.Param
	for _, n := range sizes {
		v := randn(rng, n, 1)
		p, err := param(s, v, dev)
		if err != nil {
			return 0, "", err
		}
		for i := range v {
			v[i] = float64(float32(v[i]))
		}
		ps, refs = append(ps, p), append(refs, &adamwref.Param{P: v})
	}
	opt, err := torch.NewAdamW([]torch.ParamGroup{{Params: ps[:2], LR: lrs[0], WeightDecay: wds[0]},
		{Params: ps[2:], LR: lrs[1], WeightDecay: wds[1]}}, b1, b2, eps)
	if err != nil {
		return 0, "", err
	}
	defer opt.Close()
	worst := 0.0
	for step := 1; step <= 5; step++ {
		if step == 4 { // a schedule changes the learning rates between steps
			lrs = []float64{5e-3, 1e-1}
			for g, lr := range lrs {
				if err := opt.SetLR(g, lr); err != nil {
					return 0, "", err
				}
			}
		}
		if err := opt.ZeroGrad(); err != nil {
			return 0, "", err
		}
		cs := make([][]float64, len(ps))
		for i, n := range sizes {
			cs[i] = randn(rng, n, math.Pow(10, float64(i-1))) // gradients of different scales
		}
		gs, err := setGrads(ps, cs, dev)
		if err != nil {
			return 0, "", err
		}
		if err := opt.Step(); err != nil {
			return 0, "", err
		}
		for i, p := range ps {
			refs[i].Update(gs[i], lrs[groupOf[i]], wds[groupOf[i]], b1, b2, eps)
			got, err := values(s, p)
			if err != nil {
				return 0, "", err
			}
			worst = max(worst, relErr(got, refs[i].P))
		}
	}
	return worst, "parameters after each step vs AdamW in float64", nil
}

func checkClip(dev torch.Device) (float64, string, error) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := torch.NewScope()
	defer s.Close()
	sizes := []int{500, 7, 64}
	var ps []*torch.Tensor
	cs := make([][]float64, len(sizes))
	for i, n := range sizes {
		p, err := param(s, randn(rng, n, 1), dev)
		if err != nil {
			return 0, "", err
		}
		ps, cs[i] = append(ps, p), randn(rng, n, 2)
	}
	gs, err := setGrads(ps, cs, dev)
	if err != nil {
		return 0, "", err
	}
	sq := 0.0
	for _, g := range gs {
		for _, x := range g {
			sq += x * x
		}
	}
	norm := math.Sqrt(sq)
	const maxNorm = 1.0
	total, err := torch.ClipGradNorm(ps, maxNorm)
	if err != nil {
		return 0, "", err
	}
	worst := math.Abs(total-norm) / norm
	coef := min(1, maxNorm/(norm+1e-6))
	for i, p := range ps {
		got, err := values(s, s.Grad(p))
		if err != nil {
			return 0, "", err
		}
		want := make([]float64, len(gs[i]))
		for j, g := range gs[i] {
			want[j] = g * coef
		}
		worst = max(worst, relErr(got, want))
	}
	return worst, fmt.Sprintf("total norm %.4f, clipped to %.1f", total, maxNorm), nil
}

func checkLinearCE(dev torch.Device) (float64, string, error) {
	rng := rand.New(rand.NewPCG(5, 6))
	const N, H, V = 6, 32, 1000
	s := torch.NewScope()
	defer s.Close()
	hv, wv := randn(rng, N*H, 1), randn(rng, V*H, 0.2)
	tg := []int64{3, torch.IgnoreIndex, 999, 0, 512, 77}
	w := s.To(s.FromFloat64(wv, V, H), torch.Float32, dev)
	y := s.ToDevice(s.FromInt64(tg, N), dev)
	run := func(fused bool) ([]float64, []float64, error) {
		ss := torch.NewScope()
		defer ss.Close()
		h := ss.Detach(ss.To(ss.FromFloat64(hv, N, H), torch.Float32, dev))
		if err := ss.Err(); err != nil {
			return nil, nil, err
		}
		if err := h.SetRequiresGrad(true); err != nil {
			return nil, nil, err
		}
		var loss *torch.Tensor
		if fused {
			loss = ss.LinearCrossEntropy(h, w, y, torch.IgnoreIndex, 128, true)
		} else {
			loss = ss.CrossEntropy(ss.Linear(h, w, nil), y, torch.IgnoreIndex, torch.ReduceSum)
		}
		ss.Backward(loss)
		l, err := values(ss, loss)
		if err != nil {
			return nil, nil, err
		}
		g, err := values(ss, ss.Grad(h))
		return l, g, err
	}
	lw, gw, err := run(false)
	if err != nil {
		return 0, "", err
	}
	lg, gg, err := run(true)
	if err != nil {
		return 0, "", err
	}
	return max(relErr(lg, lw), relErr(gg, gw)), fmt.Sprintf("loss %.5f (chunks of 128 over %d)", lg[0], V), nil
}

// tinyModel writes the tiny random preset into a temporary folder and loads it in f32 on dev.
func tinyModel(dev torch.Device) (*llm.Model, func(), error) {
	dir, err := os.MkdirTemp("", "sentitune-selftest-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	md := filepath.Join(dir, "tiny")
	if err := llm.InitRandomModel(md, "tiny", 11, "f32"); err != nil {
		cleanup()
		return nil, nil, err
	}
	m, err := llm.LoadModel(md, llm.LoadOptions{Device: dev, DType: torch.Float32, ExplicitDType: true})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return m, func() { m.Close(); cleanup() }, nil
}

var selftestBatch = llm.Batch{IDs: [][]int{{9707, 11, 1879, 0, 15, 151645}, {5, 6, 7, 16, 151645}, {100, 200, 300, 400, 500, 600, 700, 15}}}

func checkHiddenAt(dev torch.Device) (float64, string, error) {
	m, done, err := tinyModel(dev)
	if err != nil {
		return 0, "", err
	}
	defer done()
	rows, pos := []int{2, 0, 1, 0, 2}, []int{7, 4, 3, 5, 0}
	var worst float64
	err = torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		full, err := m.HiddenAt(s, selftestBatch, nil, nil, false) // every position, [B·T, H]
		if err != nil {
			return err
		}
		T, idx := selftestBatch.MaxLen(), make([]int64, len(rows))
		for i := range rows {
			idx[i] = int64(rows[i]*T + pos[i])
		}
		want, err := m.Logits(s, s.IndexSelect(full, 0, s.ToDevice(s.FromInt64(idx, int64(len(idx))), dev)))
		if err != nil {
			return err
		}
		h, err := m.HiddenAt(s, selftestBatch, rows, pos, false)
		if err != nil {
			return err
		}
		got, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		wv, err := values(s, want)
		if err != nil {
			return err
		}
		gv, err := values(s, got)
		if err != nil {
			return err
		}
		worst = relErr(gv, wv)
		return nil
	})
	return worst, "logits at 5 positions of 3 rows, tiny random Qwen2", err
}

func checkTrainStep(dev torch.Device) (float64, string, error) {
	m, done, err := tinyModel(dev)
	if err != nil {
		return 0, "", err
	}
	defer done()
	if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, 1); err != nil {
		return 0, "", err
	}
	// lora_B starts at zero, so A gets no gradient on the first step; give B values first.
	s := torch.NewScope()
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	for _, p := range m.TrainableParams() {
		if p.IsLoRAB {
			if err := p.T.CopyFrom(s.FromFloat64(randn(rng, int(p.T.Numel()), 0.1), p.T.Shape()...)); err != nil {
				return 0, "", err
			}
		}
	}
	rows, pos, tgt := []int{0, 0, 1, 1, 2}, []int{3, 4, 2, 3, 6}, []int64{15, 151645, 16, 151645, 15}
	h, err := m.HiddenAt(s, selftestBatch, rows, pos, true)
	if err != nil {
		return 0, "", err
	}
	loss, err := m.AnswerLoss(s, h, tgt, true)
	if err != nil {
		return 0, "", err
	}
	s.Backward(loss)
	lv, err := values(s, loss)
	if err != nil {
		return 0, "", err
	}
	if math.IsNaN(lv[0]) || math.IsInf(lv[0], 0) {
		return 0, "", fmt.Errorf("loss %v", lv[0])
	}
	for _, p := range m.TrainableParams() {
		g := s.Grad(p.T)
		if g == nil {
			return 0, "", fmt.Errorf("%s got no gradient", p.Name)
		}
		gv, err := values(s, g)
		if err != nil {
			return 0, "", err
		}
		nonzero := false
		for _, x := range gv {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return 0, "", fmt.Errorf("%s: gradient not finite", p.Name)
			}
			nonzero = nonzero || x != 0
		}
		if !nonzero {
			return 0, "", fmt.Errorf("%s: gradient is all zero", p.Name)
		}
	}
	return 0, fmt.Sprintf("loss %.4f; %d adapter tensors all got finite, non-zero gradients", lv[0], len(m.TrainableParams())), nil
}
