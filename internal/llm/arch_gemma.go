package llm

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/sentitune/sentitune/internal/torch"
)

// Gemma-2 and Gemma-3 text (transformers' modeling_gemma2.py, modeling_gemma3.py) and GLM-4
// (modeling_glm4.py, arch_glm4.go) run on the shared decoder; ArchOptions holds what they change:
//
//	h = embed(ids) · √H (gemma, in the model dtype)
//	each layer: h += PostAttn(attn(norm(h)));  h += PostMLP(mlp(PreMLP(h)))
//	gemma norms scale by (1 + w); attention scale query_pre_attn_scalar^-½; gemma2 soft-caps the
//	attention scores and the logits, c·tanh(x/c); sliding layers see the last sliding_window keys,
//	and gemma3's use their own rope base; the MLP is GeGLU with tanh-approximated gelu.

// ArchOptions are the config knobs of the architectures beyond Qwen2/Llama/Qwen3/Mistral.
type ArchOptions struct {
	GemmaNorm          bool     // RMSNorm weights act as (1 + w): gemma stores w − 1
	EmbedScale         bool     // embeddings × √hidden_size, rounded to the model dtype (gemma)
	QueryPreAttnScalar float64  // attention scale 1/√QueryPreAttnScalar (gemma); 0: 1/√head_dim
	AttnLogitSoftcap   float64  // gemma2 attn_logit_softcapping; 0: off
	FinalLogitSoftcap  float64  // gemma2 final_logit_softcapping; 0: off
	LayerTypes         []string // "sliding_attention" or "full_attention" per layer; nil: all alike
	RopeLocalTheta     float64  // gemma3 rope_local_base_freq for sliding layers (unscaled); 0: none
	RotaryDim          int      // glm4: rotated dims per head, as interleaved pairs; 0: all, half-split
	FusedGateUp        bool     // glm4 mlp.gate_up_proj = [gate; up]
}

// archConfigs are the model types of this file and arch_glm4.go.
var archConfigs = map[string]func(c *Config, raw map[string]json.RawMessage) error{
	"gemma2":      parseGemma,
	"gemma3_text": parseGemma,
	"glm4":        parseGLM4,
	"glm":         parseGLM4, // GLM-4-9B-chat-hf: glm4's attention and MLP without its post-norms
}

// parseArchOptions fills ArchOptions from config.json with transformers' <Model>Config defaults;
// other model types are left alone.
func parseArchOptions(c *Config, data []byte) error {
	parse, ok := archConfigs[c.ModelType]
	if !ok {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("parse config JSON: %w", err)
	}
	return parse(c, raw)
}

