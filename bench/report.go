package main

import (
	"fmt"
	"strings"

	"github.com/sentitune/sentitune/predict"
)

// renderMarkdown is the human table of a run (cpu-<date>.md).
func renderMarkdown(r *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mdHeader(w, r)
	mdHeadlines(w, r)
	mdGEMM(w, r)
	mdTraining(w, r)
	mdPrediction(w, r)
	mdRest(w, r)
	return b.String()
}

// mdHeader writes the command, machine, engine and load the numbers come from.
func mdHeader(w func(string, ...any), r *Results) {
	w("# sentitune CPU benchmark — %s\n\n", r.Date[:10])
	if r.Quick {
		w("> **Quick run** (`-quick`): harness smoke test with toy sizes; not numbers to quote.\n\n")
	}
	w("- Command: `%s` (%.0f s wall)\n", r.Command, r.WallSeconds)
	w("- Machine: %s (%s), %d cores, %.1f GiB RAM, Linux %s\n", r.Machine.CPU, r.Machine.CPUID, r.Machine.Cores, r.Machine.RAMGiB, r.Machine.Kernel)
	w("- libtorch %s via `%s`; PyTorch reference: %s %s\n", r.Engine.Libtorch, r.Engine.Shim, r.Engine.Python, r.Engine.PythonTorch)
	w("- BLAS: `%s` — %s\n", r.Engine.BLAS, r.Engine.BLASNote)
	w("- Threads: %d on both sides for every measurement (libtorch defaults here: Go %d, Python %d)\n",
		r.Engine.Threads, r.Engine.DefaultThreadsGo, r.Engine.DefaultThreadsPython)
	var loads []string
	for _, l := range r.Load {
		loads = append(loads, fmt.Sprintf("%s %.2f", l.After, l.Load1))
	}
	w("- Load average (1 min) at each stage — other engineers' builds share the machine: %s\n", strings.Join(loads, ", "))
	w("- Every number is a median over repeats (warm-up excluded), each measurement in a fresh process; peak RSS is that process's `ru_maxrss`.\n\n")
}

// mdHeadlines writes one row per goal.
func mdHeadlines(w func(string, ...any), r *Results) {
	w("## Headlines\n\n| what | goal | measured |\n|---|---|---|\n")
	for _, t := range r.Training {
		w("| training %s %d×%d, sentitune / PyTorch tokens/s | ≥ 1.0 | **%s** (%s vs %s tok/s; best steps %s) |\n", t.Preset, t.Batch, t.Seq,
			fx(t.Ratio, 2), fnum(t.Sentitune.TokensPerS), fnum(t.PyTorch.TokensPerS), fx(t.RatioBest, 2))
		w("| training %s MFU, sentitune (PyTorch) | reported | %s (%s) |\n", t.Preset, pct(t.Sentitune.MFU), pct(t.PyTorch.MFU))
		w("| training %s answer-only vs full-logits, sentitune | reported | ×%s tokens/s, peak RSS ×%s |\n", t.Preset,
			fx(t.AnswerOnlySpeedup, 2), fx(t.AnswerOnlyRSS, 2))
	}
	if p := r.Prediction; p != nil {
		if s := p.Rate; s != nil {
			w("| scoring token rate / bare forward (%s, %d IMDB-like rows) | ≥ 0.90 | **%s** (%s vs %s tok/s) |\n", s.Preset, s.Rows,
				fx(s.ScoreOverBare, 2), fnum(s.Score.TokensPerS), fnum(s.Bare.TokensPerS))
		}
		if s := p.Generate; s != nil {
			w("| scoring / `--generate %d` rows/s (%s, %d rows) | > 1 | **×%s** (%s vs %s rows/s) |\n", s.GenerateMaxNew, s.Preset, s.Rows,
				fx(s.ScoreOverGenerate, 2), fnum(s.Score.RowsPerS), fnum(s.Generate.RowsPerS))
		}
		if f := p.Fixed; f != nil {
			w("| scoring forward %d×%d, sentitune / PyTorch tokens/s | ≥ 1.0 | **%s** (%s vs %s tok/s; best steps %s) |\n", f.Batch, f.Seq,
				fx(f.Ratio, 2), fnum(f.Sentitune.TokensPerS), fnum(f.PyTorch.TokensPerS), fx(f.RatioBest, 2))
		}
		if f := p.Files; f != nil && len(f.Runs) >= 2 {
			small, large := f.Runs[len(f.Runs)-2], f.Runs[len(f.Runs)-1]
			w("| padding fraction, predict over %d IMDB-like rows | ≤ 5 %% | **%s** |\n", large.Rows, pct(large.PaddingFraction))
			w("| peak RSS scoring %d rows / %d rows | flat (≈ 1) | **%s** (%s vs %s MiB) |\n", large.Rows, small.Rows,
				fx(f.RSSRatio, 2), fnum(large.PeakRSSMiB), fnum(small.PeakRSSMiB))
		}
	}
	if t := r.Tokenizer; t != nil {
		w("| tokenizer, %.0f MB of reviews | reported | %s tokens/s (%.1f MB/s) |\n", float64(t.Bytes)/1e6, fnum(t.TokensPerS), t.MBPerS)
	}
	if p := r.Prep; p != nil {
		w("| prep, %d rows of ~1 KB | %s | %.1f s, %s rows/s, peak %s MiB |\n", p.Rows, p.Goal, median(p.Seconds), fnum(p.RowsPerS), fnum(median(p.PeakRSSMiB)))
	}
	if s := r.ScaleOut; s != nil {
		w("| scale-out 1 → 2 processes | reported | %s |\n", scaleSummary(s))
	}
	w("\n")
}

