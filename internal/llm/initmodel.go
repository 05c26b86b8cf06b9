package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

// Presets of InitRandomModel: Qwen2-architecture shapes with the real Qwen vocabulary.
var Presets = []string{"tiny", "small", "0.5b"}

// Qwen2 special token ids used by the presets' config files.
const (
	qwenEndOfText = 151643 // <|endoftext|>
	qwenImEnd     = 151645 // <|im_end|>
	qwenVocabSize = 151936 // embedding rows (the tokenizer has 151,665 tokens; Qwen pads to 151,936)
)

// PresetConfig returns the Config of an init-model preset in f32: "tiny", "small", or "0.5b"
// (Qwen2.5-0.5B-Instruct's published shape, for op counts and memory at a real size).
func PresetConfig(preset string) (*Config, error) {
	bos := qwenEndOfText
	c := &Config{
		Architectures:         []string{"Qwen2ForCausalLM"},
		ModelType:             "qwen2",
		RopeTheta:             1e6,
		RMSNormEps:            1e-6,
		TieWordEmbeddings:     true,
		VocabSize:             qwenVocabSize,
		MaxPositionEmbeddings: 32768,
		TorchDType:            "float32",
		AttentionBias:         true,
		HiddenAct:             "silu",
		BOSTokenID:            &bos,
		EOSTokenIDs:           []int{qwenImEnd},
	}
	switch preset {
	case "tiny":
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize = 2, 64, 4, 2, 256
	case "small":
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize = 4, 256, 8, 2, 1024
	case "0.5b":
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize = 24, 896, 14, 2, 4864
	default:
		return nil, fmt.Errorf("unknown model preset %q (want %s)", preset, strings.Join(Presets, ", "))
	}
	c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	return c, c.Validate()
}

// RandomInit says how RandomWeights fills a model.
type RandomInit struct {
	Seed  uint64
	DType string  // safetensors dtype of the weights: "F32" (default), "BF16" or "F16"
	Std   float64 // standard deviation of matrices and biases; 0 means 0.02 (transformers' initializer_range)
	// NormJitter > 0 draws RMSNorm weights as 1 + N(0, NormJitter) instead of exactly 1, so that
	// conformance tests notice a decoder that ignores them.
	NormJitter float64
	// LogitScale > 0 sets the final norm's weight so that a hidden state pointing along a token's
	// row of lm_head gives that token this logit: weight = LogitScale / (hidden size · Std). With
	// norms of 1 a tiny model's logits stay within about ±1.3, so no answer can ever become likely.
	LogitScale float64
}

// RandomWeights draws every tensor of cfg: matrices and biases ~ N(0, Std²), norms 1 (the final
// norm per LogitScale). Each tensor
// has its own PCG stream keyed by (seed, name), so the result is byte-identical for the same seed
// and does not depend on the order tensors are drawn in.
func RandomWeights(cfg *Config, init RandomInit) ([]TensorData, error) {
	dtype := init.DType
	if dtype == "" {
		dtype = "F32"
	}
	switch dtype {
	case "F32", "BF16", "F16":
	default:
		return nil, fmt.Errorf("random weights: unsupported dtype %q (want F32, BF16 or F16)", dtype)
	}
	std := init.Std
	if std == 0 {
		std = 0.02
	}
	var out []TensorData
	for _, name := range cfg.WeightNames() {
		shape := cfg.ExpectedShape(name)
		vals := make([]float32, numElements(shape))
		rng := rand.New(rand.NewPCG(init.Seed, nameHash(name)))
		if strings.HasSuffix(name, "norm.weight") {
			scale := 1.0
			if name == FinalNormWeight && init.LogitScale > 0 {
				scale = init.LogitScale / (float64(cfg.HiddenSize) * std)
			}
			for i := range vals {
				vals[i] = float32(scale)
				if init.NormJitter > 0 {
					vals[i] = float32(scale * (1 + init.NormJitter*rng.NormFloat64()))
				}
				if cfg.GemmaNorm {
					vals[i]-- // gemma stores w − 1
				}
			}
		} else {
			for i := range vals {
				vals[i] = float32(std * rng.NormFloat64())
			}
		}
		data, err := FromFloat32(dtype, vals)
		if err != nil {
			return nil, err
		}
		out = append(out, TensorData{Name: name, DType: dtype, Shape: shape, Data: data})
	}
	return out, nil
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, name)
	return h.Sum64()
}

