package pipeline

import "testing"

// A real run holds out a validation slice of train for finetune's evaluations
// (prep makes no val.json by default); the demo trains on all 800 sentences,
// as its note says, and evaluates nothing before eval's test rows.
func TestValidationDefaults(t *testing.T) {
	if r := Defaults().Finetune.ValRatio; r != 0.1 {
		t.Errorf("a real run's val-ratio is %v, want 0.1", r)
	}
	if r := DemoDefaults().Finetune.ValRatio; r != 0 {
		t.Errorf("the demo's val-ratio is %v, want 0 (all 800 training sentences train)", r)
	}
}