// parseGemma reads Gemma2Config / Gemma3TextConfig.
func parseGemma(c *Config, raw map[string]json.RawMessage) error {
	g2 := c.ModelType == "gemma2"
	var err error
	get := func(key string, v any) bool { // false when absent or null
		m, ok := raw[key]
		if !ok || isJSONNull(m) {
			return false
		}
		if e := json.Unmarshal(m, v); e != nil && err == nil {
			err = fmt.Errorf("%s: %w", key, e)
		}
		return true
	}
	capped := func(key string, def float64) float64 { // absent: the default; null: off
		if _, ok := raw[key]; !ok {
			return def
		}
		var v float64
		get(key, &v)
		return v
	}
	c.GemmaNorm, c.EmbedScale = true, true
	c.QKNorm = !g2
	if _, ok := raw["head_dim"]; !ok {
		c.HeadDim = 256
	}
	if _, ok := raw["tie_word_embeddings"]; !ok {
		c.TieWordEmbeddings = true
	}
	c.AttentionBias, c.OProjBias = false, false
	var bias bool
	if get("attention_bias", &bias) {
		c.AttentionBias, c.OProjBias = bias, bias // Gemma*Attention: q/k/v/o all take attention_bias
	}
	c.HiddenAct = "gelu_pytorch_tanh"
	var act string
	if get("hidden_activation", &act) || get("hidden_act", &act) { // Gemma*MLP reads hidden_activation
		c.HiddenAct = act
	}
	c.QueryPreAttnScalar = 256
	get("query_pre_attn_scalar", &c.QueryPreAttnScalar)
	c.AttnLogitSoftcap = capped("attn_logit_softcapping", map[bool]float64{true: 50}[g2])
	c.FinalLogitSoftcap = capped("final_logit_softcapping", map[bool]float64{true: 30}[g2])
	c.SlidingWindow = int(capped("sliding_window", 4096))
	if _, ok := raw["max_position_embeddings"]; !ok {
		c.MaxPositionEmbeddings = map[bool]int{true: 8192, false: 131072}[g2]
	}
	if !get("layer_types", &c.LayerTypes) {
		c.LayerTypes = make([]string, c.NumHiddenLayers)
		pattern := 2 // Gemma2: even layers local, odd global
		if !g2 {
			pattern = 6
			get("sliding_window_pattern", &pattern)
		}
		for i := range c.LayerTypes {
			c.LayerTypes[i] = "full_attention"
			if pattern <= 0 || (i+1)%pattern != 0 {
				c.LayerTypes[i] = "sliding_attention"
			}
		}
	}
	if !g2 {
		if _, ok := raw["rope_theta"]; !ok {
			c.RopeTheta = 1e6
		}
		c.RopeLocalTheta = 10000
		get("rope_local_base_freq", &c.RopeLocalTheta)
		if err == nil {
			err = parseGemma3RopeParameters(c, raw)
		}
	}
	return err
}

// parseGemma3RopeParameters reads transformers 5's rope_parameters, one entry per layer type.
func parseGemma3RopeParameters(c *Config, raw map[string]json.RawMessage) error {
	var per map[string]json.RawMessage
	if isJSONNull(raw["rope_parameters"]) || json.Unmarshal(raw["rope_parameters"], &per) != nil || per["full_attention"] == nil {
		return nil
	}
	scaling, theta, err := parseRope(per["full_attention"], nil)
	if err != nil {
		return err
	}
	c.RopeScaling = scaling
	if theta != 0 {
		c.RopeTheta = theta
	}
	if _, localTheta, err := parseRope(per["sliding_attention"], nil); err != nil {
		return err
	} else if localTheta != 0 {
		c.RopeLocalTheta = localTheta
	}
	return nil
}

// validateArchOptions adds the problems of ArchOptions to Validate's list.
func (c *Config) validateArchOptions() []string {
	var problems []string
	if c.LayerTypes != nil && len(c.LayerTypes) != c.NumHiddenLayers {
		problems = append(problems, fmt.Sprintf("layer_types lists %d layers, num_hidden_layers is %d", len(c.LayerTypes), c.NumHiddenLayers))
	}
	for i, t := range c.LayerTypes {
		if t != "sliding_attention" && t != "full_attention" {
			problems = append(problems, fmt.Sprintf("layer_types[%d] %q is not sliding_attention or full_attention", i, t))
			break
		}
	}
	if c.QueryPreAttnScalar < 0 || math.IsInf(c.QueryPreAttnScalar, 0) || c.AttnLogitSoftcap < 0 || c.FinalLogitSoftcap < 0 {
		problems = append(problems, "query_pre_attn_scalar and the soft-capping values must be positive or null")
	}
	if c.RotaryDim < 0 || c.RotaryDim%2 != 0 || c.RotaryDim > c.HeadDim {
		problems = append(problems, fmt.Sprintf("rotary dimension %d (head_dim × partial_rotary_factor) must be even and at most head_dim %d", c.RotaryDim, c.HeadDim))
	}
	return problems
}

// slidingLayer reports whether layer i attends within SlidingWindow (all layers when LayerTypes
// is nil, as Mistral's).
func (c *Config) slidingLayer(i int) bool {
	if c.SlidingWindow <= 0 {
		return false
	}
	return c.LayerTypes == nil || c.LayerTypes[i] == "sliding_attention"
}

