package llm_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// TestArchConformance runs every architecture's mini checkpoints (whose float64 reference logits
// PyTorch confirmed, internal/llm/reference) through the engine in f32: every
// position of a right-padded batch, and the last layer's few-positions path, within 1e-5 of the
// largest logit.
func TestArchConformance(t *testing.T) {
	rows := [][]int{{1, 17, 42, 5, 95, 0, 63, 2, 88, 31, 7}, {33, 2, 2, 71}, {9, 3, 77, 41, 5, 6, 60}}
	for _, name := range []string{"mini-gemma2", "mini-gemma3", "mini-gemma3-bf16", "mini-glm4", "mini-glm", "mini-qwen3", "mini-mistral",
		"mini-qwen2", "mini-qwen2-bf16", "mini-llama"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("reference", "testdata", name)
			m := loadModel(t, dir, llm.LoadOptions{})
			ref := loadReference(t, dir)
			ref.EmbedScaleDType = "F32" // the engine computes in f32 here, so √hidden is an f32
			want := make([][][]float64, len(rows))
			var scale float64
			for r, ids := range rows {
				want[r] = refLogits(t, ref, ids)
				scale = max(scale, maxAbs(want[r]))
			}
			b := llm.Batch{IDs: rows}
			T := b.MaxLen()
			var pairRows, pairPos []int
			for r, ids := range rows {
				pairRows = append(pairRows, r, r)
				pairPos = append(pairPos, len(ids)-1, len(ids)/2)
			}
			var all, some [][]float32
			err := torch.NoGrad(func() error {
				s := torch.NewScope()
				defer s.Close()
				h, err := m.HiddenAt(s, b, nil, nil, false)
				if err != nil {
					return err
				}
				l, err := m.Logits(s, h)
				if err != nil {
					return err
				}
				if all, err = rowsOf(l); err != nil {
					return err
				}
				if h, err = m.HiddenAt(s, b, pairRows, pairPos, false); err != nil {
					return err
				}
				if l, err = m.Logits(s, h); err != nil {
					return err
				}
				some, err = rowsOf(l)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			var got, exp [][]float64
			for r, ids := range rows {
				for p := range ids {
					got = append(got, f64(all[r*T+p]))
					exp = append(exp, want[r][p])
				}
			}
			for i, r := range pairRows {
				got = append(got, f64(some[i]))
				exp = append(exp, want[r][pairPos[i]])
			}
			d := maxDiff(t, got, exp)
			t.Logf("max |logit| %.3g, max abs diff %.3g", scale, d)
			if d > 1e-5*scale {
				t.Errorf("logits differ from the float64 reference by %.3g (> 1e-5 × %.3g)", d, scale)
			}
		})
	}
}

