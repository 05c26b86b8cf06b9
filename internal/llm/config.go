// Package llm loads Hugging Face model folders (config.json, safetensors weights, tokenizer) and runs
// the Qwen2/Llama decoder.
package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// ConfigFile is the name of a model folder's architecture description.
const ConfigFile = "config.json"

// SupportedModelTypes lists the config.json model_type values sentitune can run.
var SupportedModelTypes = []string{"gemma2", "gemma3_text", "glm", "glm4", "llama", "mistral", "qwen2", "qwen3"}

// Config is the part of a Hugging Face config.json that defines a decoder.
// Defaults follow transformers' <Model>Config of each model_type.
type Config struct {
	Architectures         []string
	ModelType             string // one of SupportedModelTypes
	HiddenSize            int
	IntermediateSize      int
	NumAttentionHeads     int
	NumKeyValueHeads      int // default NumAttentionHeads
	NumHiddenLayers       int
	HeadDim               int     // default HiddenSize / NumAttentionHeads
	RopeTheta             float64 // default 10000
	RopeScaling           *RopeScaling
	RMSNormEps            float64 // default 1e-6
	TieWordEmbeddings     bool    // default false
	VocabSize             int
	MaxPositionEmbeddings int
	TorchDType            string // "bfloat16", "float16", "float32" or "" (informational)
	AttentionBias         bool   // q/k/v projections carry a bias (always for qwen2)
	QKNorm                bool   // per-head RMSNorm of q and k before RoPE (qwen3's q_norm, k_norm)
	SlidingWindow         int    // each query sees the last SlidingWindow keys (mistral); 0 = all
	OProjBias             bool   // o_proj carries a bias (llama with attention_bias)
	MLPBias               bool   // gate/up/down carry a bias (llama mlp_bias)
	HiddenAct             string // always "silu"
	BOSTokenID            *int
	EOSTokenIDs           []int
	ArchOptions           // gemma2, gemma3_text, glm4 (arch_gemma.go, arch_glm4.go)
}

// RopeScaling is config.json's rope_scaling (or transformers 5's rope_parameters) for the
// position-independent schemes sentitune implements: "default", "linear" and "llama3".
type RopeScaling struct {
	Type                          string  // "default", "linear" or "llama3"
	Factor                        float64 // linear, llama3
	LowFreqFactor                 float64 // llama3
	HighFreqFactor                float64 // llama3
	OriginalMaxPositionEmbeddings int     // llama3
}

