package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
)

// trainSpec is one sentitune training measurement.
type trainSpec struct {
	Model      string `json:"model"`
	Batch      int    `json:"batch"`
	Seq        int    `json:"seq"`
	Warmup     int    `json:"warmup"`
	Steps      int    `json:"steps"`
	Rank       int    `json:"rank"`
	Threads    int    `json:"threads"`
	FullLogits bool   `json:"full_logits"`
	// GradientCheckpointing runs with --gradient-checkpointing on (else off).
	GradientCheckpointing bool `json:"gradient_checkpointing,omitempty"`
	QuantizationBit       int  `json:"quantization_bit,omitempty"` // --quantization-bit (0: none)
}

type trainOut struct {
	StepSeconds    []float64 `json:"step_s"` // measured steps (warm-up dropped)
	TokensPerStep  int       `json:"tokens_per_step"`
	FinalLoss      float64   `json:"final_loss"`
	Threads        int       `json:"threads"`
	DefaultThreads int       `json:"default_threads"`
	VmHWMMiB       float64   `json:"vmhwm_mib"`
}

// childTrain runs finetune.Train — sentitune's own training loop — for
// warmup+steps optimizer steps on rows that all encode to exactly Seq tokens
// (long reviews cut by the prompt builder; the answer "0"/"1" + end of turn
// is the last two tokens, so the loss sits on the last two positions as in
// torch_ref.py), and reads each step's time from the loop's own log.
func childTrain(raw []byte) (any, error) {
	var sp trainSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	def, err := setThreads(sp.Threads)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-train-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	n := (sp.Warmup + sp.Steps) * sp.Batch
	texts, labels, err := longReviews(n, 3*sp.Seq, 11)
	if err != nil {
		return nil, err
	}
	recs := make([]task.Record, n)
	for i := range recs {
		recs[i] = task.Record{Instruction: task.DefaultInstruction("en"), Input: texts[i], Output: strconv.Itoa(labels[i])}
	}
	js, err := json.Marshal(recs)
	if err != nil {
		return nil, err
	}
	trainFile := filepath.Join(dir, "train.json")
	if err := os.WriteFile(trainFile, js, 0o644); err != nil {
		return nil, err
	}

	cfg := trainConfig(sp, trainFile, filepath.Join(dir, "run"))
	res, err := finetune.Train(cfg, nil)
	if err != nil {
		return nil, err
	}
	out := trainOut{TokensPerStep: sp.Batch * sp.Seq, FinalLoss: res.FinalLoss, DefaultThreads: def, VmHWMMiB: vmHWM()}
	out.Threads, _ = setThreads(0)
	step := 0
	for _, l := range res.Log {
		if l.Split != "train" {
			continue
		}
		step++
		if l.Tokens != sp.Batch*sp.Seq {
			return nil, fmt.Errorf("step %d trained %d tokens, want %d×%d: the rows are not all %d tokens long",
				l.Step, l.Tokens, sp.Batch, sp.Seq, sp.Seq)
		}
		if step > sp.Warmup && l.TokensPerS > 0 {
			out.StepSeconds = append(out.StepSeconds, float64(l.Tokens)/l.TokensPerS)
		}
	}
	if len(out.StepSeconds) != sp.Steps {
		return nil, fmt.Errorf("the training log has %d timed steps after warm-up, want %d", len(out.StepSeconds), sp.Steps)
	}
	return out, nil
}

// torchRefTrain is torch_ref.py train's output line.
type torchRefTrain struct {
	Threads    int       `json:"threads"`
	StepMedian float64   `json:"step_s_median"`
	Steps      []float64 `json:"step_s"`
	TokensPerS float64   `json:"tokens_per_s"`
	FinalLoss  float64   `json:"final_loss"`
}

// trainPlan is the size of one preset's comparison.
type trainPlan struct {
	preset                string
	batch, seq            int
	rounds                int // answer-only: sentitune and PyTorch alternate this many times
	warmup, steps         int // per round
	fullWarmup, fullSteps int // full logits: one round
}

