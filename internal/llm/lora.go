package llm

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/sentitune/sentitune/internal/torch"
)

// linear is a projection y = x·Wᵀ + b with an optional LoRA adapter, after PEFT's lora.Linear:
// y = base(x) + dropout(x)·Aᵀ·Bᵀ·scaling, the base frozen, the low-rank path in f32.
type linear struct {
	Name   string        // module name, e.g. model.layers.0.self_attn.q_proj
	Weight *torch.Tensor // [out, in], frozen; nil when Quant holds it
	Quant  *quantWeight  // the frozen weight quantized (--quantization-bit), or nil
	Bias   *torch.Tensor // [out] or nil
	LoRA   *loraWeights  // nil when no adapter is attached
}

type loraWeights struct {
	A, B    *torch.Tensor // lora_A [r, in] and lora_B [out, r], f32, trainable
	Scaling float64       // alpha/r, or alpha/√r with rsLoRA
	Dropout float64
}

// Forward applies the projection, with its adapter when one is attached.
func (l *linear) Forward(s *torch.Scope, x *torch.Tensor, train bool) *torch.Tensor {
	w := l.baseWeight(s)
	if l.LoRA == nil {
		return s.Linear(x, w, l.Bias)
	}
	return s.LoRALinear(x, w, l.Bias, l.LoRA.A, l.LoRA.B, l.LoRA.Scaling, l.LoRA.Dropout, train)
}

// baseWeight is the frozen weight [out, in] in the compute dtype, dequantized into s when quantized.
func (l *linear) baseWeight(s *torch.Scope) *torch.Tensor {
	if l.Quant != nil {
		return l.Quant.dequantize(s)
	}
	return l.Weight
}

// outIn is the weight's shape [out, in].
func (l *linear) outIn() (out, in int64) {
	if l.Quant != nil {
		return l.Quant.out, l.Quant.in
	}
	shape := l.Weight.Shape()
	return shape[0], shape[1]
}

// LoRAConfig describes a LoRA adapter (PEFT's LoraConfig, the fields sentitune uses).
type LoRAConfig struct {
	R       int
	Alpha   float64
	Dropout float64
	// Targets are "all" (every linear of every layer, as LLaMA-Factory's "all") or module names
	// q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
	Targets   []string
	UseRSLoRA bool // scaling alpha/√r instead of alpha/r
	// ModulesToSave are fully trained modules: embed_tokens and/or lm_head. As PEFT's
	// ModulesToSaveWrapper, each gets its own trainable copy that replaces the original while the
	// adapter is attached. With tied embeddings a copy of embed_tokens feeds the input only and
	// lm_head keeps the original tied weight (and vice versa), exactly as PEFT does.
	ModulesToSave []string
}

// Scaling is the factor on B·A: alpha/r, or alpha/√r with rsLoRA.
func (c LoRAConfig) Scaling() float64 {
	if c.UseRSLoRA {
		return c.Alpha / math.Sqrt(float64(c.R))
	}
	return c.Alpha / float64(c.R)
}

