package llm

import (
	"fmt"

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
	AttnOutNorm  *torch.Tensor // on the attention output (gemma, glm4), else nil
	PostAttnNorm *torch.Tensor // before the MLP: post_attention_layernorm (gemma: pre_feedforward_layernorm) [H]
	MLP          mlp           // mlp
	MLPOutNorm   *torch.Tensor // on the MLP output (gemma, glm4), else nil
	cfg          *Config
	sliding      bool      // attends within cfg.SlidingWindow
	projections  []*linear // the layer's linears in layerWeights order (LoRA, merge)
}

// attention is GQA self-attention with rotary positions.
type attention struct {
	Q, K, V, O              *linear       // q_proj, k_proj, v_proj, o_proj
	QNorm, KNorm            *torch.Tensor // q_norm, k_norm [head_dim] (qwen3, gemma3), else nil
	heads, kvHeads, headDim int64
	cfg                     *Config
}

// mlp is the gated feed-forward: down(act(gate(x)) · up(x)), act silu (SwiGLU) or gelu-tanh
// (gemma's GeGLU); glm4 computes gate and up as one gate_up_proj.
type mlp struct {
	Gate, Up, Down *linear // gate_proj, up_proj, down_proj
	GateUp         *linear // gate_up_proj [2·I, H] (glm4), else nil
	cfg            *Config
}

// ropeAt holds cos/sin broadcastable to [B, heads, T, head_dim].
type ropeAt struct{ cos, sin *torch.Tensor }

