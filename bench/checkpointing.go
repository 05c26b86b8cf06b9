package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
)

// CheckpointingBench is `bench -checkpointing`: finetune.Train steps on the small preset at one
// batch shape with activation checkpointing off and on, alternating rounds.
type CheckpointingBench struct {
	Command string      `json:"command"`
	Date    string      `json:"date"`
	Quick   bool        `json:"quick,omitempty"`
	Machine Machine     `json:"machine"`
	Threads int         `json:"threads"`
	Preset  string      `json:"preset"`
	Model   ModelShape  `json:"model"`
	Batch   int         `json:"batch"`
	Seq     int         `json:"seq"`
	Goal    string      `json:"goal"`
	Off     CkptMeasure `json:"off"`
	On      CkptMeasure `json:"on"`
	// Fixed is the same run at batch 1 × 64 tokens: weights, LoRA, AdamW and the runtime, with
	// next to no activations.
	FixedRSSMiB float64      `json:"fixed_rss_mib"`
	RSSRatio    float64      `json:"peak_rss_ratio"`       // on / off, whole process
	ActRatio    float64      `json:"activation_rss_ratio"` // on / off, above Fixed
	TimeRatio   float64      `json:"step_time_ratio"`      // on / off, medians
	Load        []LoadSample `json:"load"`
}

// CkptMeasure is one mode's steps (warm-up dropped) and each child's peak RSS.
type CkptMeasure struct {
	StepSeconds []float64 `json:"step_s"`
	Median      float64   `json:"step_s_median"`
	PeakRSSMiB  []float64 `json:"peak_rss_mib"` // ru_maxrss of each child
	FinalLoss   float64   `json:"final_loss"`
}

func runCheckpointingBench(o options) error {
	begin := time.Now()
	work, err := os.MkdirTemp("", "sentitune-bench-ckpt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	preset, batch, seq, rounds, warmup, steps := "small", 8, 512, 2, 1, 2
	if o.quick {
		preset, batch, seq, rounds, warmup, steps = "tiny", 4, 64, 1, 1, 2
	}
	if o.threads == 0 {
		var probe probeOut
		if _, err := runChild("probe", struct{}{}, &probe); err != nil {
			return fmt.Errorf("load libtorch: %w", err)
		}
		o.threads = probe.DefaultThreads
	}
	model := filepath.Join(work, "model-"+preset)
	if _, err := runChild("init-model", initModelSpec{Dir: model, Preset: preset, Seed: 1}, new(map[string]string)); err != nil {
		return fmt.Errorf("init-model %s: %w", preset, err)
	}
	cfg, err := llm.LoadConfig(model)
	if err != nil {
		return err
	}
	res := &CheckpointingBench{Command: commandLine(), Date: begin.UTC().Format(time.RFC3339), Quick: o.quick, Machine: machineInfo(),
		Threads: o.threads, Preset: preset, Model: shapeOf(cfg, 8), Batch: batch, Seq: seq,
		Goal: "peak RSS ≤ 0.5× and step time ≤ 1.4× of the uncheckpointed step (issue 14)"}
	res.Load = append(res.Load, loadSample("start"))
	train := func(ckpt bool, batch, seq, warmup, steps int) (trainOut, childRun, error) {
		var out trainOut
		cr, err := runChild("train", trainSpec{Model: model, Batch: batch, Seq: seq, Warmup: warmup, Steps: steps, Rank: 8,
			Threads: o.threads, GradientCheckpointing: ckpt}, &out)
		return out, cr, err
	}
	_, fixed, err := train(false, 1, 64, 0, 1)
	if err != nil {
		return fmt.Errorf("fixed-cost run: %w", err)
	}
	res.FixedRSSMiB = fixed.PeakRSSMiB
	for r := range rounds {
		for _, ckpt := range []bool{false, true} {
			m := &res.Off
			if ckpt {
				m = &res.On
			}
			out, cr, err := train(ckpt, batch, seq, warmup, steps)
			if err != nil {
				return fmt.Errorf("round %d, checkpointing %v: %w", r+1, ckpt, err)
			}
			m.StepSeconds = append(m.StepSeconds, out.StepSeconds...)
			m.PeakRSSMiB = append(m.PeakRSSMiB, cr.PeakRSSMiB)
			m.FinalLoss = out.FinalLoss
			logf("bench: checkpointing %v: steps %v s, peak RSS %.0f MiB", ckpt, out.StepSeconds, cr.PeakRSSMiB)
		}
	}
	res.Load = append(res.Load, loadSample("end"))
	for _, m := range []*CkptMeasure{&res.Off, &res.On} {
		m.Median = median(m.StepSeconds)
	}
	off, on := maximum(res.Off.PeakRSSMiB), maximum(res.On.PeakRSSMiB)
	res.RSSRatio = round(ratio(on, off), 3)
	res.ActRatio = round(ratio(on-res.FixedRSSMiB, off-res.FixedRSSMiB), 3)
	res.TimeRatio = round(ratio(res.On.Median, res.Off.Median), 3)

	name := "checkpointing-" + begin.Format("2006-01-02")
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

func maximum(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func (r *CheckpointingBench) markdown() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Activation checkpointing, CPU (%s)\n\n", r.Date)
	w("`%s` on %s (%d cores, %s), libtorch threads %d.\n\n", r.Command, r.Machine.CPU, r.Machine.Cores, r.Machine.Go, r.Threads)
	w("finetune.Train on the %s preset (%d layers, hidden %d), batch %d × %d tokens, LoRA r=8 on all linears, f32; "+
		"--gradient-checkpointing off and on in alternating rounds, warm-up steps dropped. Goal: %s.\n\n",
		r.Preset, r.Model.Layers, r.Model.Hidden, r.Batch, r.Seq, r.Goal)
	w("| | step time median (s) | steps (s) | peak RSS (MiB) | final loss |\n|---|---|---|---|---|\n")
	for _, m := range []struct {
		name string
		m    CkptMeasure
	}{{"off", r.Off}, {"on", r.On}} {
		w("| %s | %.2f | %s | %s | %.4f |\n", m.name, m.m.Median, floats(m.m.StepSeconds, 2), floats(m.m.PeakRSSMiB, 0), m.m.FinalLoss)
	}
	w("\nOn / off: peak RSS **%.2f×** (whole process; %.2f× above the %.0f MiB of a 1 × 64-token run: weights, LoRA, AdamW, runtime), "+
		"step time **%.2f×**.\n", r.RSSRatio, r.ActRatio, r.FixedRSSMiB, r.TimeRatio)
	return b.String()
}
