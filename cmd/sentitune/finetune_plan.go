package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/torch"
)

// printMemoryPlan is finetune --dry-run: the run's memory plan, nothing trained. Options the plan
// rests on that cannot work are usage errors (exit 2).
func printMemoryPlan(c *cli.Context, cfg finetune.Config) error {
	if cfg.Model == "" {
		return usageError("finetune --dry-run: no model folder (--model)")
	}
	if cfg.CUDAGraphs {
		return usageError("finetune --dry-run: --cuda-graphs is not built yet (GPU only); plan without it")
	}
	if err := cfg.ValidatePlanOptions(); err != nil {
		return usageError("finetune --dry-run: %w", err)
	}
	plan, err := finetune.PlanMemory(cfg)
	if err != nil {
		return fmt.Errorf("finetune --dry-run: %w", err)
	}
	finetune.WriteMemoryPlan(c.App.Writer, plan)
	return nil
}

// checkCUDAGraphs refuses --cuda-graphs on a device without CUDA, as a usage error (exit 2).
func checkCUDAGraphs(cfg finetune.Config) error {
	if !cfg.CUDAGraphs {
		return nil
	}
	if dev, err := torch.ParseDevice(cfg.Device); err == nil && !dev.CUDA {
		return usageError("finetune: --cuda-graphs needs a CUDA device (it captures each static-shape step as a CUDA graph); this run is on %v: --static-shapes runs the same shapes eagerly", dev)
	}
	return nil
}