// mixedLayers reports whether some layers slide and others attend fully: the forward pass then
// needs both masks (and, with RopeLocalTheta, both rotary tables).
func (c *Config) mixedLayers() bool {
	for i := 1; i < c.NumHiddenLayers; i++ {
		if c.slidingLayer(i) != c.slidingLayer(0) {
			return true
		}
	}
	return false
}

// attnScale is the factor of q·kᵀ before the softmax.
func (c *Config) attnScale() float64 {
	if c.QueryPreAttnScalar > 0 {
		return 1 / math.Sqrt(c.QueryPreAttnScalar)
	}
	return 1 / math.Sqrt(float64(c.HeadDim))
}

// embedScale is gemma's √hidden_size as the model dtype holds it (transformers multiplies by a
// tensor of the embedding's dtype: √3072 = 55.5 in bf16), or 1.
func (c *Config) embedScale(dtype torch.DType) float64 {
	if !c.EmbedScale {
		return 1
	}
	v := float32(math.Sqrt(float64(c.HiddenSize)))
	switch dtype {
	case torch.BFloat16:
		v = BF16ToF32(F32ToBF16(v))
	case torch.Float16:
		v = F16ToF32(F32ToF16(v))
	}
	return float64(v)
}

// rmsNorm is the architecture's RMSNorm of x with weight w: gemma's (1 + w) is formed in f32 and
// the product cast back to x's dtype, as Gemma2RMSNorm computes (x·(1+w)).to(dtype).
func (c *Config) rmsNorm(s *torch.Scope, x, w *torch.Tensor) *torch.Tensor {
	if !c.GemmaNorm {
		return s.RMSNorm(x, w, c.RMSNormEps)
	}
	return s.ToDType(s.RMSNorm(x, s.AddScalar(s.ToDType(w, torch.Float32), 1), c.RMSNormEps), x.DType())
}

// softcap is gemma2's c·tanh(x/c); x itself when c is 0.
func softcap(s *torch.Scope, x *torch.Tensor, c float64) *torch.Tensor {
	if c <= 0 {
		return x
	}
	return s.MulScalar(s.Tanh(s.MulScalar(x, 1/c)), c)
}

// geluTanhMul is gelu_pytorch_tanh(gate)·up: 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³)))·up.
func geluTanhMul(s *torch.Scope, gate, up *torch.Tensor) *torch.Tensor {
	inner := s.Add(gate, s.MulScalar(s.Pow(gate, 3), 0.044715))
	t := s.AddScalar(s.Tanh(s.MulScalar(inner, math.Sqrt(2/math.Pi))), 1)
	return s.Mul(s.Mul(s.MulScalar(gate, 0.5), t), up)
}

// attendSoftcapped is attention with soft-capped scores, which SDPA cannot do:
// softmax(c·tanh(q·kᵀ·scale/c) + mask)·v in f32, cast back to q's dtype (transformers' eager
// path upcasts the softmax to f32). mask is additive [.., n, T]; causal hides keys after each
// of the n queries, which are then the last n positions.
func attendSoftcapped(s *torch.Scope, q, k, v, mask *torch.Tensor, causal bool, scale, c float64) *torch.Tensor {
	scores := softcap(s, s.MulScalar(s.Matmul(q, s.Transpose(k, 2, 3)), scale), c)
	scores = s.ToDType(scores, torch.Float32)
	if mask != nil {
		scores = s.Add(scores, s.ToDType(mask, torch.Float32))
	}
	if causal {
		n, T := q.Size(2), k.Size(2)
		m := make([]float32, n*T)
		for i := int64(0); i < n; i++ {
			for j := T - n + i + 1; j < T; j++ {
				m[i*T+j] = -1e9
			}
		}
		scores = s.Add(scores, s.ToDevice(s.FromFloat32(m, n, T), scores.Device()))
	}
	p := s.ToDType(s.Softmax(scores, -1), q.DType())
	return s.Matmul(p, v)
}

