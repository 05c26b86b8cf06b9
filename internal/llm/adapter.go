package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/torch"
)

// Files of an adapter folder: PEFT's two. Callers may add their own (sentitune.json, which
// internal/task owns) to the same atomic folder write; the engine never reads them.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// Shape is what tells one base model's adapters from another's (task.BaseShape records it).
type Shape struct {
	ModelType       string
	HiddenSize      int
	NumHiddenLayers int
	VocabSize       int
}

func (s Shape) String() string {
	return fmt.Sprintf("%s model (hidden %d, %d layers, vocab %d)", s.ModelType, s.HiddenSize, s.NumHiddenLayers, s.VocabSize)
}

// Shape is the model's Shape.
func (c *Config) Shape() Shape {
	return Shape{ModelType: c.ModelType, HiddenSize: c.HiddenSize, NumHiddenLayers: c.NumHiddenLayers, VocabSize: c.VocabSize}
}

// peftAdapterConfig is adapter_config.json as PEFT writes it (LoRA, the keys sentitune reads).
type peftAdapterConfig struct {
	PeftType            string          `json:"peft_type"`
	TaskType            string          `json:"task_type"`
	BaseModelNameOrPath string          `json:"base_model_name_or_path"`
	R                   *int            `json:"r"`
	LoraAlpha           *float64        `json:"lora_alpha"`
	LoraDropout         float64         `json:"lora_dropout"`
	TargetModules       json.RawMessage `json:"target_modules"`
	Bias                string          `json:"bias"`
	UseRSLoRA           bool            `json:"use_rslora"`
	FanInFanOut         bool            `json:"fan_in_fan_out"`
	ModulesToSave       []string        `json:"modules_to_save"`
	UseDoRA             bool            `json:"use_dora"`
	LoraBias            bool            `json:"lora_bias"`
	RankPattern         map[string]any  `json:"rank_pattern"`
	AlphaPattern        map[string]any  `json:"alpha_pattern"`
}

// SaveAdapter writes the attached adapter to dir in PEFT's format (adapter_config.json naming
// baseModel, adapter_model.safetensors with f32 tensors) plus the extra files (name → bytes). The
// folder appears whole: it is built beside dir and renamed into place (an existing adapter folder
// holding only such files is replaced).
func (m *Model) SaveAdapter(dir, baseModel string, extra map[string][]byte) error {
	if err := m.usable(); err != nil {
		return err
	}
	if m.lora == nil {
		return errors.New("save adapter: the model has no adapter attached")
	}
	var tensors []TensorData
	for _, p := range m.TrainableParams() {
		data, err := p.T.Bytes(torch.Float32)
		if err != nil {
			return fmt.Errorf("save adapter: tensor %s: %w", p.Name, err)
		}
		tensors = append(tensors, TensorData{Name: p.Name, DType: "F32", Shape: p.T.Shape(), Data: data})
	}
	var modules any // null when empty, as PEFT writes it
	if len(m.lora.ModulesToSave) > 0 {
		modules = m.lora.ModulesToSave
	}
	cfgJSON, err := marshalSortedJSON(map[string]any{
		"alpha_pattern":           map[string]any{},
		"auto_mapping":            nil,
		"base_model_name_or_path": baseModel,
		"bias":                    "none",
		"fan_in_fan_out":          false,
		"inference_mode":          true,
		"init_lora_weights":       true,
		"layers_pattern":          nil,
		"layers_to_transform":     nil,
		"lora_alpha":              m.lora.Alpha,
		"lora_dropout":            m.lora.Dropout,
		"modules_to_save":         modules,
		"peft_type":               "LORA",
		"r":                       m.lora.R,
		"rank_pattern":            map[string]any{},
		"revision":                nil,
		"target_modules":          m.lora.Targets,
		"task_type":               "CAUSAL_LM",
		"use_dora":                false,
		"use_rslora":              m.lora.UseRSLoRA,
	})
	if err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	ours := append([]string{AdapterConfigFile, AdapterWeightsFile}, sortedKeys(extra)...)
	return writeDirAtomic(dir, ours, func(tmp string) error {
		if err := atomicfile.WriteFile(filepath.Join(tmp, AdapterConfigFile), cfgJSON); err != nil {
			return err
		}
		if err := WriteSafetensors(filepath.Join(tmp, AdapterWeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
			return err
		}
		return writeExtraFiles(tmp, extra)
	})
}

// writeExtraFiles writes each of files (name → bytes) into dir.
func writeExtraFiles(dir string, files map[string][]byte) error {
	for _, name := range sortedKeys(files) {
		if name != filepath.Base(name) || name == "." || name == ".." {
			return fmt.Errorf("extra file name %q is not a plain file name", name)
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, name), files[name]); err != nil {
			return err
		}
	}
	return nil
}