// mdGEMM writes the GEMM peak that MFU is measured against.
func mdGEMM(w func(string, ...any), r *Results) {
	if g := r.GEMM; g != nil {
		w("## Engine: fp32 GEMM peak\n\n%s.\n\n| N | threads | best GFLOP/s | median GFLOP/s |\n|---|---|---|---|\n", g.Note)
		for _, p := range g.Points {
			w("| %d | %d | %.1f | %.1f |\n", p.N, p.Threads, p.BestGFLOPS, p.MedianGFLOPS)
		}
		w("\n**Peak: %.1f GFLOP/s at %d threads** (%.1f at 1 thread) — the MFU denominator below.\n\n", g.PeakGFLOPS, r.Engine.Threads, g.Peak1ThreadGFLOPS)
	}
}

// mdTraining writes the LoRA train step, sentitune vs PyTorch.
func mdTraining(w func(string, ...any), r *Results) {
	if len(r.Training) > 0 {
		w("## Training: LoRA train step, sentitune vs PyTorch eager\n\n")
		w("Same model folder (random weights, `init-model` preset), batch, sequence length, LoRA rank 8 (alpha 16, dropout 0) on all seven linears, " +
			"loss on the last two positions (label + end of turn), AdamW lr 1e-4, clip 1.0, fp32. sentitune: `finetune.Train`'s own loop, each step " +
			"timed by its training log; PyTorch: `bench/torch_ref.py train`.\n\n")
		for _, t := range r.Training {
			w("### %s (%d layers, hidden %d, %.2f M decoder linear params, vocab %d), batch %d × %d tokens\n\n",
				t.Preset, t.Model.Layers, t.Model.Hidden, float64(t.Model.LinearParams)/1e6, t.Model.Vocab, t.Batch, t.Seq)
			w("Model FLOPs per step: %.2f GFLOP. Answer-only: %d alternating rounds per side of %d timed steps after %d warm-up; full logits: one round.\n\n",
				t.FLOPsPerStep/1e9, t.Rounds, t.Steps, t.Warmup)
			w("| run | tokens/s | median step (s) | best step (s) | steps | MFU | peak RSS (MiB) | threads | final loss |\n|---|---|---|---|---|---|---|---|---|\n")
			for _, row := range []struct {
				name string
				m    Measure
			}{{"sentitune, answer-only logits", t.Sentitune}, {"PyTorch, answer-only logits", t.PyTorch},
				{"sentitune, full T×V logits", t.SentituneFull}, {"PyTorch, full T×V logits", t.PyTorchFull}} {
				w("| %s | %s |\n", row.name, measureCells(row.m, true))
			}
			w("\nRatios: sentitune/PyTorch **%s** on median steps (%s on best steps) with answer-only logits, %s with full logits; "+
				"sentitune answer-only over full-logits ×%s tokens/s, peak RSS ×%s.\n\n",
				fx(t.Ratio, 2), fx(t.RatioBest, 2), fx(t.RatioFull, 2), fx(t.AnswerOnlySpeedup, 2), fx(t.AnswerOnlyRSS, 2))
		}
		w("MFU = model FLOPs / step time / GEMM peak; model FLOPs %s.\n\n", trainFLOPsFormula)
		w("These are the nominal FLOPs of the task, the same for both sides. sentitune does less than that: its last layer runs " +
			"queries, attention output, o_proj and MLP at the answer positions only (llm.Model.HiddenAt), so its MFU can exceed " +
			"what the hardware itself executes; the time ratio is the comparison that counts.\n\n")
	}
}

