package finetune

import (
	"path/filepath"
	"strings"
	"testing"
)

// A run with --gradient-checkpointing on (decoder layers recomputed in backward) logs the losses
// and writes the adapter of the same run without it, with LoRA dropout on and two micro-batches a
// step, and run.json records it; auto leaves it off on the CPU.
func TestGradientCheckpointingRun(t *testing.T) {
	dir := t.TempDir()
	run := func(name, mode string) string {
		out := filepath.Join(dir, name)
		cfg := testConfig(t, out)
		cfg.MaxSteps, cfg.BatchSize, cfg.GradAccum, cfg.LoRADropout = 6, 4, 2, 0.1
		cfg.GradientCheckpointing = mode
		res, err := Train(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Engine struct {
				GradientCheckpointing *bool `json:"gradient_checkpointing"`
			} `json:"engine"`
		}
		readJSON(t, filepath.Join(out, FileRun), &rec)
		want := mode == "on"
		if g := rec.Engine.GradientCheckpointing; g == nil || *g != want || res.GradientCheckpointing != want {
			t.Errorf("--gradient-checkpointing %s: run.json engine.gradient_checkpointing %v, result %v; want %v", mode, g, res.GradientCheckpointing, want)
		}
		return out
	}
	plain := run("auto", "auto")
	sameRun(t, plain, run("on", "on"))
}

func TestGradientCheckpointingValues(t *testing.T) {
	for _, c := range []struct {
		value string
		ok    bool
	}{{"auto", true}, {"on", true}, {"OFF", true}, {"true", true}, {"", true}, {"sometimes", false}} {
		cfg := Defaults()
		cfg.Model, cfg.Data, cfg.Out = "m", "d", "o"
		cfg.GradientCheckpointing = c.value
		err := cfg.Validate()
		if c.ok != (err == nil) || !c.ok && !strings.Contains(err.Error(), "gradient-checkpointing must be auto, on or off") {
			t.Errorf("gradient-checkpointing %q: err = %v", c.value, err)
		}
	}
}
