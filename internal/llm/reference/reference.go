// Package reference is a plain-Go float64 forward pass of the decoders sentitune runs, written
// from the Hugging Face transformers definitions (modeling_qwen2.py, modeling_llama.py,
// modeling_qwen3.py, modeling_mistral.py, modeling_gemma2.py, modeling_gemma3.py, modeling_glm.py,
// modeling_glm4.py). It is slow and simple on purpose: it exists as an independent check of the
// libtorch decoder and of LoRA merges, not for production use.
//
// Conventions, where transformers leaves a choice:
//   - Positions: position_ids = cumsum(attention_mask) - 1 over the real tokens, so a left-padded
//     row gives the same logits as the unpadded sequence (what transformers' generate() computes).
//   - Masking: a query attends to keys that are real tokens (mask 1) at or before it; on a sliding
//     layer only to the last SlidingWindow of them, itself included (masking_utils'
//     kv_idx > q_idx - sliding_window, counted in positions: the same for left or right padding).
//     Padded query rows have no meaning and come back as nil.
//   - Arithmetic is float64 throughout, including RoPE angles (transformers computes the angles in
//     float32, a difference of about 1e-7·position radians). The one rounding kept is gemma's
//     embedding scale √hidden, which transformers computes in the model dtype (EmbedScaleDType).
package reference

import (
	"fmt"
	"math"
	"strings"

	"github.com/sentitune/sentitune/internal/llm"
)

// Model holds a decoder's weights as float64.
type Model struct {
	Arch *Arch
	// EmbedScaleDType is the safetensors dtype gemma's √hidden is rounded to ("BF16", "F16", "F32";
	// "F64" or "" keeps it exact): transformers multiplies in the model dtype, so a bf16 run scales
	// by 55.5 where float32 scales by 55.4256 (hidden 3072). Load sets the checkpoint's dtype.
	EmbedScaleDType string
	weights         map[string]*tensor
}

type tensor struct {
	shape []int
	data  []float64
}

// row returns row r of a 2-D tensor.
func (t *tensor) row(r int) []float64 { c := t.shape[1]; return t.data[r*c : (r+1)*c] }