// mdPrediction writes scoring: rate, generate, fixed forward and whole files.
func mdPrediction(w func(string, ...any), r *Results) {
	if p := r.Prediction; p != nil {
		w("## Prediction\n\nReview lengths: %s.\n\n", p.LengthSpread)
		table := func(s *ScoringRate) {
			w("| run | rows/s | prompt tokens/s | median (s) | MFU |\n|---|---|---|---|---|\n")
			for _, m := range []*Measure{&s.Score, s.Bare, s.Generate} {
				if m == nil {
					continue
				}
				tps := "—"
				if m.TokensPerS > 0 {
					tps = fnum(m.TokensPerS)
				}
				w("| %s | %s | %s | %.3f | %s |\n", m.What, fnum(m.RowsPerS), tps, m.Median, pct(m.MFU))
			}
		}
		if s := p.Rate; s != nil {
			w("### Label scoring vs a bare forward (%s model, %d %s; batch %d, %d real tokens, padding %s)\n\n",
				s.Preset, s.Rows, s.RowsFrom, s.Batch, s.RealTokens, pct(s.PaddingFraction))
			table(s)
			w("\nScoring token rate / bare forward over the same batches: **%s** (goal ≥ 0.90). The difference is everything predict adds "+
				"around the decoder: reading and cleaning the file, tokenizing, sorting, the lm_head at one position per row, writing.\n\n",
				fx(s.ScoreOverBare, 2))
		}
		if s := p.Generate; s != nil {
			w("### Label scoring vs `--generate %d` (%s model, the same %d rows)\n\n", s.GenerateMaxNew, s.Preset, s.Rows)
			table(s)
			w("\nScoring / generate rows/s: **×%s**. `--generate %d` is the best case for generation (a tuned model answers `1<|im_end|>` "+
				"and stops); predict's generate mode has no KV cache, so each further token costs one more full forward, and a random "+
				"model never stops early (%d of %d rows had no 0/1 in the answer).\n\n", fx(s.ScoreOverGenerate, 2), s.GenerateMaxNew,
				s.GenerateNoAnswer, s.Rows)
		}
		if f := p.Fixed; f != nil {
			w("### Scoring forward on one %d × %d batch of random ids (%s model), sentitune vs PyTorch\n\n", f.Batch, f.Seq, f.Preset)
			w("%d alternating rounds per side, steps pooled.\n\n", f.Rounds)
			w("| run | tokens/s | rows/s | median (s) | best (s) | steps | MFU | peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|\n")
			for _, m := range []Measure{f.Sentitune, f.Bare, f.PyTorch} {
				if m.Error != "" && len(m.Seconds) == 0 {
					w("| %s | error: %s | | | | | | |\n", m.Impl, oneLine(m.Error))
					continue
				}
				w("| %s: %s | %s | %s | %.4f | %.4f | %d | %s | %s |\n", m.Impl, m.What, fnum(m.TokensPerS), fnum(m.RowsPerS), m.Median, m.Best,
					len(m.Seconds), pct(m.MFU), rss(m.PeakRSSMiB))
			}
			w("\nsentitune/PyTorch: **%s** on median steps, %s on best steps.\n\n", fx(f.Ratio, 2), fx(f.RatioBest, 2))
		}
		if f := p.Files; f != nil {
			w("### Whole files through `predict.Run` (%s model, windows of %d rows sorted by length, batch 16)\n\n%s.\n\n", f.Preset, predict.DefaultWindow, f.Model)
			w("| rows | texts | input (MiB) | rows/s | tokens/s | padding | batches | peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|\n")
			for _, x := range f.Runs {
				if x.Error != "" {
					w("| %d | %s | error: %s | | | | | |\n", x.Rows, x.Kind, oneLine(x.Error))
					continue
				}
				w("| %d | %s | %.1f | %s | %s | %s | %d | %s |\n", x.Rows, x.Kind, x.InputMiB, fnum(x.RowsPerS), fnum(x.TokensPerS),
					pct(x.PaddingFraction), x.Batches, rss(x.PeakRSSMiB))
			}
			w("\nPeak RSS large/small: **%s** (flat ≈ 1).\n\n", fx(f.RSSRatio, 2))
		}
		w("Scoring MFU uses model FLOPs %s. sentitune's last layer computes queries and outputs at the last token only "+
			"(keys and values everywhere), which a bare forward and PyTorch do at every position.\n\n", scoreFLOPsFormula)
	}
}

