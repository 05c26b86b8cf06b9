// Package reference is a plain-Go float64 forward pass of the Qwen2/Llama decoder, written from
// the Hugging Face transformers definitions (modeling_qwen2.py, modeling_llama.py). It is slow
// and simple on purpose: it exists as an independent check of the libtorch decoder and of LoRA
// merges, not for production use.
//
// Conventions, where transformers leaves a choice:
//   - Positions: position_ids = cumsum(attention_mask) - 1 over the real tokens, so a left-padded
//     row gives the same logits as the unpadded sequence (what transformers' generate() computes).
//   - Masking: a query attends to keys that are real tokens (mask 1) at or before it. Padded query
//     rows have no meaning and come back as nil.
//   - Arithmetic is float64 throughout, including RoPE angles (transformers computes the angles in
//     float32, a difference of about 1e-7·position radians).
package reference

import (
	"fmt"
	"math"
	"strings"

	"github.com/sentitune/sentitune/internal/llm"
)

// Model holds a decoder's weights as float64.
type Model struct {
	Config  *llm.Config
	weights map[string]*tensor
	invFreq []float64
}

type tensor struct {
	shape []int
	data  []float64
}

// row returns row r of a 2-D tensor.
func (t *tensor) row(r int) []float64 { c := t.shape[1]; return t.data[r*c : (r+1)*c] }

// Load reads config.json and the safetensors weights of a model folder into float64.
func Load(dir string) (*Model, error) {
	cfg, err := llm.LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	w, err := llm.OpenWeights(dir)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	return FromWeights(cfg, w)
}

// FromWeights copies the decoder tensors of w into a new Model.
func FromWeights(cfg *llm.Config, w *llm.Weights) (*Model, error) {
	if err := llm.CheckWeights(cfg, w); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, weights: map[string]*tensor{}, invFreq: cfg.RopeInvFreq()}
	for _, name := range cfg.WeightNames() {
		t, _ := w.Get(name)
		f32, err := t.Float32s()
		if err != nil {
			return nil, err
		}
		m.weights[name] = newTensor(t.Shape, f32)
	}
	if cfg.TieWordEmbeddings {
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
	c := m.Config
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
		if ids[t] < 0 || ids[t] >= c.VocabSize {
			return nil, fmt.Errorf("reference: token id %d at %d outside vocabulary [0, %d)", ids[t], t, c.VocabSize)
		}
		pos[t] = n
		n++
	}

	embed := m.weights[llm.EmbedTokensWeight]
	x := make([][]float64, T)
	for t := range x {
		if pos[t] >= 0 {
			x[t] = append([]float64(nil), embed.row(ids[t])...)
		}
	}
	for l := 0; l < c.NumHiddenLayers; l++ {
		m.layer(l, x, pos)
	}
	norm := m.weights[llm.FinalNormWeight].data
	head := m.weights[llm.LMHeadWeight]
	logits := make([][]float64, T)
	for t := range x {
		if x[t] == nil {
			continue
		}
		logits[t] = linear(head, nil, rmsNorm(x[t], norm, c.RMSNormEps))
	}
	return logits, nil
}

// layer applies decoder layer l in place to the hidden states x (nil rows are padding).
func (m *Model) layer(l int, x [][]float64, pos []int) {
	c := m.Config
	p := llm.LayerPrefix(l)
	w := func(s string) *tensor { return m.weights[p+s] }
	bias := func(s string) []float64 {
		if t, ok := m.weights[p+s]; ok {
			return t.data
		}
		return nil
	}
	hd, nH, nKV := c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads
	T := len(x)
	q := make([][]float64, T)
	k := make([][]float64, T)
	v := make([][]float64, T)
	for t := range x {
		if x[t] == nil {
			continue
		}
		h := rmsNorm(x[t], w("input_layernorm.weight").data, c.RMSNormEps)
		q[t] = linear(w("self_attn.q_proj.weight"), bias("self_attn.q_proj.bias"), h)
		k[t] = linear(w("self_attn.k_proj.weight"), bias("self_attn.k_proj.bias"), h)
		v[t] = linear(w("self_attn.v_proj.weight"), bias("self_attn.v_proj.bias"), h)
		for head := 0; head < nH; head++ {
			rope(q[t][head*hd:(head+1)*hd], pos[t], m.invFreq)
		}
		for head := 0; head < nKV; head++ {
			rope(k[t][head*hd:(head+1)*hd], pos[t], m.invFreq)
		}
	}
	scale := 1 / math.Sqrt(float64(hd))
	group := nH / nKV // query heads sharing one key/value head (GQA's repeat_kv)
	for t := range x {
		if x[t] == nil {
			continue
		}
		attn := make([]float64, nH*hd)
		for head := 0; head < nH; head++ {
			kvh := head / group
			qh := q[t][head*hd : (head+1)*hd]
			scores := make([]float64, t+1)
			maxScore := math.Inf(-1)
			for u := 0; u <= t; u++ {
				if x[u] == nil {
					continue
				}
				scores[u] = dot(qh, k[u][kvh*hd:(kvh+1)*hd]) * scale
				maxScore = math.Max(maxScore, scores[u])
			}
			var sum float64
			for u := 0; u <= t; u++ {
				if x[u] == nil {
					scores[u] = 0
					continue
				}
				scores[u] = math.Exp(scores[u] - maxScore)
				sum += scores[u]
			}
			out := attn[head*hd : (head+1)*hd]
			for u := 0; u <= t; u++ {
				if scores[u] == 0 {
					continue
				}
				pu := scores[u] / sum
				for i, vv := range v[u][kvh*hd : (kvh+1)*hd] {
					out[i] += pu * vv
				}
			}
		}
		o := linear(w("self_attn.o_proj.weight"), bias("self_attn.o_proj.bias"), attn)
		for i := range x[t] {
			x[t][i] += o[i]
		}
	}
	for t := range x {
		if x[t] == nil {
			continue
		}
		h := rmsNorm(x[t], w("post_attention_layernorm.weight").data, c.RMSNormEps)
		gate := linear(w("mlp.gate_proj.weight"), bias("mlp.gate_proj.bias"), h)
		up := linear(w("mlp.up_proj.weight"), bias("mlp.up_proj.bias"), h)
		for i := range gate {
			gate[i] = silu(gate[i]) * up[i]
		}
		down := linear(w("mlp.down_proj.weight"), bias("mlp.down_proj.bias"), gate)
		for i := range x[t] {
			x[t][i] += down[i]
		}
	}
}

// rmsNorm is transformers' Qwen2RMSNorm/LlamaRMSNorm: x · rsqrt(mean(x²) + eps) · w.
func rmsNorm(x, w []float64, eps float64) []float64 {
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * r * w[i]
	}
	return out
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

func silu(x float64) float64 { return x / (1 + math.Exp(-x)) }