// TargetModules checks Targets before a model is known: "all"/"all-linear" or short names (a
// dotted path's last component) of projections some architecture declares (layerWeights). The result
// keeps "all" and lists names in table order; targetsFor resolves them against a model.
func (c LoRAConfig) TargetModules() ([]string, error) {
	known := knownLoRATargets()
	want := map[string]bool{}
	for _, t := range c.Targets {
		t = strings.TrimSpace(t)
		switch t {
		case "all", "all-linear":
			want["all"] = true
			continue
		case "":
			continue
		}
		short := t[strings.LastIndex(t, ".")+1:]
		if !slices.Contains(known, short) {
			return nil, fmt.Errorf("unknown LoRA target %q (want all or some of %s)", t, strings.Join(known, ", "))
		}
		want[short] = true
	}
	var out []string
	for _, n := range append([]string{"all"}, known...) {
		if want[n] {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no LoRA target modules (want all or some of %s)", strings.Join(known, ", "))
	}
	return out, nil
}

// targetsFor resolves checked targets against a model's projections (Config.LoRATargets): "all"
// is every one; a name the architecture lacks (gate_up_proj on a Llama) is an error.
func targetsFor(targets []string, mc *Config) ([]string, error) {
	have := mc.LoRATargets()
	if slices.Contains(targets, "all") {
		return have, nil
	}
	var out []string
	for _, n := range have {
		if slices.Contains(targets, n) {
			out = append(out, n)
		}
	}
	for _, t := range targets {
		if !slices.Contains(have, t) {
			return nil, fmt.Errorf("LoRA target %s: a %s model has no such projection (it has %s)", t, mc.ModelType, strings.Join(have, ", "))
		}
	}
	return out, nil
}

// SavedModules checks ModulesToSave: embed_tokens and/or lm_head, in that order.
func (c LoRAConfig) SavedModules() ([]string, error) {
	var embed, head bool
	for _, m := range c.ModulesToSave {
		switch strings.TrimSpace(m) {
		case "embed_tokens", "model.embed_tokens":
			embed = true
		case "lm_head":
			head = true
		case "":
		default:
			return nil, fmt.Errorf("modules_to_save: unknown module %q (want embed_tokens and/or lm_head)", m)
		}
	}
	var out []string
	if embed {
		out = append(out, "embed_tokens")
	}
	if head {
		out = append(out, "lm_head")
	}
	return out, nil
}

// Validate checks rank, alpha, dropout, targets and modules_to_save.
func (c LoRAConfig) Validate() error {
	if c.R <= 0 {
		return fmt.Errorf("LoRA rank must be positive, got %d", c.R)
	}
	if !(c.Alpha > 0) || math.IsInf(c.Alpha, 0) {
		return fmt.Errorf("LoRA alpha must be positive, got %g", c.Alpha)
	}
	if !(c.Dropout >= 0 && c.Dropout < 1) {
		return fmt.Errorf("LoRA dropout must be in [0, 1), got %g", c.Dropout)
	}
	if _, err := c.TargetModules(); err != nil {
		return err
	}
	_, err := c.SavedModules()
	return err
}

// normalized returns c with Targets expanded for the model mc and ModulesToSave canonical.
func (c LoRAConfig) normalized(mc *Config) (LoRAConfig, error) {
	if err := c.Validate(); err != nil {
		return c, err
	}
	targets, _ := c.TargetModules()
	var err error
	if c.Targets, err = targetsFor(targets, mc); err != nil {
		return c, err
	}
	c.ModulesToSave, _ = c.SavedModules()
	return c, nil
}

// PEFT state-dict keys.
const (
	peftPrefix     = "base_model.model."
	peftEmbedKey   = peftPrefix + EmbedTokensWeight // base_model.model.model.embed_tokens.weight
	peftLMHeadKey  = peftPrefix + LMHeadWeight      // base_model.model.lm_head.weight
	loraAKeySuffix = ".lora_A.weight"
	loraBKeySuffix = ".lora_B.weight"
)

// AddLoRA attaches a fresh adapter: A ~ kaiming-uniform(a=√5) = U(-1/√in, 1/√in), drawn on the
// host from a PCG stream keyed by (seed, tensor name) so it does not depend on libtorch or the
// device; B = 0; both f32 and trainable. modules_to_save get trainable f32 copies.
func (m *Model) AddLoRA(cfg LoRAConfig, seed uint64) error {
	if err := m.usable(); err != nil {
		return err
	}
	if m.lora != nil {
		return errors.New("add LoRA: the model already has an adapter attached (Merge it or load a fresh model)")
	}
	cfg, err := cfg.normalized(m.cfg)
	if err != nil {
		return fmt.Errorf("add LoRA: %w", err)
	}
	s := torch.NewScope()
	defer s.Close()
	adapters := map[*linear]*loraWeights{}
	for _, layer := range m.layers {
		for _, lin := range layer.linears() {
			if !slices.Contains(cfg.Targets, shortName(lin.Name)) {
				continue
			}
			out, in := lin.outIn()
			bound := 1 / math.Sqrt(float64(in))
			vals := make([]float32, int64(cfg.R)*in)
			rng := rand.New(rand.NewPCG(seed, nameHash(peftPrefix+lin.Name+loraAKeySuffix)))
			for i := range vals {
				vals[i] = float32((2*rng.Float64() - 1) * bound)
			}
			adapters[lin] = &loraWeights{
				A:       s.ToDevice(s.FromFloat32(vals, int64(cfg.R), in), m.dev),
				B:       s.Zeros([]int64{out, int64(cfg.R)}, torch.Float32, m.dev),
				Scaling: cfg.Scaling(),
				Dropout: cfg.Dropout,
			}
		}
	}
	var embed, head *torch.Tensor
	if slices.Contains(cfg.ModulesToSave, "embed_tokens") {
		embed = trainableCopy(s, m.embed)
	}
	if slices.Contains(cfg.ModulesToSave, "lm_head") {
		head = trainableCopy(s, m.lmHead)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("add LoRA: %w", err)
	}
	return m.attach(s, cfg, adapters, embed, head)
}

// trainableCopy is an f32 copy of t that never shares t's (possibly mmapped) storage.
func trainableCopy(s *torch.Scope, t *torch.Tensor) *torch.Tensor {
	if t.DType() == torch.Float32 {
		return s.Clone(t)
	}
	return s.ToDType(t, torch.Float32)
}

// attach installs adapters built in s (all or nothing) and marks them trainable.
func (m *Model) attach(s *torch.Scope, cfg LoRAConfig, adapters map[*linear]*loraWeights, embed, head *torch.Tensor) error {
	var all []*torch.Tensor
	for _, a := range adapters {
		all = append(all, a.A, a.B)
	}
	for _, t := range []*torch.Tensor{embed, head} {
		if t != nil {
			all = append(all, t)
		}
	}
	for _, t := range all {
		if err := t.SetRequiresGrad(true); err != nil {
			return err
		}
	}
	for lin, a := range adapters {
		a.A, a.B = m.keep(s, a.A), m.keep(s, a.B)
		lin.LoRA = a
	}
	m.embedTrain, m.lmHeadTrain = m.keep(s, embed), m.keep(s, head)
	c := cfg
	m.lora = &c
	return nil
}

// detach frees the adapters and modules_to_save copies.
func (m *Model) detach() {
	for _, layer := range m.layers {
		for _, lin := range layer.linears() {
			if lin.LoRA != nil {
				lin.LoRA.A.Free()
				lin.LoRA.B.Free()
				lin.LoRA = nil
			}
		}
	}
	m.embedTrain.Free()
	m.lmHeadTrain.Free()
	m.embedTrain, m.lmHeadTrain, m.lora = nil, nil, nil
}

// LoRA is the attached adapter's config (targets expanded), or nil.
func (m *Model) LoRA() *LoRAConfig {
	if m.lora == nil {
		return nil
	}
	c := *m.lora
	c.Targets = slices.Clone(c.Targets)
	c.ModulesToSave = slices.Clone(c.ModulesToSave)
	return &c
}

// NamedParam is one trainable tensor and its key in a PEFT adapter file.
type NamedParam struct {
	Name    string // PEFT key, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight
	T       *torch.Tensor
	IsLoRAB bool // a lora_B matrix (LoRA+ gives these their own learning rate)
}

// TrainableParams lists the adapter's tensors in a fixed order: per layer, per module (q, k,
// v, o, gate, up, down) A then B; then embed_tokens and lm_head copies. Nil without an adapter.
func (m *Model) TrainableParams() []NamedParam {
	var out []NamedParam
	for _, layer := range m.layers {
		for _, lin := range layer.linears() {
			if lin.LoRA == nil {
				continue
			}
			out = append(out,
				NamedParam{Name: peftPrefix + lin.Name + loraAKeySuffix, T: lin.LoRA.A},
				NamedParam{Name: peftPrefix + lin.Name + loraBKeySuffix, T: lin.LoRA.B, IsLoRAB: true})
		}
	}
	if m.embedTrain != nil {
		out = append(out, NamedParam{Name: peftEmbedKey, T: m.embedTrain})
	}
	if m.lmHeadTrain != nil {
		out = append(out, NamedParam{Name: peftLMHeadKey, T: m.lmHeadTrain})
	}
	return out
}

// shortName is the last component of a module name ("model.layers.0.mlp.up_proj" → "up_proj").
func shortName(module string) string { return module[strings.LastIndex(module, ".")+1:] }