// Load reads config.json and the safetensors weights of a model folder into float64.
func Load(dir string) (*Model, error) {
	a, err := LoadArch(dir)
	if err != nil {
		return nil, err
	}
	w, err := llm.OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	m := &Model{Arch: a, weights: map[string]*tensor{}}
	var problems []string
	for _, name := range a.Names() {
		want := a.Shapes()[name]
		t, ok := w.Get(name)
		if !ok {
			problems = append(problems, "missing "+name)
			continue
		}
		if fmt.Sprint(t.Shape) != fmt.Sprint(want) {
			problems = append(problems, fmt.Sprintf("%s has shape %v, want %v", name, t.Shape, want))
			continue
		}
		f32, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		m.weights[name] = newTensor(t.Shape, f32)
		if name == llm.EmbedTokensWeight {
			m.EmbedScaleDType = t.DType
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("reference: %s: %s", dir, strings.Join(problems, "; "))
	}
	if a.Tied {
		// Untied checkpoints of a tied config sometimes still carry lm_head; transformers ties it
		// to the embeddings anyway, so the file's copy is ignored.
		m.weights[llm.LMHeadWeight] = m.weights[llm.EmbedTokensWeight]
	}
	return m, nil
}

func newTensor(shape []int64, vals []float32) *tensor {
	t := &tensor{shape: make([]int, len(shape)), data: make([]float64, len(vals))}
	for i, d := range shape {
		t.shape[i] = int(d)
	}
	for i, v := range vals {
		t.data[i] = float64(v)
	}
	return t
}

// Weight returns a copy of the named tensor's values (row-major) and its shape.
func (m *Model) Weight(name string) ([]float64, []int, bool) {
	t, ok := m.weights[name]
	if !ok {
		return nil, nil, false
	}
	return append([]float64(nil), t.data...), append([]int(nil), t.shape...), true
}

// SetWeight replaces the named tensor's values (row-major, same size). On a tied model, setting
// model.embed_tokens.weight changes the input embeddings only; lm_head keeps the old values unless
// set too. That is what PEFT's modules_to_save does to a tied embedding (the wrapper trains a
// copy).
func (m *Model) SetWeight(name string, values []float64) error {
	t, ok := m.weights[name]
	if !ok {
		return fmt.Errorf("reference: no tensor %s", name)
	}
	if len(values) != len(t.data) {
		return fmt.Errorf("reference: tensor %s has %d values, got %d", name, len(t.data), len(values))
	}
	m.weights[name] = &tensor{shape: t.shape, data: append([]float64(nil), values...)}
	return nil
}

// ApplyLoRA adds scaling · B·A to the named linear weight (W is [out, in], A is [r, in], B is
// [out, r]), as PEFT's merge does. name is a weight name ("model.layers.0.self_attn.q_proj.weight")
// or its module ("model.layers.0.self_attn.q_proj"). Embeddings are not linear layers here.
func (m *Model) ApplyLoRA(name string, A, B [][]float64, scaling float64) error {
	if _, ok := m.weights[name]; !ok && !strings.HasSuffix(name, ".weight") {
		name += ".weight"
	}
	t, ok := m.weights[name]
	if !ok {
		return fmt.Errorf("reference: LoRA target %s is not a tensor of the model", name)
	}
	if name == llm.EmbedTokensWeight || len(t.shape) != 2 || strings.HasSuffix(name, "norm.weight") {
		return fmt.Errorf("reference: LoRA target %s is not a linear weight", name)
	}
	out, in := t.shape[0], t.shape[1]
	r := len(A)
	if r == 0 || len(B) != out {
		return fmt.Errorf("reference: LoRA on %s: B has %d rows, weight has %d outputs (rank %d)", name, len(B), out, r)
	}
	for i, a := range A {
		if len(a) != in {
			return fmt.Errorf("reference: LoRA on %s: A row %d has %d columns, weight has %d inputs", name, i, len(a), in)
		}
	}
	for i, b := range B {
		if len(b) != r {
			return fmt.Errorf("reference: LoRA on %s: B row %d has %d columns, want rank %d", name, i, len(b), r)
		}
	}
	// Copy before writing: a tied lm_head shares its storage with the embeddings.
	data := append([]float64(nil), t.data...)
	for o := 0; o < out; o++ {
		row := data[o*in : (o+1)*in]
		for k := 0; k < r; k++ {
			c := scaling * B[o][k]
			if c == 0 {
				continue
			}
			for i, a := range A[k] {
				row[i] += c * a
			}
		}
	}
	m.weights[name] = &tensor{shape: t.shape, data: data}
	return nil
}

// Forward returns the logits [len(ids)][vocab] of one unpadded sequence.
func (m *Model) Forward(ids []int) ([][]float64, error) {
	mask := make([]int, len(ids))
	for i := range mask {
		mask[i] = 1
	}
	return m.ForwardMasked(ids, mask)
}

// ForwardMasked runs one padded row: mask[t] is 1 for a real token and 0 for padding (left, right
// or anywhere). Padding rows of the result are nil; real rows equal Forward of the real tokens.
func (m *Model) ForwardMasked(ids []int, mask []int) ([][]float64, error) {
	a := m.Arch
	if len(ids) != len(mask) {
		return nil, fmt.Errorf("reference: %d ids but %d mask values", len(ids), len(mask))
	}
	T := len(ids)
	pos := make([]int, T)
	n := 0
	for t := range ids {
		switch mask[t] {
		case 0:
			pos[t] = -1
			continue
		case 1:
		default:
			return nil, fmt.Errorf("reference: mask value %d at %d (want 0 or 1)", mask[t], t)
		}
		if ids[t] < 0 || ids[t] >= a.Vocab {
			return nil, fmt.Errorf("reference: token id %d at %d outside vocabulary [0, %d)", ids[t], t, a.Vocab)
		}
		pos[t] = n
		n++
	}

	embed := m.weights[llm.EmbedTokensWeight]
	scale := 1.0
	if a.ScaleEmbeddings {
		scale = roundTo(math.Sqrt(float64(a.Hidden)), m.EmbedScaleDType)
	}
	x := make([][]float64, T)
	for t := range x {
		if pos[t] >= 0 {
			x[t] = append([]float64(nil), embed.row(ids[t])...)
			for i := range x[t] {
				x[t][i] *= scale
			}
		}
	}
	for l := 0; l < a.Layers; l++ {
		m.layer(l, x, pos)
	}
	norm := m.weights[llm.FinalNormWeight].data
	head := m.weights[llm.LMHeadWeight]
	logits := make([][]float64, T)
	for t := range x {
		if x[t] == nil {
			continue
		}
		logits[t] = linear(head, nil, m.norm(x[t], norm))
		if c := a.FinalSoftcap; c > 0 {
			for i, v := range logits[t] {
				logits[t][i] = softcap(v, c)
			}
		}
	}
	return logits, nil
}

// layer applies decoder layer l in place to the hidden states x (nil rows are padding):
// x += PostAttn(attention(input_layernorm(x))); x += PostMLP(mlp(PreMLP(x))), the post-norms
// present only where the architecture has them.
func (m *Model) layer(l int, x [][]float64, pos []int) {
	a := m.Arch
	p := layerPrefix(l)
	w := func(s string) *tensor { return m.weights[p+s] }
	attn := m.attention(l, x, pos)
	for t := range x {
		if x[t] == nil {
			continue
		}
		o := attn[t]
		if a.Norms.PostAttn != "" {
			o = m.norm(o, w(a.Norms.PostAttn+".weight").data)
		}
		add(x[t], o)
	}
	for t := range x {
		if x[t] == nil {
			continue
		}
		o := m.mlp(p, m.norm(x[t], w(a.Norms.PreMLP+".weight").data))
		if a.Norms.PostMLP != "" {
			o = m.norm(o, w(a.Norms.PostMLP+".weight").data)
		}
		add(x[t], o)
	}
}

// attention returns o_proj(attention) of layer l for each real row of x.
func (m *Model) attention(l int, x [][]float64, pos []int) [][]float64 {
	a := m.Arch
	p := layerPrefix(l)
	w := func(s string) *tensor { return m.weights[p+s] }
	bias := func(s string) []float64 {
		if t, ok := m.weights[p+s]; ok {
			return t.data
		}
		return nil
	}
	rope := a.Rope
	if a.LocalRope != nil && a.Sliding[l] {
		rope = *a.LocalRope
	}
	invFreq := rope.InvFreq()
	hd, nH, nKV := a.HeadDim, a.Heads, a.KVHeads
	T := len(x)
	q := make([][]float64, T)
	k := make([][]float64, T)
	v := make([][]float64, T)
	for t := range x {
		if x[t] == nil {
			continue
		}
		h := m.norm(x[t], w("input_layernorm.weight").data)
		q[t] = linear(w("self_attn.q_proj.weight"), bias("self_attn.q_proj.bias"), h)
		k[t] = linear(w("self_attn.k_proj.weight"), bias("self_attn.k_proj.bias"), h)
		v[t] = linear(w("self_attn.v_proj.weight"), bias("self_attn.v_proj.bias"), h)
		for head := 0; head < nH; head++ {
			qh := q[t][head*hd : (head+1)*hd]
			if a.QKNorm {
				copy(qh, m.norm(qh, w("self_attn.q_norm.weight").data))
			}
			rope.apply(qh, pos[t], invFreq)
		}
		for head := 0; head < nKV; head++ {
			kh := k[t][head*hd : (head+1)*hd]
			if a.QKNorm {
				copy(kh, m.norm(kh, w("self_attn.k_norm.weight").data))
			}
			rope.apply(kh, pos[t], invFreq)
		}
	}
	window := math.MaxInt
	if a.Sliding[l] {
		window = a.SlidingWindow
	}
	group := nH / nKV // query heads sharing one key/value head (GQA's repeat_kv)
	out := make([][]float64, T)
	for t := range x {
		if x[t] == nil {
			continue
		}
		heads := make([]float64, nH*hd)
		for head := 0; head < nH; head++ {
			kvh := head / group
			qh := q[t][head*hd : (head+1)*hd]
			scores := make([]float64, t+1)
			seen := make([]bool, t+1)
			maxScore := math.Inf(-1)
			for u := 0; u <= t; u++ {
				if x[u] == nil || pos[t]-pos[u] >= window {
					continue
				}
				seen[u] = true
				scores[u] = dot(qh, k[u][kvh*hd:(kvh+1)*hd]) * a.AttnScale
				if c := a.AttnSoftcap; c > 0 {
					scores[u] = softcap(scores[u], c)
				}
				maxScore = math.Max(maxScore, scores[u])
			}
			var sum float64
			for u := range scores {
				if !seen[u] {
					continue
				}
				scores[u] = math.Exp(scores[u] - maxScore)
				sum += scores[u]
			}
			o := heads[head*hd : (head+1)*hd]
			for u := range scores {
				if !seen[u] {
					continue
				}
				pu := scores[u] / sum
				for i, vv := range v[u][kvh*hd : (kvh+1)*hd] {
					o[i] += pu * vv
				}
			}
		}
		out[t] = linear(w("self_attn.o_proj.weight"), bias("self_attn.o_proj.bias"), heads)
	}
	return out
}

// mlp is down(act(gate(h)) · up(h)); glm4 computes gate and up as one gate_up_proj [gate; up].
func (m *Model) mlp(p string, h []float64) []float64 {
	a := m.Arch
	w := func(s string) *tensor { return m.weights[p+s] }
	bias := func(s string) []float64 {
		if t, ok := m.weights[p+s]; ok {
			return t.data
		}
		return nil
	}
	var gate, up []float64
	if a.FusedGateUp {
		gu := linear(w("mlp.gate_up_proj.weight"), bias("mlp.gate_up_proj.bias"), h)
		gate, up = gu[:a.Intermediate], gu[a.Intermediate:]
	} else {
		gate = linear(w("mlp.gate_proj.weight"), bias("mlp.gate_proj.bias"), h)
		up = linear(w("mlp.up_proj.weight"), bias("mlp.up_proj.bias"), h)
	}
	act := silu
	if a.Act == "gelu_pytorch_tanh" {
		act = geluTanh
	}
	for i := range gate {
		gate[i] = act(gate[i]) * up[i]
	}
	return linear(w("mlp.down_proj.weight"), bias("mlp.down_proj.bias"), gate)
}

// norm is the architecture's RMSNorm: x · rsqrt(mean(x²) + eps) · (NormOffset + w).
func (m *Model) norm(x, w []float64) []float64 {
	return rmsNormOffset(x, w, m.Arch.RMSNormEps, m.Arch.NormOffset)
}

// rmsNorm is transformers' Qwen2RMSNorm/LlamaRMSNorm: x · rsqrt(mean(x²) + eps) · w.
func rmsNorm(x, w []float64, eps float64) []float64 { return rmsNormOffset(x, w, eps, 0) }

// rmsNormOffset scales by (offset + w): Gemma's RMSNorm stores w - 1 (offset 1).
func rmsNormOffset(x, w []float64, eps, offset float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * r * (offset + w[i])
	}
	return out
}

