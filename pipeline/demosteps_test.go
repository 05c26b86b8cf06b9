package pipeline

import "testing"

// TestDemoMaxSteps: the demo's small sets train at least DemoMinSteps steps; the binary demo (800 rows ×
// 4 epochs / 16 = 200 steps), a user's --max-steps and a real model keep their own.
func TestDemoMaxSteps(t *testing.T) {
	demo := DemoDefaults()
	real := Defaults()
	real.Model = "models/qwen"
	userSteps := DemoDefaults()
	userSteps.Finetune.MaxSteps = 30
	off := DemoDefaults()
	off.DemoMinSteps = 0
	for _, tc := range []struct {
		name string
		cfg  Config
		rows int
		want int
	}{
		{"3-class demo (144 rows)", demo, 144, DemoMinSteps},
		{"aspect demo (396 rows)", demo, 396, DemoMinSteps},
		{"binary demo (800 rows)", demo, 800, 0},
		{"more rows than the floor needs", demo, 2000, 0},
		{"user's max-steps", userSteps, 144, 30},
		{"floor off", off, 144, 0},
		{"real model", real, 144, 0},
	} {
		if got := demoMaxSteps(tc.cfg, tc.cfg.Finetune, tc.rows); got != tc.want {
			t.Errorf("%s: max-steps %d, want %d", tc.name, got, tc.want)
		}
	}
}
