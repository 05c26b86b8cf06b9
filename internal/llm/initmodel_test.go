package llm

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readDirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func TestInitRandomModel(t *testing.T) {
	root := t.TempDir()
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "sub", "b"), filepath.Join(root, "c")
	for _, d := range []struct {
		dir  string
		seed uint64
	}{{a, 42}, {b, 42}, {c, 43}} {
		if err := InitRandomModel(d.dir, "tiny", d.seed, ""); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb, fc := readDirFiles(t, a), readDirFiles(t, b), readDirFiles(t, c)
	names := sortedKeys(fa)
	wantNames := []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("files %v, want %v", names, wantNames)
	}
	t.Run("same seed: byte-identical", func(t *testing.T) {
		for _, n := range names {
			if !bytes.Equal(fa[n], fb[n]) {
				t.Errorf("%s differs between two runs with seed 42", n)
			}
		}
	})
	t.Run("other seed: other weights, same config", func(t *testing.T) {
		if bytes.Equal(fa["model.safetensors"], fc["model.safetensors"]) {
			t.Error("seeds 42 and 43 gave the same weights")
		}
		if !bytes.Equal(fa["config.json"], fc["config.json"]) {
			t.Error("config depends on the seed")
		}
	})
	t.Run("loads as a Qwen2 folder", func(t *testing.T) {
		cfg, err := LoadConfig(a)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := PresetConfig("tiny")
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("config\n got %+v\nwant %+v", cfg, want)
		}
		if cfg.NumHiddenLayers != 2 || cfg.HiddenSize != 64 || cfg.NumAttentionHeads != 4 || cfg.NumKeyValueHeads != 2 ||
			cfg.VocabSize != 151936 || !cfg.TieWordEmbeddings || cfg.RopeTheta != 1e6 || cfg.Architectures[0] != "Qwen2ForCausalLM" {
			t.Errorf("tiny preset %+v", cfg)
		}
		w, err := OpenWeights(a)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := CheckWeights(cfg, w); err != nil {
			t.Fatal(err)
		}
		if len(w.Names()) != len(cfg.WeightNames()) {
			t.Errorf("%d tensors, want %d", len(w.Names()), len(cfg.WeightNames()))
		}
		if w.Metadata()["format"] != "pt" {
			t.Errorf("metadata %v", w.Metadata())
		}
		norm, _ := mustGet(t, w, "model.layers.1.post_attention_layernorm.weight").Float32s()
		for _, v := range norm {
			if v != 1 {
				t.Fatalf("norm weight %g, want 1", v)
			}
		}
		emb, _ := mustGet(t, w, EmbedTokensWeight).Float32s()
		var sum, sq float64
		for _, v := range emb {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		mean := sum / float64(len(emb))
		std := math.Sqrt(sq/float64(len(emb)) - mean*mean)
		if math.Abs(mean) > 1e-4 || math.Abs(std-0.02) > 1e-4 {
			t.Errorf("embeddings mean %g std %g, want 0 and 0.02", mean, std)
		}
		bias, _ := mustGet(t, w, "model.layers.0.self_attn.k_proj.bias").Float32s()
		if bias[0] == 0 || math.Abs(float64(bias[0])) > 0.2 {
			t.Errorf("k bias[0] = %g, want small and non-zero", bias[0])
		}
	})
	t.Run("generation config", func(t *testing.T) {
		var g map[string]any
		if err := json.Unmarshal(fa["generation_config.json"], &g); err != nil {
			t.Fatal(err)
		}
		if g["eos_token_id"] == nil || g["bos_token_id"] != float64(151643) {
			t.Errorf("generation_config %v", g)
		}
	})
	t.Run("config.json looks like Hugging Face's", func(t *testing.T) {
		for _, s := range []string{`"rope_theta": 1000000.0`, `"rms_norm_eps": 1e-06`, `"torch_dtype": "float32"`,
			`"use_sliding_window": false`, `"model_type": "qwen2"`} {
			if !bytes.Contains(fa["config.json"], []byte(s)) {
				t.Errorf("config.json lacks %s:\n%s", s, fa["config.json"])
			}
		}
	})
	t.Run("no temporary folders left", func(t *testing.T) {
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				t.Errorf("left %s", e.Name())
			}
		}
	})
}