// InvFreq returns the Dim/2 inverse frequencies 1/θ^(2i/Dim), adjusted by the rope scaling;
// angle(pos, i) = pos · invFreq[i].
func (r Rope) InvFreq() []float64 {
	inv := make([]float64, r.Dim/2)
	for i := range inv {
		inv[i] = 1 / math.Pow(r.Theta, float64(2*i)/float64(r.Dim))
	}
	s := r.Scaling
	if s == nil {
		return inv
	}
	switch s.Type {
	case "linear":
		for i := range inv {
			inv[i] /= s.Factor
		}
	case "llama3":
		// transformers' _compute_llama3_parameters: long wavelengths slowed by factor, short
		// ones kept, the band between interpolated.
		old := s.OriginalMaxPositionEmbeddings
		lowWavelen, highWavelen := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
			case wavelen > lowWavelen:
				inv[i] = f / s.Factor
			default:
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				inv[i] = (1-smooth)*f/s.Factor + smooth*f
			}
		}
	}
	return inv
}

// apply rotates the first Dim values of one head in place; the rest pass through.
func (r Rope) apply(x []float64, pos int, invFreq []float64) {
	if r.Interleaved {
		ropeInterleaved(x[:r.Dim], pos, invFreq)
		return
	}
	rope(x[:r.Dim], pos, invFreq)
}

