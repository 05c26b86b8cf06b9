package llm_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/reference"
	"github.com/sentitune/sentitune/internal/torch"
)

// randomizeAdapter gives every lora_B random values (so the adapter changes the output) and
// perturbs the modules_to_save copies, in place.
func randomizeAdapter(t *testing.T, m *llm.Model, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	s := torch.NewScope()
	defer s.Close()
	for _, p := range m.TrainableParams() {
		isLoRAA := strings.HasSuffix(p.Name, ".lora_A.weight")
		if isLoRAA {
			continue
		}
		vals, err := p.T.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		for i := range vals {
			if p.IsLoRAB {
				vals[i] = float32(0.1 * rng.NormFloat64())
			} else {
				vals[i] += float32(0.05 * rng.NormFloat64())
			}
		}
		if err := p.T.CopyFrom(s.FromFloat32(vals, p.T.Shape()...)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
}

// referenceWithAdapter loads dir into the float64 reference and applies m's attached adapter
// the way PEFT's merge does: linear weights += scaling·B·A, saved modules replaced.
func referenceWithAdapter(t *testing.T, dir string, m *llm.Model) *reference.Model {
	t.Helper()
	r := loadReference(t, dir)
	scaling := m.LoRA().Scaling()
	params := m.TrainableParams()
	matrix := func(p llm.NamedParam) [][]float64 {
		v, err := p.T.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		rows, cols := int(p.T.Size(0)), int(p.T.Size(1))
		out := make([][]float64, rows)
		for i := range out {
			out[i] = v[i*cols : (i+1)*cols]
		}
		return out
	}
	for i := 0; i < len(params); i++ {
		p := params[i]
		switch {
		case strings.HasSuffix(p.Name, ".lora_A.weight"):
			module := strings.TrimSuffix(strings.TrimPrefix(p.Name, "base_model.model."), ".lora_A.weight")
			if err := r.ApplyLoRA(module, matrix(p), matrix(params[i+1]), scaling); err != nil {
				t.Fatal(err)
			}
			i++
		case p.Name == "base_model.model.model.embed_tokens.weight":
			v, _ := p.T.Float64s()
			if err := r.SetWeight(llm.EmbedTokensWeight, v); err != nil {
				t.Fatal(err)
			}
		case p.Name == "base_model.model.lm_head.weight":
			v, _ := p.T.Float64s()
			if err := r.SetWeight(llm.LMHeadWeight, v); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("unexpected trainable parameter %s", p.Name)
		}
	}
	return r
}

func TestLoRAForwardMatchesReference(t *testing.T) {
	llama := customModel(t, llamaConfig(), 11, "F32")
	tied := customModel(t, smallVocabQwen(), 12, "F32")
	for _, tc := range []struct {
		name string
		dir  string
		cfg  llm.LoRAConfig
		ids  []int
	}{
		{"all linears r=4", llama, llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, []int{3, 1, 4, 1, 5, 9, 2, 6, 5}},
		{"q,v rsLoRA r=3", llama, llm.LoRAConfig{R: 3, Alpha: 5, UseRSLoRA: true, Targets: []string{"q_proj", "v_proj"}}, []int{2, 7, 1, 8, 2, 8}},
		{"tied, embed_tokens saved", tied, llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"o_proj", "down_proj"}, ModulesToSave: []string{"embed_tokens"}}, smallIDs},
		{"tied, lm_head saved", tied, llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"all"}, ModulesToSave: []string{"lm_head"}}, smallIDs[:6]},
		{"tied, both saved", tied, llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"up_proj"}, ModulesToSave: []string{"lm_head", "embed_tokens"}}, smallIDs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadModel(t, tc.dir, llm.LoadOptions{})
			base := allLogits(t, m, tc.ids)
			if err := m.AddLoRA(tc.cfg, 1); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(t, allLogits(t, m, tc.ids), base); d != 0 {
				t.Errorf("a fresh adapter (B = 0) changed the logits by %.3g", d)
			}
			for _, p := range m.TrainableParams() {
				if !p.T.RequiresGrad() || p.T.DType() != torch.Float32 {
					t.Errorf("%s: requires grad %v, dtype %v; want a trainable f32 tensor", p.Name, p.T.RequiresGrad(), p.T.DType())
				}
				if strings.HasSuffix(p.Name, "lora_A.weight") {
					v, _ := p.T.Float32s()
					bound := 1 / math.Sqrt(float64(p.T.Size(1)))
					var maxA float64
					for _, x := range v {
						maxA = math.Max(maxA, math.Abs(float64(x)))
					}
					if maxA > bound || maxA < bound/2 {
						t.Errorf("%s: max |A| %.4g, want within (bound/2, bound = 1/√in = %.4g]", p.Name, maxA, bound)
					}
				}
			}
			randomizeAdapter(t, m, 2)
			got := allLogits(t, m, tc.ids)
			want := refLogits(t, referenceWithAdapter(t, tc.dir, m), tc.ids)
			d := maxDiff(t, got, want)
			t.Logf("adapter moved logits by %.3g; max abs diff vs reference %.3g", maxDiff(t, got, base), d)
			if d > 1e-4 {
				t.Errorf("LoRA logits differ from the reference by %.3g (> 1e-4)", d)
			}
			if maxDiff(t, got, base) < 1e-3 {
				t.Error("the randomized adapter hardly changed the logits: the test proves nothing")
			}
		})
	}
}

