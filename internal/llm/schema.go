package llm

import (
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/torch"
)

// A decoder layer's weights, declared once. Loading (newDecoderLayer), the weight list and shape
// checks (WeightNames, ExpectedShape, LinearShape, CheckWeights), bias presence, LoRA targets
// (LoRATargets, PEFT keys in adapter.go) and merge all read this table and nothing else, so an
// architecture that adds a norm, fuses two projections or drops a bias changes one row here.

// layerWeight is one module of decoder layer i, named relative to LayerPrefix(i).
type layerWeight struct {
	Module string // e.g. "self_attn.q_proj", "input_layernorm"
	// Linear marks a projection: weight [out, in] (Shape), an optional bias [out], LoRA-able under
	// its last name component, as PEFT's target_modules names it. Otherwise a norm weight (Shape).
	Linear bool
	Shape  func(c *Config) []int64
	Bias   func(c *Config) bool // nil: never a bias
	In     func(c *Config) bool // nil: in every architecture
	// norm and linear bind the module to its field of decoderLayer.
	norm   func(l *decoderLayer) **torch.Tensor
	linear func(l *decoderLayer) **linear
}

// layerWeights is every module any supported architecture has, in the order transformers'
// state dicts list them; Config.layerWeights picks one architecture's rows.
var layerWeights = []layerWeight{
	{Module: "input_layernorm", Shape: hiddenVec,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.InputNorm }},
	{Module: "self_attn.q_proj", Linear: true, Shape: func(c *Config) []int64 { return []int64{c.qWidth(), int64(c.HiddenSize)} },
		Bias: attnBias, linear: func(l *decoderLayer) **linear { return &l.Attn.Q }},
	{Module: "self_attn.k_proj", Linear: true, Shape: kvShape,
		Bias: attnBias, linear: func(l *decoderLayer) **linear { return &l.Attn.K }},
	{Module: "self_attn.v_proj", Linear: true, Shape: kvShape,
		Bias: attnBias, linear: func(l *decoderLayer) **linear { return &l.Attn.V }},
	{Module: "self_attn.o_proj", Linear: true, Shape: func(c *Config) []int64 { return []int64{int64(c.HiddenSize), c.qWidth()} },
		Bias: func(c *Config) bool { return c.OProjBias }, linear: func(l *decoderLayer) **linear { return &l.Attn.O }},
	{Module: "self_attn.q_norm", Shape: headVec, In: hasQKNorm,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.Attn.QNorm }},
	{Module: "self_attn.k_norm", Shape: headVec, In: hasQKNorm,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.Attn.KNorm }},
	// The norm on the attention output: gemma's post_attention_layernorm, glm4's post_self_attn_layernorm.
	{Module: "post_attention_layernorm", Shape: hiddenVec, In: gemmaLayout,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.AttnOutNorm }},
	{Module: "post_self_attn_layernorm", Shape: hiddenVec, In: glm4Layout,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.AttnOutNorm }},
	// The norm before the MLP: post_attention_layernorm except in gemma.
	{Module: "post_attention_layernorm", Shape: hiddenVec, In: func(c *Config) bool { return !gemmaLayout(c) },
		norm: func(l *decoderLayer) **torch.Tensor { return &l.PostAttnNorm }},
	{Module: "pre_feedforward_layernorm", Shape: hiddenVec, In: gemmaLayout,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.PostAttnNorm }},
	{Module: "mlp.gate_proj", Linear: true, Shape: func(c *Config) []int64 { return []int64{int64(c.IntermediateSize), int64(c.HiddenSize)} },
		Bias: mlpBias, In: separateGateUp, linear: func(l *decoderLayer) **linear { return &l.MLP.Gate }},
	{Module: "mlp.up_proj", Linear: true, Shape: func(c *Config) []int64 { return []int64{int64(c.IntermediateSize), int64(c.HiddenSize)} },
		Bias: mlpBias, In: separateGateUp, linear: func(l *decoderLayer) **linear { return &l.MLP.Up }},
	{Module: "mlp.gate_up_proj", Linear: true, Shape: func(c *Config) []int64 { return []int64{2 * int64(c.IntermediateSize), int64(c.HiddenSize)} },
		Bias: mlpBias, In: func(c *Config) bool { return c.FusedGateUp }, linear: func(l *decoderLayer) **linear { return &l.MLP.GateUp }},
	{Module: "mlp.down_proj", Linear: true, Shape: func(c *Config) []int64 { return []int64{int64(c.HiddenSize), int64(c.IntermediateSize)} },
		Bias: mlpBias, linear: func(l *decoderLayer) **linear { return &l.MLP.Down }},
	// The norm on the MLP output: gemma's post_feedforward_layernorm, glm4's post_mlp_layernorm.
	{Module: "post_feedforward_layernorm", Shape: hiddenVec, In: gemmaLayout,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.MLPOutNorm }},
	{Module: "post_mlp_layernorm", Shape: hiddenVec, In: glm4Layout,
		norm: func(l *decoderLayer) **torch.Tensor { return &l.MLPOutNorm }},
}