func benchTrain(o options, models map[string]string, res *Results) error {
	plans := []trainPlan{
		{preset: "tiny", batch: 8, seq: 128, rounds: 4, warmup: 2, steps: 6, fullWarmup: 1, fullSteps: 3},
		{preset: "small", batch: 8, seq: 128, rounds: 4, warmup: 1, steps: 4, fullWarmup: 1, fullSteps: 3},
	}
	if o.quick {
		plans = []trainPlan{{preset: "tiny", batch: 4, seq: 64, rounds: 2, warmup: 1, steps: 3, fullWarmup: 1, fullSteps: 3}}
	}
	const rank = 8
	var firstErr error
	for _, p := range plans {
		cfg, err := llm.LoadConfig(models[p.preset])
		if err != nil {
			return err
		}
		tr := TrainResult{Preset: p.preset, Model: shapeOf(cfg, rank), Batch: p.batch, Seq: p.seq, Rank: rank,
			Targets: "all (q,k,v,o,gate,up,down)", LossPositions: "last two (label + end of turn)",
			Rounds: p.rounds, Steps: p.steps, Warmup: p.warmup, FLOPsFormula: trainFLOPsFormula}
		tr.FLOPsPerStep = trainFLOPs(tr.Model, p.batch, p.seq, 2)
		peak := 0.0
		if res.GEMM != nil {
			peak = res.GEMM.PeakGFLOPS
		}
		tokens := float64(p.batch * p.seq)
		finish := func(m *Measure) {
			if len(m.Seconds) == 0 {
				return
			}
			m.Median, m.Best = median(m.Seconds), minimum(m.Seconds)
			m.TokensPerS = tokens / m.Median
			m.MFU = mfu(tr.FLOPsPerStep, m.Median, peak)
		}
		// measure alternates sentitune and PyTorch rounds on the same model folder, batch,
		// length and rank, pooling their steps, so that load from other processes falls on both.
		measure := func(full bool) (Measure, Measure) {
			rounds, warm, steps := p.rounds, p.warmup, p.steps
			if full {
				rounds, warm, steps = 1, p.fullWarmup, p.fullSteps
			}
			sm := Measure{Impl: "sentitune", What: "finetune.Train step (forward, backward, clip, AdamW, log)"}
			pm := Measure{Impl: "pytorch-eager", What: "torch_ref.py train step (forward, backward, clip, AdamW)"}
			for range rounds {
				var so trainOut
				cr, err := runChild("train", trainSpec{Model: models[p.preset], Batch: p.batch, Seq: p.seq, Warmup: warm,
					Steps: steps, Rank: rank, Threads: o.threads, FullLogits: full}, &so)
				if err != nil {
					sm.Error = err.Error()
					firstErr = cmpErr(firstErr, err)
				} else {
					sm.Seconds = append(sm.Seconds, so.StepSeconds...)
					sm.Threads, sm.FinalLoss = so.Threads, so.FinalLoss
					sm.PeakRSSMiB = max(sm.PeakRSSMiB, cr.PeakRSSMiB)
				}
				args := []string{"train", "--model", models[p.preset], "--batch", strconv.Itoa(p.batch), "--seq", strconv.Itoa(p.seq),
					"--steps", strconv.Itoa(steps), "--warmup", strconv.Itoa(warm), "--rank", strconv.Itoa(rank),
					"--threads", strconv.Itoa(o.threads)}
				if full {
					args = append(args, "--full-logits")
				}
				var po torchRefTrain
				cr, err = runTorchRef(o, &po, args...)
				if err != nil {
					pm.Error = err.Error()
					firstErr = cmpErr(firstErr, err)
				} else {
					pm.Seconds = append(pm.Seconds, po.Steps...)
					pm.Threads, pm.FinalLoss = po.Threads, po.FinalLoss
					pm.PeakRSSMiB = max(pm.PeakRSSMiB, cr.PeakRSSMiB)
				}
			}
			finish(&sm)
			finish(&pm)
			return sm, pm
		}
		logf("bench: train %s answer-only logits (%d rounds)", p.preset, p.rounds)
		tr.Sentitune, tr.PyTorch = measure(false)
		logf("bench: train %s full logits", p.preset)
		tr.SentituneFull, tr.PyTorchFull = measure(true)
		tr.Ratio = ratio(tr.Sentitune.TokensPerS, tr.PyTorch.TokensPerS)
		tr.RatioBest = ratio(tr.PyTorch.Best, tr.Sentitune.Best)
		tr.RatioFull = ratio(tr.SentituneFull.TokensPerS, tr.PyTorchFull.TokensPerS)
		tr.AnswerOnlySpeedup = ratio(tr.Sentitune.TokensPerS, tr.SentituneFull.TokensPerS)
		tr.AnswerOnlyRSS = ratio(tr.Sentitune.PeakRSSMiB, tr.SentituneFull.PeakRSSMiB)
		logf("bench: train %s: sentitune %.0f tok/s, pytorch %.0f tok/s (×%.2f, best-step ×%.2f); full logits %.0f vs %.0f",
			p.preset, tr.Sentitune.TokensPerS, tr.PyTorch.TokensPerS, tr.Ratio, tr.RatioBest, tr.SentituneFull.TokensPerS, tr.PyTorchFull.TokensPerS)
		res.Training = append(res.Training, tr)
	}
	return firstErr
}

func minimum(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := xs[0]
	for _, x := range xs[1:] {
		m = min(m, x)
	}
	return m
}

func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// trainConfig is childTrain's finetune.Config for sp (also what bench -memplan plans).
func trainConfig(sp trainSpec, trainFile, out string) finetune.Config {
	cfg := finetune.Defaults()
	cfg.Model, cfg.TrainFile, cfg.Out = sp.Model, trainFile, out
	cfg.LoRAR, cfg.LoRAAlpha, cfg.LoRADropout = sp.Rank, 2*float64(sp.Rank), 0 // torch_ref: alpha 2r, no dropout
	cfg.LoRATarget = finetune.List{"all"}
	cfg.MaxSteps = sp.Warmup + sp.Steps
	cfg.LR, cfg.Scheduler, cfg.WarmupRatio, cfg.WeightDecay, cfg.MaxGradNorm = 1e-4, "constant", 0, 0, 1
	cfg.BatchSize, cfg.GradAccum, cfg.MaxLen = sp.Batch, 1, sp.Seq
	cfg.Device, cfg.DType, cfg.Threads, cfg.Seed = "cpu", "f32", sp.Threads, 0
	cfg.FullLogits = sp.FullLogits
	cfg.ValRatio = 0 // every row trains: a held-out slice would leave a short last batch
	cfg.GradientCheckpointing = "off"
	if sp.GradientCheckpointing {
		cfg.GradientCheckpointing = "on"
	}
	cfg.QuantizationBit = sp.QuantizationBit
	return cfg
}