// newDecoderLayer binds layer i's tensors, as the config's layerWeights rows declare them.
func newDecoderLayer(cfg *Config, i int, load func(string) *torch.Tensor) *decoderLayer {
	p := LayerPrefix(i)
	l := &decoderLayer{
		Attn: attention{heads: int64(cfg.NumAttentionHeads), kvHeads: int64(cfg.NumKeyValueHeads),
			headDim: int64(cfg.HeadDim), cfg: cfg},
		MLP: mlp{cfg: cfg},
		cfg: cfg, sliding: cfg.slidingLayer(i),
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
	// local is the same queries for the sliding layers when an architecture mixes sliding and
	// full layers (gemma): their window mask, and their rotary tables (gemma3's local base) for
	// the queries and for the keys (keyRope, set in local only). nil: every layer uses these.
	local   *attnQueries
	keyRope ropeAt
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
	hn := l.cfg.rmsNorm(s, x, l.InputNorm) // per position: picking before or after is the same
	a := l.Attn.Forward(s, hn, q.pick(s, hn, B, T), keyRope, q, B, T, train)
	if l.AttnOutNorm != nil {
		a = l.cfg.rmsNorm(s, a, l.AttnOutNorm)
	}
	h := s.Add(q.pick(s, x, B, T), a)
	f := l.MLP.Forward(s, l.cfg.rmsNorm(s, h, l.PostAttnNorm), train)
	if l.MLPOutNorm != nil {
		f = l.cfg.rmsNorm(s, f, l.MLPOutNorm)
	}
	return s.Add(h, f)
}

// Forward is self-attention of the queries of xq [B, q.n, H] over the keys and values of x [B, T, H].
func (a *attention) Forward(s *torch.Scope, x, xq *torch.Tensor, keyRope ropeAt, q *attnQueries, B, T int64, train bool) *torch.Tensor {
	nH, nKV, hd := a.heads, a.kvHeads, a.headDim
	heads := func(y *torch.Tensor, n, t int64) *torch.Tensor { // [B, t, n·hd] → [B, n, t, hd]
		return s.Transpose(s.Reshape(y, B, t, n, hd), 1, 2)
	}
	var perm *torch.Tensor // glm4: q and k dims reordered so that the half-split RoPE is its rotation
	if a.cfg.interleavedRope() {
		perm = s.ToDevice(s.FromInt64(a.cfg.glm4Perm(), hd), x.Device())
	}
	qh := s.RoPE(permuteHeads(s, a.headNorm(s, heads(a.Q.Forward(s, xq, train), nH, q.n), a.QNorm), perm), q.rope.cos, q.rope.sin)
	k := s.RoPE(permuteHeads(s, a.headNorm(s, heads(a.K.Forward(s, x, train), nKV, T), a.KNorm), perm), keyRope.cos, keyRope.sin)
	v := heads(a.V.Forward(s, x, train), nKV, T)
	if nKV != nH { // GQA: each key/value head serves nH/nKV query heads (transformers' repeat_kv)
		k = repeatKV(s, k, B, nKV, nH/nKV, T, hd)
		v = repeatKV(s, v, B, nKV, nH/nKV, T, hd)
	}
	var o *torch.Tensor
	if c := a.cfg.AttnLogitSoftcap; c > 0 {
		o = attendSoftcapped(s, qh, k, v, q.mask, q.causal, a.cfg.attnScale(), c)
	} else {
		o = s.SDPA(qh, k, v, q.mask, q.causal, a.cfg.attnScale())
	}
	return a.O.Forward(s, s.Reshape(s.Transpose(o, 1, 2), B, q.n, nH*hd), train)
}

// headNorm is Qwen3's per-head RMSNorm of q or k over head_dim, before RoPE; a no-op without one.
func (a *attention) headNorm(s *torch.Scope, t, w *torch.Tensor) *torch.Tensor {
	if w == nil {
		return t
	}
	return a.cfg.rmsNorm(s, t, w)
}

func repeatKV(s *torch.Scope, t *torch.Tensor, B, nKV, rep, T, hd int64) *torch.Tensor {
	return s.Reshape(s.Expand(s.Unsqueeze(t, 2), B, nKV, rep, T, hd), B, nKV*rep, T, hd)
}

// Forward is the gated MLP.
func (f *mlp) Forward(s *torch.Scope, x *torch.Tensor, train bool) *torch.Tensor {
	var gate, up *torch.Tensor
	if f.GateUp != nil {
		gu := f.GateUp.Forward(s, x, train)
		inter := int64(f.cfg.IntermediateSize)
		gate, up = s.Narrow(gu, -1, 0, inter), s.Narrow(gu, -1, inter, inter)
	} else {
		gate, up = f.Gate.Forward(s, x, train), f.Up.Forward(s, x, train)
	}
	if f.cfg.HiddenAct == "gelu_pytorch_tanh" {
		return f.Down.Forward(s, geluTanhMul(s, gate, up), train)
	}
	return f.Down.Forward(s, s.SiLUMul(gate, up), train)
}

// forward embeds ids [B·T] and runs every layer and the final norm: [B, n, H] in s, where the last
// layer computes its outputs at last's positions (all T when last.rows is nil) and the others at all
// T under all. Each layer runs in its own scope, and only its output survives: inference holds two
// layers' activations at most, and training keeps exactly what autograd saved (libtorch's graph
// holds its own refs).
func (m *Model) forward(s *torch.Scope, ids []int64, B, T int, keyRope ropeAt, all, last *attnQueries, train bool) (*torch.Tensor, error) {
	b, t := int64(B), int64(T)
	idt := s.ToDevice(s.FromInt64(ids, b, t), m.dev)
	var x *torch.Tensor // flatIDs checked the ids against the vocabulary: no device read here
	if m.embedTrain != nil {
		x = s.ToDType(s.EmbeddingChecked(m.embedTrain, idt), m.dtype)
	} else {
		x = s.EmbeddingChecked(m.embed, idt)
	}
	if sc := m.cfg.embedScale(m.dtype); sc != 1 {
		x = s.MulScalar(x, sc)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("forward: embeddings: %w", err)
	}
	run := func(ls *torch.Scope, i int, x *torch.Tensor) *torch.Tensor {
		q, kr := all, keyRope
		if i == len(m.layers)-1 {
			q = last
		}
		if m.layers[i].sliding && q.local != nil {
			q, kr = q.local, q.local.keyRope
		}
		return m.layers[i].Forward(ls, x, kr, q, b, t, train)
	}
	layers := m.layers
	if train && m.checkpointing { // x becomes the last layer's output (checkpoint.go)
		var err error
		if x, err = m.checkpointedLayers(s, x, run); err != nil {
			return nil, err
		}
		layers = nil
	}
	ls := torch.NewScope()
	defer ls.Close()
	var carried *torch.Tensor // the previous layer's output, owned by no scope
	defer func() { carried.Free() }()
	for i := range layers {
		y := run(ls, i, x)
		if err := ls.Err(); err != nil {
			return nil, fmt.Errorf("forward: layer %d: %w", i, err)
		}
		ls.Keep(y)
		ls.Close()
		carried.Free()
		carried, x = y, y
	}
	out := m.cfg.rmsNorm(s, x, m.norm)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("forward: final norm: %w", err)
	}
	return out, nil
}
