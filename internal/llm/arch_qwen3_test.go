package llm

import (
	"reflect"
	"strings"
	"testing"
)

// Qwen3Config's and MistralConfig's defaults, as transformers reads a config.json.
func TestParseQwen3AndMistral(t *testing.T) {
	base := `"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 100`
	parse := func(t *testing.T, extra string) (*Config, error) {
		t.Helper()
		return ParseConfig([]byte("{" + base + ", " + extra + "}"))
	}
	t.Run("qwen3 defaults", func(t *testing.T) {
		c, err := parse(t, `"model_type": "qwen3"`)
		if err != nil {
			t.Fatal(err)
		}
		if !c.QKNorm || c.HeadDim != 128 || c.AttentionBias || c.OProjBias || c.MaxPositionEmbeddings != 32768 || c.SlidingWindow != 0 {
			t.Errorf("qwen3 defaults: %+v", c)
		}
		var mods []string
		for _, w := range c.layerWeights() {
			mods = append(mods, w.Module)
		}
		want := []string{"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
			"self_attn.q_norm", "self_attn.k_norm", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
		if !reflect.DeepEqual(mods, want) {
			t.Errorf("qwen3 layer modules %v", mods)
		}
		for name, shape := range map[string][]int64{
			"model.layers.1.self_attn.q_norm.weight": {128}, "model.layers.0.self_attn.q_proj.weight": {512, 64},
			"model.layers.0.self_attn.k_proj.weight": {256, 64}, "model.layers.0.self_attn.o_proj.weight": {64, 512},
			"model.layers.0.self_attn.q_proj.bias": nil,
		} {
			if got := c.ExpectedShape(name); !reflect.DeepEqual(got, shape) {
				t.Errorf("ExpectedShape(%s) = %v, want %v", name, got, shape)
			}
		}
	})
	t.Run("qwen3 attention_bias", func(t *testing.T) {
		c, err := parse(t, `"model_type": "qwen3", "attention_bias": true, "head_dim": 16`)
		if err != nil {
			t.Fatal(err)
		}
		if !c.AttentionBias || !c.OProjBias || c.MLPBias || c.HeadDim != 16 {
			t.Errorf("qwen3 attention_bias: %+v", c)
		}
		if c.ExpectedShape("model.layers.0.self_attn.o_proj.bias") == nil {
			t.Error("qwen3 attention_bias: no o_proj bias")
		}
	})
	t.Run("qwen3 sliding window refused", func(t *testing.T) {
		if _, err := parse(t, `"model_type": "qwen3", "use_sliding_window": true`); err == nil || !strings.Contains(err.Error(), "use_sliding_window") {
			t.Errorf("got %v", err)
		}
	})
	for _, tc := range []struct {
		json string
		want int
		err  string
	}{
		{``, 4096, ""},
		{`, "sliding_window": null`, 0, ""},
		{`, "sliding_window": 7`, 7, ""},
		{`, "sliding_window": 0`, 0, "sliding_window 0"},
		{`, "sliding_window": "x"`, 0, `sliding_window "x"`},
	} {
		t.Run("mistral"+tc.json, func(t *testing.T) {
			c, err := parse(t, `"model_type": "mistral", "attention_bias": true`+tc.json)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.SlidingWindow != tc.want || c.AttentionBias || c.HeadDim != 16 || c.MaxPositionEmbeddings != 131072 {
				t.Errorf("mistral: %+v", c)
			}
		})
	}
}

// init-model's qwen3 and mistral presets write config.json files that read back as the same Config.
func TestDensePresetsRoundTrip(t *testing.T) {
	for _, arch := range []string{"qwen3", "mistral"} {
		t.Run(arch, func(t *testing.T) {
			c, err := ArchPresetConfig("tiny", arch)
			if err != nil {
				t.Fatal(err)
			}
			if c.ModelType != arch {
				t.Fatalf("model_type %q", c.ModelType)
			}
			variants := []*Config{c}
			if arch == "mistral" {
				off := *c
				off.SlidingWindow = 0
				variants = append(variants, &off)
			}
			for _, v := range variants {
				b, err := v.HFJSON()
				if err != nil {
					t.Fatal(err)
				}
				back, err := ParseConfig(b)
				if err != nil {
					t.Fatalf("%v\n%s", err, b)
				}
				if !reflect.DeepEqual(back, v) {
					t.Errorf("round trip:\n got %+v\nwant %+v\n%s", back, v, b)
				}
			}
		})
	}
}