// TestArchLoRA: LoRA on every projection, as PEFT names them for each architecture (GLM-4's fused
// gate_up_proj included), matches the float64 reference with W + scaling·B·A, before and after
// Merge.
func TestArchLoRA(t *testing.T) {
	ids := []int{3, 1, 4, 1, 5, 9, 2, 6, 5}
	for _, tc := range []struct {
		name    string
		targets []string
	}{
		{"mini-gemma2", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
		{"mini-gemma3", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
		{"mini-glm4", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"}},
		{"mini-qwen3", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
		{"mini-mistral", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}},
		{"mini-glm", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_up_proj", "down_proj"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join("reference", "testdata", tc.name)
			m := loadModel(t, dir, llm.LoadOptions{})
			if got := m.Config().LoRATargets(); strings.Join(got, ",") != strings.Join(tc.targets, ",") {
				t.Errorf("LoRA targets %v, want %v", got, tc.targets)
			}
			base := engineLogits(t, m, ids)
			if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, 1); err != nil {
				t.Fatal(err)
			}
			randomizeAdapter(t, m, 3)
			got := engineLogits(t, m, ids)
			ref := referenceWithAdapter(t, dir, m)
			ref.EmbedScaleDType = "F32"
			want := refLogits(t, ref, ids)
			if maxDiff(t, got, base) < 1e-3 {
				t.Fatal("the randomized adapter hardly changed the logits: the test proves nothing")
			}
			if d := maxDiff(t, got, want); d > 1e-5*maxAbs(want) {
				t.Errorf("LoRA logits differ from the reference by %.3g", d)
			}
			if err := m.Merge(); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(t, engineLogits(t, m, ids), want); d > 1e-5*maxAbs(want) {
				t.Errorf("merged logits differ from the reference by %.3g", d)
			}
		})
	}
}

// engineLogits is the logits of one unpadded row at every position.
func engineLogits(t *testing.T, m *llm.Model, ids []int) [][]float32 {
	t.Helper()
	var out [][]float32
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		h, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{ids}}, nil, nil, false)
		if err != nil {
			return err
		}
		l, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		out, err = rowsOf(l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestArchConfigs reads configs shaped like the published gemma-2-2b-it, gemma-3-1b-it and
// GLM-4-9B-0414 ones, and transformers' defaults where a key is missing.
func TestArchConfigs(t *testing.T) {
	gemma2 := `{"architectures": ["Gemma2ForCausalLM"], "attn_logit_softcapping": 50.0, "bos_token_id": 2, "eos_token_id": [1, 107],
		"final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh", "hidden_activation": "gelu_pytorch_tanh",
		"hidden_size": 2304, "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 8,
		"num_hidden_layers": 26, "num_key_value_heads": 4, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
		"sliding_window": 4096, "torch_dtype": "bfloat16", "vocab_size": 256000}`
	gemma3 := `{"architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attn_logit_softcapping": null, "eos_token_id": [1, 106],
		"final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
		"intermediate_size": 6912, "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4,
		"num_hidden_layers": 26, "num_key_value_heads": 1, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
		"rope_local_base_freq": 10000, "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6,
		"torch_dtype": "bfloat16", "vocab_size": 262144}`
	glm4 := `{"architectures": ["Glm4ForCausalLM"], "attention_bias": true, "eos_token_id": [151329, 151336, 151338], "head_dim": 128,
		"hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 13696, "max_position_embeddings": 32768, "model_type": "glm4",
		"num_attention_heads": 32, "num_hidden_layers": 40, "num_key_value_heads": 2, "partial_rotary_factor": 0.5, "rms_norm_eps": 1e-05,
		"rope_theta": 10000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 151552}`
	parse := func(t *testing.T, js string) *llm.Config {
		t.Helper()
		c, err := llm.ParseConfig([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	t.Run("gemma2", func(t *testing.T) {
		c := parse(t, gemma2)
		if !c.TieWordEmbeddings || !c.GemmaNorm || !c.EmbedScale || c.QKNorm || c.AttnLogitSoftcap != 50 || c.FinalLogitSoftcap != 30 ||
			c.LayerTypes[0] != "sliding_attention" || c.LayerTypes[1] != "full_attention" || c.HiddenAct != "gelu_pytorch_tanh" {
			t.Errorf("%+v", c)
		}
		if n := c.NumParameters(); n != 2614341888 { // gemma-2-2b: 2.61 B
			t.Errorf("%d parameters", n)
		}
	})
	t.Run("gemma3 text", func(t *testing.T) {
		c := parse(t, gemma3)
		if !c.QKNorm || c.AttnLogitSoftcap != 0 || c.FinalLogitSoftcap != 0 || c.RopeTheta != 1e6 || c.RopeLocalTheta != 10000 ||
			c.LayerTypes[4] != "sliding_attention" || c.LayerTypes[5] != "full_attention" || c.SlidingWindow != 512 || c.HeadDim != 256 {
			t.Errorf("%+v", c)
		}
	})
	t.Run("glm4", func(t *testing.T) {
		c := parse(t, glm4)
		if c.RotaryDim != 64 || !c.FusedGateUp || !c.AttentionBias || c.OProjBias || c.TieWordEmbeddings {
			t.Errorf("%+v", c)
		}
		if sh := c.ExpectedShape("model.layers.3.mlp.gate_up_proj.weight"); len(sh) != 2 || sh[0] != 2*13696 {
			t.Errorf("gate_up_proj shape %v", sh)
		}
		if c.ExpectedShape("model.layers.3.mlp.gate_proj.weight") != nil || c.ExpectedShape("model.layers.0.post_mlp_layernorm.weight") == nil {
			t.Error("glm4 lists gate_proj or lacks post_mlp_layernorm")
		}
	})
	t.Run("glm (GLM-4-9B-chat-hf): glm4 without the post-norms", func(t *testing.T) {
		c := parse(t, strings.Replace(strings.Replace(glm4, `"glm4"`, `"glm"`, 1), "Glm4ForCausalLM", "GlmForCausalLM", 1))
		if c.RotaryDim != 64 || !c.FusedGateUp || !c.AttentionBias || c.OProjBias {
			t.Errorf("%+v", c)
		}
		if c.ExpectedShape("model.layers.0.post_mlp_layernorm.weight") != nil || c.ExpectedShape("model.layers.0.post_attention_layernorm.weight") == nil ||
			c.ExpectedShape("model.layers.0.mlp.gate_up_proj.weight") == nil {
			t.Error("glm's layer is not Llama's norms with a fused gate_up_proj")
		}
	})
	t.Run("defaults", func(t *testing.T) {
		sizes := `"hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 4, "vocab_size": 100`
		g2 := parse(t, `{"model_type": "gemma2", `+sizes+`}`)
		if g2.HeadDim != 256 || g2.QueryPreAttnScalar != 256 || !g2.TieWordEmbeddings || g2.SlidingWindow != 4096 {
			t.Errorf("gemma2 %+v", g2)
		}
		g3 := parse(t, `{"model_type": "gemma3_text", "sliding_window": null, `+sizes+`}`)
		if g3.SlidingWindow != 0 || g3.RopeTheta != 1e6 {
			t.Errorf("gemma3 %+v", g3)
		}
		gl := parse(t, `{"model_type": "glm4", "head_dim": 16, `+sizes+`}`)
		if gl.RotaryDim != 8 || gl.RMSNormEps != 1.5625e-7 || !gl.AttentionBias {
			t.Errorf("glm4 %+v", gl)
		}
	})
	for _, bad := range []struct{ js, want string }{
		{`{"model_type": "gemma2", "layer_types": ["full_attention"], "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`, "layer_types lists 1 layers"},
		{`{"model_type": "glm4", "head_dim": 10, "partial_rotary_factor": 0.3, "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`, "rotary dimension 3"},
		{`{"model_type": "gemma3", "text_config": {"hidden_size": 2560}, "vision_config": {}}`, "sentitune runs text-only gemma3_text"},
		{`{"model_type": "chatglm", "hidden_size": 64}`, "model_type glm"},
		{`{"model_type": "gemma2", "hidden_activation": "relu", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2, "vocab_size": 100}`, `hidden_act "relu"`},
	} {
		if _, err := llm.ParseConfig([]byte(bad.js)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseConfig = %v, want an error with %q", err, bad.want)
		}
	}
}

// TestArchPresets: init-model's presets (ArchPresets) write a config.json the
// independent reference reads as the same model, and the engine agrees with it.
func TestArchPresets(t *testing.T) {
	ids := []int{151644, 872, 198, 9707, 11, 1879, 0, 151645, 198, 151644, 77091, 198}
	for _, arch := range llm.ArchPresets {
		t.Run(arch, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), arch)
			if err := llm.InitRandomModelWith(dir, llm.InitOptions{Preset: "tiny", Arch: arch, Seed: 3}); err != nil {
				t.Fatal(err)
			}
			m := loadModel(t, dir, llm.LoadOptions{})
			if m.Config().ModelType != map[string]string{"gemma3": "gemma3_text"}[arch] && m.Config().ModelType != arch {
				t.Errorf("model_type %q", m.Config().ModelType)
			}
			want := refLogits(t, loadReference(t, dir), ids)
			if d := maxDiff(t, engineLogits(t, m, ids), want); d > 1e-5*maxAbs(want) {
				t.Errorf("logits differ from the reference by %.3g (max |logit| %.3g)", d, maxAbs(want))
			}
		})
	}
	if _, err := llm.ArchPresetConfig("tiny", "baichuan"); err == nil || !strings.Contains(err.Error(), "gemma2, gemma3, glm4") {
		t.Errorf("unknown arch: %v", err)
	}
}

// TestArchGradients: the engine's LoRA gradients of the answer loss (soft-capped logits, GeGLU,
// local/global masks, GLM-4's permuted rotation) equal central differences of the float64
// reference's loss.
func TestArchGradients(t *testing.T) {
	batch := llm.Batch{IDs: [][]int{{1, 17, 42, 5, 95, 0, 63, 2}, {33, 2, 2, 71, 12}}}
	rows, pos := []int{0, 0, 1}, []int{5, 7, 3}
	tgt := []int64{63, 40, 12}
	for _, name := range []string{"mini-gemma2", "mini-gemma3", "mini-glm4", "mini-glm", "mini-qwen3", "mini-mistral", "mini-qwen2", "mini-llama"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("reference", "testdata", name)
			m := loadModel(t, dir, llm.LoadOptions{})
			if err := m.AddLoRA(llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"all"}}, 1); err != nil {
				t.Fatal(err)
			}
			randomizeAdapter(t, m, 5)
			s := torch.NewScope()
			defer s.Close()
			h, err := m.HiddenAt(s, batch, rows, pos, true)
			if err != nil {
				t.Fatal(err)
			}
			loss, err := m.AnswerLoss(s, h, tgt, true)
			if err != nil {
				t.Fatal(err)
			}
			s.Backward(loss)
			refLoss := func() float64 {
				r := referenceWithAdapter(t, dir, m)
				r.EmbedScaleDType = "F32"
				var sum float64
				for i, row := range rows {
					l := refLogits(t, r, batch.IDs[row])[pos[i]]
					mx := l[0]
					for _, v := range l {
						mx = math.Max(mx, v)
					}
					var z float64
					for _, v := range l {
						z += math.Exp(v - mx)
					}
					sum += mx + math.Log(z) - l[tgt[i]]
				}
				return sum
			}
			if lv, _ := loss.Item(); math.Abs(lv-refLoss()) > 1e-5*math.Abs(lv) {
				t.Errorf("loss %.7g, reference %.7g", lv, refLoss())
			}
			checked, worst := 0, 0.0
			for _, p := range m.TrainableParams() {
				if !p.IsLoRAB || !strings.Contains(p.Name, "layers.1.") {
					continue
				}
				g, err := s.Grad(p.T).Float64s()
				if err != nil {
					t.Fatal(err)
				}
				vals, _ := p.T.Float32s()
				i := 0
				for j, v := range g { // the entry with the largest gradient
					if math.Abs(v) > math.Abs(g[i]) {
						i = j
					}
				}
				orig := vals[i]
				at := func(v float32) float64 {
					vals[i] = v
					if err := p.T.CopyFrom(s.FromFloat32(vals, p.T.Shape()...)); err != nil {
						t.Fatal(err)
					}
					return refLoss()
				}
				hi, lo := orig+1e-3, orig-1e-3
				fd := (at(hi) - at(lo)) / float64(hi-lo)
				at(orig)
				worst = math.Max(worst, math.Abs(fd-g[i])/math.Abs(fd))
				if math.Abs(fd-g[i]) > 1e-3*math.Abs(fd)+1e-6 {
					t.Errorf("%s[%d]: gradient %.6g, reference central difference %.6g", p.Name, i, g[i], fd)
				}
				checked++
			}
			t.Logf("%d LoRA B tensors of layer 1: largest relative gradient error %.2g", checked, worst)
			if checked < 6 {
				t.Errorf("checked %d LoRA B tensors of layer 1", checked)
			}
		})
	}
}

// TestArchBF16: computing in bf16 (√hidden rounded to bf16, as transformers does in bf16) stays
// within bf16 rounding of the float64 reference.
func TestArchBF16(t *testing.T) {
	ids := []int{1, 17, 42, 5, 95, 0, 63, 2, 88}
	for _, name := range []string{"mini-gemma2", "mini-gemma3-bf16", "mini-glm4"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("reference", "testdata", name)
			m := loadModel(t, dir, llm.LoadOptions{DType: torch.BFloat16, ExplicitDType: true})
			ref := loadReference(t, dir)
			ref.EmbedScaleDType = "BF16"
			want := refLogits(t, ref, ids)
			got := engineLogits(t, m, ids)
			var g, w []float64
			for i := range want {
				g, w = append(g, f64(got[i])...), append(w, want[i]...)
			}
			rel := relL2(g, w)
			t.Logf("rel. L2 %.2g", rel)
			if !(rel <= 3e-2) {
				t.Errorf("bf16 logits: rel. L2 %.2g vs the reference (> 3e-2)", rel)
			}
		})
	}
}
