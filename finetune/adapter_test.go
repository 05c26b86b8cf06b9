package finetune

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// SaveAdapter records the base model (its folder, or the name given) and shape in sentitune.json;
// LoadAdapter refuses an adapter whose sentitune.json names another shape and keeps the one attached.
func TestSaveLoadAdapterMeta(t *testing.T) {
	m, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.AddLoRA(llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"q_proj"}}, 1); err != nil {
		t.Fatal(err)
	}
	shape := task.BaseShape{ModelType: m.Config().ModelType, HiddenSize: m.Config().HiddenSize,
		NumHiddenLayers: m.Config().NumHiddenLayers, VocabSize: m.Config().VocabSize}
	abs, _ := filepath.Abs(fix.model)
	for _, c := range []struct{ given, want string }{{"", abs}, {"Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"}} {
		dir := filepath.Join(t.TempDir(), "adapter")
		if err := SaveAdapter(m, dir, task.Meta{Instruction: "Positive?", BaseModel: c.given}); err != nil {
			t.Fatal(err)
		}
		meta, err := LoadAdapter(m, dir)
		if err != nil {
			t.Fatal(err)
		}
		if meta.Instruction != "Positive?" || meta.BaseModel != c.want || meta.Base != shape {
			t.Errorf("base %q: sentitune.json %+v, want base_model %q and shape %v", c.given, *meta, c.want, shape)
		}
		var pc map[string]any
		if readJSON(t, filepath.Join(dir, llm.AdapterConfigFile), &pc); pc["base_model_name_or_path"] != c.want {
			t.Errorf("adapter_config.json base_model_name_or_path %v, want %q", pc["base_model_name_or_path"], c.want)
		}
	}

	dir := filepath.Join(t.TempDir(), "adapter")
	other := shape
	other.HiddenSize++
	if err := SaveAdapter(m, dir, task.Meta{}); err != nil {
		t.Fatal(err)
	}
	b, err := task.Meta{Base: other}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, task.MetaFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAdapter(m, dir); err == nil || !strings.Contains(err.Error(), "is for another model shape") {
		t.Errorf("adapter for another shape: %v", err)
	}
	if m.LoRA() == nil || m.LoRA().R != 2 {
		t.Error("a refused load changed the attached adapter")
	}
}