// rope rotates one head in place with the half-split layout of transformers' rotate_half:
// x·cos + rotate_half(x)·sin, rotate_half(x) = [-x2, x1], cos/sin = [freqs, freqs].
func rope(x []float64, pos int, invFreq []float64) {
	half := len(x) / 2
	for i := 0; i < half; i++ {
		sin, cos := math.Sincos(float64(pos) * invFreq[i])
		x1, x2 := x[i], x[i+half]
		x[i] = x1*cos - x2*sin
		x[i+half] = x2*cos + x1*sin
	}
}

// ropeInterleaved rotates the pairs (2i, 2i+1) by angle i, as modeling_glm4's rotate_half
// (stack(-x[1::2], x[0::2])) with cos/sin repeat_interleave'd does.
func ropeInterleaved(x []float64, pos int, invFreq []float64) {
	for i := 0; i < len(x)/2; i++ {
		sin, cos := math.Sincos(float64(pos) * invFreq[i])
		x1, x2 := x[2*i], x[2*i+1]
		x[2*i] = x1*cos - x2*sin
		x[2*i+1] = x2*cos + x1*sin
	}
}

// linear computes W·x + b for W [out, in] (b may be nil).
func linear(w *tensor, b []float64, x []float64) []float64 {
	out := make([]float64, w.shape[0])
	for o := range out {
		out[o] = dot(w.row(o), x)
		if b != nil {
			out[o] += b[o]
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

func add(x, y []float64) {
	for i := range x {
		x[i] += y[i]
	}
}

func silu(x float64) float64 { return x / (1 + math.Exp(-x)) }

// geluTanh is gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluTanh(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// softcap is gemma2's c·tanh(x/c).
func softcap(x, c float64) float64 { return c * math.Tanh(x/c) }

// roundTo rounds v to a safetensors float dtype (round to nearest even, as torch casts).
func roundTo(v float64, dtype string) float64 {
	switch dtype {
	case "F32":
		return float64(float32(v))
	case "BF16":
		return float64(llm.BF16ToF32(llm.F32ToBF16(float32(v))))
	case "F16":
		return float64(llm.F16ToF32(llm.F32ToF16(float32(v))))
	}
	return v
}