// writeDirAtomic writes dir through atomicfile.WriteDir. An existing dir is replaced only if it
// holds nothing but files named in replaceable (so a wrong --out never deletes unrelated work).
func writeDirAtomic(dir string, replaceable []string, fill func(tmp string) error) error {
	dir, err := atomicfile.Target(filepath.Clean(dir)) // a symlinked --out stays a link; its target is replaced
	if err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	if entries, err := os.ReadDir(dir); err == nil {
		for _, e := range entries {
			if !slices.Contains(replaceable, e.Name()) {
				return fmt.Errorf("write %s: the folder exists and holds %s, which is not ours to replace", dir, e.Name())
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	if err := atomicfile.WriteDir(dir, atomicfile.Replace, fill); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return nil
}

// LoadAdapter reads an adapter folder (sentitune's or PEFT's own) and attaches it, replacing any
// adapter already attached. Keys may carry the adapter name (".lora_A.default.weight") and may
// lack the "base_model.model." prefix. The tensors become trainable f32 parameters, so training can
// resume from them. Other files of the folder (sentitune.json) are the caller's to read.
func (m *Model) LoadAdapter(dir string) error {
	if err := m.usable(); err != nil {
		return err
	}
	af, err := readAdapter(dir, m.cfg)
	if err != nil {
		return err
	}
	defer af.w.Close()
	s := torch.NewScope()
	defer s.Close()
	load := func(ti TensorInfo) *torch.Tensor {
		t, blob := tensorFromInfo(s, ti, torch.Float32, m.dev)
		if blob {
			t = s.Clone(t) // never train in the adapter file's mapped memory
		}
		return t
	}
	adapters := map[*linear]*loraWeights{}
	for _, layer := range m.layers {
		for _, lin := range layer.linears() {
			if p, ok := af.lora[lin.Name]; ok {
				adapters[lin] = &loraWeights{A: load(p.A), B: load(p.B), Scaling: af.cfg.Scaling(), Dropout: af.cfg.Dropout}
			}
		}
	}
	var embed, head *torch.Tensor
	if af.embed != nil {
		embed = load(*af.embed)
	}
	if af.lmHead != nil {
		head = load(*af.lmHead)
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("load adapter %s: %w", dir, err)
	}
	m.detach()
	if err := m.attach(s, af.cfg, adapters, embed, head); err != nil {
		return fmt.Errorf("load adapter %s: %w", dir, err)
	}
	return nil
}

// adapterFile is a parsed, checked adapter folder; its tensors are slices of the mapped file.
type adapterFile struct {
	cfg           LoRAConfig               // Targets and ModulesToSave as found in the file
	lora          map[string]adapterTensor // module name (model.layers.0.self_attn.q_proj) → A, B
	embed, lmHead *TensorInfo              // modules_to_save, or nil
	w             *Weights
}

type adapterTensor struct{ A, B TensorInfo }

// readAdapter parses dir's adapter_config.json and adapter_model.safetensors and checks every
// tensor against the model config cfg.
func readAdapter(dir string, cfg *Config) (*adapterFile, error) {
	pc, err := readPEFTConfig(dir)
	if err != nil {
		return nil, err
	}
	wpath := filepath.Join(dir, AdapterWeightsFile)
	if _, err := os.Stat(wpath); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, "adapter_model.bin")); err == nil {
			return nil, fmt.Errorf("adapter %s has only adapter_model.bin (a pickle); convert it to %s", dir, AdapterWeightsFile)
		}
		return nil, fmt.Errorf("adapter %s has no %s", dir, AdapterWeightsFile)
	}
	w, err := OpenSafetensors(wpath)
	if err != nil {
		return nil, fmt.Errorf("load adapter: %w", err)
	}
	af := &adapterFile{lora: map[string]adapterTensor{}, w: w}
	if err := af.match(dir, cfg, pc); err != nil {
		w.Close()
		return nil, err
	}
	return af, nil
}

