package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/finetune"
)

// MemPlanBench is `bench -memplan`: finetune.PlanMemory's total next to the peak RSS of the same
// run (finetune.Train in a child process), for the tiny and small presets with checkpointing off
// and on and a 4-bit base. Goal: every row within 25 % (issue 14).
type MemPlanBench struct {
	Command string       `json:"command"`
	Date    string       `json:"date"`
	Quick   bool         `json:"quick,omitempty"`
	Machine Machine      `json:"machine"`
	Threads int          `json:"threads"`
	Rows    []MemPlanRow `json:"rows"`
	Worst   float64      `json:"worst_abs_error"` // the largest |plan/measured − 1|
	Load    []LoadSample `json:"load"`
}

// MemPlanRow is one run: its shape, the plan and the measured peak.
type MemPlanRow struct {
	Preset          string              `json:"preset"`
	Batch           int                 `json:"batch"`
	Seq             int                 `json:"seq"`
	Checkpointing   bool                `json:"gradient_checkpointing"`
	QuantizationBit int                 `json:"quantization_bit,omitempty"`
	Plan            finetune.MemoryPlan `json:"plan"`
	PlanMiB         float64             `json:"plan_mib"`
	MeasuredMiB     float64             `json:"measured_mib"` // ru_maxrss of the child
	Error           float64             `json:"error"`        // plan/measured − 1
}

func runMemPlanBench(o options) error {
	begin := time.Now()
	work, err := os.MkdirTemp("", "sentitune-bench-memplan-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if o.threads == 0 {
		o.threads = 1
	}
	type run struct {
		preset     string
		batch, seq int
		ckpt       bool
		bits       int
	}
	runs := []run{{"tiny", 1, 64, false, 0}, {"tiny", 8, 512, false, 0}, {"tiny", 8, 512, true, 0},
		{"small", 1, 64, false, 0}, {"small", 8, 512, false, 0}, {"small", 8, 512, true, 0},
		{"small", 8, 512, false, 4}, {"small", 8, 512, true, 4}, {"small", 4, 256, false, 0}}
	if o.quick {
		runs = []run{{"tiny", 1, 64, false, 0}, {"tiny", 4, 64, true, 0}}
	}
	res := &MemPlanBench{Command: commandLine(), Date: begin.UTC().Format(time.RFC3339), Quick: o.quick, Machine: machineInfo(), Threads: o.threads}
	res.Load = append(res.Load, loadSample("start"))
	models := map[string]string{}
	for _, r := range runs {
		model, ok := models[r.preset]
		if !ok {
			model = filepath.Join(work, "model-"+r.preset)
			if _, err := runChild("init-model", initModelSpec{Dir: model, Preset: r.preset, Seed: 1}, new(map[string]string)); err != nil {
				return fmt.Errorf("init-model %s: %w", r.preset, err)
			}
			models[r.preset] = model
		}
		sp := trainSpec{Model: model, Batch: r.batch, Seq: r.seq, Warmup: 1, Steps: 1, Rank: 8, Threads: o.threads,
			GradientCheckpointing: r.ckpt, QuantizationBit: r.bits}
		plan, err := finetune.PlanMemory(trainConfig(sp, "", ""))
		if err != nil {
			return err
		}
		var out trainOut
		cr, err := runChild("train", sp, &out)
		if err != nil {
			return fmt.Errorf("%s %d×%d checkpointing %v %d-bit: %w", r.preset, r.batch, r.seq, r.ckpt, r.bits, err)
		}
		row := MemPlanRow{Preset: r.preset, Batch: r.batch, Seq: r.seq, Checkpointing: r.ckpt, QuantizationBit: r.bits, Plan: plan,
			PlanMiB: round(float64(plan.Total)/(1<<20), 1), MeasuredMiB: cr.PeakRSSMiB}
		row.Error = round(row.PlanMiB/row.MeasuredMiB-1, 3)
		res.Worst = max(res.Worst, math.Abs(row.Error))
		res.Rows = append(res.Rows, row)
		logf("bench: memplan %s %d×%d checkpointing %v bits %d: plan %.0f MiB, measured %.0f MiB (%+.1f %%)",
			r.preset, r.batch, r.seq, r.ckpt, r.bits, row.PlanMiB, row.MeasuredMiB, 100*row.Error)
	}
	res.Load = append(res.Load, loadSample("end"))
	name := "memplan-" + begin.Format("2006-01-02")
	if o.quick {
		name += "-quick"
	}
	jsonPath, mdPath, err := writeResults(o.out, name, res, res.markdown())
	if err != nil {
		return err
	}
	logf("bench: wrote %s and %s", jsonPath, mdPath)
	return nil
}

func (r *MemPlanBench) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	mib := func(x int64) string { return fmt.Sprintf("%.0f", float64(x)/(1<<20)) }
	w("# Memory plan vs measured peak, CPU (%s)\n\n", r.Date)
	w("`%s` on %s (%d cores, %s), libtorch threads %d.\n\n", r.Command, r.Machine.CPU, r.Machine.Cores, r.Machine.Go, r.Threads)
	w("Each row: `finetune.PlanMemory` (what `finetune --dry-run` prints) for a run, then that run — finetune.Train, " +
		"2 steps, LoRA r=8 on all linears, f32, no dropout — in a child process whose peak resident set (ru_maxrss) is " +
		"the measurement. Goal: within 25 %% (issue 14). Parts in MiB.\n\n")
	w("| preset | batch × tokens | checkpointing | quantization | weights | LoRA + grads + AdamW | activations | workspace | runtime | **plan** | **measured** | plan / measured − 1 |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		p := row.Plan
		q := "none"
		if row.QuantizationBit != 0 {
			q = fmt.Sprintf("%d-bit", row.QuantizationBit)
		}
		w("| %s | %d × %d | %v | %s | %s | %s | %s | %s | %s | **%.0f** | **%.0f** | %+.1f %% |\n", row.Preset, row.Batch, row.Seq,
			map[bool]string{false: "off", true: "on"}[row.Checkpointing], q, mib(p.WeightsProjections+p.WeightsOther),
			mib(p.Trainable+p.Grads+p.Optimizer), mib(p.Activations), mib(p.Workspace), mib(p.Overhead), row.PlanMiB, row.MeasuredMiB, 100*row.Error)
	}
	w("\nLargest error: **%.1f %%**.\n", 100*r.Worst)
	return b.String()
}
