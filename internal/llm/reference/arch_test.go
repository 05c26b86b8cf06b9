package reference

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFeaturesMatter: each architecture feature changes the golden models' logits when turned
// off, so TestGoldenPyTorch would notice a reference (or golden.py) that ignored it.
func TestFeaturesMatter(t *testing.T) {
	ids := []int{1, 17, 42, 5, 95, 0, 63}
	cases := []struct {
		model, feature string
		off            func(m *Model)
	}{
		{"mini-qwen3", "q_norm/k_norm", func(m *Model) { m.Arch.QKNorm = false }},
		{"mini-mistral", "sliding window", func(m *Model) { m.Arch.SlidingWindow = 1 << 30 }},
		{"mini-gemma2", "norm offset 1+w", func(m *Model) { m.Arch.NormOffset = 0 }},
		{"mini-gemma2", "embedding scale", func(m *Model) { m.Arch.ScaleEmbeddings = false }},
		{"mini-gemma2", "attention soft-capping", func(m *Model) { m.Arch.AttnSoftcap = 0 }},
		{"mini-gemma2", "final soft-capping", func(m *Model) { m.Arch.FinalSoftcap = 0 }},
		{"mini-gemma2", "query_pre_attn_scalar", func(m *Model) { m.Arch.AttnScale = 1 / math.Sqrt(float64(m.Arch.HeadDim)) }},
		{"mini-gemma2", "sliding layer 0", func(m *Model) { m.Arch.Sliding[0] = false }},
		{"mini-gemma2", "gelu tanh", func(m *Model) { m.Arch.Act = "silu" }},
		{"mini-gemma3", "q_norm/k_norm", func(m *Model) { m.Arch.QKNorm = false }},
		{"mini-gemma3", "local rope base", func(m *Model) { m.Arch.LocalRope = nil }},
		{"mini-gemma3", "global rope scaling", func(m *Model) { m.Arch.Rope.Scaling = nil }},
		{"mini-gemma3", "global layer 2", func(m *Model) { m.Arch.Sliding[2] = true }},
		{"mini-gemma3-bf16", "√hidden in bf16", func(m *Model) { m.EmbedScaleDType = "F32" }},
		{"mini-glm4", "interleaved rope", func(m *Model) { m.Arch.Rope.Interleaved = false }},
		{"mini-glm4", "partial rotary", func(m *Model) { m.Arch.Rope.Dim = m.Arch.HeadDim }},
		{"mini-glm4", "post-attention norm", func(m *Model) { m.Arch.Norms.PostAttn = "" }},
		{"mini-glm4", "post-MLP norm", func(m *Model) { m.Arch.Norms.PostMLP = "" }},
		{"mini-glm", "interleaved rope", func(m *Model) { m.Arch.Rope.Interleaved = false }},
		{"mini-glm", "partial rotary", func(m *Model) { m.Arch.Rope.Dim = m.Arch.HeadDim }},
	}
	for _, tc := range cases {
		t.Run(tc.model+"/"+tc.feature, func(t *testing.T) {
			m := loadMini(t, tc.model)
			want, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			tc.off(m)
			got, err := m.Forward(ids)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(got, want); d < 1e-4 {
				t.Errorf("turning %s off moves the logits by only %g", tc.feature, d)
			}
		})
	}
}

// TestSlidingWindow: with a window of 3 keys on both layers of mini-mistral, position t sees
// tokens back to t-4 and no further, exactly.
func TestSlidingWindow(t *testing.T) {
	m := loadMini(t, "mini-mistral")
	a, err := m.Forward([]int{4, 8, 15, 16, 23, 42, 7})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Forward([]int{90, 8, 15, 16, 23, 42, 7})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(a[5:], b[5:]); d != 0 {
		t.Errorf("positions 5, 6 saw token 0 through two windows of 3 (moved by %g)", d)
	}
	if d := maxAbsDiff(a[4:5], b[4:5]); d < 1e-6 {
		t.Errorf("position 4 did not see token 0 through layer 1's window at position 2 (%g)", d)
	}
}

func TestRopeLayouts(t *testing.T) {
	inv := Rope{Theta: 10000, Dim: 4}.InvFreq() // [1, 0.01]
	t.Run("interleaved pairs (0,1) by angle 0 and (2,3) by angle 1", func(t *testing.T) {
		x := []float64{1, 0, 1, 0, 5, 6}
		Rope{Dim: 4, Interleaved: true}.apply(x, 1, inv)
		want := []float64{math.Cos(1), math.Sin(1), math.Cos(0.01), math.Sin(0.01), 5, 6}
		for i := range x {
			if math.Abs(x[i]-want[i]) > 1e-15 {
				t.Fatalf("got %v, want %v", x, want)
			}
		}
	})
	t.Run("partial half-split leaves the tail", func(t *testing.T) {
		x := []float64{1, 0, 0, 0, 5, 6}
		Rope{Dim: 4}.apply(x, 1, inv)
		want := []float64{math.Cos(1), 0, math.Sin(1), 0, 5, 6}
		for i := range x {
			if math.Abs(x[i]-want[i]) > 1e-15 {
				t.Fatalf("got %v, want %v", x, want)
			}
		}
	})
}