func TestTrainableParams(t *testing.T) {
	m := loadModel(t, presetModel(t, "tiny"), llm.LoadOptions{})
	if m.TrainableParams() != nil {
		t.Error("a model without adapter has trainable params")
	}
	err := m.AddLoRA(llm.LoRAConfig{R: 8, Alpha: 16, Dropout: 0.1, Targets: []string{"all"}, ModulesToSave: []string{"lm_head", "embed_tokens"}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	ps := m.TrainableParams()
	if len(ps) != 2*7*2+2 {
		t.Fatalf("%d params, want %d", len(ps), 2*7*2+2)
	}
	wantFirst := []string{
		"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
		"base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight",
	}
	for i, w := range wantFirst {
		if ps[i].Name != w {
			t.Errorf("param %d is %s, want %s", i, ps[i].Name, w)
		}
	}
	if ps[1].IsLoRAB != true || ps[0].IsLoRAB {
		t.Error("IsLoRAB flags wrong")
	}
	if got := ps[len(ps)-2].Name; got != "base_model.model.model.embed_tokens.weight" {
		t.Errorf("second to last param %s", got)
	}
	if got := ps[len(ps)-1].Name; got != "base_model.model.lm_head.weight" {
		t.Errorf("last param %s", got)
	}
	if sh := ps[1].T.Shape(); sh[0] != 64 || sh[1] != 8 {
		t.Errorf("q_proj lora_B shape %v, want [64 8]", sh)
	}
	if err := m.AddLoRA(llm.LoRAConfig{R: 8, Alpha: 16, Targets: []string{"all"}}, 5); err == nil {
		t.Error("a second AddLoRA was accepted")
	}
	// Gradients reach the adapter (A gets none while B is zero; B does).
	s := torch.NewScope()
	defer s.Close()
	h, err := hiddenAll(s, m, llm.Batch{IDs: [][]int{{1, 2, 3}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	l, err := logitsAt(s, m, h, []int{0}, []int{2})
	if err != nil {
		t.Fatal(err)
	}
	s.Backward(s.CrossEntropy(l, s.FromInt64([]int64{5}, 1), torch.IgnoreIndex, torch.ReduceMean))
	for _, i := range []int{1, len(ps) - 2, len(ps) - 1} {
		if g := s.Grad(ps[i].T); g == nil {
			t.Errorf("%s got no gradient", ps[i].Name)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []struct {
		cfg  llm.LoRAConfig
		want string
	}{
		{llm.LoRAConfig{R: 0, Alpha: 16, Targets: []string{"all"}}, "rank must be positive"},
		{llm.LoRAConfig{R: 8, Alpha: 16, Targets: []string{"qkv_proj"}}, "unknown LoRA target"},
		{llm.LoRAConfig{R: 8, Alpha: 16, Targets: []string{"all"}, ModulesToSave: []string{"norm"}}, "modules_to_save"},
		{llm.LoRAConfig{R: 8, Alpha: 16, Dropout: 1, Targets: []string{"all"}}, "dropout"},
	} {
		fresh := loadModel(t, presetModel(t, "tiny"), llm.LoadOptions{})
		if err := fresh.AddLoRA(bad.cfg, 1); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("AddLoRA(%+v): error %v, want one mentioning %q", bad.cfg, err, bad.want)
		}
	}
}
