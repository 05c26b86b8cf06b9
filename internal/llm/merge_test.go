package llm_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

func TestMergeInMemory(t *testing.T) {
	llama := customModel(t, llamaConfig(), 31, "F32")
	tied := customModel(t, smallVocabQwen(), 32, "F32")
	for _, tc := range []struct {
		name      string
		dir       string
		cfg       llm.LoRAConfig
		ids       []int
		wantTied  bool
		wantTying bool
	}{
		{"untied llama, all linears", llama, llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, []int{1, 2, 3, 200, 5}, false, false},
		{"tied qwen2, q/v only", tied, llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"q_proj", "v_proj"}}, smallIDs, true, true},
		{"tied qwen2, embed_tokens saved", tied, llm.LoRAConfig{R: 2, Alpha: 2, UseRSLoRA: true, Targets: []string{"all"}, ModulesToSave: []string{"embed_tokens"}}, smallIDs, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, want := adaptedModel(t, tc.dir, tc.cfg, tc.ids)
			if err := m.Merge(); err != nil {
				t.Fatal(err)
			}
			if m.LoRA() != nil || m.TrainableParams() != nil {
				t.Error("adapter still attached after Merge")
			}
			if m.Config().TieWordEmbeddings != tc.wantTying {
				t.Errorf("tie_word_embeddings %v after merge, want %v", m.Config().TieWordEmbeddings, tc.wantTying)
			}
			if d := maxDiff(t, allLogits(t, m, tc.ids), want); d > 1e-4 {
				t.Errorf("merged logits differ from base+adapter by %.3g (> 1e-4)", d)
			}
			if err := m.Merge(); err == nil {
				t.Error("a second Merge without adapter succeeded")
			}
		})
	}
}

