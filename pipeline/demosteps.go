package pipeline

import (
	"math"

	"github.com/sentitune/sentitune/finetune"
)

// DemoMinSteps is the least number of optimizer steps the demo model trains: a random-weight model needs
// about as many steps as the binary demo's 200 to learn, whatever the size of the set
// (bench/results/demo-fit-classes-2026-12-03.md).
const DemoMinSteps = 200

// demoMaxSteps is the --max-steps the finetune stage runs with: the demo's step floor (cfg.DemoMinSteps)
// when its epochs over trainRows rows would give fewer steps, else fc's own.
func demoMaxSteps(cfg Config, fc finetune.Config, trainRows int) int {
	if cfg.Model != "" || fc.MaxSteps > 0 || cfg.DemoMinSteps <= 0 || trainRows <= 0 {
		return fc.MaxSteps
	}
	batches := (trainRows + fc.BatchSize - 1) / fc.BatchSize
	perEpoch := (batches + max(fc.GradAccum, 1) - 1) / max(fc.GradAccum, 1)
	if steps := int(math.Ceil(fc.Epochs * float64(perEpoch))); steps >= cfg.DemoMinSteps {
		return fc.MaxSteps
	}
	return cfg.DemoMinSteps
}
