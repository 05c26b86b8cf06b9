package reference

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

var update = flag.Bool("update", false, "regenerate the mini models and golden_cases.json under testdata (then run testdata/golden.py)")

// miniModel is one small checkpoint under testdata whose logits golden.py computed with PyTorch.
// The qwen2/llama ones are written by the engine's llm.WriteRandomModel; the others from their
// config.json as transformers writes it, with weights drawn by writeRandomModel.
type miniModel struct {
	engine *llm.Config
	config map[string]any
	init   llm.RandomInit
}

func miniModels() map[string]miniModel {
	bos := 1
	qwen := &llm.Config{
		ModelType: "qwen2", HiddenSize: 32, IntermediateSize: 48, NumAttentionHeads: 4, NumKeyValueHeads: 2,
		NumHiddenLayers: 2, HeadDim: 8, RopeTheta: 1e6, RMSNormEps: 1e-6, TieWordEmbeddings: true, VocabSize: 96,
		MaxPositionEmbeddings: 128, AttentionBias: true, HiddenAct: "silu", BOSTokenID: &bos, EOSTokenIDs: []int{2},
	}
	llama := &llm.Config{
		ModelType: "llama", HiddenSize: 32, IntermediateSize: 48, NumAttentionHeads: 4, NumKeyValueHeads: 1,
		NumHiddenLayers: 2, HeadDim: 16, RopeTheta: 500000, RMSNormEps: 1e-5, TieWordEmbeddings: false, VocabSize: 96,
		MaxPositionEmbeddings: 128, AttentionBias: true, OProjBias: true, MLPBias: true, HiddenAct: "silu",
		RopeScaling: &llm.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64},
	}
	sizes := func(kv map[string]any) map[string]any {
		c := map[string]any{"hidden_size": 32, "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
			"num_hidden_layers": 2, "vocab_size": 96, "max_position_embeddings": 128, "rms_norm_eps": 1e-6}
		for k, v := range kv {
			c[k] = v
		}
		return c
	}
	// Qwen3: head_dim 16 ≠ hidden/heads, q_norm/k_norm, q/k/v/o biases off (attention_bias false).
	qwen3 := sizes(map[string]any{"architectures": []string{"Qwen3ForCausalLM"}, "model_type": "qwen3", "head_dim": 16,
		"rope_theta": 1e6, "tie_word_embeddings": true, "attention_bias": false, "hidden_act": "silu", "use_sliding_window": false})
	// Mistral: a window of 3 keys on every layer, so rows of 4 and more lose their first tokens.
	mistral := sizes(map[string]any{"architectures": []string{"MistralForCausalLM"}, "model_type": "mistral", "head_dim": 16,
		"num_key_value_heads": 1, "rope_theta": 1e6, "sliding_window": 3, "tie_word_embeddings": false, "hidden_act": "silu", "rms_norm_eps": 1e-5})
	// Gemma-2: local (window 3) then global layers, softcaps small enough that tanh bends, and
	// query_pre_attn_scalar ≠ head_dim.
	gemma2 := sizes(map[string]any{"architectures": []string{"Gemma2ForCausalLM"}, "model_type": "gemma2", "head_dim": 16,
		"query_pre_attn_scalar": 24, "sliding_window": 3, "attn_logit_softcapping": 1.5, "final_logit_softcapping": 3.0,
		"hidden_activation": "gelu_pytorch_tanh", "hidden_act": "gelu_pytorch_tanh", "rope_theta": 10000.0, "tie_word_embeddings": true})
	// Gemma-3 text: hidden 48 (√48 differs in bf16), layers local, local, global (pattern 3),
	// global rope linearly scaled, local rope at its own base.
	gemma3 := sizes(map[string]any{"architectures": []string{"Gemma3ForCausalLM"}, "model_type": "gemma3_text", "hidden_size": 48,
		"head_dim": 8, "num_key_value_heads": 1, "num_hidden_layers": 3, "query_pre_attn_scalar": 8, "sliding_window": 3,
		"sliding_window_pattern": 3, "rope_theta": 1e6, "rope_local_base_freq": 10000.0,
		"rope_scaling": map[string]any{"rope_type": "linear", "factor": 8.0}, "final_logit_softcapping": nil,
		"attn_logit_softcapping": nil, "hidden_activation": "gelu_pytorch_tanh", "tie_word_embeddings": true})
	// GLM-4: half the head rotated, interleaved; fused gate_up_proj; q/k/v biases; four norms a layer.
	glm4 := sizes(map[string]any{"architectures": []string{"Glm4ForCausalLM"}, "model_type": "glm4", "head_dim": 16,
		"partial_rotary_factor": 0.5, "attention_bias": true, "rms_norm_eps": 1.5625e-07, "rope_theta": 10000.0,
		"tie_word_embeddings": false, "hidden_act": "silu"})
	// GLM (GLM-4-9B-chat-hf): the same attention and MLP in a Llama layer.
	glm := sizes(map[string]any{"architectures": []string{"GlmForCausalLM"}, "model_type": "glm", "head_dim": 8,
		"partial_rotary_factor": 0.5, "attention_bias": true, "rms_norm_eps": 1.5625e-07, "rope_theta": 10000.0,
		"tie_word_embeddings": false, "hidden_act": "silu"})
	random := func(seed uint64, dtype string) llm.RandomInit {
		return llm.RandomInit{Seed: seed, DType: dtype, Std: 0.3, NormJitter: 0.2}
	}
	return map[string]miniModel{
		"mini-qwen2":       {engine: qwen, init: random(7, "F32")},
		"mini-qwen2-bf16":  {engine: qwen, init: random(8, "BF16")},
		"mini-llama":       {engine: llama, init: random(9, "F32")},
		"mini-qwen3":       {config: qwen3, init: random(10, "F32")},
		"mini-mistral":     {config: mistral, init: random(11, "F32")},
		"mini-gemma2":      {config: gemma2, init: random(12, "F32")},
		"mini-gemma3":      {config: gemma3, init: random(13, "F32")},
		"mini-gemma3-bf16": {config: gemma3, init: random(14, "BF16")},
		"mini-glm4":        {config: glm4, init: random(15, "F32")},
		"mini-glm":         {config: glm, init: random(16, "F32")},
	}
}