// rawConfig mirrors config.json; pointers tell "absent" from zero.
type rawConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	HeadDim               *int            `json:"head_dim"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	VocabSize             *int            `json:"vocab_size"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	TorchDType            string          `json:"torch_dtype"`
	DType                 string          `json:"dtype"` // transformers 5 name of torch_dtype
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
	HiddenAct             string          `json:"hidden_act"`
	UseSlidingWindow      *bool           `json:"use_sliding_window"`
	SlidingWindow         json.RawMessage `json:"sliding_window"`
	BOSTokenID            json.RawMessage `json:"bos_token_id"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
}

// LoadConfig reads and validates dir/config.json.
func LoadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("model folder %s has no %s (is it a Hugging Face model folder?)", dir, ConfigFile)
		}
		return nil, fmt.Errorf("read model config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses and validates the contents of a config.json.
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse config JSON: %w", err)
	}
	if raw.ModelType == "" {
		return nil, fmt.Errorf("model_type missing (architectures %v); supported: %s",
			raw.Architectures, strings.Join(SupportedModelTypes, ", "))
	}
	if !isSupportedModelType(raw.ModelType) {
		return nil, fmt.Errorf("unsupported architecture %q (model_type, architectures %v); supported model_type: %s%s",
			raw.ModelType, raw.Architectures, strings.Join(SupportedModelTypes, ", "), modelTypeHint(raw.ModelType))
	}
	c := &Config{
		Architectures: raw.Architectures,
		ModelType:     raw.ModelType,
		TorchDType:    raw.TorchDType,
		HiddenAct:     raw.HiddenAct,
	}
	if c.TorchDType == "" {
		c.TorchDType = raw.DType
	}
	if c.HiddenAct == "" {
		c.HiddenAct = "silu"
	}

	var missing []string
	required := func(name string, p *int) int {
		if p == nil {
			missing = append(missing, name)
			return 0
		}
		return *p
	}
	c.HiddenSize = required("hidden_size", raw.HiddenSize)
	c.IntermediateSize = required("intermediate_size", raw.IntermediateSize)
	c.NumAttentionHeads = required("num_attention_heads", raw.NumAttentionHeads)
	c.NumHiddenLayers = required("num_hidden_layers", raw.NumHiddenLayers)
	c.VocabSize = required("vocab_size", raw.VocabSize)
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s config lacks %s", c.ModelType, strings.Join(missing, ", "))
	}

	c.NumKeyValueHeads = c.NumAttentionHeads
	if raw.NumKeyValueHeads != nil {
		c.NumKeyValueHeads = *raw.NumKeyValueHeads
	}
	if raw.HeadDim != nil {
		c.HeadDim = *raw.HeadDim
	} else if c.NumAttentionHeads > 0 {
		if c.HiddenSize%c.NumAttentionHeads != 0 {
			return nil, fmt.Errorf("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
		}
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	c.RopeTheta = 10000
	if raw.RopeTheta != nil {
		c.RopeTheta = *raw.RopeTheta
	}
	c.RMSNormEps = 1e-6
	if raw.RMSNormEps != nil {
		c.RMSNormEps = *raw.RMSNormEps
	}
	if raw.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *raw.TieWordEmbeddings
	}
	var err error
	switch c.ModelType {
	case "qwen2", "qwen3":
		if raw.UseSlidingWindow != nil && *raw.UseSlidingWindow {
			return nil, errors.New("use_sliding_window=true is not supported (sliding-window attention)")
		}
		c.MaxPositionEmbeddings = 32768
		if c.ModelType == "qwen2" {
			c.AttentionBias = true // Qwen2Attention hard-codes bias=True for q/k/v, False for o_proj
			break
		}
		c.QKNorm = true // Qwen3Attention: q_norm/k_norm over head_dim before RoPE
		if raw.HeadDim == nil {
			c.HeadDim = 128 // Qwen3Config's default, not hidden/heads
		}
		if raw.AttentionBias != nil && *raw.AttentionBias {
			c.AttentionBias, c.OProjBias = true, true // q/k/v/o all take attention_bias
		}
	case "mistral":
		c.MaxPositionEmbeddings = 4096 * 32
		if c.SlidingWindow, err = parseSlidingWindow(raw.SlidingWindow, 4096); err != nil {
			return nil, err
		}
	case "llama":
		c.MaxPositionEmbeddings = 2048
		if raw.AttentionBias != nil && *raw.AttentionBias {
			c.AttentionBias, c.OProjBias = true, true
		}
		if raw.MLPBias != nil {
			c.MLPBias = *raw.MLPBias
		}
	}
	if raw.MaxPositionEmbeddings != nil {
		c.MaxPositionEmbeddings = *raw.MaxPositionEmbeddings
	}

	scaling, theta, err := parseRope(raw.RopeScaling, raw.RopeParameters)
	if err != nil {
		return nil, err
	}
	c.RopeScaling = scaling
	if theta != 0 {
		c.RopeTheta = theta
	}

	if c.BOSTokenID, err = parseOptionalID(raw.BOSTokenID); err != nil {
		return nil, fmt.Errorf("bos_token_id: %w", err)
	}
	if c.EOSTokenIDs, err = parseIDList(raw.EOSTokenID); err != nil {
		return nil, fmt.Errorf("eos_token_id: %w", err)
	}
	if err := parseArchOptions(c, data); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks that the sizes describe a decoder that can be built.
func (c *Config) Validate() error {
	var problems []string
	positive := func(name string, v int) {
		if v <= 0 {
			problems = append(problems, fmt.Sprintf("%s must be positive, got %d", name, v))
		}
	}
	positive("hidden_size", c.HiddenSize)
	positive("intermediate_size", c.IntermediateSize)
	positive("num_attention_heads", c.NumAttentionHeads)
	positive("num_key_value_heads", c.NumKeyValueHeads)
	positive("num_hidden_layers", c.NumHiddenLayers)
	positive("head_dim", c.HeadDim)
	positive("vocab_size", c.VocabSize)
	positive("max_position_embeddings", c.MaxPositionEmbeddings)
	if c.NumAttentionHeads > 0 && c.NumKeyValueHeads > 0 && c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		problems = append(problems, fmt.Sprintf("num_key_value_heads %d does not divide num_attention_heads %d",
			c.NumKeyValueHeads, c.NumAttentionHeads))
	}
	if c.HeadDim > 0 && c.HeadDim%2 != 0 {
		problems = append(problems, fmt.Sprintf("head_dim %d must be even for rotary embeddings", c.HeadDim))
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		problems = append(problems, fmt.Sprintf("rope_theta must be positive, got %g", c.RopeTheta))
	}
	if !(c.RMSNormEps > 0) || math.IsInf(c.RMSNormEps, 0) {
		problems = append(problems, fmt.Sprintf("rms_norm_eps must be positive, got %g", c.RMSNormEps))
	}
	if c.SlidingWindow < 0 {
		problems = append(problems, fmt.Sprintf("sliding_window must not be negative, got %d", c.SlidingWindow))
	}
	if c.HiddenAct != "silu" && !(c.HiddenAct == "gelu_pytorch_tanh" && c.GemmaNorm) {
		problems = append(problems, fmt.Sprintf("hidden_act %q is not supported (only silu; gemma: gelu_pytorch_tanh)", c.HiddenAct))
	}
	problems = append(problems, c.validateArchOptions()...)
	if !isSupportedModelType(c.ModelType) {
		problems = append(problems, fmt.Sprintf("unsupported model_type %q; supported: %s",
			c.ModelType, strings.Join(SupportedModelTypes, ", ")))
	}
	if len(problems) > 0 {
		return fmt.Errorf("invalid %s config: %s", c.ModelType, strings.Join(problems, "; "))
	}
	return nil
}

func isSupportedModelType(t string) bool {
	for _, s := range SupportedModelTypes {
		if s == t {
			return true
		}
	}
	return false
}

// parseRope reads rope_scaling (transformers 4) or rope_parameters (transformers 5, which also
// carries rope_theta). It returns nil scaling for the plain scheme.
func parseRope(scaling, params json.RawMessage) (*RopeScaling, float64, error) {
	src, field := scaling, "rope_scaling"
	if isJSONNull(src) {
		src, field = params, "rope_parameters"
	}
	if isJSONNull(src) {
		return nil, 0, nil
	}
	var r struct {
		Type                          string   `json:"type"`
		RopeType                      string   `json:"rope_type"`
		RopeTheta                     *float64 `json:"rope_theta"`
		Factor                        *float64 `json:"factor"`
		LowFreqFactor                 *float64 `json:"low_freq_factor"`
		HighFreqFactor                *float64 `json:"high_freq_factor"`
		OriginalMaxPositionEmbeddings *int     `json:"original_max_position_embeddings"`
	}
	if err := json.Unmarshal(src, &r); err != nil {
		return nil, 0, fmt.Errorf("parse %s: %w", field, err)
	}
	var theta float64
	if r.RopeTheta != nil {
		theta = *r.RopeTheta
	}
	typ := r.RopeType
	if typ == "" {
		typ = r.Type
	}
	get := func(name string, p *float64) (float64, error) {
		if p == nil || !(*p > 0) {
			return 0, fmt.Errorf("%s type %q needs a positive %s", field, typ, name)
		}
		return *p, nil
	}
	var err error
	switch typ {
	case "", "default":
		return nil, theta, nil
	case "linear":
		s := &RopeScaling{Type: typ}
		if s.Factor, err = get("factor", r.Factor); err != nil {
			return nil, 0, err
		}
		return s, theta, nil
	case "llama3":
		s := &RopeScaling{Type: typ}
		if s.Factor, err = get("factor", r.Factor); err != nil {
			return nil, 0, err
		}
		if s.LowFreqFactor, err = get("low_freq_factor", r.LowFreqFactor); err != nil {
			return nil, 0, err
		}
		if s.HighFreqFactor, err = get("high_freq_factor", r.HighFreqFactor); err != nil {
			return nil, 0, err
		}
		if r.OriginalMaxPositionEmbeddings == nil || *r.OriginalMaxPositionEmbeddings <= 0 {
			return nil, 0, fmt.Errorf("%s type llama3 needs a positive original_max_position_embeddings", field)
		}
		s.OriginalMaxPositionEmbeddings = *r.OriginalMaxPositionEmbeddings
		if s.HighFreqFactor == s.LowFreqFactor {
			return nil, 0, fmt.Errorf("%s type llama3: high_freq_factor equals low_freq_factor", field)
		}
		return s, theta, nil
	default:
		return nil, 0, fmt.Errorf("%s type %q is not supported (supported: default, linear, llama3)", field, typ)
	}
}

// parseSlidingWindow reads sliding_window: def when absent, 0 (off) when null.
func parseSlidingWindow(m json.RawMessage, def int) (int, error) {
	if m == nil {
		return def, nil
	}
	if isJSONNull(m) {
		return 0, nil
	}
	var w int
	if err := json.Unmarshal(m, &w); err != nil || w <= 0 {
		return 0, fmt.Errorf("sliding_window %s: want a positive integer or null", m)
	}
	return w, nil
}

func isJSONNull(m json.RawMessage) bool {
	t := bytes.TrimSpace(m)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

func parseOptionalID(m json.RawMessage) (*int, error) {
	if isJSONNull(m) {
		return nil, nil
	}
	var id int
	if err := json.Unmarshal(m, &id); err != nil {
		return nil, err
	}
	return &id, nil
}

// parseIDList accepts a single id or a list of ids.
func parseIDList(m json.RawMessage) ([]int, error) {
	if isJSONNull(m) {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(m, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(m, &many); err != nil {
		return nil, err
	}
	return many, nil
}

// RopeInvFreq returns the HeadDim/2 rotary inverse frequencies 1/θ^(2i/d), adjusted by the
// configured rope scaling; angle(pos, i) = pos · invFreq[i].
func (c *Config) RopeInvFreq() []float64 {
	half := c.HeadDim / 2
	inv := make([]float64, half)
	for i := range inv {
		inv[i] = 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.HeadDim))
	}
	s := c.RopeScaling
	if s == nil {
		return inv
	}
	switch s.Type {
	case "linear":
		for i := range inv {
			inv[i] /= s.Factor
		}
	case "llama3":
		// transformers' _compute_llama3_parameters: long wavelengths slowed by factor,
		// short ones kept, the band between interpolated.
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWavelen := old / s.LowFreqFactor
		highWavelen := old / s.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen < highWavelen:
				// high frequency: unchanged
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

// Weight names of the decoder, as in transformers' state dicts.
const (
	EmbedTokensWeight = "model.embed_tokens.weight"
	FinalNormWeight   = "model.norm.weight"
	LMHeadWeight      = "lm_head.weight"
)

// WeightNames lists every tensor the decoder needs, in model order (layerWeights' order within a
// layer). lm_head.weight is listed only when the embeddings are not tied.
func (c *Config) WeightNames() []string {
	names := []string{EmbedTokensWeight}
	rows := c.layerWeights()
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := LayerPrefix(i)
		for _, w := range rows {
			names = append(names, p+w.Module+".weight")
			if w.hasBias(c) {
				names = append(names, p+w.Module+".bias")
			}
		}
	}
	names = append(names, FinalNormWeight)
	if !c.TieWordEmbeddings {
		names = append(names, LMHeadWeight)
	}
	return names
}

// LinearShape returns the [out, in] weight shape of a layer's projection module
// (e.g. "self_attn.k_proj"), or nil for a module this architecture does not have.
func (c *Config) LinearShape(module string) []int64 {
	if w, ok := c.layerWeight(module); ok && w.Linear {
		return w.Shape(c)
	}
	return nil
}

// ExpectedShape returns the shape of a decoder tensor, or nil if the name is not one
// (lm_head.weight has a shape even when tied).
func (c *Config) ExpectedShape(name string) []int64 {
	switch name {
	case EmbedTokensWeight, LMHeadWeight:
		return []int64{int64(c.VocabSize), int64(c.HiddenSize)}
	case FinalNormWeight:
		return hiddenVec(c)
	}
	layer, rest, ok := splitLayerName(name)
	if !ok || layer >= c.NumHiddenLayers {
		return nil
	}
	if module, ok := strings.CutSuffix(rest, ".weight"); ok {
		if w, ok := c.layerWeight(module); ok {
			return w.Shape(c)
		}
	}
	if module, ok := strings.CutSuffix(rest, ".bias"); ok {
		if w, ok := c.layerWeight(module); ok && w.hasBias(c) {
			return w.Shape(c)[:1]
		}
	}
	return nil
}

// strayBias reports whether name is the bias of a projection this config declares without one
// (a q_proj.bias in a Llama file with attention_bias=false): such a file disagrees with its config.
func (c *Config) strayBias(name string) bool {
	layer, rest, ok := splitLayerName(name)
	if !ok || layer >= c.NumHiddenLayers {
		return false
	}
	module, ok := strings.CutSuffix(rest, ".bias")
	if !ok {
		return false
	}
	w, ok := c.layerWeight(module)
	return ok && w.Linear && !w.hasBias(c)
}

// NumParameters counts the decoder's parameters (the tied lm_head counted once).
func (c *Config) NumParameters() int64 {
	var n int64
	for _, name := range c.WeightNames() {
		p := int64(1)
		for _, d := range c.ExpectedShape(name) {
			p *= d
		}
		n += p
	}
	return n
}
