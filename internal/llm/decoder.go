package llm

import (
	"fmt"
	"math"

	"github.com/sentitune/sentitune/internal/torch"
)

// The Qwen2 / Llama decoder (transformers' modeling_qwen2.py and modeling_llama.py). The two
// architectures share this file: they differ only in which projections carry a bias (Config's
// AttentionBias, OProjBias, MLPBias) and in rope scaling (Config.RopeInvFreq).
//
//	h = embed(ids)
//	for each layer: h += attn(rmsnorm(h)); h += mlp(rmsnorm(h))
//	hidden = rmsnorm(h);  logits = hidden · lm_headᵀ

// decoderLayer is one transformer block: model.layers.{i}.*. Which fields a model fills, and from
// which tensors, is declared once in layerWeights (schema.go).
type decoderLayer struct {
	InputNorm    *torch.Tensor // input_layernorm.weight [H]
	Attn         attention     // self_attn
	PostAttnNorm *torch.Tensor // post_attention_layernorm.weight [H]
	MLP          mlp           // mlp
	eps          float64
	projections  []*linear // the layer's linears in layerWeights order (LoRA, merge)
}

// attention is GQA self-attention with rotary positions.
type attention struct {
	Q, K, V, O              *linear       // q_proj, k_proj, v_proj, o_proj
	QNorm, KNorm            *torch.Tensor // q_norm, k_norm [head_dim] (qwen3), else nil
	heads, kvHeads, headDim int64
	eps                     float64
}

// mlp is the SwiGLU feed-forward: down(silu(gate(x)) · up(x)).
type mlp struct {
	Gate, Up, Down *linear // gate_proj, up_proj, down_proj
}

// ropeAt holds cos/sin broadcastable to [B, heads, T, head_dim].
type ropeAt struct{ cos, sin *torch.Tensor }

// newDecoderLayer binds layer i's tensors, as the config's layerWeights rows declare them.
func newDecoderLayer(cfg *Config, i int, load func(string) *torch.Tensor) *decoderLayer {
	p := LayerPrefix(i)
	l := &decoderLayer{
		Attn: attention{heads: int64(cfg.NumAttentionHeads), kvHeads: int64(cfg.NumKeyValueHeads),
			headDim: int64(cfg.HeadDim), eps: cfg.RMSNormEps},
		eps: cfg.RMSNormEps,
	}
	for _, w := range cfg.layerWeights() {
		name := p + w.Module
		if !w.Linear {
			*w.norm(l) = load(name + ".weight")
			continue
		}
		lin := &linear{Name: name, Weight: load(name + ".weight")}
		if w.hasBias(cfg) {
			lin.Bias = load(name + ".bias")
		}
		*w.linear(l) = lin
		l.projections = append(l.projections, lin)
	}
	return l
}

// linears lists the layer's projections in layerWeights order.
func (l *decoderLayer) linears() []*linear { return l.projections }

// attnQueries says at which positions a layer computes its outputs and which keys each sees.
// Keys and values always come from every position; with rows set, the queries, the attention
// output, o_proj, the MLP and the residual run on A rows per sequence instead of T (scoring and
// the answer-only loss need a few positions per row, so the last layer saves most of its work).
type attnQueries struct {
	rows   *torch.Tensor // int64 [B·A]: positions in the flattened [B·T] sequence; nil: all T
	n      int64         // A, or T when rows is nil
	rope   ropeAt        // cos/sin at the query positions, [B or 1, 1, n, head_dim]
	mask   *torch.Tensor // additive, broadcastable to [B, 1, n, T]; nil for none
	causal bool          // also hide keys after each query (all-position queries)
}

// pick selects the query rows of t [B, T, H]: [B, n, H], or t itself for all positions.
func (q *attnQueries) pick(s *torch.Scope, t *torch.Tensor, B, T int64) *torch.Tensor {
	if q.rows == nil {
		return t
	}
	H := t.Size(2)
	return s.Reshape(s.IndexSelect(s.Reshape(t, B*T, H), 0, q.rows), B, q.n, H)
}