// primarySliding reports whether the layers that use the primary queries slide: every layer of
// a sliding-only architecture (Mistral); in a mixed one the primary queries serve the full layers.
func (c *Config) primarySliding() bool { return c.slidingLayer(0) && !c.mixedLayers() }

// localQueries are the all-position queries of the sliding layers of a mixed architecture (their
// window mask, their rotary tables), or nil.
func (m *Model) localQueries(s *torch.Scope, T int) (*attnQueries, error) {
	if !m.cfg.mixedLayers() {
		return nil, nil
	}
	cos, sin, err := m.ropeLocalTables(s, T)
	if err != nil {
		return nil, err
	}
	r := m.ropePrefix(s, cos, sin, T)
	return &attnQueries{n: int64(T), rope: r, keyRope: r, mask: m.windowMaskFor(s, T, true), causal: true}, nil
}

// ropeLocalTables is ropeTables for the sliding layers: gemma3's local-base tables, or the
// global ones.
func (m *Model) ropeLocalTables(s *torch.Scope, need int) (cos, sin *torch.Tensor, err error) {
	if m.cfg.RopeLocalTheta <= 0 {
		return m.ropeTables(s, need)
	}
	if _, _, err := m.ropeTables(s, need); err != nil { // grows both kinds
		return nil, nil, err
	}
	m.ropeMu.Lock()
	defer m.ropeMu.Unlock()
	n := m.ropeLocalCos.Size(0)
	cos, sin = s.Narrow(m.ropeLocalCos, 0, 0, n), s.Narrow(m.ropeLocalSin, 0, 0, n)
	return cos, sin, s.Err()
}

// rotaryTable computes cos and sin [n, head_dim] for positions 0..n-1 in float64 on the host,
// rounded to f32 and cast to the model dtype, as transformers' rotary embedding casts cos/sin to
// the input's dtype.
func (m *Model) rotaryTable(s *torch.Scope, n int, local bool) (cos, sin *torch.Tensor) {
	hd := m.cfg.HeadDim
	inv := m.cfg.ropeInvFreqFor(local)
	c, sn := make([]float32, n*hd), make([]float32, n*hd)
	for p := 0; p < n; p++ {
		m.cfg.ropeRow(c[p*hd:(p+1)*hd], sn[p*hd:(p+1)*hd], p, inv)
	}
	return s.To(s.FromFloat32(c, int64(n), int64(hd)), m.dtype, m.dev),
		s.To(s.FromFloat32(sn, int64(n), int64(hd)), m.dtype, m.dev)
}

// ArchPresets are the architectures init-model writes beside qwen2 from this file: the preset's
// sizes with each architecture's own layout (norms, activation, attention, rotary embedding).
var ArchPresets = []string{"gemma2", "gemma3", "glm4", "mistral", "qwen3"}