func TestMergeToFolder(t *testing.T) {
	t.Run("single file, tied, embed_tokens saved", func(t *testing.T) {
		base := customModel(t, smallVocabQwen(), 41, "F32")
		extra := map[string]string{"tokenizer.json": `{"model": {}}`, "tokenizer_config.json": `{"chat_template": "x"}`, "generation_config.json": `{}`}
		for name, body := range extra {
			if err := os.WriteFile(filepath.Join(base, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(base, "pytorch_model.bin"), []byte("stale"), 0o644); err != nil {
			t.Fatal(err)
		}
		m, want := adaptedModel(t, base, llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}, ModulesToSave: []string{"embed_tokens"}}, smallIDs)
		adapter := filepath.Join(t.TempDir(), "adapter")
		if err := m.SaveAdapter(adapter, "", testExtra); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "merged")
		if err := llm.MergeToFolder(base, adapter, out, testExtra); err != nil {
			t.Fatal(err)
		}
		files := dirNames(t, out)
		wantFiles := []string{"config.json", "generation_config.json", "model.safetensors", "sentitune.json", "tokenizer.json", "tokenizer_config.json"}
		if !reflect.DeepEqual(files, wantFiles) {
			t.Errorf("merged folder holds %v, want %v", files, wantFiles)
		}
		for name, body := range extra {
			if b, _ := os.ReadFile(filepath.Join(out, name)); string(b) != body {
				t.Errorf("%s not copied verbatim", name)
			}
		}
		if b := readFile(t, out, "sentitune.json"); !bytes.Equal(b, testExtra["sentitune.json"]) {
			t.Errorf("sentitune.json holds %q, want the caller's bytes", b)
		}
		cfg, err := llm.LoadConfig(out)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.TieWordEmbeddings {
			t.Error("merged config still ties embeddings although embed_tokens was trained apart from lm_head")
		}
		merged := loadModel(t, out, llm.LoadOptions{})
		if d := maxDiff(t, allLogits(t, merged, smallIDs), want); d > 1e-4 {
			t.Errorf("merged folder logits differ from base+adapter by %.3g (> 1e-4)", d)
		}
		// The float64 reference reads it as any Hugging Face loader would.
		if d := maxDiff(t, refLogits(t, loadReference(t, out), smallIDs), want); d > 1e-4 {
			t.Errorf("reference logits of the merged folder differ from base+adapter by %.3g", d)
		}
		if err := llm.MergeToFolder(base, adapter, out, testExtra); err == nil || !strings.Contains(err.Error(), "exists") {
			t.Errorf("merge into an existing folder: %v", err)
		}
	})

	t.Run("sharded bf16 keeps dtype and shards", func(t *testing.T) {
		cfg := llamaConfig()
		cfg.TorchDType = "bfloat16"
		base := t.TempDir()
		tensors, err := llm.RandomWeights(cfg, llm.RandomInit{Seed: 42, DType: "BF16", Std: 0.08, NormJitter: 0.2})
		if err != nil {
			t.Fatal(err)
		}
		if err := llm.WriteShardedSafetensors(base, tensors, 40_000, nil); err != nil {
			t.Fatal(err)
		}
		cj, err := cfg.HFJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, "config.json"), cj, 0o644); err != nil {
			t.Fatal(err)
		}
		if names := dirNames(t, base); len(names) < 4 || names[len(names)-1] != "model.safetensors.index.json" {
			t.Fatalf("base model is not sharded: %v", names)
		}
		m, _ := adaptedModel(t, base, llm.LoRAConfig{R: 4, Alpha: 16, Targets: []string{"q_proj", "down_proj"}}, []int{1, 2})
		adapter := filepath.Join(t.TempDir(), "adapter")
		if err := m.SaveAdapter(adapter, "", testExtra); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "merged")
		if err := llm.MergeToFolder(base, adapter, out, testExtra); err != nil {
			t.Fatal(err)
		}
		if got, want := dirNames(t, out), append(dirNames(t, base), "sentitune.json"); !reflect.DeepEqual(got, want) {
			t.Fatalf("merged files %v, want %v", got, want)
		}
		if b1, b2 := readFile(t, base, "config.json"), readFile(t, out, "config.json"); !bytes.Equal(b1, b2) {
			t.Error("config.json changed although nothing untied")
		}
		win, err := llm.OpenWeights(base)
		if err != nil {
			t.Fatal(err)
		}
		defer win.Close()
		wout, err := llm.OpenWeights(out)
		if err != nil {
			t.Fatal(err)
		}
		defer wout.Close()
		if len(wout.Names()) != len(win.Names()) {
			t.Fatalf("%d tensors merged, %d in the base", len(wout.Names()), len(win.Names()))
		}
		A, B := map[string][]float32{}, map[string][]float32{}
		for _, p := range m.TrainableParams() {
			v, _ := p.T.Float32s()
			module := strings.TrimPrefix(p.Name, "base_model.model.")
			if p.IsLoRAB {
				B[strings.TrimSuffix(module, ".lora_B.weight")] = v
			} else {
				A[strings.TrimSuffix(module, ".lora_A.weight")] = v
			}
		}
		for _, name := range win.Names() {
			in, _ := win.Get(name)
			got, _ := wout.Get(name)
			if win.File(name) != wout.File(name) || got.DType != "BF16" || !reflect.DeepEqual(got.Shape, in.Shape) {
				t.Errorf("%s: %s %v in %s, want BF16 %v in %s", name, got.DType, got.Shape, wout.File(name), in.Shape, win.File(name))
				continue
			}
			module := strings.TrimSuffix(name, ".weight")
			if _, ok := A[module]; !ok {
				if !bytes.Equal(got.Data, in.Data) {
					t.Errorf("%s changed although no adapter targets it", name)
				}
				continue
			}
			// merged = bf16(W + 16/4 · B·A), within bf16 rounding of the exact sum
			w, _ := in.Float32s()
			mv, _ := got.Float32s()
			out, inn, r := int(in.Shape[0]), int(in.Shape[1]), 4
			var worst float64
			for o := 0; o < out; o++ {
				for i := 0; i < inn; i++ {
					exact := float64(w[o*inn+i])
					for k := 0; k < r; k++ {
						exact += 4 * float64(B[module][o*r+k]) * float64(A[module][k*inn+i])
					}
					// bf16 rounding moves a value by at most 2⁻⁸ of itself; 1e-6 covers the f32 sum
					err := math.Abs(float64(mv[o*inn+i])-exact) / (math.Abs(exact)/256 + 1e-6)
					worst = math.Max(worst, err)
				}
			}
			if worst > 1 {
				t.Errorf("%s: merged weights off by %.3g × the bf16 rounding bound", name, worst)
			}
		}
	})

	t.Run("adapter for another model: nothing written", func(t *testing.T) {
		base := customModel(t, smallVocabQwen(), 43, "F32")
		llama := customModel(t, llamaConfig(), 44, "F32")
		m, _ := adaptedModel(t, llama, llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"all"}}, []int{1})
		adapter := filepath.Join(t.TempDir(), "adapter")
		if err := m.SaveAdapter(adapter, "", nil); err != nil {
			t.Fatal(err)
		}
		parent := t.TempDir()
		err := llm.MergeToFolder(base, adapter, filepath.Join(parent, "merged"), testExtra)
		if err == nil || !strings.Contains(err.Error(), "another model shape") {
			t.Errorf("error %v", err)
		}
		if names := dirNames(t, parent); len(names) != 0 {
			t.Errorf("left %v behind", names)
		}
	})
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
