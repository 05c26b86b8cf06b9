package llm

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadTestConfig(t *testing.T, file string) (*Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "configs", file))
	if err != nil {
		t.Fatal(err)
	}
	return ParseConfig(data)
}

func TestParseConfigRealModels(t *testing.T) {
	cases := []struct {
		file    string
		want    Config
		nParams int64 // published parameter counts
	}{
		{"qwen2.5-0.5b-instruct.json", Config{
			ModelType: "qwen2", HiddenSize: 896, IntermediateSize: 4864, NumAttentionHeads: 14, NumKeyValueHeads: 2,
			NumHiddenLayers: 24, HeadDim: 64, RopeTheta: 1e6, RMSNormEps: 1e-6, TieWordEmbeddings: true,
			VocabSize: 151936, MaxPositionEmbeddings: 32768, TorchDType: "bfloat16", AttentionBias: true,
		}, 494_032_768},
		{"qwen1.5-7b-chat.json", Config{
			ModelType: "qwen2", HiddenSize: 4096, IntermediateSize: 11008, NumAttentionHeads: 32, NumKeyValueHeads: 32,
			NumHiddenLayers: 32, HeadDim: 128, RopeTheta: 1e6, RMSNormEps: 1e-6, TieWordEmbeddings: false,
			VocabSize: 151936, MaxPositionEmbeddings: 32768, TorchDType: "bfloat16", AttentionBias: true,
		}, 7_721_324_544},
		{"llama-3-8b-instruct.json", Config{
			ModelType: "llama", HiddenSize: 4096, IntermediateSize: 14336, NumAttentionHeads: 32, NumKeyValueHeads: 8,
			NumHiddenLayers: 32, HeadDim: 128, RopeTheta: 500000, RMSNormEps: 1e-5, TieWordEmbeddings: false,
			VocabSize: 128256, MaxPositionEmbeddings: 8192, TorchDType: "bfloat16",
		}, 8_030_261_248},
		{"llama-3.1-8b-instruct.json", Config{
			ModelType: "llama", HiddenSize: 4096, IntermediateSize: 14336, NumAttentionHeads: 32, NumKeyValueHeads: 8,
			NumHiddenLayers: 32, HeadDim: 128, RopeTheta: 500000, RMSNormEps: 1e-5, TieWordEmbeddings: false,
			VocabSize: 128256, MaxPositionEmbeddings: 131072, TorchDType: "bfloat16",
			RopeScaling: &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192},
		}, 8_030_261_248},
		{"llama-transformers5.json", Config{
			ModelType: "llama", HiddenSize: 256, IntermediateSize: 512, NumAttentionHeads: 8, NumKeyValueHeads: 4,
			NumHiddenLayers: 2, HeadDim: 32, RopeTheta: 500000, RMSNormEps: 1e-5, TieWordEmbeddings: true,
			VocabSize: 1000, MaxPositionEmbeddings: 2048, TorchDType: "bfloat16",
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			got, err := loadTestConfig(t, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			// Compare the architecture fields; ids and names are checked below.
			g := *got
			g.Architectures, g.BOSTokenID, g.EOSTokenIDs, g.HiddenAct = nil, nil, nil, ""
			if !reflect.DeepEqual(g, tc.want) {
				t.Errorf("got  %+v\nwant %+v", g, tc.want)
			}
			if got.HiddenAct != "silu" {
				t.Errorf("hidden_act %q", got.HiddenAct)
			}
			if tc.nParams != 0 && got.NumParameters() != tc.nParams {
				t.Errorf("NumParameters = %d, want %d", got.NumParameters(), tc.nParams)
			}
		})
	}
	t.Run("token ids", func(t *testing.T) {
		c, _ := loadTestConfig(t, "llama-3.1-8b-instruct.json")
		if c.BOSTokenID == nil || *c.BOSTokenID != 128000 || !reflect.DeepEqual(c.EOSTokenIDs, []int{128001, 128008, 128009}) {
			t.Errorf("bos %v eos %v", c.BOSTokenID, c.EOSTokenIDs)
		}
		c, _ = loadTestConfig(t, "qwen2.5-0.5b-instruct.json")
		if !reflect.DeepEqual(c.EOSTokenIDs, []int{151645}) {
			t.Errorf("eos %v", c.EOSTokenIDs)
		}
	})
}