// applyArchPreset turns a Qwen2 preset config into the same-sized arch model (the Qwen vocabulary
// and tokenizer stay); false for an arch this file does not know.
func applyArchPreset(c *Config, arch string) bool {
	switch arch {
	case "gemma2", "gemma3":
		c.AttentionBias, c.OProjBias, c.MLPBias = false, false, false
		c.HiddenAct = "gelu_pytorch_tanh"
		c.GemmaNorm, c.EmbedScale = true, true
		c.QueryPreAttnScalar = float64(c.HeadDim)
		c.SlidingWindow = 128 // below the demo's longer prompts, so local layers really are local
		c.LayerTypes = make([]string, c.NumHiddenLayers)
		pattern := 2 // gemma2 alternates local and global layers
		if arch == "gemma3" {
			pattern = min(6, c.NumHiddenLayers) // gemma3's 5:1, and a global last layer in small presets
		}
		for i := range c.LayerTypes {
			c.LayerTypes[i] = "sliding_attention"
			if (i+1)%pattern == 0 {
				c.LayerTypes[i] = "full_attention"
			}
		}
		if arch == "gemma2" {
			c.ModelType, c.Architectures = "gemma2", []string{"Gemma2ForCausalLM"}
			c.AttnLogitSoftcap, c.FinalLogitSoftcap = 50, 30
			c.RopeTheta = 10000
		} else {
			c.ModelType, c.Architectures = "gemma3_text", []string{"Gemma3ForCausalLM"}
			c.QKNorm = true
			c.RopeTheta, c.RopeLocalTheta = 1e6, 10000
		}
	case "glm4":
		c.ModelType, c.Architectures = "glm4", []string{"Glm4ForCausalLM"}
		c.AttentionBias, c.OProjBias, c.MLPBias = true, false, false
		c.FusedGateUp = true
		c.RotaryDim = c.HeadDim / 2
		c.TieWordEmbeddings = false
	default:
		return applyDensePreset(c, arch) // arch_qwen3.go
	}
	return true
}

// archJSON adds the config.json keys of this file's architectures to HFJSON's map.
func (c *Config) archJSON(m map[string]any) {
	nullable := func(v float64) any {
		if v == 0 {
			return nil
		}
		return pyFloat(v)
	}
	switch c.ModelType {
	case "gemma2", "gemma3_text":
		m["head_dim"] = c.HeadDim // Gemma's default is 256, not hidden/heads
		m["hidden_activation"] = c.HiddenAct
		m["attention_bias"] = c.AttentionBias
		m["query_pre_attn_scalar"] = c.QueryPreAttnScalar
		m["attn_logit_softcapping"] = nullable(c.AttnLogitSoftcap)
		m["final_logit_softcapping"] = nullable(c.FinalLogitSoftcap)
		m["sliding_window"] = c.SlidingWindow
		m["layer_types"] = c.LayerTypes
		if c.ModelType == "gemma3_text" {
			m["rope_local_base_freq"] = pyFloat(c.RopeLocalTheta)
			pattern := 0 // transformers 4.50–4.52 read the pattern, newer ones layer_types
			for i, t := range c.LayerTypes {
				if t == "full_attention" {
					pattern = i + 1
					break
				}
			}
			m["sliding_window_pattern"] = pattern
		}
	case "glm4":
		m["head_dim"] = c.HeadDim // Glm4Config's default is 128
		m["attention_bias"] = c.AttentionBias
		m["partial_rotary_factor"] = pyFloat(float64(c.RotaryDim) / float64(c.HeadDim))
	}
}

// ArchPresetConfig is PresetConfig with another architecture's layout: "" or "qwen2" as is, or
// one of ArchPresets.
func ArchPresetConfig(preset, arch string) (*Config, error) {
	c, err := PresetConfig(preset)
	if err != nil || arch == "" || arch == "qwen2" {
		return c, err
	}
	if !applyArchPreset(c, arch) {
		return nil, fmt.Errorf("unknown architecture %q (want qwen2, %s)", arch, strings.Join(ArchPresets, ", "))
	}
	return c, c.Validate()
}

// modelTypeHint says what to use instead of an unsupported model_type close to a supported one.
func modelTypeHint(modelType string) string {
	switch modelType {
	case "gemma3":
		return " (gemma3 is Gemma3ForConditionalGeneration, the image-text gemma-3-4b/12b/27b checkpoints with " +
			"text_config and language_model.* weights; sentitune runs text-only gemma3_text checkpoints such as gemma-3-1b)"
	case "gemma":
		return " (Gemma 1 is not implemented; Gemma 2 is gemma2, Gemma 3 text is gemma3_text)"
	case "chatglm":
		return " (chatglm is THUDM's remote-code GLM; its transformers-native export, e.g. THUDM/glm-4-9b-chat-hf, is model_type glm)"
	}
	return ""
}
