package llm

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A bias the config does not declare must be refused by name: before the layer table, a Llama file
// with a stray q_proj.bias and attention_bias=false loaded and applied it.
func TestStrayBiasIsAnError(t *testing.T) {
	llama := tinyTestConfig(true)
	llama.ModelType, llama.AttentionBias = "llama", false
	qwen := tinyTestConfig(true) // q/k/v biased, o_proj not
	for _, tc := range []struct {
		name  string
		cfg   *Config
		stray string
	}{
		{"llama q_proj", llama, "model.layers.1.self_attn.q_proj.bias"},
		{"llama down_proj", llama, "model.layers.0.mlp.down_proj.bias"},
		{"qwen2 o_proj", qwen, "model.layers.0.self_attn.o_proj.bias"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tensors, err := RandomWeights(tc.cfg, RandomInit{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			n := tc.cfg.LinearShape(strings.TrimSuffix(strings.SplitN(tc.stray, ".", 4)[3], ".bias"))[0]
			tensors = append(tensors, TensorData{Name: tc.stray, DType: "F32", Shape: []int64{n}, Data: make([]byte, 4*n)})
			dir := t.TempDir()
			if err := WriteSafetensors(filepath.Join(dir, SafetensorsFile), tensors, nil); err != nil {
				t.Fatal(err)
			}
			w, err := OpenWeights(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			err = CheckWeights(tc.cfg, w)
			if err == nil || !strings.Contains(err.Error(), tc.stray+" is present but the config declares that projection without a bias") {
				t.Fatalf("CheckWeights = %v, want an error naming %s", err, tc.stray)
			}
		})
	}
	t.Run("unrelated extras are ignored", func(t *testing.T) {
		tensors, _ := RandomWeights(llama, RandomInit{Seed: 1})
		tensors = append(tensors, TensorData{Name: "model.layers.0.self_attn.rotary_emb.inv_freq", DType: "F32", Shape: []int64{2}, Data: make([]byte, 8)})
		dir := t.TempDir()
		if err := WriteSafetensors(filepath.Join(dir, SafetensorsFile), tensors, nil); err != nil {
			t.Fatal(err)
		}
		w, err := OpenWeights(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := CheckWeights(llama, w); err != nil {
			t.Fatal(err)
		}
	})
}

// Every fact about a layer's tensors comes from layerWeights: names, shapes, biases, LoRA targets.
func TestLayerTableDerivations(t *testing.T) {
	c := tinyTestConfig(false)
	want := []string{"input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}
	var got []string
	for _, w := range c.layerWeights() {
		got = append(got, w.Module)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("qwen2 layer modules %v, want %v", got, want)
	}
	if g := c.LoRATargets(); !reflect.DeepEqual(g, []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}) {
		t.Errorf("LoRA targets %v", g)
	}
	for _, name := range c.WeightNames() {
		if c.ExpectedShape(name) == nil {
			t.Errorf("WeightNames lists %s but ExpectedShape has no shape for it", name)
		}
	}
	if n := len(c.WeightNames()); n != 1+2*(9+3)+1+1 {
		t.Errorf("%d weight names", n)
	}
	if _, err := targetsFor([]string{"q_proj", "down_proj"}, c); err != nil {
		t.Error(err)
	}
}

// A LoRA config is checked against every architecture's projections before a model is loaded, and
// against the model's own when attached.
func TestLoRATargetsResolve(t *testing.T) {
	c := tinyTestConfig(true)
	checked, err := LoRAConfig{R: 4, Alpha: 8, Targets: []string{"model.layers.0.self_attn.v_proj", "q_proj"}}.TargetModules()
	if err != nil || !reflect.DeepEqual(checked, []string{"q_proj", "v_proj"}) {
		t.Fatalf("TargetModules = %v, %v", checked, err)
	}
	all, err := targetsFor([]string{"all"}, c)
	if err != nil || !reflect.DeepEqual(all, c.LoRATargets()) {
		t.Errorf("all → %v, %v", all, err)
	}
	if _, err := (LoRAConfig{R: 4, Alpha: 8, Targets: []string{"c_attn"}}).TargetModules(); err == nil || !strings.Contains(err.Error(), `unknown LoRA target "c_attn"`) {
		t.Errorf("unknown target: %v", err)
	}
}