// Forward maps x [B, T, H] to the layer's output at q's positions, [B, q.n, H].
func (l *decoderLayer) Forward(s *torch.Scope, x *torch.Tensor, keyRope ropeAt, q *attnQueries, B, T int64, train bool) *torch.Tensor {
	hn := s.RMSNorm(x, l.InputNorm, l.eps) // per position: picking before or after is the same
	h := s.Add(q.pick(s, x, B, T), l.Attn.Forward(s, hn, q.pick(s, hn, B, T), keyRope, q, B, T, train))
	return s.Add(h, l.MLP.Forward(s, s.RMSNorm(h, l.PostAttnNorm, l.eps), train))
}

// Forward is self-attention of the queries of xq [B, q.n, H] over the keys and values of x [B, T, H].
func (a *attention) Forward(s *torch.Scope, x, xq *torch.Tensor, keyRope ropeAt, q *attnQueries, B, T int64, train bool) *torch.Tensor {
	nH, nKV, hd := a.heads, a.kvHeads, a.headDim
	heads := func(y *torch.Tensor, n, t int64) *torch.Tensor { // [B, t, n·hd] → [B, n, t, hd]
		return s.Transpose(s.Reshape(y, B, t, n, hd), 1, 2)
	}
	qh := s.RoPE(a.headNorm(s, heads(a.Q.Forward(s, xq, train), nH, q.n), a.QNorm), q.rope.cos, q.rope.sin)
	k := s.RoPE(a.headNorm(s, heads(a.K.Forward(s, x, train), nKV, T), a.KNorm), keyRope.cos, keyRope.sin)
	v := heads(a.V.Forward(s, x, train), nKV, T)
	if nKV != nH { // GQA: each key/value head serves nH/nKV query heads (transformers' repeat_kv)
		k = repeatKV(s, k, B, nKV, nH/nKV, T, hd)
		v = repeatKV(s, v, B, nKV, nH/nKV, T, hd)
	}
	o := s.SDPA(qh, k, v, q.mask, q.causal, 1/math.Sqrt(float64(hd)))
	return a.O.Forward(s, s.Reshape(s.Transpose(o, 1, 2), B, q.n, nH*hd), train)
}

// headNorm is Qwen3's per-head RMSNorm of q or k over head_dim, before RoPE; a no-op without one.
func (a *attention) headNorm(s *torch.Scope, t, w *torch.Tensor) *torch.Tensor {
	if w == nil {
		return t
	}
	return s.RMSNorm(t, w, a.eps)
}

func repeatKV(s *torch.Scope, t *torch.Tensor, B, nKV, rep, T, hd int64) *torch.Tensor {
	return s.Reshape(s.Expand(s.Unsqueeze(t, 2), B, nKV, rep, T, hd), B, nKV*rep, T, hd)
}

// Forward is the SwiGLU MLP.
func (f *mlp) Forward(s *torch.Scope, x *torch.Tensor, train bool) *torch.Tensor {
	return f.Down.Forward(s, s.SiLUMul(f.Gate.Forward(s, x, train), f.Up.Forward(s, x, train)), train)
}

// forward embeds ids [B·T] and runs every layer and the final norm: [B, n, H] in s, where the last
// layer computes its outputs at last's positions (all T when last.rows is nil) and the others at all
// T under all. Each layer runs in its own scope, and only its output survives: inference holds two
// layers' activations at most, and training keeps exactly what autograd saved (libtorch's graph
// holds its own refs).
func (m *Model) forward(s *torch.Scope, ids []int64, B, T int, keyRope ropeAt, all, last *attnQueries, train bool) (*torch.Tensor, error) {
	b, t := int64(B), int64(T)
	idt := s.ToDevice(s.FromInt64(ids, b, t), m.dev)
	var x *torch.Tensor
	if m.embedTrain != nil {
		x = s.ToDType(s.Embedding(m.embedTrain, idt), m.dtype)
	} else {
		x = s.Embedding(m.embed, idt)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("forward: embeddings: %w", err)
	}
	ls := torch.NewScope()
	defer ls.Close()
	var carried *torch.Tensor // the previous layer's output, owned by no scope
	defer func() { carried.Free() }()
	for i, layer := range m.layers {
		q := all
		if i == len(m.layers)-1 {
			q = last
		}
		y := layer.Forward(ls, x, keyRope, q, b, t, train)
		if err := ls.Err(); err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", i, err)
		}
		ls.Keep(y)
		ls.Close()
		carried.Free()
		carried, x = y, y
	}
	out := s.RMSNorm(x, m.norm, m.cfg.RMSNormEps)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("forward: final norm: %w", err)
	}
	return out, nil
}
