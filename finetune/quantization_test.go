package finetune

import (
	"path/filepath"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

// TestQuantizedBaseTrains: LoRA on a 4-bit NF4 base learns as on the full-precision one (the
// same loss fall TestTrain asks for), run.json records the quantization, and the adapter is
// PEFT's: it loads onto the unquantized base.
func TestQuantizedBaseTrains(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.QuantizationBit = 4
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	losses := trainLosses(t, out)
	if last := mean(losses[len(losses)-4:]); losses[0] < 11.5 || last > losses[0]-0.7 {
		t.Fatalf("loss %.3f → %.3f (mean of last 4), want a fall of at least 0.7: %v", losses[0], last, losses)
	}
	var run struct {
		Engine struct {
			QuantizationBit int `json:"quantization_bit"`
		} `json:"engine"`
	}
	readJSON(t, filepath.Join(out, "run.json"), &run)
	if run.Engine.QuantizationBit != 4 {
		t.Errorf("run.json engine.quantization_bit = %d, want 4", run.Engine.QuantizationBit)
	}
	// PEFT's keys, one lora_A and lora_B per projection of every layer, as a full-precision run writes.
	w, err := llm.OpenSafetensors(filepath.Join(res.Adapter, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mc, err := llm.LoadConfig(fix.model)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < mc.NumHiddenLayers; i++ {
		for _, mod := range mc.LinearModules() {
			for _, ab := range []string{".lora_A.weight", ".lora_B.weight"} {
				name := "base_model.model." + llm.LayerPrefix(i) + mod + ab
				if _, ok := w.Get(name); !ok {
					t.Errorf("adapter lacks PEFT tensor %s", name)
				}
			}
		}
	}
	var peft struct {
		PeftType string `json:"peft_type"`
	}
	readJSON(t, filepath.Join(res.Adapter, "adapter_config.json"), &peft)
	if peft.PeftType != "LORA" {
		t.Errorf("adapter_config.json's peft_type %q, want LORA", peft.PeftType)
	}
}
