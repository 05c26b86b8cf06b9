package llm_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

// adaptedModel loads dir, attaches a randomized adapter and returns it with its logits on ids.
func adaptedModel(t *testing.T, dir string, cfg llm.LoRAConfig, ids []int) (*llm.Model, [][]float32) {
	t.Helper()
	m := loadModel(t, dir, llm.LoadOptions{})
	if err := m.AddLoRA(cfg, 9); err != nil {
		t.Fatal(err)
	}
	randomizeAdapter(t, m, 10)
	return m, allLogits(t, m, ids)
}

// testExtra is a caller's own file (finetune's sentitune.json) that SaveAdapter carries along.
var testExtra = map[string][]byte{"sentitune.json": []byte(`{"instruction": "Is this review positive? Answer 1 or 0."}` + "\n")}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAdapterSaveLoad(t *testing.T) {
	base := customModel(t, smallVocabQwen(), 21, "F32")
	cfg := llm.LoRAConfig{R: 4, Alpha: 8, Dropout: 0.05, Targets: []string{"all"}, ModulesToSave: []string{"embed_tokens"}}
	m, want := adaptedModel(t, base, cfg, smallIDs)
	dir := filepath.Join(t.TempDir(), "run", "adapter")
	abs, _ := filepath.Abs(base)
	if err := m.SaveAdapter(dir, abs, testExtra); err != nil {
		t.Fatal(err)
	}

	t.Run("adapter_config.json is PEFT's", func(t *testing.T) {
		c := readJSON(t, filepath.Join(dir, "adapter_config.json"))
		for k, v := range map[string]any{
			"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4.0, "lora_alpha": 8.0, "lora_dropout": 0.05,
			"bias": "none", "use_rslora": false, "fan_in_fan_out": false, "inference_mode": true, "use_dora": false,
			"init_lora_weights": true, "revision": nil, "base_model_name_or_path": abs,
			"target_modules":  []any{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
			"modules_to_save": []any{"embed_tokens"},
		} {
			if got, ok := c[k]; !ok || !reflect.DeepEqual(got, v) {
				t.Errorf("%s = %#v (present %v), want %#v", k, got, ok, v)
			}
		}
	})
	t.Run("adapter_model.safetensors keys and shapes", func(t *testing.T) {
		w, err := llm.OpenSafetensors(filepath.Join(dir, "adapter_model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if n := len(w.Names()); n != 2*7*2+1 {
			t.Errorf("%d tensors, want %d", n, 2*7*2+1)
		}
		for name, shape := range map[string][]int64{
			"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": {4, 64},
			"base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight": {32, 4},
			"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight":    {4, 256},
			"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight":    {64, 4},
			"base_model.model.model.embed_tokens.weight":                     {500, 64},
		} {
			ti, ok := w.Get(name)
			if !ok {
				t.Errorf("no tensor %s (have %v)", name, w.Names()[:3])
				continue
			}
			if !reflect.DeepEqual(ti.Shape, shape) || ti.DType != "F32" {
				t.Errorf("%s: %s %v, want F32 %v", name, ti.DType, ti.Shape, shape)
			}
		}
	})
	t.Run("sentitune.json", func(t *testing.T) {
		if got := readFile(t, dir, "sentitune.json"); !bytes.Equal(got, testExtra["sentitune.json"]) {
			t.Errorf("sentitune.json holds %q, want the caller's bytes %q", got, testExtra["sentitune.json"])
		}
	})
	t.Run("load gives identical logits", func(t *testing.T) {
		fresh := loadModel(t, base, llm.LoadOptions{})
		if err := fresh.LoadAdapter(dir); err != nil {
			t.Fatal(err)
		}
		got := fresh.LoRA()
		wantCfg := cfg
		wantCfg.Targets = fresh.Config().LoRATargets()
		if !reflect.DeepEqual(*got, wantCfg) {
			t.Errorf("loaded LoRA config %+v, want %+v", *got, wantCfg)
		}
		if d := maxDiff(t, allLogits(t, fresh, smallIDs), want); d > 1e-6 {
			t.Errorf("logits after save/load differ by %.3g", d)
		}
		if n := len(fresh.TrainableParams()); n != 29 {
			t.Errorf("%d trainable params after load, want 29", n)
		}
	})
	t.Run("save replaces an adapter, never a foreign folder", func(t *testing.T) {
		if err := m.SaveAdapter(dir, abs, testExtra); err != nil {
			t.Fatalf("second save over the adapter: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.SaveAdapter(dir, abs, testExtra); err == nil || !strings.Contains(err.Error(), "notes.txt") {
			t.Errorf("save over a folder with other files: %v", err)
		}
		entries, _ := os.ReadDir(filepath.Dir(dir))
		if len(entries) != 1 {
			t.Errorf("leftovers beside the adapter: %v", entries)
		}
	})
}

// TestPEFTAdapterNames loads adapters whose keys are spelled as different PEFT versions and
// setups write them: with the adapter name, without the base_model.model. prefix, and with
// modules_to_save under their wrapper name; no sentitune.json; target_modules as a string.
func TestPEFTAdapterNames(t *testing.T) {
	base := customModel(t, smallVocabQwen(), 22, "F32")
	m, want := adaptedModel(t, base, llm.LoRAConfig{R: 3, Alpha: 6, Targets: []string{"q_proj", "v_proj", "down_proj"}, ModulesToSave: []string{"embed_tokens"}}, smallIDs)
	for _, tc := range []struct {
		name   string
		rename func(string) string
	}{
		{"adapter name .default", func(k string) string {
			k = strings.Replace(k, ".lora_A.", ".lora_A.default.", 1)
			k = strings.Replace(k, ".lora_B.", ".lora_B.default.", 1)
			return strings.Replace(k, "embed_tokens.weight", "embed_tokens.modules_to_save.default.weight", 1)
		}},
		{"no base_model.model. prefix", func(k string) string { return strings.TrimPrefix(k, "base_model.model.") }},
		{"custom adapter name", func(k string) string {
			k = strings.Replace(k, ".lora_A.", ".lora_A.sentiment.", 1)
			return strings.Replace(k, ".lora_B.", ".lora_B.sentiment.", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var tensors []llm.TensorData
			for _, p := range m.TrainableParams() {
				b, err := p.T.Bytes(m.DType())
				if err != nil {
					t.Fatal(err)
				}
				tensors = append(tensors, llm.TensorData{Name: tc.rename(p.Name), DType: "F32", Shape: p.T.Shape(), Data: b})
			}
			if err := llm.WriteSafetensors(filepath.Join(dir, "adapter_model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
				t.Fatal(err)
			}
			writeJSON(t, filepath.Join(dir, "adapter_config.json"), map[string]any{
				"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 3, "lora_alpha": 6, "lora_dropout": 0.0,
				"target_modules": "all-linear", "modules_to_save": []string{"embed_tokens"}, "bias": "none",
				"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "layer_replication": nil, "megatron_core": "megatron.core",
			})
			fresh := loadModel(t, base, llm.LoadOptions{})
			if err := fresh.LoadAdapter(dir); err != nil {
				t.Fatal(err)
			}
			if got := fresh.LoRA().Targets; !reflect.DeepEqual(got, []string{"q_proj", "v_proj", "down_proj"}) {
				t.Errorf("targets %v", got)
			}
			if d := maxDiff(t, allLogits(t, fresh, smallIDs), want); d > 1e-6 {
				t.Errorf("logits differ from the adapter's by %.3g", d)
			}
		})
	}
}

func TestAdapterErrors(t *testing.T) {
	base := customModel(t, smallVocabQwen(), 23, "F32")
	m, _ := adaptedModel(t, base, llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, smallIDs[:2])
	good := filepath.Join(t.TempDir(), "good")
	if err := m.SaveAdapter(good, "", testExtra); err != nil {
		t.Fatal(err)
	}
	llamaDir := customModel(t, llamaConfig(), 24, "F32")
	lm, _ := adaptedModel(t, llamaDir, llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, []int{1, 2})
	other := filepath.Join(t.TempDir(), "other")
	if err := lm.SaveAdapter(other, "", testExtra); err != nil {
		t.Fatal(err)
	}

	copyAdapter := func(t *testing.T, src string) string {
		t.Helper()
		dir := t.TempDir()
		for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "sentitune.json"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	setConfig := func(t *testing.T, dir, key string, v any) {
		t.Helper()
		c := readJSON(t, filepath.Join(dir, "adapter_config.json"))
		c[key] = v
		writeJSON(t, filepath.Join(dir, "adapter_config.json"), c)
	}
	dropTensor := func(t *testing.T, dir, name string) {
		t.Helper()
		path := filepath.Join(dir, "adapter_model.safetensors")
		w, err := llm.OpenSafetensors(path)
		if err != nil {
			t.Fatal(err)
		}
		var keep []llm.TensorData
		for _, n := range w.Names() {
			if n != name {
				ti, _ := w.Get(n)
				keep = append(keep, llm.TensorData{Name: n, DType: ti.DType, Shape: ti.Shape, Data: append([]byte(nil), ti.Data...)})
			}
		}
		w.Close()
		if err := llm.WriteSafetensors(path, keep, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) string
		want  []string
	}{
		{"adapter for another shape", func(t *testing.T) string { return other },
			[]string{"is for another model shape", "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", "[4 80]", "[4 256]", "qwen2 model (hidden 64"}},
		{"rank 0", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			setConfig(t, dir, "r", 0)
			return dir
		}, []string{"rank r=0"}},
		{"rank differs from tensors", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			setConfig(t, dir, "r", 5)
			return dir
		}, []string{"has rank 4 but adapter_config.json says r=5"}},
		{"DoRA", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			setConfig(t, dir, "use_dora", true)
			return dir
		}, []string{"use_dora is not supported"}},
		{"missing adapter_config.json", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			os.Remove(filepath.Join(dir, "adapter_config.json"))
			return dir
		}, []string{"has no adapter_config.json"}},
		{"missing weights", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			os.Remove(filepath.Join(dir, "adapter_model.safetensors"))
			return dir
		}, []string{"has no adapter_model.safetensors"}},
		{"half a LoRA pair", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			dropTensor(t, dir, "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")
			return dir
		}, []string{"model.layers.1.self_attn.v_proj has only one of lora_A and lora_B"}},
		{"modules_to_save listed but absent", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			setConfig(t, dir, "modules_to_save", []string{"lm_head"})
			return dir
		}, []string{"lists lm_head in modules_to_save"}},
		{"truncated weights", func(t *testing.T) string {
			dir := copyAdapter(t, good)
			p := filepath.Join(dir, "adapter_model.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
			return dir
		}, []string{"adapter_model.safetensors", "truncated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.setup(t)
			err := m.LoadAdapter(dir)
			if err == nil {
				t.Fatal("LoadAdapter succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if m.LoRA() == nil || m.LoRA().R != 4 {
				t.Error("a failed load dropped the attached adapter")
			}
		})
	}
	t.Run("extra file names are plain names", func(t *testing.T) {
		for _, name := range []string{"../escape.json", "sub/x.json", ".."} {
			err := m.SaveAdapter(filepath.Join(t.TempDir(), "a"), "", map[string][]byte{name: nil})
			if err == nil || !strings.Contains(err.Error(), "not a plain file name") {
				t.Errorf("extra file %q: %v", name, err)
			}
		}
	})
}
