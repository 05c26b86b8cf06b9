package reference

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Arch is the reference's own reading of a config.json: every choice transformers'
// modeling_<model_type>.py makes for the decoder. It is parsed here, not by package llm, so that
// the reference stays an independent check of the engine's config handling too.
type Arch struct {
	ModelType                                           string
	Hidden, Intermediate, Heads, KVHeads, Layers, Vocab int
	HeadDim                                             int
	RMSNormEps                                          float64
	Tied                                                bool
	QKVBias, OBias, MLPBias                             bool
	QKNorm                                              bool    // qwen3, gemma3: RMSNorm over head_dim of each q and k head before RoPE
	NormOffset                                          float64 // gemma: norms scale by (NormOffset + w), 1; else 0
	Act                                                 string  // "silu" or "gelu_pytorch_tanh"
	ScaleEmbeddings                                     bool    // gemma: embeddings times √hidden (rounded to the model dtype)
	AttnScale                                           float64 // head_dim^-0.5, or query_pre_attn_scalar^-0.5 (gemma)
	AttnSoftcap                                         float64 // gemma2: scores → c·tanh(s/c); 0 = off
	FinalSoftcap                                        float64 // gemma2: logits → c·tanh(l/c); 0 = off
	SlidingWindow                                       int     // keys within this many positions (self included) on sliding layers
	Sliding                                             []bool  // per layer: sliding_attention (true) or full_attention
	FusedGateUp                                         bool    // glm4: mlp.gate_up_proj = [gate; up]
	Rope                                                Rope    // full-attention layers (all layers when LocalRope is nil)
	LocalRope                                           *Rope   // gemma3: sliding layers use rope_local_base_freq, unscaled
	Norms                                               LayerNorms
}

// LayerNorms names a layer's norms besides input_layernorm (relative to the layer prefix); ""
// means the architecture has none there.
type LayerNorms struct {
	PostAttn string // on the attention output, before the residual add (gemma, glm4)
	PreMLP   string // on the residual stream, before the MLP (every architecture)
	PostMLP  string // on the MLP output, before the residual add (gemma, glm4)
}

// Rope is one rotary embedding: Dim rotated dimensions of each head (the rest pass through),
// paired half-split (rotate_half) or, when Interleaved, as (2i, 2i+1) like modeling_glm4.
type Rope struct {
	Theta       float64
	Dim         int
	Interleaved bool
	Scaling     *RopeScaling
}

// RopeScaling is the position-independent rope_scaling: "linear" or "llama3".
type RopeScaling struct {
	Type                                  string
	Factor, LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositionEmbeddings         float64
}

var (
	standardNorms = LayerNorms{PreMLP: "post_attention_layernorm"}
	gemmaNorms    = LayerNorms{PostAttn: "post_attention_layernorm", PreMLP: "pre_feedforward_layernorm", PostMLP: "post_feedforward_layernorm"}
	glm4Norms     = LayerNorms{PostAttn: "post_self_attn_layernorm", PreMLP: "post_attention_layernorm", PostMLP: "post_mlp_layernorm"}
)

// ModelTypes are the config.json model_type values the reference implements.
var ModelTypes = []string{"gemma2", "gemma3_text", "glm", "glm4", "llama", "mistral", "qwen2", "qwen3"}

// LoadArch reads dir/config.json.
func LoadArch(dir string) (*Arch, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	a, err := ParseArch(data)
	if err != nil {
		return nil, fmt.Errorf("reference: %s: %w", path, err)
	}
	return a, nil
}

// archDefaults are the values transformers' <Model>Config uses when config.json omits a key.
type archDefaults struct {
	headDim      int // 0: hidden_size / num_attention_heads
	eps, theta   float64
	tied         bool
	act          string
	norms        LayerNorms
	biasKey      string // attention_bias's meaning: "qkv", "qkvo" or "" (no key)
	attnBiasDef  bool
	slidingByKey string // how sliding layers are chosen: "qwen", "all", "alternate", "pattern" or ""
}