type goldenCase struct {
	IDs []int  `json:"ids"`
	Pad string `json:"pad"` // "none", "left" or "right": how golden.py placed the row in its batch
}

var goldenCases = []goldenCase{
	{IDs: []int{1, 17, 42, 5, 95, 0, 63}, Pad: "none"},
	{IDs: []int{1, 17, 42, 8}, Pad: "left"},
	{IDs: []int{33, 2, 2, 71, 12}, Pad: "right"},
}

func TestMain(m *testing.M) {
	flag.Parse()
	if *update {
		if err := updateTestdata(); err != nil {
			fmt.Fprintln(os.Stderr, "update testdata:", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// updateTestdata rewrites the mini models and the cases golden.py reads.
func updateTestdata() error {
	cases := map[string][]goldenCase{}
	for name, mm := range miniModels() {
		dir := filepath.Join("testdata", name)
		err := os.RemoveAll(dir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if mm.engine != nil {
			err = llm.WriteRandomModel(dir, mm.engine, mm.init)
		} else {
			err = writeRandomModel(dir, mm.config, mm.init)
		}
		if err != nil {
			return err
		}
		cases[name] = goldenCases
	}
	b, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile("testdata/golden_cases.json", append(b, '\n'), 0o644)
}

// TestGoldenPyTorch compares with logits PyTorch computed (float64, transformers' eager math) for
// the same checkpoints, including a left- and a right-padded row of the same batch.
func TestGoldenPyTorch(t *testing.T) {
	var golden struct {
		Logits map[string][][][]float64 `json:"logits"`
	}
	b, err := os.ReadFile("testdata/golden_logits.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &golden); err != nil {
		t.Fatal(err)
	}
	var cases map[string][]goldenCase
	b, err = os.ReadFile("testdata/golden_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(golden.Logits) != len(miniModels()) {
		t.Fatalf("golden has %d models, want %d", len(golden.Logits), len(miniModels()))
	}
	for name, rows := range cases {
		t.Run(name, func(t *testing.T) {
			m, err := Load(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range rows {
				got, err := m.Forward(row.IDs)
				if err != nil {
					t.Fatal(err)
				}
				want := golden.Logits[name][i]
				d := maxAbsDiff(got, want)
				if d > 1e-9 {
					t.Errorf("row %d (%s padding in PyTorch's batch): max |diff| %g", i, row.Pad, d)
				}
				t.Logf("row %d (%s padding): max |diff| %.3g, max |logit| %.3g", i, row.Pad, d, maxAbs(want))
			}
		})
	}
}

func maxAbs(a [][]float64) float64 {
	var m float64
	for _, r := range a {
		for _, v := range r {
			m = math.Max(m, math.Abs(v))
		}
	}
	return m
}

func maxAbsDiff(a, b [][]float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return math.Inf(1)
		}
		for j := range a[i] {
			d = math.Max(d, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return d
}

// handModel builds a model from explicit weights (names relative to the full tensor names).
func handModel(t *testing.T, a *Arch, w map[string][]float64) *Model {
	t.Helper()
	m := &Model{Arch: a, weights: map[string]*tensor{}}
	for name, shape := range a.Shapes() {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data, ok := w[name]
		if !ok {
			data = make([]float64, n)
		}
		if len(data) != n {
			t.Fatalf("%s: %d values, want %d", name, len(data), n)
		}
		m.weights[name] = &tensor{shape: shape, data: data}
	}
	if a.Tied {
		m.weights[llm.LMHeadWeight] = m.weights[llm.EmbedTokensWeight]
	}
	return m
}

func ones(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

// tinyHandArch: hidden 2, one head of dim 2, vocab 3, one layer, tied embeddings.
func tinyHandArch(t *testing.T) *Arch {
	t.Helper()
	a, err := ParseArch([]byte(`{"model_type": "qwen2", "hidden_size": 2, "intermediate_size": 2, "num_attention_heads": 1,
		"num_hidden_layers": 1, "rms_norm_eps": 1e-12, "tie_word_embeddings": true, "vocab_size": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHandComputed(t *testing.T) {
	embed := []float64{1, 0, 0, 1, 1, 1} // token 0 = e1, 1 = e2, 2 = e1+e2
	base := map[string][]float64{
		llm.EmbedTokensWeight:                            embed,
		llm.FinalNormWeight:                              ones(2),
		"model.layers.0.input_layernorm.weight":          ones(2),
		"model.layers.0.post_attention_layernorm.weight": ones(2),
	}
	sq2 := math.Sqrt2
	t.Run("zero blocks: logits are the normed embedding against the embeddings", func(t *testing.T) {
		m := handModel(t, tinyHandArch(t), base)
		got, err := m.Forward([]int{2})
		if err != nil {
			t.Fatal(err)
		}
		// rmsnorm([1,1]) = [1,1]; logits = [1,1]·rows = [1, 1, 2]
		want := [][]float64{{1, 1, 2}}
		if d := maxAbsDiff(got, want); d > 1e-9 {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("q=k=0: uniform causal attention over normed inputs", func(t *testing.T) {
		w := map[string][]float64{}
		for k, v := range base {
			w[k] = v
		}
		w["model.layers.0.self_attn.v_proj.weight"] = []float64{1, 0, 0, 1}
		w["model.layers.0.self_attn.o_proj.weight"] = []float64{1, 0, 0, 1}
		m := handModel(t, tinyHandArch(t), w)
		got, err := m.Forward([]int{0, 1})
		if err != nil {
			t.Fatal(err)
		}
		// x0 = e1 + rms(e1) = [1+√2, 0]; x1 = e2 + (rms(e1)+rms(e2))/2 = [√2/2, 1+√2/2].
		x0 := []float64{1 + sq2, 0}
		x1 := []float64{sq2 / 2, 1 + sq2/2}
		want := [][]float64{logitsOf(x0, embed), logitsOf(x1, embed)}
		if d := maxAbsDiff(got, want); d > 1e-9 {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("MLP: silu(gate)·up through down", func(t *testing.T) {
		w := map[string][]float64{}
		for k, v := range base {
			w[k] = v
		}
		w["model.layers.0.mlp.gate_proj.weight"] = []float64{1, 0, 0, 0}
		w["model.layers.0.mlp.up_proj.weight"] = []float64{2, 0, 0, 0}
		w["model.layers.0.mlp.down_proj.weight"] = []float64{0, 0, 1, 0}
		m := handModel(t, tinyHandArch(t), w)
		got, err := m.Forward([]int{0})
		if err != nil {
			t.Fatal(err)
		}
		// h = rms(e1) = [√2, 0]; gate = √2, up = 2√2; act = silu(√2)·2√2 lands in hidden[1].
		act := sq2 / (1 + math.Exp(-sq2)) * 2 * sq2
		want := [][]float64{logitsOf([]float64{1, act}, embed)}
		if d := maxAbsDiff(got, want); d > 1e-9 {
			t.Errorf("got %v, want %v", got, want)
		}
	})
}

// logitsOf applies the final RMSNorm (weight 1) and the tied head of a hidden-2 model.
func logitsOf(x, embed []float64) []float64 {
	r := 1 / math.Sqrt((x[0]*x[0]+x[1]*x[1])/2+1e-12)
	n := []float64{x[0] * r, x[1] * r}
	out := make([]float64, len(embed)/2)
	for v := range out {
		out[v] = n[0]*embed[2*v] + n[1]*embed[2*v+1]
	}
	return out
}

func TestRoPE(t *testing.T) {
	inv := Rope{Theta: 10000, Dim: 8}.InvFreq()
	q := []float64{0.3, -1.2, 0.5, 2, -0.7, 0.1, 1.1, -0.4}
	k := []float64{1, 0.2, -0.3, 0.8, 0.5, -1.5, 0.25, 0.6}
	t.Run("position 0 is the identity", func(t *testing.T) {
		x := append([]float64(nil), q...)
		rope(x, 0, inv)
		for i := range x {
			if x[i] != q[i] {
				t.Fatalf("rope at 0 changed %v to %v", q, x)
			}
		}
	})
	t.Run("rotation keeps the norm", func(t *testing.T) {
		x := append([]float64(nil), q...)
		rope(x, 37, inv)
		if d := math.Abs(dot(x, x) - dot(q, q)); d > 1e-12 {
			t.Errorf("norm changed by %g", d)
		}
	})
	t.Run("scores depend on relative position only", func(t *testing.T) {
		score := func(m, n int) float64 {
			a, b := append([]float64(nil), q...), append([]float64(nil), k...)
			rope(a, m, inv)
			rope(b, n, inv)
			return dot(a, b)
		}
		if d := math.Abs(score(5, 2) - score(103, 100)); d > 1e-9 {
			t.Errorf("score(5,2) - score(103,100) = %g", d)
		}
		if d := math.Abs(score(5, 2) - score(5, 3)); d < 1e-6 {
			t.Errorf("score does not depend on the offset at all (%g)", d)
		}
	})
	t.Run("half-split pairing", func(t *testing.T) {
		// Position 1, dimension pair (0, 4) rotates by inv[0] = 1 radian.
		x := []float64{1, 0, 0, 0, 0, 0, 0, 0}
		rope(x, 1, inv)
		if math.Abs(x[0]-math.Cos(1)) > 1e-15 || math.Abs(x[4]-math.Sin(1)) > 1e-15 || x[1] != 0 {
			t.Errorf("got %v", x)
		}
	})
}

func loadMini(t *testing.T, name string) *Model {
	t.Helper()
	m, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCausal(t *testing.T) {
	for _, name := range []string{"mini-qwen2", "mini-llama"} {
		t.Run(name, func(t *testing.T) {
			m := loadMini(t, name)
			a, err := m.Forward([]int{4, 8, 15, 16, 23, 42})
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.Forward([]int{4, 8, 15, 61, 2, 90})
			if err != nil {
				t.Fatal(err)
			}
			if d := maxAbsDiff(a[:3], b[:3]); d != 0 {
				t.Errorf("positions before the change moved by %g", d)
			}
			if d := maxAbsDiff(a[3:], b[3:]); d < 1e-6 {
				t.Errorf("positions after the change did not move (%g)", d)
			}
		})
	}
}

func TestPadding(t *testing.T) {
	m := loadMini(t, "mini-qwen2")
	ids := []int{9, 3, 77, 41}
	want, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		ids  []int
		mask []int
		real []int // positions of the real tokens
	}{
		{"left", []int{0, 0, 9, 3, 77, 41}, []int{0, 0, 1, 1, 1, 1}, []int{2, 3, 4, 5}},
		{"right", []int{9, 3, 77, 41, 5, 5}, []int{1, 1, 1, 1, 0, 0}, []int{0, 1, 2, 3}},
		{"both", []int{8, 9, 3, 77, 41, 8}, []int{0, 1, 1, 1, 1, 0}, []int{1, 2, 3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.ForwardMasked(tc.ids, tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			var real [][]float64
			for i, row := range got {
				if tc.mask[i] == 0 {
					if row != nil {
						t.Errorf("padding row %d has logits", i)
					}
					continue
				}
				real = append(real, row)
			}
			if d := maxAbsDiff(real, want); d > 1e-12 {
				t.Errorf("padded row differs from the unpadded sequence by %g", d)
			}
		})
	}
}

// TestGQA: grouped kv heads equal full multi-head attention with each kv head repeated.
func TestGQA(t *testing.T) {
	g := loadMini(t, "mini-qwen2") // 4 query heads, 2 kv heads
	mha := *g.Arch
	mha.KVHeads = 4
	w := map[string][]float64{}
	for name := range g.weights {
		data, _, _ := g.Weight(name)
		w[name] = data
	}
	hd, in := mha.HeadDim, mha.Hidden
	for l := 0; l < mha.Layers; l++ {
		for _, proj := range []string{"k_proj", "v_proj"} {
			p := llm.LayerPrefix(l) + "self_attn." + proj
			wt, bs := w[p+".weight"], w[p+".bias"]
			var nw, nb []float64
			for head := 0; head < 4; head++ {
				kv := head / 2
				nw = append(nw, wt[kv*hd*in:(kv+1)*hd*in]...)
				nb = append(nb, bs[kv*hd:(kv+1)*hd]...)
			}
			w[p+".weight"], w[p+".bias"] = nw, nb
		}
	}
	full := handModel(t, &mha, w)
	ids := []int{5, 50, 20, 7, 93}
	a, err := g.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := full.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(a, b); d > 1e-12 {
		t.Errorf("GQA and repeated-kv MHA differ by %g", d)
	}
}

func TestApplyLoRA(t *testing.T) {
	ids := []int{3, 1, 4, 1, 5}
	target := "model.layers.1.self_attn.q_proj.weight"
	A := [][]float64{make([]float64, 32), make([]float64, 32)}
	B := make([][]float64, 32)
	for i := range A[0] {
		A[0][i] = float64(i%5) * 0.1
		A[1][i] = float64(i%3) * -0.05
	}
	for i := range B {
		B[i] = []float64{float64(i%4) * 0.2, 0.1}
	}
	const scaling = 2.0

	base := loadMini(t, "mini-qwen2")
	before, _ := base.Forward(ids)

	lora := loadMini(t, "mini-qwen2")
	if err := lora.ApplyLoRA("model.layers.1.self_attn.q_proj", A, B, scaling); err != nil {
		t.Fatal(err)
	}
	viaLoRA, _ := lora.Forward(ids)

	manual := loadMini(t, "mini-qwen2")
	w, _, _ := manual.Weight(target)
	for o := 0; o < 32; o++ {
		for i := 0; i < 32; i++ {
			w[o*32+i] += scaling * (B[o][0]*A[0][i] + B[o][1]*A[1][i])
		}
	}
	if err := manual.SetWeight(target, w); err != nil {
		t.Fatal(err)
	}
	viaSet, _ := manual.Forward(ids)

	if d := maxAbsDiff(viaLoRA, viaSet); d > 1e-12 {
		t.Errorf("ApplyLoRA differs from W + s·BA by %g", d)
	}
	if d := maxAbsDiff(viaLoRA, before); d < 1e-6 {
		t.Errorf("LoRA did not change the logits (%g)", d)
	}

	t.Run("tied lm_head: embeddings untouched", func(t *testing.T) {
		m := loadMini(t, "mini-qwen2")
		embedBefore, _, _ := m.Weight(llm.EmbedTokensWeight)
		A := [][]float64{make([]float64, 32)}
		A[0][0] = 1
		B := make([][]float64, 96)
		for i := range B {
			B[i] = []float64{0.5}
		}
		if err := m.ApplyLoRA(llm.LMHeadWeight, A, B, 1); err != nil {
			t.Fatal(err)
		}
		embedAfter, _, _ := m.Weight(llm.EmbedTokensWeight)
		head, _, _ := m.Weight(llm.LMHeadWeight)
		if maxAbsDiff([][]float64{embedBefore}, [][]float64{embedAfter}) != 0 {
			t.Error("LoRA on lm_head changed the embeddings")
		}
		if head[0] != embedBefore[0]+0.5 {
			t.Errorf("lm_head[0,0] = %g, want %g", head[0], embedBefore[0]+0.5)
		}
	})

	bad := []struct {
		name string
		A, B [][]float64
	}{
		{"model.layers.9.self_attn.q_proj.weight", A, B},
		{llm.EmbedTokensWeight, A, B},
		{"model.norm.weight", A, B},
		{target, A, B[:5]},
		{target, [][]float64{make([]float64, 31)}, B},
		{target, A, [][]float64{{1}}},
	}
	for _, tc := range bad {
		if err := base.ApplyLoRA(tc.name, tc.A, tc.B, 1); err == nil {
			t.Errorf("ApplyLoRA(%s, %dx?, %dx?) accepted bad input", tc.name, len(tc.A), len(tc.B))
		}
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadMini(t, "mini-qwen2")
	if _, err := m.Forward([]int{1, 96}); err == nil {
		t.Error("accepted token id 96 with vocab 96")
	}
	if _, err := m.Forward([]int{-1}); err == nil {
		t.Error("accepted token id -1")
	}
	if _, err := m.ForwardMasked([]int{1, 2}, []int{1}); err == nil {
		t.Error("accepted a mask of the wrong length")
	}
	if _, err := m.ForwardMasked([]int{1, 2}, []int{1, 2}); err == nil {
		t.Error("accepted mask value 2")
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Error("loaded an empty folder")
	}
}

// TestTinyPreset runs the init-model tiny preset (full Qwen vocabulary) end to end.
func TestTinyPreset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := llm.InitRandomModel(dir, "tiny", 3, "bf16"); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := []int{151644, 872, 198, 9707, 11, 1879, 0, 151645}
	logits, err := m.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != len(ids) || len(logits[0]) != 151936 {
		t.Fatalf("logits %d×%d", len(logits), len(logits[0]))
	}
	for _, row := range logits {
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatal("non-finite logit")
			}
		}
	}
	padded, err := m.ForwardMasked(append([]int{151643, 151643}, ids...), append([]int{0, 0}, 1, 1, 1, 1, 1, 1, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(padded[2:], logits); d > 1e-12 {
		t.Errorf("left-padded row differs by %g", d)
	}
}
