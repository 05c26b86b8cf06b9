package finetune

import (
	"math"
	"strings"
	"testing"
)

// TestValidateRefusesNonFinite: NaN passes every range comparison, so each float option is checked
// for NaN and ±Inf first.
func TestValidateRefusesNonFinite(t *testing.T) {
	base := Defaults()
	base.Model, base.Data, base.Out = "m", "d", "o"
	for _, c := range []struct {
		name string
		edit func(*Config, float64)
	}{
		{"lr", func(c *Config, v float64) { c.LR = v }},
		{"lora-alpha", func(c *Config, v float64) { c.LoRAAlpha = v }},
		{"lora-dropout", func(c *Config, v float64) { c.LoRADropout = v }},
		{"loraplus-lr-ratio", func(c *Config, v float64) { c.LoRAPlusLRRatio = v }},
		{"epochs", func(c *Config, v float64) { c.Epochs = v }},
		{"warmup-ratio", func(c *Config, v float64) { c.WarmupRatio = v }},
		{"max-grad-norm", func(c *Config, v float64) { c.MaxGradNorm = v }},
		{"weight-decay", func(c *Config, v float64) { c.WeightDecay = v }},
		{"dist-timeout", func(c *Config, v float64) { c.DistTimeout = v }},
	} {
		for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			cfg := base
			c.edit(&cfg, v)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.name) {
				t.Errorf("%s = %v: err = %v, want one naming %s", c.name, v, err, c.name)
			}
		}
	}
}
