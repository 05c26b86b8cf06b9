package llm

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/sentitune/sentitune/internal/torch"
)

// GLM-4 (transformers' modeling_glm4.py, model_type glm4; modeling_glm.py's glm, GLM-4-9B-chat-hf,
// is the same without the two post-norms): a Llama-style decoder with
//   - four norms a layer: input_layernorm, post_self_attn_layernorm (on the attention output),
//     post_attention_layernorm (before the MLP), post_mlp_layernorm (on the MLP output);
//   - one fused mlp.gate_up_proj [2·I, H] whose first half is the gate;
//   - rotary embeddings on the first head_dim·partial_rotary_factor dims only, rotating the
//     interleaved pairs (2i, 2i+1) by angle i (its rotate_half stacks -x[1::2], x[0::2]).
//
// The engine's RoPE op rotates the half-split pairs (i, i + head_dim/2). A head's q·k is the same
// under any permutation of its dims applied to both q and k, so glm4Perm reorders q and k once
// (pair i to dims i and i + head_dim/2, pass-through dims into the rest) and the rotary tables
// hold cos 1, sin 0 there: the half-split op then computes GLM-4's rotation exactly.

// parseGLM4 reads Glm4Config (GlmConfig has the same defaults).
func parseGLM4(c *Config, raw map[string]json.RawMessage) error {
	if _, ok := raw["head_dim"]; !ok {
		c.HeadDim = 128
	}
	if _, ok := raw["rms_norm_eps"]; !ok {
		c.RMSNormEps = 1.5625e-7
	}
	if _, ok := raw["max_position_embeddings"]; !ok {
		c.MaxPositionEmbeddings = 131072
	}
	c.AttentionBias = true // Glm4Config's default; o_proj never has one
	if m, ok := raw["attention_bias"]; ok && !isJSONNull(m) {
		if err := json.Unmarshal(m, &c.AttentionBias); err != nil {
			return fmt.Errorf("attention_bias: %w", err)
		}
	}
	c.OProjBias, c.MLPBias = false, false
	c.FusedGateUp = true
	factor := 0.5
	for _, src := range []json.RawMessage{raw["partial_rotary_factor"], ropeParametersKey(raw, "partial_rotary_factor")} {
		if !isJSONNull(src) {
			if err := json.Unmarshal(src, &factor); err != nil {
				return fmt.Errorf("partial_rotary_factor: %w", err)
			}
		}
	}
	c.RotaryDim = int(float64(c.HeadDim) * factor) // transformers: int(head_dim * partial_rotary_factor)
	return nil
}

// ropeParametersKey is key inside transformers 5's rope_parameters, or nil.
func ropeParametersKey(raw map[string]json.RawMessage, key string) json.RawMessage {
	var p map[string]json.RawMessage
	if isJSONNull(raw["rope_parameters"]) || json.Unmarshal(raw["rope_parameters"], &p) != nil {
		return nil
	}
	return p[key]
}

// interleavedRope reports whether q and k are permuted for GLM-4's partial interleaved rotation.
func (c *Config) interleavedRope() bool { return c.RotaryDim > 0 }

// glm4Perm is the order of head dims that turns GLM-4's rotation into the half-split one: new
// dim i < r/2 is old 2i, new dim d/2 + i is old 2i+1, and the d − r pass-through dims fill the
// rest of each half (r = RotaryDim, d = head_dim).
func (c *Config) glm4Perm() []int64 {
	d, r := c.HeadDim, c.RotaryDim
	perm := make([]int64, d)
	rest := int64(r)
	for i := 0; i < d/2; i++ {
		for half := 0; half < 2; half++ {
			j := half*d/2 + i
			if i < r/2 {
				perm[j] = int64(2*i + half)
			} else {
				perm[j] = rest
				rest++
			}
		}
	}
	return perm
}

// ropeRow fills one position's cos and sin rows [head_dim] for angle(i) = pos·invFreq[i]: the
// half-split layout [freqs, freqs]; with a RotaryDim, the first RotaryDim/2 of each half rotate
// (in glm4Perm's order) and the rest get cos 1, sin 0.
func (c *Config) ropeRow(cos, sin []float32, pos int, invFreq []float64) {
	hd := c.HeadDim
	for i := 0; i < hd/2; i++ {
		co, si := float32(1), float32(0)
		if i < len(invFreq) {
			s, k := math.Sincos(float64(pos) * invFreq[i])
			co, si = float32(k), float32(s)
		}
		cos[i], cos[i+hd/2] = co, co
		sin[i], sin[i+hd/2] = si, si
	}
}

// ropeInvFreqFor returns the inverse frequencies of the full-attention layers, or of gemma3's
// sliding layers (local: rope_local_base_freq, unscaled).
func (c *Config) ropeInvFreqFor(local bool) []float64 {
	if local && c.RopeLocalTheta > 0 {
		l := *c
		l.RopeTheta, l.RopeScaling = c.RopeLocalTheta, nil
		return l.RopeInvFreq()
	}
	if c.RotaryDim > 0 {
		r := *c
		r.HeadDim = c.RotaryDim // inv_freq = 1/θ^(2i/rotary_dim) over the rotated dims
		return r.RopeInvFreq()
	}
	return c.RopeInvFreq()
}

// permuteHeads reorders the head dims of q or k [B, n, T, head_dim] by glm4Perm.
func permuteHeads(s *torch.Scope, t, perm *torch.Tensor) *torch.Tensor {
	if perm == nil {
		return t
	}
	return s.IndexSelect(t, 3, perm)
}