func gemmaLayout(c *Config) bool    { return c.GemmaNorm }
func glm4Layout(c *Config) bool     { return c.ModelType == "glm4" }
func separateGateUp(c *Config) bool { return !c.FusedGateUp }

func hiddenVec(c *Config) []int64 { return []int64{int64(c.HiddenSize)} }
func headVec(c *Config) []int64   { return []int64{int64(c.HeadDim)} }
func kvShape(c *Config) []int64 {
	return []int64{int64(c.NumKeyValueHeads * c.HeadDim), int64(c.HiddenSize)}
}
func attnBias(c *Config) bool  { return c.AttentionBias }
func mlpBias(c *Config) bool   { return c.MLPBias }
func hasQKNorm(c *Config) bool { return c.QKNorm }

// qWidth is the width of the concatenated query heads (≠ hidden size when head_dim is explicit).
func (c *Config) qWidth() int64 { return int64(c.NumAttentionHeads * c.HeadDim) }

// layerWeights are the rows of the table this architecture has.
func (c *Config) layerWeights() []layerWeight {
	out := make([]layerWeight, 0, len(layerWeights))
	for _, w := range layerWeights {
		if w.In == nil || w.In(c) {
			out = append(out, w)
		}
	}
	return out
}

// layerWeight finds module ("self_attn.q_proj") among this architecture's rows.
func (c *Config) layerWeight(module string) (layerWeight, bool) {
	for _, w := range c.layerWeights() {
		if w.Module == module {
			return w, true
		}
	}
	return layerWeight{}, false
}

func (w layerWeight) hasBias(c *Config) bool { return w.Linear && w.Bias != nil && w.Bias(c) }

// LinearModules are this architecture's projections (LoRA targets) relative to LayerPrefix, in
// layer order: "self_attn.q_proj", ..., "mlp.down_proj".
func (c *Config) LinearModules() []string {
	var out []string
	for _, w := range c.layerWeights() {
		if w.Linear {
			out = append(out, w.Module)
		}
	}
	return out
}

// LoRATargets are the short names PEFT's target_modules uses for this architecture's
// projections, in layer order: q_proj, k_proj, ..., down_proj.
func (c *Config) LoRATargets() []string {
	mods := c.LinearModules()
	for i, m := range mods {
		mods[i] = shortName(m)
	}
	return mods
}

// knownLoRATargets are the short names of every projection any architecture declares, in table
// order: what a LoRA config may name before a model is loaded.
func knownLoRATargets() []string {
	var out []string
	for _, w := range layerWeights {
		if n := shortName(w.Module); w.Linear && !containsString(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LayerPrefix is the name prefix of decoder layer i's tensors, e.g. "model.layers.3.".
func LayerPrefix(i int) string { return "model.layers." + strconv.Itoa(i) + "." }

// splitLayerName parses "model.layers.{i}.{rest}" into i and rest; ok is false for any other name
// or a layer index with leading zeros. i may exceed the config's layers.
func splitLayerName(name string) (layer int, rest string, ok bool) {
	after, ok := strings.CutPrefix(name, "model.layers.")
	if !ok {
		return 0, "", false
	}
	idx, rest, ok := strings.Cut(after, ".")
	if !ok {
		return 0, "", false
	}
	i, err := strconv.Atoi(idx)
	if err != nil || i < 0 || strconv.Itoa(i) != idx {
		return 0, "", false
	}
	return i, rest, true
}
