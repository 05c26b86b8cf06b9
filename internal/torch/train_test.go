package torch

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rssBytes reads the resident set size from /proc/self/statm.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// tinyBlock is a one-layer Qwen2-style decoder (RMSNorm, q/k/v with bias, LoRA on q, RoPE, causal SDPA
// with a padding mask, SwiGLU MLP, tied LM head) with its parameters in a model-lifetime scope.
type tinyBlock struct {
	m                                  *Scope
	emb, n1, n2, nf                    *Tensor
	wq, bq, aq, bqLoRA, wk, bk, wv, wo *Tensor
	wg, wu, wd                         *Tensor
	cos, sin                           *Tensor
	trainable                          []*Tensor
}

const (
	tbV, tbH, tbHeads, tbT, tbB, tbInter, tbRank = 64, 64, 4, 16, 4, 128, 4
	tbHD                                         = tbH / tbHeads
)

func newTinyBlock(t *testing.T) *tinyBlock {
	if err := ManualSeed(3); err != nil {
		t.Fatal(err)
	}
	m := NewScope()
	b := &tinyBlock{m: m}
	param := func(train bool, std float64, shape ...int64) *Tensor {
		p := m.Ones(shape, Float32, CPU) // norm weights
		if std != 0 {
			p = m.MulScalar(m.Randn(shape, Float32, CPU), std)
		}
		if train && p != nil {
			if err := p.SetRequiresGrad(true); err != nil {
				t.Fatal(err)
			}
			b.trainable = append(b.trainable, p)
		}
		return p
	}
	b.emb = param(true, 0.5, tbV, tbH)
	b.n1, b.n2, b.nf = param(true, 0, tbH), param(true, 0, tbH), param(true, 0, tbH)
	b.wq, b.bq = param(false, 0.1, tbH, tbH), param(false, 0.1, tbH) // frozen base under LoRA
	b.aq, b.bqLoRA = param(true, 0.1, tbRank, tbH), param(true, 0.1, tbH, tbRank)
	b.wk, b.bk = param(true, 0.1, tbH, tbH), param(true, 0.1, tbH)
	b.wv, b.wo = param(true, 0.1, tbH, tbH), param(true, 0.1, tbH, tbH)
	b.wg, b.wu, b.wd = param(true, 0.1, tbInter, tbH), param(true, 0.1, tbInter, tbH), param(true, 0.1, tbH, tbInter)
	c, s := ropeTables(tbT, tbHD, 10000)
	b.cos, b.sin = t32(m, c), t32(m, s)
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	return b
}

// loss runs the block on ids [B, T] with left padding pad[b] and next-token targets.
func (b *tinyBlock) loss(s *Scope, ids, targets []int64, pad []int) *Tensor {
	mask := make([]float32, tbB*tbT)
	for i := range tbB {
		for j := 0; j < pad[i]; j++ {
			mask[i*tbT+j] = -1e9
		}
	}
	heads := func(x *Tensor) *Tensor { return s.Transpose(s.Reshape(x, tbB, tbT, tbHeads, tbHD), 1, 2) }
	x := s.Embedding(b.emb, s.FromInt64(ids, tbB, tbT))
	h := s.RMSNorm(x, b.n1, 1e-6)
	q := s.RoPE(heads(s.LoRALinear(h, b.wq, b.bq, b.aq, b.bqLoRA, 2, 0.1, true)), b.cos, b.sin)
	k := s.RoPE(heads(s.Linear(h, b.wk, b.bk)), b.cos, b.sin)
	v := heads(s.Linear(h, b.wv, nil))
	a := s.SDPA(q, k, v, s.FromFloat32(mask, tbB, 1, 1, tbT), true, 1/math.Sqrt(tbHD))
	a = s.Reshape(s.Contiguous(s.Transpose(a, 1, 2)), tbB, tbT, tbH)
	x = s.Add(x, s.Linear(a, b.wo, nil))
	h = s.RMSNorm(x, b.n2, 1e-6)
	x = s.Add(x, s.Linear(s.SiLUMul(s.Linear(h, b.wg, nil), s.Linear(h, b.wu, nil)), b.wd, nil))
	logits := s.Linear(s.RMSNorm(x, b.nf, 1e-6), b.emb, nil)
	return s.CrossEntropy(s.Reshape(logits, tbB*tbT, tbV), s.FromInt64(targets, tbB*tbT), IgnoreIndex, ReduceMean)
}

func TestTrainingLoopLifetimes(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	b := newTinyBlock(t)
	defer b.m.Close()
	opt, err := NewAdamW([]ParamGroup{
		{Params: b.trainable[:len(b.trainable)-3], LR: 3e-3, WeightDecay: 0.01},
		{Params: b.trainable[len(b.trainable)-3:], LR: 1e-3, WeightDecay: 0},
	}, 0.9, 0.999, 1e-8)
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()

	// A fixed batch: every sequence counts up modulo V from its own start, after some left padding.
	pad := []int{0, 3, 0, 7}
	ids := make([]int64, tbB*tbT)
	targets := make([]int64, tbB*tbT)
	for i := range tbB {
		for j := range tbT {
			k := i*tbT + j
			ids[k] = int64((i*13 + j) % tbV)
			targets[k] = int64((i*13 + j + 1) % tbV)
			if j < pad[i] || j == tbT-1 {
				targets[k] = IgnoreIndex
			}
			if j < pad[i] {
				ids[k] = 0
			}
		}
	}
	const steps = 500
	var first, last float64
	var rss50 int64
	s := NewScope()
	for step := 1; step <= steps; step++ {
		if err := opt.ZeroGrad(); err != nil {
			t.Fatal(err)
		}
		loss := b.loss(s, ids, targets, pad)
		s.Backward(loss)
		if err := s.Err(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if g := s.Grad(b.wq); g != nil {
			t.Fatal("the frozen LoRA base got a gradient")
		}
		if _, err := ClipGradNorm(b.trainable, 1); err != nil {
			t.Fatal(err)
		}
		if err := opt.Step(); err != nil {
			t.Fatal(err)
		}
		lv, err := loss.Item()
		if err != nil || math.IsNaN(lv) {
			t.Fatalf("step %d loss %v %v", step, lv, err)
		}
		if step == 1 {
			first = lv
		}
		last = lv
		s.Close()
		if s.Len() != 0 {
			t.Fatalf("step %d: scope holds %d tensors after Close", step, s.Len())
		}
		if step == 50 {
			rss50 = rssBytes(t)
		}
	}
	rss500 := rssBytes(t)
	t.Logf("loss %.3f -> %.3f; RSS after step 50 %.1f MiB, after step %d %.1f MiB", first, last,
		float64(rss50)/(1<<20), steps, float64(rss500)/(1<<20))
	if last > first/2 {
		t.Errorf("loss %.3f -> %.3f: the loop did not train", first, last)
	}
	if float64(rss500) > 1.10*float64(rss50) {
		t.Errorf("RSS grew from %d to %d bytes (> 10%%) between steps 50 and %d", rss50, rss500, steps)
	}
	if b.m.Len() == 0 || !b.emb.Valid() {
		t.Fatal("model scope lost its parameters")
	}
}