// torchDTypeNames maps safetensors dtypes to config.json's torch_dtype.
var torchDTypeNames = map[string]string{"F32": "float32", "BF16": "bfloat16", "F16": "float16"}

// WriteRandomModel writes config.json and model.safetensors of a random model with cfg's shapes
// into the existing directory dir (no tokenizer files). Tests use it for untied, llama or odd
// shapes that the presets do not cover.
func WriteRandomModel(dir string, cfg *Config, init RandomInit) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	tensors, err := RandomWeights(cfg, init)
	if err != nil {
		return err
	}
	c := *cfg
	if init.DType == "" {
		c.TorchDType = "float32"
	} else {
		c.TorchDType = torchDTypeNames[init.DType]
	}
	cj, err := c.HFJSON()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, ConfigFile), cj); err != nil {
		return err
	}
	return WriteSafetensors(filepath.Join(dir, SafetensorsFile), tensors, map[string]string{"format": "pt"})
}

// InitRandomModel writes a random-weight Qwen2 model folder in Hugging Face format to dir:
// config.json, generation_config.json, model.safetensors and the bundled Qwen tokenizer files.
// preset is one of Presets; dtype is "f32" (default) or "bf16". The same arguments give
// byte-identical files. The folder appears atomically; an existing non-empty dir is an error.
func InitRandomModel(dir string, preset string, seed uint64, dtype string) error {
	return InitRandomModelWith(dir, InitOptions{Preset: preset, Seed: seed, DType: dtype})
}

// InitOptions are InitRandomModelWith's choices; the zero LogitScale gives InitRandomModel's weights.
type InitOptions struct {
	Preset     string  // one of Presets
	Arch       string  // "" (qwen2) or one of ArchPresets
	Seed       uint64  // seed of every tensor's stream
	DType      string  // "f32" (default), "bf16" or "f16"
	LogitScale float64 // RandomInit.LogitScale: 0 keeps the final norm at 1
}