func TestInitRandomModelBF16(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	if err := InitRandomModel(dir, "tiny", 1, "bf16"); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TorchDType != "bfloat16" {
		t.Errorf("torch_dtype %q", cfg.TorchDType)
	}
	w, err := OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := CheckWeights(cfg, w); err != nil {
		t.Fatal(err)
	}
	for _, n := range w.Names() {
		if ti, _ := w.Get(n); ti.DType != "BF16" {
			t.Errorf("%s is %s", n, ti.DType)
		}
	}
	// The bf16 weights are the f32 draw rounded: same seed, same values within bf16 precision.
	f32, err := RandomWeights(cfg, RandomInit{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ToFloat32("F32", f32[1].Data)
	got, _ := mustGet(t, w, f32[1].Name).Float32s()
	for i := range want {
		if F32ToBF16(want[i]) != F32ToBF16(got[i]) {
			t.Fatalf("%s[%d]: bf16 %g vs f32 %g", f32[1].Name, i, got[i], want[i])
		}
	}
}

func TestInitRandomModelErrors(t *testing.T) {
	root := t.TempDir()
	full := filepath.Join(root, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("x"), 0o644)
	cases := []struct {
		name, dir, preset, dtype, want string
	}{
		{"unknown preset", filepath.Join(root, "x"), "huge", "", `unknown model preset "huge"`},
		{"unknown dtype", filepath.Join(root, "x"), "tiny", "int4", `unsupported dtype "int4"`},
		{"non-empty dir", full, "tiny", "", "not empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := InitRandomModel(tc.dir, tc.preset, 1, tc.dtype)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Errorf("left behind %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(full, "keep.txt")); string(b) != "x" {
		t.Error("touched the existing folder")
	}
}

func TestPresetConfigSmall(t *testing.T) {
	c, err := PresetConfig("small")
	if err != nil {
		t.Fatal(err)
	}
	if c.NumHiddenLayers != 4 || c.HiddenSize != 256 || c.NumAttentionHeads != 8 || c.NumKeyValueHeads != 2 ||
		c.IntermediateSize != 1024 || c.HeadDim != 32 {
		t.Errorf("small preset %+v", c)
	}
	b, err := c.HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseConfig(b)
	if err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("round trip %v: %+v", err, back)
	}
}

// TestPresetConfig05B: the 0.5b preset is Qwen2.5-0.5B-Instruct's published shape, whose model card
// counts 494,032,768 parameters (0.49B).
func TestPresetConfig05B(t *testing.T) {
	c, err := PresetConfig("0.5b")
	if err != nil {
		t.Fatal(err)
	}
	if c.NumHiddenLayers != 24 || c.HiddenSize != 896 || c.NumAttentionHeads != 14 || c.NumKeyValueHeads != 2 ||
		c.IntermediateSize != 4864 || c.HeadDim != 64 || c.VocabSize != 151936 || !c.TieWordEmbeddings || !c.AttentionBias {
		t.Errorf("0.5b preset %+v", c)
	}
	if n := c.NumParameters(); n != 494032768 {
		t.Errorf("parameters %d, want 494,032,768", n)
	}
}

func TestRandomWeightsIndependentOfOrder(t *testing.T) {
	// A tensor's values depend on (seed, name) only: a config with one more layer keeps the others.
	c2 := tinyTestConfig(true)
	c3 := tinyTestConfig(true)
	c3.NumHiddenLayers = 3
	w2, _ := RandomWeights(c2, RandomInit{Seed: 5})
	w3, _ := RandomWeights(c3, RandomInit{Seed: 5})
	byName := map[string][]byte{}
	for _, td := range w3 {
		byName[td.Name] = td.Data
	}
	for _, td := range w2 {
		if !bytes.Equal(td.Data, byName[td.Name]) {
			t.Errorf("%s changed when a layer was added", td.Name)
		}
	}
	if _, err := RandomWeights(c2, RandomInit{DType: "I8"}); err == nil {
		t.Error("accepted dtype I8")
	}
}

// TestLogitScale: LogitScale changes the final norm alone, and sets it so that a hidden state along
// a token's (tied) embedding row gives that token a logit near LogitScale instead of ≈ 1.3.
func TestLogitScale(t *testing.T) {
	cfg, err := PresetConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := RandomWeights(cfg, RandomInit{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := RandomWeights(cfg, RandomInit{Seed: 3, LogitScale: 20})
	if err != nil {
		t.Fatal(err)
	}
	var embed []float32
	var norm float32
	for i, td := range scaled {
		if td.Name != FinalNormWeight {
			if !bytes.Equal(td.Data, plain[i].Data) {
				t.Errorf("%s changed with LogitScale", td.Name)
			}
			if td.Name == EmbedTokensWeight {
				embed, _ = ToFloat32(td.DType, td.Data)
			}
			continue
		}
		vals, _ := ToFloat32(td.DType, td.Data)
		norm = vals[0]
		for j, v := range vals {
			if v != float32(20.0/(64*0.02)) {
				t.Fatalf("%s[%d] = %g, want 20/(hidden 64 · std 0.02) = 15.625", td.Name, j, v)
			}
		}
	}
	// The logit of token "1" (id 16) for the final-normed hidden state g·w/rms(w), w its own row.
	h := cfg.HiddenSize
	row := embed[16*h : 17*h]
	var sq float64
	for _, v := range row {
		sq += float64(v) * float64(v)
	}
	rms := math.Sqrt(sq/float64(h) + cfg.RMSNormEps)
	aligned := float64(norm) * sq / rms
	if aligned < 14 || aligned > 26 || aligned/float64(norm) > 2 {
		t.Errorf("aligned logit %.2f with LogitScale 20 (%.2f with norms 1), want ≈ 20 (≈ 1.3)", aligned, aligned/float64(norm))
	}
	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		err := InitRandomModelWith(filepath.Join(t.TempDir(), "m"), InitOptions{Preset: "tiny", LogitScale: bad})
		if err == nil || !strings.Contains(err.Error(), "logit scale") {
			t.Errorf("LogitScale %v: err = %v, want it refused", bad, err)
		}
	}
}