func readPEFTConfig(dir string) (*peftAdapterConfig, error) {
	path := filepath.Join(dir, AdapterConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("adapter %s has no %s (is it a LoRA adapter folder?)", dir, AdapterConfigFile)
		}
		return nil, fmt.Errorf("read adapter config: %w", err)
	}
	var pc peftAdapterConfig
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&pc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var problems []string
	switch {
	case pc.PeftType != "LORA":
		problems = append(problems, fmt.Sprintf("peft_type is %q, only LORA is supported", pc.PeftType))
	case pc.R == nil:
		problems = append(problems, "r (the rank) is missing")
	case *pc.R <= 0:
		problems = append(problems, fmt.Sprintf("rank r=%d (a LoRA adapter needs r ≥ 1)", *pc.R))
	}
	if pc.LoraAlpha == nil {
		a := 8.0 // PEFT's default
		pc.LoraAlpha = &a
	}
	if pc.UseDoRA {
		problems = append(problems, "use_dora is not supported")
	}
	if pc.FanInFanOut {
		problems = append(problems, "fan_in_fan_out is not supported")
	}
	if pc.Bias != "" && pc.Bias != "none" {
		problems = append(problems, fmt.Sprintf("bias %q is not supported (want none)", pc.Bias))
	}
	if pc.LoraBias {
		problems = append(problems, "lora_bias is not supported")
	}
	if len(pc.RankPattern) > 0 || len(pc.AlphaPattern) > 0 {
		problems = append(problems, "per-module rank_pattern/alpha_pattern are not supported")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("adapter %s: %s: %s", dir, AdapterConfigFile, strings.Join(problems, "; "))
	}
	return &pc, nil
}

// match sorts the file's tensors into LoRA pairs and modules_to_save and checks their shapes.
func (af *adapterFile) match(dir string, cfg *Config, pc *peftAdapterConfig) error {
	other := func(format string, a ...any) error {
		return fmt.Errorf("adapter %s is for another model shape: %s; this is a %v", dir, fmt.Sprintf(format, a...), cfg.Shape())
	}
	halves, err := af.sortTensors(dir, cfg, other)
	if err != nil {
		return err
	}
	targets, err := af.pairLoRA(dir, cfg, *pc.R, halves, other)
	if err != nil {
		return err
	}
	if err := af.checkSaved(dir, cfg, pc, other); err != nil {
		return err
	}
	af.cfg = LoRAConfig{R: *pc.R, Alpha: *pc.LoraAlpha, Dropout: pc.LoraDropout, UseRSLoRA: pc.UseRSLoRA}
	for _, n := range cfg.LoRATargets() {
		if targets[n] {
			af.cfg.Targets = append(af.cfg.Targets, n)
		}
	}
	if af.embed != nil {
		af.cfg.ModulesToSave = append(af.cfg.ModulesToSave, "embed_tokens")
	}
	if af.lmHead != nil {
		af.cfg.ModulesToSave = append(af.cfg.ModulesToSave, "lm_head")
	}
	return nil
}

