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

// decoderLayer is one transformer block: model.layers.{i}.*.
type decoderLayer struct {
	InputNorm    *torch.Tensor // input_layernorm.weight [H]
	Attn         attention     // self_attn
	PostAttnNorm *torch.Tensor // post_attention_layernorm.weight [H]
	MLP          mlp           // mlp
	eps          float64
}

// attention is GQA self-attention with rotary positions.
type attention struct {
	Q, K, V, O              *linear // q_proj, k_proj, v_proj, o_proj
	heads, kvHeads, headDim int64
}

// mlp is the SwiGLU feed-forward: down(silu(gate(x)) · up(x)).
type mlp struct {
	Gate, Up, Down *linear // gate_proj, up_proj, down_proj
}

// ropeAt holds cos/sin broadcastable to [B, heads, T, head_dim].
type ropeAt struct{ cos, sin *torch.Tensor }

func newDecoderLayer(cfg *Config, i int, load, loadOpt func(string) *torch.Tensor) *decoderLayer {
	p := LayerPrefix(i)
	lin := func(module string) *linear {
		return &linear{Name: p + module, Weight: load(p + module + ".weight"), Bias: loadOpt(p + module + ".bias")}
	}
	return &decoderLayer{
		InputNorm: load(p + "input_layernorm.weight"),
		Attn: attention{
			Q: lin("self_attn.q_proj"), K: lin("self_attn.k_proj"), V: lin("self_attn.v_proj"), O: lin("self_attn.o_proj"),
			heads: int64(cfg.NumAttentionHeads), kvHeads: int64(cfg.NumKeyValueHeads), headDim: int64(cfg.HeadDim),
		},
		PostAttnNorm: load(p + "post_attention_layernorm.weight"),
		MLP:          mlp{Gate: lin("mlp.gate_proj"), Up: lin("mlp.up_proj"), Down: lin("mlp.down_proj")},
		eps:          cfg.RMSNormEps,
	}
}

// linears lists the layer's projections in LinearModules order.
func (l *decoderLayer) linears() []*linear {
	return []*linear{l.Attn.Q, l.Attn.K, l.Attn.V, l.Attn.O, l.MLP.Gate, l.MLP.Up, l.MLP.Down}
}

// Forward maps x [B, T, H] to the layer's output [B, T, H].
func (l *decoderLayer) Forward(s *torch.Scope, x *torch.Tensor, rope ropeAt, mask *torch.Tensor, B, T int64, train bool) *torch.Tensor {
	h := s.Add(x, l.Attn.Forward(s, s.RMSNorm(x, l.InputNorm, l.eps), rope, mask, B, T, train))
	return s.Add(h, l.MLP.Forward(s, s.RMSNorm(h, l.PostAttnNorm, l.eps), train))
}

// Forward is causal self-attention; mask (may be nil) is an additive key mask [B, 1, 1, T].
func (a *attention) Forward(s *torch.Scope, x *torch.Tensor, rope ropeAt, mask *torch.Tensor, B, T int64, train bool) *torch.Tensor {
	nH, nKV, hd := a.heads, a.kvHeads, a.headDim
	heads := func(y *torch.Tensor, n int64) *torch.Tensor { // [B, T, n·hd] → [B, n, T, hd]
		return s.Transpose(s.Reshape(y, B, T, n, hd), 1, 2)
	}
	q := s.RoPE(heads(a.Q.Forward(s, x, train), nH), rope.cos, rope.sin)
	k := s.RoPE(heads(a.K.Forward(s, x, train), nKV), rope.cos, rope.sin)
	v := heads(a.V.Forward(s, x, train), nKV)
	if nKV != nH { // GQA: each key/value head serves nH/nKV query heads (transformers' repeat_kv)
		k = repeatKV(s, k, B, nKV, nH/nKV, T, hd)
		v = repeatKV(s, v, B, nKV, nH/nKV, T, hd)
	}
	o := s.SDPA(q, k, v, mask, true, 1/math.Sqrt(float64(hd)))
	return a.O.Forward(s, s.Reshape(s.Transpose(o, 1, 2), B, T, nH*hd), train)
}