var defaults = map[string]archDefaults{
	"qwen2":       {eps: 1e-6, theta: 10000, act: "silu", norms: standardNorms, slidingByKey: "qwen"},
	"llama":       {eps: 1e-6, theta: 10000, act: "silu", norms: standardNorms, biasKey: "qkvo"},
	"qwen3":       {headDim: 128, eps: 1e-6, theta: 10000, act: "silu", norms: standardNorms, biasKey: "qkvo", slidingByKey: "qwen"},
	"mistral":     {eps: 1e-6, theta: 10000, act: "silu", norms: standardNorms, slidingByKey: "all"},
	"gemma2":      {headDim: 256, eps: 1e-6, theta: 10000, tied: true, act: "gelu_pytorch_tanh", norms: gemmaNorms, biasKey: "qkvo", slidingByKey: "alternate"},
	"gemma3_text": {headDim: 256, eps: 1e-6, theta: 1e6, tied: true, act: "gelu_pytorch_tanh", norms: gemmaNorms, biasKey: "qkvo", slidingByKey: "pattern"},
	"glm4":        {headDim: 128, eps: 1.5625e-7, theta: 10000, act: "silu", norms: glm4Norms, biasKey: "qkv", attnBiasDef: true},
	// GLM-4-9B-chat-hf (modeling_glm.py): GLM-4's attention and fused MLP in a Llama layer, no post-norms.
	"glm": {headDim: 128, eps: 1.5625e-7, theta: 10000, act: "silu", norms: standardNorms, biasKey: "qkv", attnBiasDef: true},
}