// InitRandomModelWith is InitRandomModel with every choice, LogitScale included.
func InitRandomModelWith(dir string, opt InitOptions) error {
	preset, seed, dtype := opt.Preset, opt.Seed, opt.DType
	if opt.LogitScale < 0 || math.IsNaN(opt.LogitScale) || math.IsInf(opt.LogitScale, 0) {
		return fmt.Errorf("init-model: logit scale %v must be a finite number ≥ 0", opt.LogitScale)
	}
	cfg, err := ArchPresetConfig(preset, opt.Arch)
	if err != nil {
		return err
	}
	stDType, err := InitDType(dtype)
	if err != nil {
		return fmt.Errorf("init-model: %w", err)
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("init-model: %s exists and is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("init-model: %w", err)
	}
	tokFiles, err := tokenizer.BundledFiles()
	if err != nil {
		return fmt.Errorf("init-model: bundled tokenizer: %w", err)
	}
	err = atomicfile.WriteDir(dir, atomicfile.Replace, func(tmp string) error {
		if err := WriteRandomModel(tmp, cfg, RandomInit{Seed: seed, DType: stDType, LogitScale: opt.LogitScale}); err != nil {
			return err
		}
		gen, err := marshalSortedJSON(map[string]any{
			"bos_token_id":         qwenEndOfText,
			"pad_token_id":         qwenEndOfText,
			"eos_token_id":         []int{qwenImEnd, qwenEndOfText},
			"do_sample":            false,
			"transformers_version": hfTransformersVersion,
		})
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, "generation_config.json"), gen); err != nil {
			return err
		}
		for _, name := range sortedKeys(tokFiles) {
			if name == "" || name != filepath.Base(name) || name == ConfigFile || name == SafetensorsFile {
				return fmt.Errorf("bundled tokenizer file has a bad name %q", name)
			}
			if err := atomicfile.WriteFile(filepath.Join(tmp, name), tokFiles[name]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("init-model: %w", err)
	}
	return nil
}

// hfTransformersVersion is the transformers_version written into generated config files.
const hfTransformersVersion = "4.43.1"

// HFJSON renders the config as a Hugging Face config.json (sorted keys, two-space indent, Python
// float spelling), with the fields transformers writes for this model_type.
func (c *Config) HFJSON() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	arch := c.Architectures
	if len(arch) == 0 {
		arch = []string{map[string]string{"qwen2": "Qwen2ForCausalLM", "llama": "LlamaForCausalLM",
			"qwen3": "Qwen3ForCausalLM", "mistral": "MistralForCausalLM"}[c.ModelType]}
	}
	m := map[string]any{
		"architectures":           arch,
		"attention_dropout":       pyFloat(0),
		"hidden_act":              c.HiddenAct,
		"hidden_size":             c.HiddenSize,
		"initializer_range":       pyFloat(0.02),
		"intermediate_size":       c.IntermediateSize,
		"max_position_embeddings": c.MaxPositionEmbeddings,
		"model_type":              c.ModelType,
		"num_attention_heads":     c.NumAttentionHeads,
		"num_hidden_layers":       c.NumHiddenLayers,
		"num_key_value_heads":     c.NumKeyValueHeads,
		"rms_norm_eps":            pyFloat(c.RMSNormEps),
		"rope_theta":              pyFloat(c.RopeTheta),
		"rope_scaling":            nil,
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"transformers_version":    hfTransformersVersion,
		"use_cache":               true,
		"vocab_size":              c.VocabSize,
	}
	if c.TorchDType != "" {
		m["torch_dtype"] = c.TorchDType
	}
	if c.BOSTokenID != nil {
		m["bos_token_id"] = *c.BOSTokenID
	}
	switch len(c.EOSTokenIDs) {
	case 0:
	case 1:
		m["eos_token_id"] = c.EOSTokenIDs[0]
	default:
		m["eos_token_id"] = c.EOSTokenIDs
	}
	if c.HiddenSize != c.NumAttentionHeads*c.HeadDim {
		m["head_dim"] = c.HeadDim
	}
	if s := c.RopeScaling; s != nil {
		rs := map[string]any{"rope_type": s.Type, "factor": pyFloat(s.Factor)}
		if s.Type == "llama3" {
			rs["low_freq_factor"] = pyFloat(s.LowFreqFactor)
			rs["high_freq_factor"] = pyFloat(s.HighFreqFactor)
			rs["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings
		}
		m["rope_scaling"] = rs
	}
	switch c.ModelType {
	case "qwen2":
		if !c.AttentionBias || c.OProjBias || c.MLPBias {
			return nil, errors.New("qwen2 config: q/k/v bias is fixed on, o_proj and MLP bias off")
		}
		m["max_window_layers"] = c.NumHiddenLayers
		m["sliding_window"] = c.MaxPositionEmbeddings
		m["use_sliding_window"] = false
	case "llama":
		if c.AttentionBias != c.OProjBias {
			return nil, errors.New("llama config: attention_bias covers q/k/v and o_proj together")
		}
		m["attention_bias"] = c.AttentionBias
		m["mlp_bias"] = c.MLPBias
		m["pretraining_tp"] = 1
	case "qwen3":
		if c.AttentionBias != c.OProjBias || c.MLPBias {
			return nil, errors.New("qwen3 config: attention_bias covers q/k/v and o_proj together; no MLP bias")
		}
	case "mistral":
		if c.AttentionBias || c.OProjBias || c.MLPBias {
			return nil, errors.New("mistral config: no projection has a bias")
		}
	}
	c.denseJSON(m)
	c.archJSON(m)
	return marshalSortedJSON(m)
}

func marshalSortedJSON(m map[string]any) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ") // map keys are sorted, as transformers' sort_keys=True
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// pyFloat spells a float the way Python's json module does (1000000.0, 1e-06, 0.02).
func pyFloat(v float64) json.Number {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return json.Number("0")
	}
	e := strconv.FormatFloat(v, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return json.Number(fmt.Sprintf("%se%s%02d", mant, sign, exp))
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return json.Number(s)
}

// InitDType is the safetensors dtype of an init-model --dtype name (f32, bf16, f16; "" is f32).
func InitDType(dtype string) (string, error) {
	switch strings.ToLower(dtype) {
	case "", "f32", "float32":
		return "F32", nil
	case "bf16", "bfloat16":
		return "BF16", nil
	case "f16", "float16":
		return "F16", nil
	}
	return "", fmt.Errorf("unsupported dtype %q (want f32, bf16 or f16)", dtype)
}