// querySel picks the positions at which the last layer computes its queries and outputs.
type querySel struct {
	idx  *torch.Tensor // int64 [B·A]: positions in the flattened [B·T] sequence, A slots per row
	rope ropeAt        // cos/sin at those positions, [B, 1, A, head_dim]
	mask *torch.Tensor // additive [B, 1, A, T]: each slot sees its row's keys up to its own position
	A    int64
}

// ForwardAt is Forward with outputs only at sel's positions, [B, A, H]: keys and values still come
// from every position of x, but the queries, the attention output, o_proj and the MLP run on A rows
// per sequence instead of T. Each output equals Forward's at the same position.
func (l *decoderLayer) ForwardAt(s *torch.Scope, x *torch.Tensor, rope ropeAt, sel *querySel, B, T int64, train bool) *torch.Tensor {
	H := x.Size(2)
	pick := func(t *torch.Tensor) *torch.Tensor {
		return s.Reshape(s.IndexSelect(s.Reshape(t, B*T, H), 0, sel.idx), B, sel.A, H)
	}
	hn := s.RMSNorm(x, l.InputNorm, l.eps) // per position: picking before or after is the same
	h := s.Add(pick(x), l.Attn.ForwardAt(s, hn, pick(hn), rope, sel, B, T, train))
	return s.Add(h, l.MLP.Forward(s, s.RMSNorm(h, l.PostAttnNorm, l.eps), train))
}

// ForwardAt is attention for the queries of xq [B, A, H] over the keys and values of x [B, T, H].
func (a *attention) ForwardAt(s *torch.Scope, x, xq *torch.Tensor, rope ropeAt, sel *querySel, B, T int64, train bool) *torch.Tensor {
	nH, nKV, hd := a.heads, a.kvHeads, a.headDim
	heads := func(y *torch.Tensor, n, t int64) *torch.Tensor { // [B, t, n·hd] → [B, n, t, hd]
		return s.Transpose(s.Reshape(y, B, t, n, hd), 1, 2)
	}
	q := s.RoPE(heads(a.Q.Forward(s, xq, train), nH, sel.A), sel.rope.cos, sel.rope.sin)
	k := s.RoPE(heads(a.K.Forward(s, x, train), nKV, T), rope.cos, rope.sin)
	v := heads(a.V.Forward(s, x, train), nKV, T)
	if nKV != nH {
		k = repeatKV(s, k, B, nKV, nH/nKV, T, hd)
		v = repeatKV(s, v, B, nKV, nH/nKV, T, hd)
	}
	o := s.SDPA(q, k, v, sel.mask, false, 1/math.Sqrt(float64(hd)))
	return a.O.Forward(s, s.Reshape(s.Transpose(o, 1, 2), B, sel.A, nH*hd), train)
}

func repeatKV(s *torch.Scope, t *torch.Tensor, B, nKV, rep, T, hd int64) *torch.Tensor {
	return s.Reshape(s.Expand(s.Unsqueeze(t, 2), B, nKV, rep, T, hd), B, nKV*rep, T, hd)
}

// Forward is the SwiGLU MLP.
func (f *mlp) Forward(s *torch.Scope, x *torch.Tensor, train bool) *torch.Tensor {
	return f.Down.Forward(s, s.SiLUMul(f.Gate.Forward(s, x, train), f.Up.Forward(s, x, train)), train)
}

// forward embeds ids [B·T] and runs every layer and the final norm: [B, T, H] in s. Each layer
// runs in its own scope, and only its output survives: inference holds two layers' activations
// at most, and training keeps exactly what autograd saved (libtorch's graph holds its own refs).
//
// With sel the last layer runs ForwardAt and the result is [B, A, H] at sel's positions.
func (m *Model) forward(s *torch.Scope, ids []int64, B, T int, rope ropeAt, mask *torch.Tensor, sel *querySel, train bool) (*torch.Tensor, error) {
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
		var y *torch.Tensor
		if sel != nil && i == len(m.layers)-1 {
			y = layer.ForwardAt(ls, x, rope, sel, b, t, train)
		} else {
			y = layer.Forward(ls, x, rope, mask, b, t, train)
		}
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
