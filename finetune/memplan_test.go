package finetune

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// The plan's weight and trainable bytes are the loaded model's: Model.WeightBytes as loaded (f32,
// and 4- and 8-bit as resident on a device) and the trainable parameters LoRA and modules_to_save add.
func TestPlanMemoryMatchesLoadedModel(t *testing.T) {
	mc, err := llm.LoadConfig(fix.model)
	if err != nil {
		t.Fatal(err)
	}
	for _, bits := range []int{0, 4, 8} {
		cfg := Defaults()
		cfg.Model, cfg.DType, cfg.QuantizationBit = fix.model, "f32", bits
		cfg.LoRATarget, cfg.ModulesToSave = List{"q_proj", "v_proj", "down_proj"}, List{"embed_tokens"}
		plan, err := PlanMemoryFor(mc, cfg, true) // as resident on a device: no mapped file pages
		if err != nil {
			t.Fatal(err)
		}
		m, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU, QuantizationBit: bits})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.AddLoRA(loraConfig(cfg), 1); err != nil {
			m.Close()
			t.Fatal(err)
		}
		proj, rest := m.WeightBytes()
		var trainable int64
		for _, p := range m.TrainableParams() {
			trainable += p.T.Numel() * int64(p.T.DType().Size())
		}
		m.Close()
		if plan.WeightsProjections != proj || plan.WeightsOther != rest {
			t.Errorf("%d-bit: plan weights %d + %d bytes, loaded model %d + %d", bits, plan.WeightsProjections, plan.WeightsOther, proj, rest)
		}
		if plan.Trainable != trainable || plan.Grads != trainable || plan.Optimizer != 2*trainable {
			t.Errorf("%d-bit: plan trainable %d, grads %d, AdamW %d bytes; the model trains %d", bits, plan.Trainable, plan.Grads, plan.Optimizer, trainable)
		}
	}
}

// Checkpointing, a smaller batch and a 4-bit base change the parts they should; bad options are
// errors naming the option; the printed plan names every part and the total.
func TestPlanMemoryParts(t *testing.T) {
	mc, err := llm.LoadConfig("testdata/qwen2.5-7b-instruct")
	if err != nil {
		t.Fatal(err)
	}
	plan := func(edit func(*Config), cuda bool) MemoryPlan {
		cfg := Defaults()
		cfg.Model, cfg.BatchSize, cfg.MaxLen = "Qwen/Qwen2.5-7B-Instruct", 16, 512
		edit(&cfg)
		p, err := PlanMemoryFor(mc, cfg, cuda)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := plan(func(*Config) {}, true)
	if !base.Checkpointing || base.DType != "bf16" || base.Activations != base.ActivationsCheckpointed {
		t.Errorf("auto on CUDA: checkpointing %v, dtype %s; want on, bf16", base.Checkpointing, base.DType)
	}
	if base.ActivationsCheckpointed*4 > base.ActivationsPlain {
		t.Errorf("7B 16×512: checkpointed activations %s not under a quarter of %s", FormatBytes(base.ActivationsCheckpointed), FormatBytes(base.ActivationsPlain))
	}
	if base.WeightsProjections+base.WeightsOther < 14<<30 || base.WeightsProjections+base.WeightsOther > 16<<30 {
		t.Errorf("7B bf16 weights %s, want 14–16 GiB (7.6 B parameters × 2 bytes)", FormatBytes(base.WeightsProjections+base.WeightsOther))
	}
	q4 := plan(func(c *Config) { c.QuantizationBit = 4 }, true)
	if r := float64(q4.WeightsProjections) / float64(base.WeightsProjections); r < 0.25 || r > 0.3 {
		t.Errorf("4-bit projections %.3f× of bf16, want about 0.27 (4.125 bits a weight over 16)", r)
	}
	half := plan(func(c *Config) { c.BatchSize = 8 }, true)
	if half.Activations*2 != base.Activations {
		t.Errorf("batch 8: activations %d, want half of batch 16's %d", half.Activations, base.Activations)
	}
	cpu := plan(func(c *Config) {}, false)
	if cpu.Checkpointing || cpu.DType != "f32" || cpu.Workspace <= base.Workspace {
		t.Errorf("CPU: checkpointing %v, dtype %s, workspace %s (math attention's scores): want off, f32, above CUDA's %s",
			cpu.Checkpointing, cpu.DType, FormatBytes(cpu.Workspace), FormatBytes(base.Workspace))
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.BatchSize = 0 }, "batch-size"},
		{func(c *Config) { c.QuantizationBit = 3 }, "quantization-bit"},
		{func(c *Config) { c.LoRATarget = List{"w_proj"} }, "w_proj"},
		{func(c *Config) { c.DType = "int8" }, "int8"},
	} {
		cfg := Defaults()
		cfg.Model = "x"
		c.edit(&cfg)
		if _, err := PlanMemoryFor(mc, cfg, true); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
	var b bytes.Buffer
	WriteMemoryPlan(&b, q4)
	for _, want := range []string{"Qwen/Qwen2.5-7B-Instruct on cuda", "4-bit", "weights: projections", "AdamW", "activations (checkpointed)", "total (peak)", FormatBytes(q4.Total)} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printed plan lacks %q:\n%s", want, b.String())
		}
	}
}