// sortTensors files each tensor as a LoRA half of a decoder linear (returned by module, then 'A'
// or 'B') or as embed_tokens/lm_head; any other tensor is an error.
func (af *adapterFile) sortTensors(dir string, cfg *Config, other func(string, ...any) error) (map[string]map[byte]TensorInfo, error) {
	var unknown []string
	halves := map[string]map[byte]TensorInfo{}
	for _, name := range af.w.Names() {
		ti, _ := af.w.Get(name)
		key := strings.TrimPrefix(name, peftPrefix)
		if module, ab, ok := loraKey(key); ok {
			layer, _, known := layerModule(cfg, module)
			switch {
			case !known:
				unknown = append(unknown, name)
				continue
			case layer >= cfg.NumHiddenLayers:
				return nil, other("tensor %s is for layer %d, the model has %d layers", name, layer, cfg.NumHiddenLayers)
			}
			if halves[module] == nil {
				halves[module] = map[byte]TensorInfo{}
			}
			halves[module][ab] = ti
			continue
		}
		switch savedModuleKey(key) {
		case "embed_tokens":
			af.embed = &ti
		case "lm_head":
			af.lmHead = &ti
		default:
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("adapter %s: %s holds tensors that are neither LoRA A/B of the decoder's linear layers nor embed_tokens/lm_head: %s",
			dir, AdapterWeightsFile, strings.Join(limitList(unknown, 10), ", "))
	}
	if len(halves) == 0 && af.embed == nil && af.lmHead == nil {
		return nil, fmt.Errorf("adapter %s: %s holds no LoRA tensors", dir, AdapterWeightsFile)
	}
	return halves, nil
}

// pairLoRA checks each module's A [r, in] and B [out, r] against cfg's shapes, keeps the pairs
// in af.lora and returns the short names of the modules found.
func (af *adapterFile) pairLoRA(dir string, cfg *Config, r int, halves map[string]map[byte]TensorInfo, other func(string, ...any) error) (map[string]bool, error) {
	targets := map[string]bool{}
	for _, module := range sortedKeys(halves) {
		h := halves[module]
		A, okA := h['A']
		B, okB := h['B']
		if !okA || !okB {
			return nil, fmt.Errorf("adapter %s: module %s has only one of lora_A and lora_B", dir, module)
		}
		for _, t := range []TensorInfo{A, B} {
			if _, ok := safetensorsDTypes[t.DType]; !ok {
				return nil, fmt.Errorf("adapter %s: tensor %s has dtype %s (want F32, BF16 or F16)", dir, t.Name, t.DType)
			}
		}
		_, sub, _ := layerModule(cfg, module)
		ws := cfg.LinearShape(sub)
		out, in := ws[0], ws[1]
		if !equalShape(A.Shape, []int64{int64(r), in}) {
			if len(A.Shape) == 2 && A.Shape[1] == in {
				return nil, fmt.Errorf("adapter %s: tensor %s has rank %d but %s says r=%d", dir, A.Name, A.Shape[0], AdapterConfigFile, r)
			}
			return nil, other("tensor %s has shape %v, this model wants %v", A.Name, A.Shape, []int64{int64(r), in})
		}
		if !equalShape(B.Shape, []int64{out, int64(r)}) {
			return nil, other("tensor %s has shape %v, this model wants %v", B.Name, B.Shape, []int64{out, int64(r)})
		}
		af.lora[module] = adapterTensor{A, B}
		targets[shortName(module)] = true
	}
	return targets, nil
}

// checkSaved checks the embed_tokens/lm_head copies' dtype and shape, and that each module
// adapter_config.json lists in modules_to_save has its tensor.
func (af *adapterFile) checkSaved(dir string, cfg *Config, pc *peftAdapterConfig, other func(string, ...any) error) error {
	full := []int64{int64(cfg.VocabSize), int64(cfg.HiddenSize)}
	for _, t := range []*TensorInfo{af.embed, af.lmHead} {
		if t == nil {
			continue
		}
		if _, ok := safetensorsDTypes[t.DType]; !ok {
			return fmt.Errorf("adapter %s: tensor %s has dtype %s (want F32, BF16 or F16)", dir, t.Name, t.DType)
		}
		if !equalShape(t.Shape, full) {
			return other("tensor %s has shape %v, this model wants %v", t.Name, t.Shape, full)
		}
	}
	listed := LoRAConfig{ModulesToSave: pc.ModulesToSave}
	saved, err := listed.SavedModules()
	if err != nil {
		return fmt.Errorf("adapter %s: %s: %w", dir, AdapterConfigFile, err)
	}
	for _, mod := range saved {
		if (mod == "embed_tokens" && af.embed == nil) || (mod == "lm_head" && af.lmHead == nil) {
			return fmt.Errorf("adapter %s: %s lists %s in modules_to_save but %s has no such tensor", dir, AdapterConfigFile, mod, AdapterWeightsFile)
		}
	}
	return nil
}

// loraKey splits "model.layers.0.self_attn.q_proj.lora_A[.<adapter>].weight" into the module
// and 'A' or 'B'.
func loraKey(key string) (module string, ab byte, ok bool) {
	for _, half := range []byte{'A', 'B'} {
		marker := ".lora_" + string(half) + "."
		i := strings.LastIndex(key, marker)
		if i < 0 {
			continue
		}
		rest := key[i+len(marker):]
		if rest == "weight" || (strings.HasSuffix(rest, ".weight") && !strings.Contains(strings.TrimSuffix(rest, ".weight"), ".")) {
			return key[:i], half, true
		}
	}
	return "", 0, false
}

// layerModule parses "model.layers.{i}.{module}" into i and a projection cfg declares
// ("self_attn.q_proj"); known is false for any other module.
func layerModule(cfg *Config, module string) (layer int, sub string, known bool) {
	i, sub, ok := splitLayerName(module)
	if !ok || !slices.Contains(cfg.LinearModules(), sub) {
		return 0, "", false
	}
	return i, sub, true
}

// savedModuleKey recognises a modules_to_save tensor in the forms PEFT versions write:
// model.embed_tokens.weight, model.embed_tokens.modules_to_save[.<adapter>].weight (same for lm_head).
func savedModuleKey(key string) string {
	for _, c := range []struct{ module, name string }{{"model.embed_tokens", "embed_tokens"}, {"lm_head", "lm_head"}} {
		rest, ok := strings.CutPrefix(key, c.module+".")
		if !ok {
			continue
		}
		if rest == "weight" {
			return c.name
		}
		rest, ok = strings.CutSuffix(rest, ".weight")
		if !ok {
			continue
		}
		if rest == "modules_to_save" ||
			(strings.HasPrefix(rest, "modules_to_save.") && !strings.Contains(strings.TrimPrefix(rest, "modules_to_save."), ".")) {
			return c.name
		}
	}
	return ""
}