// mdRest writes tokenizer, prep, scale-out and errors.
func mdRest(w func(string, ...any), r *Results) {
	if t := r.Tokenizer; t != nil {
		w("## Tokenizer\n\n%s.\n\n| bytes | tokens | tokens/s | MB/s | first pass (s) | load (s) |\n|---|---|---|---|---|---|\n", t.Corpus)
		w("| %d | %d | %s | %.1f | %.2f | %.2f |\n\n", t.Bytes, t.Tokens, fnum(t.TokensPerS), t.MBPerS, t.FirstPassS, t.LoadS)
	}
	if p := r.Prep; p != nil {
		w("## prep\n\n%s. Goal %s.\n\n| rows | input (MiB) | seconds (runs) | rows/s | peak RSS (MiB, runs) |\n|---|---|---|---|---|\n", p.Options, p.Goal)
		w("| %d | %.1f | %s | %s | %s |\n\n", p.Rows, p.InputMiB, floats(p.Seconds, 2), fnum(p.RowsPerS), floats(p.PeakRSSMiB, 0))
	}
	if s := r.ScaleOut; s != nil {
		w("## Scale-out (data-parallel training, issue 8)\n\n**%s**", s.Status)
		if s.Reason != "" {
			w(": %s", s.Reason)
		}
		w(".\n\n")
		if len(s.Runs) > 0 {
			w("| processes | threads each | tokens/s | tokens per step (logged) | |\n|---|---|---|---|---|\n")
			for _, x := range s.Runs {
				w("| %d | %d | %s | %d | %s |\n", x.Procs, x.Threads, fnum(x.TokensPerS), x.TokensPerStep, oneLine(x.Error))
			}
			w("\nTwo cores shared with other builds: expect little gain from a second process; the point on this machine is that " +
				"data parallelism runs and costs little, not that it scales.\n\n")
		}
		w("Model for N GPUs: %s\n\n", s.Model)
	}
	if len(r.Errors) > 0 {
		w("## Errors\n\n")
		for _, e := range r.Errors {
			w("- %s\n", oneLine(e))
		}
	}
}

func measureCells(m Measure, loss bool) string {
	if m.Error != "" && len(m.Seconds) == 0 {
		return "error: " + oneLine(m.Error) + " | | | | | | |" + map[bool]string{true: " |", false: ""}[loss]
	}
	s := fmt.Sprintf("%s | %.4f | %.4f | %d | %s | %s | %d", fnum(m.TokensPerS), m.Median, m.Best, len(m.Seconds), pct(m.MFU), rss(m.PeakRSSMiB), m.Threads)
	if loss {
		s += fmt.Sprintf(" | %.4f", m.FinalLoss)
	}
	return s
}

func scaleSummary(s *ScaleOutResult) string {
	if s.Status != "measured" {
		return "not measured yet (" + s.Reason + ")"
	}
	var parts []string
	for _, x := range s.Runs {
		if x.Error != "" {
			parts = append(parts, fmt.Sprintf("%d proc × %d threads: error", x.Procs, x.Threads))
		} else {
			parts = append(parts, fmt.Sprintf("%d proc × %d threads: %s tok/s", x.Procs, x.Threads, fnum(x.TokensPerS)))
		}
	}
	return strings.Join(parts, "; ")
}

// fnum prints a rate with 3–4 significant digits and thousands separators.
func fnum(x float64) string {
	switch {
	case x == 0:
		return "—"
	case x >= 1000:
		s := fmt.Sprintf("%.0f", x)
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		return string(out)
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

func fx(x float64, d int) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.*f", d, x)
}

func pct(x float64) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", 100*x)
}

func rss(x float64) string {
	if x == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", x)
}

func floats(xs []float64, d int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.*f", d, x)
	}
	return strings.Join(parts, ", ")
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