// ParseArch reads a config.json with transformers' defaults for its model_type.
func ParseArch(data []byte) (*Arch, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse config JSON: %w", err)
	}
	r := rawJSON(raw)
	var err error
	a := &Arch{}
	a.ModelType, _ = r.str("model_type")
	d, ok := defaults[a.ModelType]
	if !ok {
		return nil, fmt.Errorf("model_type %q is not implemented by the reference (have %s)", a.ModelType, strings.Join(ModelTypes, ", "))
	}
	var missing []string
	need := func(key string) int {
		v, ok := r.int(key, &err)
		if !ok {
			missing = append(missing, key)
		}
		return v
	}
	a.Hidden, a.Intermediate = need("hidden_size"), need("intermediate_size")
	a.Heads, a.Layers, a.Vocab = need("num_attention_heads"), need("num_hidden_layers"), need("vocab_size")
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s config lacks %s", a.ModelType, strings.Join(missing, ", "))
	}
	a.KVHeads = r.intOr("num_key_value_heads", a.Heads, &err)
	defHead := d.headDim
	if defHead == 0 && a.Heads > 0 {
		defHead = a.Hidden / a.Heads
	}
	a.HeadDim = r.intOr("head_dim", defHead, &err) // null (mistral) reads as absent
	a.RMSNormEps = r.floatOr("rms_norm_eps", d.eps, &err)
	a.Tied = r.boolOr("tie_word_embeddings", d.tied, &err)
	a.Norms = d.norms
	a.NormOffset = 0
	a.AttnScale = 1 / math.Sqrt(float64(a.HeadDim))

	attnBias := r.boolOr("attention_bias", d.attnBiasDef, &err)
	switch {
	case a.ModelType == "qwen2":
		a.QKVBias = true // Qwen2Attention hard-codes bias=True for q/k/v
	case d.biasKey == "qkvo":
		a.QKVBias, a.OBias = attnBias, attnBias
	case d.biasKey == "qkv":
		a.QKVBias = attnBias
	}
	if a.ModelType == "llama" {
		a.MLPBias = r.boolOr("mlp_bias", false, &err)
	}

	a.Act = d.act
	if s, ok := r.str("hidden_activation"); ok && strings.HasPrefix(a.ModelType, "gemma") {
		a.Act = s // Gemma2MLP/Gemma3MLP read hidden_activation, not hidden_act
	} else if s, ok := r.str("hidden_act"); ok {
		a.Act = s
	}
	if a.Act != "silu" && a.Act != "gelu_pytorch_tanh" {
		return nil, fmt.Errorf("activation %q is not implemented (silu, gelu_pytorch_tanh)", a.Act)
	}

	switch a.ModelType {
	case "qwen3":
		a.QKNorm = true
	case "gemma2", "gemma3_text":
		a.NormOffset = 1
		a.ScaleEmbeddings = true
		a.AttnScale = 1 / math.Sqrt(r.floatOr("query_pre_attn_scalar", 256, &err))
		a.QKNorm = a.ModelType == "gemma3_text"
		def := 0.0
		if a.ModelType == "gemma2" {
			def = 50
		}
		a.AttnSoftcap = r.nullableFloat("attn_logit_softcapping", def, &err)
		if a.ModelType == "gemma2" {
			def = 30
		}
		a.FinalSoftcap = r.nullableFloat("final_logit_softcapping", def, &err)
	case "glm", "glm4":
		a.FusedGateUp = true
	}

	if err := a.parseRope(r, d.theta, &err); err != nil {
		return nil, err
	}
	a.parseSliding(r, d.slidingByKey, &err)
	if err != nil {
		return nil, err
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// parseRope reads rope_theta, rope_scaling (transformers 4) or rope_parameters (transformers 5),
// partial_rotary_factor, and gemma3's rope_local_base_freq.
func (a *Arch) parseRope(r rawJSON, defTheta float64, errp *error) error {
	a.Rope = Rope{Theta: r.floatOr("rope_theta", defTheta, errp), Dim: a.HeadDim}
	partial := r.floatOr("partial_rotary_factor", 0, errp)
	scaling, params := r["rope_scaling"], r["rope_parameters"]
	var perType map[string]json.RawMessage
	if isNull(scaling) && !isNull(params) {
		if err := json.Unmarshal(params, &perType); err == nil && perType["full_attention"] != nil {
			params = perType["full_attention"] // gemma3 in transformers 5: one entry per layer type
		} else {
			perType = nil
		}
		scaling = params
	}
	if !isNull(scaling) {
		var sr map[string]json.RawMessage
		if err := json.Unmarshal(scaling, &sr); err != nil {
			return fmt.Errorf("rope_scaling: %w", err)
		}
		s := rawJSON(sr)
		if t, ok := s.float("rope_theta", errp); ok {
			a.Rope.Theta = t
		}
		if p, ok := s.float("partial_rotary_factor", errp); ok {
			partial = p
		}
		typ, _ := s.str("rope_type")
		if typ == "" {
			typ, _ = s.str("type")
		}
		switch typ {
		case "", "default":
		case "linear", "llama3":
			a.Rope.Scaling = &RopeScaling{
				Type:                          typ,
				Factor:                        s.floatOr("factor", 0, errp),
				LowFreqFactor:                 s.floatOr("low_freq_factor", 0, errp),
				HighFreqFactor:                s.floatOr("high_freq_factor", 0, errp),
				OriginalMaxPositionEmbeddings: s.floatOr("original_max_position_embeddings", 0, errp),
			}
		default:
			return fmt.Errorf("rope type %q is not implemented (default, linear, llama3)", typ)
		}
	}
	if partial > 0 {
		a.Rope.Dim = int(float64(a.HeadDim) * partial)
	} else if a.FusedGateUp {
		a.Rope.Dim = a.HeadDim / 2 // GlmConfig's and Glm4Config's partial_rotary_factor default 0.5
	}
	a.Rope.Interleaved = a.FusedGateUp // modeling_glm's rotate_half pairs (2i, 2i+1)
	if a.ModelType == "gemma3_text" {
		local := Rope{Theta: r.floatOr("rope_local_base_freq", 10000, errp), Dim: a.HeadDim}
		if p := perType["sliding_attention"]; p != nil {
			var lr map[string]json.RawMessage
			if err := json.Unmarshal(p, &lr); err == nil {
				local.Theta = rawJSON(lr).floatOr("rope_theta", local.Theta, errp)
			}
		}
		a.LocalRope = &local
	}
	return nil
}

// parseSliding fills Sliding from layer_types, or from the model type's own rule.
func (a *Arch) parseSliding(r rawJSON, rule string, errp *error) {
	a.Sliding = make([]bool, a.Layers)
	a.SlidingWindow = int(r.nullableFloat("sliding_window", 4096, errp)) // the default of every config class here
	if lt := r["layer_types"]; !isNull(lt) {
		var types []string
		if err := json.Unmarshal(lt, &types); err != nil || len(types) != a.Layers {
			*errp = fmt.Errorf("layer_types must list %d layer types", a.Layers)
			return
		}
		for i, t := range types {
			a.Sliding[i] = t == "sliding_attention"
		}
	} else {
		switch rule {
		case "qwen": // Qwen2/Qwen3Config: sliding from max_window_layers on, only with use_sliding_window
			if r.boolOr("use_sliding_window", false, errp) {
				from := r.intOr("max_window_layers", a.Layers, errp)
				for i := from; i < a.Layers; i++ {
					a.Sliding[i] = true
				}
			}
		case "all":
			for i := range a.Sliding {
				a.Sliding[i] = true
			}
		case "alternate": // Gemma2: even layers local, odd layers global
			for i := range a.Sliding {
				a.Sliding[i] = i%2 == 0
			}
		case "pattern": // Gemma3: every sliding_window_pattern-th layer global
			p := r.intOr("sliding_window_pattern", r.intOr("_sliding_window_pattern", 6, errp), errp)
			for i := range a.Sliding {
				a.Sliding[i] = p <= 0 || (i+1)%p != 0
			}
		}
	}
	if a.SlidingWindow <= 0 {
		for i := range a.Sliding {
			a.Sliding[i] = false // sliding_window null: every layer attends fully (Mistral v0.2+)
		}
	}
}

func (a *Arch) validate() error {
	var problems []string
	for _, f := range []struct {
		name string
		v    int
	}{{"hidden_size", a.Hidden}, {"intermediate_size", a.Intermediate}, {"num_attention_heads", a.Heads},
		{"num_key_value_heads", a.KVHeads}, {"num_hidden_layers", a.Layers}, {"head_dim", a.HeadDim}, {"vocab_size", a.Vocab}} {
		if f.v <= 0 {
			problems = append(problems, fmt.Sprintf("%s must be positive, got %d", f.name, f.v))
		}
	}
	if a.KVHeads > 0 && a.Heads%a.KVHeads != 0 {
		problems = append(problems, fmt.Sprintf("num_key_value_heads %d does not divide num_attention_heads %d", a.KVHeads, a.Heads))
	}
	if a.Rope.Dim <= 0 || a.Rope.Dim%2 != 0 || a.Rope.Dim > a.HeadDim {
		problems = append(problems, fmt.Sprintf("rotary dimension %d must be even and within head_dim %d", a.Rope.Dim, a.HeadDim))
	}
	if s := a.Rope.Scaling; s != nil && (!(s.Factor > 0) || s.Type == "llama3" && (s.HighFreqFactor == s.LowFreqFactor || !(s.OriginalMaxPositionEmbeddings > 0))) {
		problems = append(problems, fmt.Sprintf("rope scaling %q lacks a usable factor", s.Type))
	}
	if !(a.Rope.Theta > 0) || (a.LocalRope != nil && !(a.LocalRope.Theta > 0)) {
		problems = append(problems, "rope_theta must be positive")
	}
	if !(a.RMSNormEps > 0) || !(a.AttnScale > 0) || math.IsInf(a.AttnScale, 0) {
		problems = append(problems, "rms_norm_eps and query_pre_attn_scalar must be positive")
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid %s config: %s", a.ModelType, strings.Join(problems, "; "))
	}
	return nil
}

// layerPrefix is the name prefix of layer i's tensors.
func layerPrefix(i int) string { return "model.layers." + strconv.Itoa(i) + "." }

// Shapes lists every tensor the decoder reads, with its shape, as transformers names it.
// lm_head.weight is listed only when the embeddings are not tied.
func (a *Arch) Shapes() map[string][]int {
	h, q, kv := a.Hidden, a.Heads*a.HeadDim, a.KVHeads*a.HeadDim
	s := map[string][]int{"model.embed_tokens.weight": {a.Vocab, h}, "model.norm.weight": {h}}
	if !a.Tied {
		s["lm_head.weight"] = []int{a.Vocab, h}
	}
	linear := func(name string, out, in int, bias bool) {
		s[name+".weight"] = []int{out, in}
		if bias {
			s[name+".bias"] = []int{out}
		}
	}
	for l := 0; l < a.Layers; l++ {
		p := layerPrefix(l)
		for _, n := range []string{"input_layernorm", a.Norms.PostAttn, a.Norms.PreMLP, a.Norms.PostMLP} {
			if n != "" {
				s[p+n+".weight"] = []int{h}
			}
		}
		linear(p+"self_attn.q_proj", q, h, a.QKVBias)
		linear(p+"self_attn.k_proj", kv, h, a.QKVBias)
		linear(p+"self_attn.v_proj", kv, h, a.QKVBias)
		linear(p+"self_attn.o_proj", h, q, a.OBias)
		if a.QKNorm {
			s[p+"self_attn.q_norm.weight"] = []int{a.HeadDim}
			s[p+"self_attn.k_norm.weight"] = []int{a.HeadDim}
		}
		if a.FusedGateUp {
			linear(p+"mlp.gate_up_proj", 2*a.Intermediate, h, a.MLPBias)
		} else {
			linear(p+"mlp.gate_proj", a.Intermediate, h, a.MLPBias)
			linear(p+"mlp.up_proj", a.Intermediate, h, a.MLPBias)
		}
		linear(p+"mlp.down_proj", h, a.Intermediate, a.MLPBias)
	}
	return s
}

// Names returns the tensor names of Shapes, sorted.
func (a *Arch) Names() []string {
	s := a.Shapes()
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// rawJSON reads typed values from a config object; JSON null reads as absent.
type rawJSON map[string]json.RawMessage

func isNull(m json.RawMessage) bool {
	t := bytes.TrimSpace(m)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func (r rawJSON) decode(key string, v any, errp *error) bool {
	m, ok := r[key]
	if !ok || isNull(m) {
		return false
	}
	if err := json.Unmarshal(m, v); err != nil {
		if *errp == nil {
			*errp = fmt.Errorf("%s: %w", key, err)
		}
		return false
	}
	return true
}

func (r rawJSON) str(key string) (string, bool) {
	var s string
	var err error
	ok := r.decode(key, &s, &err)
	return s, ok && err == nil
}

func (r rawJSON) int(key string, errp *error) (int, bool) {
	var v int
	ok := r.decode(key, &v, errp)
	return v, ok
}

func (r rawJSON) float(key string, errp *error) (float64, bool) {
	var v float64
	ok := r.decode(key, &v, errp)
	return v, ok
}

func (r rawJSON) intOr(key string, def int, errp *error) int {
	if v, ok := r.int(key, errp); ok {
		return v
	}
	return def
}

func (r rawJSON) floatOr(key string, def float64, errp *error) float64 {
	if v, ok := r.float(key, errp); ok {
		return v
	}
	return def
}

// nullableFloat is def when key is absent and 0 when it is null (transformers' None: off).
func (r rawJSON) nullableFloat(key string, def float64, errp *error) float64 {
	m, ok := r[key]
	if !ok {
		return def
	}
	if isNull(m) {
		return 0
	}
	return r.floatOr(key, def, errp)
}

func (r rawJSON) boolOr(key string, def bool, errp *error) bool {
	var v bool
	if r.decode(key, &v, errp) {
		return v
	}
	return def
}
