package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/prep"
)

// initModelSpec: llm.InitRandomModel in a child, so the parent never holds the weights.
type initModelSpec struct {
	Dir    string `json:"dir"`
	Preset string `json:"preset"`
	Seed   uint64 `json:"seed"`
}

func childInitModel(raw []byte) (any, error) {
	var sp initModelSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	if sp.Preset == "micro" {
		return map[string]string{"dir": sp.Dir}, writeMicroModel(sp.Dir, sp.Seed)
	}
	return map[string]string{"dir": sp.Dir}, llm.InitRandomModel(sp.Dir, sp.Preset, sp.Seed, "f32")
}

// writeMicroModel writes a one-layer, hidden-16, one-head Qwen2 shape with the real
// Qwen tokenizer: the whole-file scoring runs measure padding and memory over
// tens of thousands of IMDB-length rows, which depend on the tokenizer and
// predict's windowing, not on the model's size — and a bigger model would
// take most of the bench's time budget on these 2 cores.
func writeMicroModel(dir string, seed uint64) error {
	cfg, err := llm.PresetConfig("tiny")
	if err != nil {
		return err
	}
	cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.NumKeyValueHeads, cfg.IntermediateSize = 1, 16, 1, 1, 64
	cfg.HeadDim = cfg.HiddenSize / cfg.NumAttentionHeads
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := llm.WriteRandomModel(dir, cfg, llm.RandomInit{Seed: seed, DType: "F32"}); err != nil {
		return err
	}
	files, err := tokenizer.BundledFiles()
	if err != nil {
		return err
	}
	for name, b := range files {
		if name != filepath.Base(name) {
			return fmt.Errorf("bundled tokenizer file has a bad name %q", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// makeModels writes the tiny and small random-weight model folders into the scratch dir.
func makeModels(o options) (map[string]string, error) {
	models := map[string]string{}
	for _, preset := range []string{"tiny", "small", "micro"} { // not 0.5b: 2 GB, for op counts only
		dir := filepath.Join(o.work, "model-"+preset)
		var out map[string]string
		if _, err := runChild("init-model", initModelSpec{Dir: dir, Preset: preset, Seed: 1}, &out); err != nil {
			return nil, fmt.Errorf("init-model %s: %w", preset, err)
		}
		models[preset] = dir
	}
	return models, nil
}

func benchGEMM(o options, res *Results) error {
	sp := gemmSpec{Sizes: []int{512, 1024, 2048}, Threads: []int{o.threads}, Repeats: 5}
	for _, t := range []int{1, runtime.NumCPU()} {
		if !slices.Contains(sp.Threads, t) {
			sp.Threads = append(sp.Threads, t)
		}
	}
	if o.quick {
		sp.Sizes, sp.Repeats = []int{256, 512}, 3
	}
	var out gemmOut
	if _, err := runChild("gemm", sp, &out); err != nil {
		return err
	}
	g := &GEMMResult{Points: out.Points, Note: "fp32 N×N×N matmul through the shim (torch::matmul → BLAS sgemm), " +
		"best of repeats; the peak at the bench's thread count is the MFU denominator"}
	for _, p := range out.Points {
		if p.Threads == o.threads {
			g.PeakGFLOPS = max(g.PeakGFLOPS, p.BestGFLOPS)
		}
		if p.Threads == 1 {
			g.Peak1ThreadGFLOPS = max(g.Peak1ThreadGFLOPS, p.BestGFLOPS)
		}
	}
	res.GEMM = g
	logf("bench: GEMM peak %.1f GFLOP/s at %d threads (%.1f at 1)", g.PeakGFLOPS, o.threads, g.Peak1ThreadGFLOPS)
	return nil
}

// tokenizeSpec: encode ~Bytes of review text Repeats times with one tokenizer.
type tokenizeSpec struct {
	Model   string `json:"model"`
	Bytes   int    `json:"bytes"`
	Repeats int    `json:"repeats"`
}

type tokenizeOut struct {
	Bytes   int       `json:"bytes"`
	Tokens  int       `json:"tokens"`
	Seconds []float64 `json:"seconds"`
	LoadS   float64   `json:"load_s"`
}

func childTokenize(raw []byte) (any, error) {
	var sp tokenizeSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	reviews, size, err := reviewCorpus(sp.Bytes, 3)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	tok, err := tokenizer.Load(sp.Model)
	if err != nil {
		return nil, err
	}
	out := tokenizeOut{Bytes: size, LoadS: time.Since(t0).Seconds()}
	for r := range sp.Repeats {
		n := 0
		t0 := time.Now()
		for _, s := range reviews {
			ids, err := tok.Encode(s)
			if err != nil {
				return nil, err
			}
			n += len(ids)
		}
		out.Seconds = append(out.Seconds, time.Since(t0).Seconds())
		if r == 0 {
			out.Tokens = n
		} else if n != out.Tokens {
			return nil, fmt.Errorf("pass %d gave %d tokens, pass 1 gave %d", r+1, n, out.Tokens)
		}
	}
	return out, nil
}

func benchTokenizer(o options, models map[string]string, res *Results) error {
	sp := tokenizeSpec{Model: models["tiny"], Bytes: 10 << 20, Repeats: 3}
	if o.quick {
		sp.Bytes = 1 << 20
	}
	var out tokenizeOut
	if _, err := runChild("tokenize", sp, &out); err != nil {
		return err
	}
	m := median(out.Seconds)
	res.Tokenizer = &TokenizerResult{
		Corpus: "reviews of 1–5 bundled Amazon sentences (real review text), one Encode call per review, one goroutine; " +
			"median of passes with the same tokenizer (its word cache warms during the first pass)",
		Bytes: out.Bytes, Tokens: out.Tokens, Seconds: out.Seconds, TokensPerS: float64(out.Tokens) / m,
		MBPerS: float64(out.Bytes) / 1e6 / m, FirstPassS: out.Seconds[0], LoadS: out.LoadS,
	}
	logf("bench: tokenizer %.2f M tokens/s (%.1f MB/s)", res.Tokenizer.TokensPerS/1e6, res.Tokenizer.MBPerS)
	return nil
}

// prepSpec: one prep.Run.
type prepSpec struct {
	Input string `json:"input"`
	Out   string `json:"out"`
}

type prepOut struct {
	Rows     int     `json:"rows"`
	Seconds  float64 `json:"seconds"`
	VmHWMMiB float64 `json:"vmhwm_mib"`
}

func childPrep(raw []byte) (any, error) {
	var sp prepSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	t0 := time.Now()
	st, err := prep.Run(prep.Config{Input: sp.Input, Out: sp.Out, TestRatio: 0.1, Seed: 42, Dedup: true})
	if err != nil {
		return nil, err
	}
	return prepOut{Rows: st.Rows.Kept, Seconds: time.Since(t0).Seconds(), VmHWMMiB: vmHWM()}, nil
}

func benchPrep(o options, res *Results) error {
	rows, repeats := 50000, 3
	if o.quick {
		rows = 5000
	}
	in := filepath.Join(o.work, "prep-reviews.csv")
	f, err := os.Create(in)
	if err != nil {
		return err
	}
	if err := prep.GenerateSyntheticReviews(f, rows, 1); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fi, err := os.Stat(in)
	if err != nil {
		return err
	}
	pr := &PrepResult{Rows: rows, InputMiB: float64(fi.Size()) / (1 << 20),
		Options: "prep.Run: CSV, --test-ratio 0.1 --seed 42 --dedup (prep.GenerateSyntheticReviews, ~1 KB each: quotes, " +
			"newlines, <br />, entities, some Chinese)", Goal: "≤ 10 s and ≤ 500 MB"}
	for r := range repeats {
		var out prepOut
		cr, err := runChild("prep", prepSpec{Input: in, Out: filepath.Join(o.work, fmt.Sprintf("prep-out-%d", r))}, &out)
		if err != nil {
			return err
		}
		if out.Rows != rows {
			return fmt.Errorf("prep kept %d of %d rows", out.Rows, rows)
		}
		pr.Seconds = append(pr.Seconds, out.Seconds)
		pr.PeakRSSMiB = append(pr.PeakRSSMiB, cr.PeakRSSMiB)
	}
	pr.RowsPerS = float64(rows) / median(pr.Seconds)
	res.Prep = pr
	logf("bench: prep %.0f rows/s, peak RSS %.0f MiB", pr.RowsPerS, median(pr.PeakRSSMiB))
	return nil
}