func TestParseConfigErrors(t *testing.T) {
	qwen := `"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100`
	cases := []struct {
		name, json string
		want       []string // substrings of the error
	}{
		{"unknown architecture", `{"model_type": "baichuan", "architectures": ["BaichuanForCausalLM"]}`, []string{`"baichuan"`, "BaichuanForCausalLM", "supported", "llama", "qwen2"}},
		{"no model_type", `{"hidden_size": 4}`, []string{"model_type missing"}},
		{"bad json", `{"model_type": "qwen2",`, []string{"parse config JSON"}},
		{"missing sizes", `{"model_type": "llama", "hidden_size": 64}`, []string{"intermediate_size", "num_attention_heads", "num_hidden_layers", "vocab_size"}},
		{"heads do not divide hidden", `{"model_type": "qwen2", "hidden_size": 66, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`, []string{"not divisible"}},
		{"kv does not divide heads", `{` + qwen + `, "num_key_value_heads": 3}`, []string{"num_key_value_heads 3 does not divide num_attention_heads 4"}},
		{"odd head_dim", `{` + qwen + `, "head_dim": 15}`, []string{"head_dim 15 must be even"}},
		{"zero layers", `{"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 0, "vocab_size": 100}`, []string{"num_hidden_layers must be positive"}},
		{"negative eps", `{` + qwen + `, "rms_norm_eps": -1}`, []string{"rms_norm_eps"}},
		{"gelu", `{` + qwen + `, "hidden_act": "gelu"}`, []string{`hidden_act "gelu"`}},
		{"sliding window", `{` + qwen + `, "use_sliding_window": true}`, []string{"use_sliding_window"}},
		{"yarn", `{` + qwen + `, "rope_scaling": {"type": "yarn", "factor": 4}}`, []string{`"yarn"`, "not supported"}},
		{"llama3 incomplete", `{` + qwen + `, "rope_scaling": {"rope_type": "llama3", "factor": 8}}`, []string{"low_freq_factor"}},
		{"eos not ids", `{` + qwen + `, "eos_token_id": "x"}`, []string{"eos_token_id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfigMissing(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadConfig(dir)
	if err == nil || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "gpt2"}`), 0o644)
	_, err = LoadConfig(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) || !strings.Contains(err.Error(), "gpt2") {
		t.Fatalf("got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumKeyValueHeads != 4 || c.HeadDim != 16 || c.RopeTheta != 10000 || c.RMSNormEps != 1e-6 ||
		c.TieWordEmbeddings || c.AttentionBias || c.OProjBias || c.MLPBias || c.MaxPositionEmbeddings != 2048 {
		t.Errorf("llama defaults: %+v", c)
	}
	c, err = ParseConfig([]byte(`{"model_type": "llama", "attention_bias": true, "mlp_bias": true, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AttentionBias || !c.OProjBias || !c.MLPBias {
		t.Errorf("llama biases: %+v", c)
	}
	c, err = ParseConfig([]byte(`{"model_type": "qwen2", "attention_bias": false, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.AttentionBias || c.OProjBias || c.MLPBias || c.MaxPositionEmbeddings != 32768 {
		t.Errorf("qwen2 always has q/k/v bias and no other: %+v", c)
	}
}

func TestWeightNamesAndShapes(t *testing.T) {
	c, err := loadTestConfig(t, "qwen2.5-0.5b-instruct.json")
	if err != nil {
		t.Fatal(err)
	}
	names := c.WeightNames()
	// embed + 24 layers × (2 norms + 4 attn weights + 3 attn biases + 3 mlp) + final norm; tied: no lm_head
	if len(names) != 1+24*12+1 {
		t.Errorf("%d names", len(names))
	}
	for _, n := range names {
		if n == LMHeadWeight {
			t.Error("tied model lists lm_head")
		}
		if c.ExpectedShape(n) == nil {
			t.Errorf("no shape for %s", n)
		}
	}
	shapes := map[string][]int64{
		"model.embed_tokens.weight":                 {151936, 896},
		"lm_head.weight":                            {151936, 896},
		"model.norm.weight":                         {896},
		"model.layers.0.input_layernorm.weight":     {896},
		"model.layers.23.self_attn.q_proj.weight":   {896, 896},
		"model.layers.23.self_attn.q_proj.bias":     {896},
		"model.layers.5.self_attn.k_proj.weight":    {128, 896},
		"model.layers.5.self_attn.v_proj.bias":      {128},
		"model.layers.5.self_attn.o_proj.weight":    {896, 896},
		"model.layers.5.mlp.gate_proj.weight":       {4864, 896},
		"model.layers.5.mlp.up_proj.weight":         {4864, 896},
		"model.layers.5.mlp.down_proj.weight":       {896, 4864},
		"model.layers.5.self_attn.o_proj.bias":      nil,
		"model.layers.24.self_attn.q_proj.weight":   nil,
		"model.layers.05.self_attn.q_proj.weight":   nil,
		"model.layers.1.self_attn.rotary_emb.inv_f": nil,
		"transformer.h.0.attn.c_attn.weight":        nil,
	}
	for name, want := range shapes {
		if got := c.ExpectedShape(name); !reflect.DeepEqual(got, want) {
			t.Errorf("ExpectedShape(%s) = %v, want %v", name, got, want)
		}
	}
	u, _ := loadTestConfig(t, "llama-3-8b-instruct.json")
	un := u.WeightNames()
	if un[len(un)-1] != LMHeadWeight {
		t.Errorf("untied model does not list lm_head last: %s", un[len(un)-1])
	}
	for _, n := range un {
		if strings.HasSuffix(n, ".bias") {
			t.Errorf("llama lists bias %s", n)
		}
	}
}

func TestRopeInvFreq(t *testing.T) {
	c := &Config{HeadDim: 128, RopeTheta: 500000}
	plain := c.RopeInvFreq()
	if len(plain) != 64 || plain[0] != 1 || math.Abs(plain[1]-math.Pow(500000, -2.0/128)) > 1e-18 {
		t.Fatalf("plain inv_freq %v...", plain[:2])
	}
	c.RopeScaling = &RopeScaling{Type: "linear", Factor: 4}
	for i, f := range c.RopeInvFreq() {
		if math.Abs(f-plain[i]/4) > 1e-18 {
			t.Fatalf("linear[%d] = %g, want %g", i, f, plain[i]/4)
		}
	}
	c.RopeScaling = &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192}
	l3 := c.RopeInvFreq()
	var kept, divided, smoothed int
	for i, f := range l3 {
		wavelen := 2 * math.Pi / plain[i]
		switch {
		case wavelen < 2048:
			if f != plain[i] {
				t.Errorf("high freq %d changed", i)
			}
			kept++
		case wavelen > 8192:
			if math.Abs(f-plain[i]/8) > 1e-18 {
				t.Errorf("low freq %d = %g, want %g", i, f, plain[i]/8)
			}
			divided++
		default:
			if !(f < plain[i] && f > plain[i]/8) {
				t.Errorf("medium freq %d = %g not between %g and %g", i, f, plain[i]/8, plain[i])
			}
			smoothed++
		}
	}
	if kept == 0 || divided == 0 || smoothed == 0 {
		t.Errorf("llama3 bands: kept %d divided %d smoothed %d", kept, divided, smoothed)
	}
}

func TestHFJSONRoundTrip(t *testing.T) {
	for _, file := range []string{"qwen2.5-0.5b-instruct.json", "llama-3.1-8b-instruct.json", "llama-3-8b-instruct.json"} {
		t.Run(file, func(t *testing.T) {
			c, err := loadTestConfig(t, file)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.HFJSON()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseConfig(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if !reflect.DeepEqual(back, c) {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, c)
			}
		})
	}
}

func TestPyFloat(t *testing.T) {
	for v, want := range map[float64]string{
		1e6: "1000000.0", 1e-6: "1e-06", 0.02: "0.02", 1e-5: "1e-05", 500000: "500000.0", 0: "0.0", 8: "8.0",
		1e16: "1e+16", 0.0001: "0.0001",
	} {
		if got := string(pyFloat(v)); got != want {
			t.Errorf("pyFloat(%g) = %s, want %s", v, got, want)
		}
	}
}

// TestMistralConfigFile: Mistral-7B-v0.1's config.json, refused before model_type mistral was
// supported, now reads with its 4096-token window (7.24 B parameters).
func TestMistralConfigFile(t *testing.T) {
	c, err := loadTestConfig(t, "mistral-7b-v0.1.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.SlidingWindow != 4096 || c.HeadDim != 128 || c.NumKeyValueHeads != 8 || c.NumParameters() != 7241732096 {
		t.Errorf("window %d, head_dim %d, kv heads %d, %d parameters", c.SlidingWindow, c.HeadDim, c.NumKeyValueHeads, c.NumParameters())
	}
}