func TestParseArch(t *testing.T) {
	base := `"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 6, "vocab_size": 100`
	parse := func(t *testing.T, extra string) *Arch {
		t.Helper()
		a, err := ParseArch([]byte("{" + base + ", " + extra + "}"))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t.Run("gemma2 defaults: Gemma2Config's", func(t *testing.T) {
		a := parse(t, `"model_type": "gemma2"`)
		if a.HeadDim != 256 || a.AttnSoftcap != 50 || a.FinalSoftcap != 30 || a.SlidingWindow != 4096 || !a.Tied ||
			a.AttnScale != 1.0/16 || a.Act != "gelu_pytorch_tanh" || !a.Sliding[0] || a.Sliding[1] || a.NormOffset != 1 {
			t.Errorf("%+v", a)
		}
	})
	t.Run("gemma2 null soft-capping is off", func(t *testing.T) {
		a := parse(t, `"model_type": "gemma2", "attn_logit_softcapping": null, "final_logit_softcapping": null`)
		if a.AttnSoftcap != 0 || a.FinalSoftcap != 0 {
			t.Errorf("softcaps %g, %g", a.AttnSoftcap, a.FinalSoftcap)
		}
	})
	t.Run("gemma3 pattern 6: layer 5 global", func(t *testing.T) {
		a := parse(t, `"model_type": "gemma3_text"`)
		want := []bool{true, true, true, true, true, false}
		for i, s := range a.Sliding {
			if s != want[i] {
				t.Fatalf("sliding %v, want %v", a.Sliding, want)
			}
		}
		if a.Rope.Theta != 1e6 || a.LocalRope == nil || a.LocalRope.Theta != 10000 || a.AttnSoftcap != 0 {
			t.Errorf("%+v", a)
		}
	})
	t.Run("gemma3 transformers 5 rope_parameters per layer type", func(t *testing.T) {
		a := parse(t, `"model_type": "gemma3_text", "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8, "rope_theta": 1000000},
			"sliding_attention": {"rope_type": "default", "rope_theta": 10000}}`)
		if a.Rope.Scaling == nil || a.Rope.Scaling.Factor != 8 || a.Rope.Theta != 1e6 || a.LocalRope.Theta != 10000 {
			t.Errorf("rope %+v local %+v", a.Rope, a.LocalRope)
		}
	})
	t.Run("layer_types wins", func(t *testing.T) {
		a := parse(t, `"model_type": "gemma3_text", "layer_types": ["full_attention", "sliding_attention", "full_attention",
			"full_attention", "full_attention", "sliding_attention"]`)
		if a.Sliding[0] || !a.Sliding[1] || !a.Sliding[5] {
			t.Errorf("sliding %v", a.Sliding)
		}
	})
	t.Run("mistral: null window is full attention, null head_dim is hidden/heads", func(t *testing.T) {
		a := parse(t, `"model_type": "mistral", "sliding_window": null, "head_dim": null`)
		if a.Sliding[0] || a.HeadDim != 16 {
			t.Errorf("sliding %v head_dim %d", a.Sliding, a.HeadDim)
		}
		if b := parse(t, `"model_type": "mistral"`); !b.Sliding[3] || b.SlidingWindow != 4096 {
			t.Errorf("default window: sliding %v window %d", b.Sliding, b.SlidingWindow)
		}
	})
	t.Run("qwen3: sliding from max_window_layers only with use_sliding_window", func(t *testing.T) {
		a := parse(t, `"model_type": "qwen3", "use_sliding_window": true, "max_window_layers": 4, "sliding_window": 8`)
		if a.Sliding[3] || !a.Sliding[4] || !a.QKNorm || a.HeadDim != 128 || a.QKVBias {
			t.Errorf("%+v", a)
		}
		if b := parse(t, `"model_type": "qwen3", "sliding_window": 8`); b.Sliding[5] {
			t.Error("sliding without use_sliding_window")
		}
	})
	t.Run("glm4 defaults: half of head_dim 128 rotated, interleaved, q/k/v biased", func(t *testing.T) {
		a := parse(t, `"model_type": "glm4"`)
		if a.Rope.Dim != 64 || !a.Rope.Interleaved || !a.QKVBias || a.OBias || !a.FusedGateUp || a.RMSNormEps != 1.5625e-7 {
			t.Errorf("%+v", a)
		}
		if _, ok := a.Shapes()["model.layers.0.mlp.gate_up_proj.weight"]; !ok {
			t.Error("no gate_up_proj")
		}
	})
	bad := []struct{ json, want string }{
		{`{"model_type": "baichuan", ` + base + `}`, `model_type "baichuan"`},
		{`{"model_type": "gemma2", "hidden_size": 8}`, "lacks intermediate_size, num_attention_heads"},
		{`{"model_type": "llama", "hidden_act": "relu", ` + base + `}`, `activation "relu"`},
		{`{"model_type": "llama", "rope_scaling": {"rope_type": "yarn", "factor": 4}, ` + base + `}`, `rope type "yarn"`},
		{`{"model_type": "glm4", "partial_rotary_factor": 0.3, "head_dim": 10, ` + base + `}`, "rotary dimension 3"},
		{`{"model_type": "gemma3_text", "layer_types": ["full_attention"], ` + base + `}`, "layer_types must list 6"},
		{`{"model_type": "qwen2", "num_key_value_heads": 3, ` + base + `}`, "does not divide"},
	}
	for _, tc := range bad {
		if _, err := ParseArch([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseArch(%s) = %v, want an error with %q", tc.json, err, tc.want)
		}
	}
}

// TestLoadMismatch: weights of another architecture are refused, naming what is missing.
func TestLoadMismatch(t *testing.T) {
	dir := t.TempDir()
	for src, dst := range map[string]string{"testdata/mini-gemma2/config.json": "config.json",
		"testdata/mini-qwen2/model.safetensors": "model.safetensors"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "missing model.layers.0.pre_feedforward_layernorm.weight") ||
		!strings.Contains(err.Error(), "model.layers.0.self_attn.q_proj.weight has shape [32 32], want [64 32]") {
		t.Errorf("Load = %v", err)
	}
}
