package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/predict"
)

var fileKinds = map[string]string{
	"imdb":  "IMDB-like lengths",
	"short": "single Amazon sentences",
}

const microNote = "micro = 1 layer, hidden 16, 1 head, the real Qwen tokenizer and vocabulary: padding and memory over tens of " +
	"thousands of rows depend on the tokenizer and predict's windows, not on the model's size, and the bigger presets would " +
	"spend most of the bench's time budget here"

const lengthSpread = "IMDB-like: words per review ~ log-normal with median 174 and mean 234 (σ ≈ 0.77), clipped to " +
	"[10, 2500], built from the bundled Amazon sentences; prompts cut at max-len 512 as predict does by default"

const midWindow = "rows from the middle of a %d-row IMDB-like window ordered by length (as predict orders a window): " +
	"typical consecutive batches of a real run"

// predictRateSpec: label scoring vs a bare forward and/or --generate on the same rows.
type predictRateSpec struct {
	Model   string `json:"model"`
	Rows    int    `json:"rows"`
	Batch   int    `json:"batch"`
	Repeats int    `json:"repeats"`
	Bare    bool   `json:"bare"`
	MaxNew  int    `json:"max_new"` // > 0: also predict.Run --generate MaxNew
	Threads int    `json:"threads"`
}

type predictRateOut struct {
	Lengths       []int     `json:"lengths"` // real prompt tokens per row
	RealTokens    int64     `json:"real_tokens"`
	Padding       int64     `json:"padding"`
	MaxLen        int       `json:"max_len"`
	ScoreS        []float64 `json:"score_s"`
	BareS         []float64 `json:"bare_s,omitempty"`
	GenerateS     []float64 `json:"generate_s,omitempty"`
	GenerateNoAns int       `json:"generate_no_answer"`
	Threads       int       `json:"threads"`
}

// childPredictRate times, interleaved per repeat so that load from other
// processes hits each alike: predict.Run (read, clean, tokenize, sort,
// batch, score, write); Model.HiddenAt (every position) alone over exactly the batches the
// scorer forms; predict.Run with --generate.
func childPredictRate(raw []byte) (any, error) {
	var sp predictRateSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	if _, err := setThreads(sp.Threads); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-predict-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	texts, labels, err := midWindowReviews(sp.Rows, predict.DefaultWindow, 42)
	if err != nil {
		return nil, err
	}
	in := filepath.Join(dir, "reviews.csv")
	f, err := os.Create(in)
	if err != nil {
		return nil, err
	}
	if err := writeReviewsCSV(f, texts, labels); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	scfg := predict.ScorerConfig{ModelDir: sp.Model, Device: "cpu", DType: "f32", BatchSize: sp.Batch, Threads: sp.Threads}

	// The batches the scorer forms: its encoding, sorted by length (stable), cut every Batch rows.
	sc, err := predict.NewScorer(scfg)
	if err != nil {
		return nil, err
	}
	ids := make([][]int, len(texts))
	for i, t := range texts {
		if ids[i], err = sc.Encode(t); err != nil {
			sc.Close()
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	out := predictRateOut{MaxLen: sc.Info().MaxLen}
	sc.Close()
	sort.SliceStable(ids, func(a, b int) bool { return len(ids[a]) < len(ids[b]) })
	var batches [][][]int
	for lo := 0; lo < len(ids); lo += sp.Batch {
		b := ids[lo:min(lo+sp.Batch, len(ids))]
		batches = append(batches, b)
		T := 0
		for _, r := range b {
			T = max(T, len(r))
			out.Lengths = append(out.Lengths, len(r))
			out.RealTokens += int64(len(r))
		}
		for _, r := range b {
			out.Padding += int64(T - len(r))
		}
	}
	var model *llm.Model
	if sp.Bare {
		if model, err = llm.LoadModel(sp.Model, llm.LoadOptions{Device: torch.CPU, DType: torch.Float32, ExplicitDType: true}); err != nil {
			return nil, err
		}
		defer model.Close()
	}
	bare := func() (float64, error) {
		t0 := time.Now()
		err := torch.NoGrad(func() error {
			for _, b := range batches {
				s := torch.NewScope()
				_, err := model.HiddenAt(s, llm.Batch{IDs: b}, nil, nil, false)
				s.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
		return time.Since(t0).Seconds(), err
	}
	cfg := predict.Config{Scorer: scfg, Input: in, Out: filepath.Join(dir, "scores.csv")}
	gcfg := cfg
	gcfg.Out, gcfg.Generate = filepath.Join(dir, "generated.csv"), sp.MaxNew

	// Warm-up: allocator, rope tables, page cache.
	if _, err := predict.Run(cfg); err != nil {
		return nil, err
	}
	for range sp.Repeats {
		st, err := predict.Run(cfg)
		if err != nil {
			return nil, err
		}
		if st.Tokens.Tokens != out.RealTokens || st.Tokens.Padding != out.Padding {
			return nil, fmt.Errorf("predict.Run scored %d tokens + %d padding, the bare batches hold %d + %d: not the same work",
				st.Tokens.Tokens, st.Tokens.Padding, out.RealTokens, out.Padding)
		}
		out.ScoreS = append(out.ScoreS, st.ScoreSec)
		if sp.Bare {
			dt, err := bare()
			if err != nil {
				return nil, err
			}
			out.BareS = append(out.BareS, dt)
		}
		if sp.MaxNew > 0 {
			gst, err := predict.Run(gcfg)
			if err != nil {
				return nil, err
			}
			out.GenerateS = append(out.GenerateS, gst.ScoreSec)
			out.GenerateNoAns = gst.NoAnswer
		}
	}
	out.Threads, _ = setThreads(0)
	return out, nil
}

// predictFixedSpec: one B×T batch of random ids.
type predictFixedSpec struct {
	Model   string `json:"model"`
	Batch   int    `json:"batch"`
	Seq     int    `json:"seq"`
	Warmup  int    `json:"warmup"`
	Steps   int    `json:"steps"`
	Threads int    `json:"threads"`
}

type predictFixedOut struct {
	ScoreS  []float64 `json:"score_s"`
	BareS   []float64 `json:"bare_s"`
	Threads int       `json:"threads"`
}

// childPredictFixed times Scorer.ScoreIDs (HiddenAt + lm_head at the last
// position + the two label logits) and Model.HiddenAt (every position) alone on the same batch.
func childPredictFixed(raw []byte) (any, error) {
	var sp predictFixedSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	if _, err := setThreads(sp.Threads); err != nil {
		return nil, err
	}
	sc, err := predict.NewScorer(predict.ScorerConfig{ModelDir: sp.Model, Device: "cpu", DType: "f32", BatchSize: sp.Batch, Threads: sp.Threads})
	if err != nil {
		return nil, err
	}
	defer sc.Close()
	model, err := llm.LoadModel(sp.Model, llm.LoadOptions{Device: torch.CPU, DType: torch.Float32, ExplicitDType: true})
	if err != nil {
		return nil, err
	}
	defer model.Close()
	r := rand.New(rand.NewPCG(0, 1))
	rows := make([][]int, sp.Batch)
	for i := range rows {
		rows[i] = make([]int, sp.Seq)
		for t := range rows[i] {
			rows[i][t] = r.IntN(150000)
		}
	}
	var out predictFixedOut
	for i := range sp.Warmup + sp.Steps {
		t0 := time.Now()
		if _, _, err := sc.ScoreIDs(rows); err != nil {
			return nil, err
		}
		ds := time.Since(t0).Seconds()
		t0 = time.Now()
		err := torch.NoGrad(func() error {
			s := torch.NewScope()
			defer s.Close()
			_, err := model.HiddenAt(s, llm.Batch{IDs: rows}, nil, nil, false)
			return err
		})
		if err != nil {
			return nil, err
		}
		db := time.Since(t0).Seconds()
		if i >= sp.Warmup {
			out.ScoreS, out.BareS = append(out.ScoreS, ds), append(out.BareS, db)
		}
	}
	out.Threads, _ = setThreads(0)
	return out, nil
}

// predictFileSpec: predict.Run over a generated file of Rows IMDB-like reviews.
type predictFileSpec struct {
	Model   string `json:"model"`
	Kind    string `json:"kind"` // imdb | short
	Rows    int    `json:"rows"`
	Batch   int    `json:"batch"`
	Threads int    `json:"threads"`
}

type predictFileOut struct {
	Stats    *predict.Stats `json:"stats"`
	InputMiB float64        `json:"input_mib"`
	VmHWMMiB float64        `json:"vmhwm_mib"`
}

func childPredictFile(raw []byte) (any, error) {
	var sp predictFileSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	if _, err := setThreads(sp.Threads); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-predict-file-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "reviews.csv")
	f, err := os.Create(in)
	if err != nil {
		return nil, err
	}
	if sp.Kind == "short" {
		err = writeShortCSV(f, sp.Rows, 7)
	} else {
		_, err = writeIMDBLikeCSV(f, sp.Rows, 7)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(in)
	if err != nil {
		return nil, err
	}
	st, err := predict.Run(predict.Config{
		Scorer: predict.ScorerConfig{ModelDir: sp.Model, Device: "cpu", DType: "f32", BatchSize: sp.Batch, Threads: sp.Threads},
		Input:  in, Out: filepath.Join(dir, "scores.csv"),
	})
	if err != nil {
		return nil, err
	}
	return predictFileOut{Stats: st, InputMiB: float64(fi.Size()) / (1 << 20), VmHWMMiB: vmHWM()}, nil
}

type torchRefForward struct {
	StepMedian float64   `json:"step_s_median"`
	Steps      []float64 `json:"step_s"`
}

// predictPlan sizes the prediction section.
type predictPlan struct {
	barePreset, genPreset  string
	bareRows, genRows      int
	repeats, maxNew        int
	genRepeats             int
	fixedPreset            string
	fixedBatch, fixedSeq   int
	fixedWarmup, fixedStep int
	fixedRounds            int
	filePreset             string
	fileRuns               []fileRunPlan
	batch                  int
}

type fileRunPlan struct {
	kind string // imdb: IMDB-like lengths; short: single sentences
	rows int
}

func benchPredict(o options, models map[string]string, res *Results) error {
	pb := &predictBench{o: o, models: models, p: predictPlanFor(o.quick)}
	if res.GEMM != nil {
		pb.peak = res.GEMM.PeakGFLOPS
	}
	pr := &PredictResult{LengthSpread: lengthSpread}
	res.Prediction = pr
	pb.scoringRates(pr)
	if err := pb.fixedForward(pr); err != nil {
		return err
	}
	pb.fileScoring(pr)
	return pb.firstErr
}

// predictPlanFor gives the sizes of the prediction benchmark (quick: the harness smoke test).
func predictPlanFor(quick bool) predictPlan {
	if quick {
		return predictPlan{barePreset: "tiny", bareRows: 16, genPreset: "tiny", genRows: 16, repeats: 3, genRepeats: 3, maxNew: 2,
			fixedPreset: "tiny", fixedBatch: 8, fixedSeq: 64, fixedWarmup: 1, fixedStep: 3, fixedRounds: 2,
			filePreset: "micro", fileRuns: []fileRunPlan{{"imdb", 500}, {"imdb", 5000}},
			batch: predict.DefaultBatchSize}
	}
	return predictPlan{barePreset: "small", bareRows: 32, genPreset: "tiny", genRows: 64, repeats: 3, genRepeats: 5, maxNew: 2,
		fixedPreset: "small", fixedBatch: 8, fixedSeq: 256, fixedWarmup: 1, fixedStep: 5, fixedRounds: 2,
		filePreset: "micro", fileRuns: []fileRunPlan{{"imdb", 5000}, {"imdb", 50000}},
		batch: predict.DefaultBatchSize}
}

// predictBench is one run of the prediction benchmark; a failed measurement is kept in firstErr and the rest go on.
type predictBench struct {
	o        options
	models   map[string]string
	p        predictPlan
	peak     float64 // GEMM GFLOP/s, the MFU denominator
	firstErr error
}

// scoringRates: predict.Run vs a bare forward over the same batches (small: its lm_head is a
// small share of the work, as in real models), then vs --generate (tiny: cheap).
func (pb *predictBench) scoringRates(pr *PredictResult) {
	p := pb.p
	logf("bench: predict scoring vs bare forward (%s, %d rows)", p.barePreset, p.bareRows)
	if sr, err := pb.rate(p.barePreset, p.bareRows, p.repeats, true, 0); err != nil {
		pb.firstErr = cmpErr(pb.firstErr, err)
	} else {
		pr.Rate = sr
		logf("bench: scoring %.1f rows/s (%.0f tok/s) = %.2f of the bare forward", sr.Score.RowsPerS, sr.Score.TokensPerS, sr.ScoreOverBare)
	}
	logf("bench: predict scoring vs --generate %d (%s, %d rows)", p.maxNew, p.genPreset, p.genRows)
	if sr, err := pb.rate(p.genPreset, p.genRows, p.genRepeats, false, p.maxNew); err != nil {
		pb.firstErr = cmpErr(pb.firstErr, err)
	} else {
		pr.Generate = sr
		logf("bench: scoring %.1f rows/s, generate %.1f rows/s (×%.2f)", sr.Score.RowsPerS, sr.Generate.RowsPerS, sr.ScoreOverGenerate)
	}
}

// rate measures predict.Run (and a bare forward, and --generate maxNew) on rows texts of preset's model.
func (pb *predictBench) rate(preset string, rows, repeats int, withBare bool, maxNew int) (*ScoringRate, error) {
	o, models, p, peak := pb.o, pb.models, pb.p, pb.peak
	cfg, err := llm.LoadConfig(models[preset])
	if err != nil {
		return nil, err
	}
	var ro predictRateOut
	cr, err := runChild("predict-rate", predictRateSpec{Model: models[preset], Rows: rows, Batch: p.batch,
		Repeats: repeats, Bare: withBare, MaxNew: maxNew, Threads: o.threads}, &ro)
	if err != nil {
		return nil, err
	}
	sr := &ScoringRate{Preset: preset, Rows: rows, RowsFrom: fmt.Sprintf(midWindow, predict.DefaultWindow), Batch: p.batch,
		MaxLen: ro.MaxLen, RealTokens: ro.RealTokens, PaddingFraction: float64(ro.Padding) / float64(ro.Padding+ro.RealTokens),
		GenerateMaxNew: maxNew, GenerateNoAnswer: ro.GenerateNoAns, Repeats: repeats, FLOPs: scoreFLOPs(shapeOf(cfg, 0), ro.Lengths), FLOPsFormula: scoreFLOPsFormula}
	mk := func(what string, secs []float64) *Measure {
		m := &Measure{Impl: "sentitune", What: what, Seconds: secs, Median: median(secs), Best: minimum(secs), Threads: ro.Threads,
			PeakRSSMiB: cr.PeakRSSMiB}
		m.TokensPerS = float64(ro.RealTokens) / m.Median
		m.RowsPerS = float64(rows) / m.Median
		m.MFU = mfu(sr.FLOPs, m.Median, peak)
		return m
	}
	sr.Score = *mk("predict.Run: read CSV, clean, tokenize, sort, batch, score the label tokens, write CSV", ro.ScoreS)
	if withBare {
		sr.Bare = mk("llm Model.HiddenAt (every position) over the scorer's batches (no lm_head, no I/O)", ro.BareS)
		sr.ScoreOverBare = ratio(sr.Score.TokensPerS, sr.Bare.TokensPerS)
	}
	if maxNew > 0 {
		sr.Generate = mk(fmt.Sprintf("predict.Run --generate %d: greedy decoding without a KV cache, parse 0/1", maxNew), ro.GenerateS)
		sr.Generate.TokensPerS, sr.Generate.MFU = 0, 0 // it computes more than the prompts: rows/s is the comparable rate
		sr.ScoreOverGenerate = ratio(sr.Score.RowsPerS, sr.Generate.RowsPerS)
	}
	return sr, nil
}

// fixedForward: a fixed B×T forward vs torch_ref.py forward, alternating rounds.
func (pb *predictBench) fixedForward(pr *PredictResult) error {
	o, models, p, peak := pb.o, pb.models, pb.p, pb.peak
	logf("bench: predict fixed %d×%d forward vs PyTorch (%s, %d rounds)", p.fixedBatch, p.fixedSeq, p.fixedPreset, p.fixedRounds)
	fx := &FixedForward{Preset: p.fixedPreset, Batch: p.fixedBatch, Seq: p.fixedSeq, Rounds: p.fixedRounds}
	fx.Sentitune = Measure{Impl: "sentitune", What: "predict Scorer.ScoreIDs"}
	fx.Bare = Measure{Impl: "sentitune", What: "llm Model.HiddenAt (every position) only"}
	fx.PyTorch = Measure{Impl: "pytorch-eager", What: "torch_ref.py forward (hidden, lm_head at the last position, softmax of 2)", Threads: o.threads}
	for range p.fixedRounds {
		var fo predictFixedOut
		cr, err := runChild("predict-fixed", predictFixedSpec{Model: models[p.fixedPreset], Batch: p.fixedBatch, Seq: p.fixedSeq,
			Warmup: p.fixedWarmup, Steps: p.fixedStep, Threads: o.threads}, &fo)
		if err != nil {
			fx.Sentitune.Error = err.Error()
			pb.firstErr = cmpErr(pb.firstErr, err)
		} else {
			fx.Sentitune.Seconds, fx.Bare.Seconds = append(fx.Sentitune.Seconds, fo.ScoreS...), append(fx.Bare.Seconds, fo.BareS...)
			fx.Sentitune.Threads, fx.Bare.Threads = fo.Threads, fo.Threads
			fx.Sentitune.PeakRSSMiB = max(fx.Sentitune.PeakRSSMiB, cr.PeakRSSMiB)
		}
		var tf torchRefForward
		cr, err = runTorchRef(o, &tf, "forward", "--model", models[p.fixedPreset], "--batch", strconv.Itoa(p.fixedBatch),
			"--seq", strconv.Itoa(p.fixedSeq), "--warmup", strconv.Itoa(p.fixedWarmup), "--steps", strconv.Itoa(p.fixedStep),
			"--threads", strconv.Itoa(o.threads))
		if err != nil {
			fx.PyTorch.Error = err.Error()
			pb.firstErr = cmpErr(pb.firstErr, err)
		} else {
			fx.PyTorch.Seconds = append(fx.PyTorch.Seconds, tf.Steps...)
			fx.PyTorch.PeakRSSMiB = max(fx.PyTorch.PeakRSSMiB, cr.PeakRSSMiB)
		}
	}
	fcfg, err := llm.LoadConfig(models[p.fixedPreset])
	if err != nil {
		return err
	}
	lengths := make([]int, p.fixedBatch)
	for i := range lengths {
		lengths[i] = p.fixedSeq
	}
	fflops := scoreFLOPs(shapeOf(fcfg, 0), lengths)
	tokens := float64(p.fixedBatch * p.fixedSeq)
	for _, m := range []*Measure{&fx.Sentitune, &fx.Bare, &fx.PyTorch} {
		if len(m.Seconds) == 0 {
			continue
		}
		m.Median, m.Best = median(m.Seconds), minimum(m.Seconds)
		m.TokensPerS, m.RowsPerS, m.MFU = tokens/m.Median, float64(p.fixedBatch)/m.Median, mfu(fflops, m.Median, peak)
	}
	fx.Ratio = ratio(fx.Sentitune.TokensPerS, fx.PyTorch.TokensPerS)
	fx.RatioBest = ratio(fx.PyTorch.Best, fx.Sentitune.Best)
	pr.Fixed = fx

	return nil
}

// fileScoring: whole files, padding over real windows, peak RSS 5k vs 50k rows.
func (pb *predictBench) fileScoring(pr *PredictResult) {
	o, models, p := pb.o, pb.models, pb.p
	fs := &FileScoring{Preset: p.filePreset, Model: microNote}
	for _, fr := range p.fileRuns {
		logf("bench: predict file of %d %s rows (%s)", fr.rows, fr.kind, p.filePreset)
		var po predictFileOut
		cr, err := runChild("predict-file", predictFileSpec{Model: models[p.filePreset], Kind: fr.kind, Rows: fr.rows, Batch: p.batch,
			Threads: o.threads}, &po)
		run := FileRun{Rows: fr.rows, Kind: fileKinds[fr.kind]}
		if err != nil {
			run.Error = err.Error()
			pb.firstErr = cmpErr(pb.firstErr, err)
		} else {
			st := po.Stats
			run.InputMiB, run.Seconds, run.RowsPerS = po.InputMiB, st.ScoreSec, st.RowsPerSecond()
			run.TokensPerS = float64(st.Tokens.Tokens) / st.ScoreSec
			run.RealTokens, run.PaddingFraction, run.Batches = st.Tokens.Tokens, st.Tokens.PaddingFraction(), st.Tokens.Batches
			run.PeakRSSMiB = cr.PeakRSSMiB
		}
		fs.Runs = append(fs.Runs, run)
	}
	if n := len(fs.Runs); n >= 2 {
		fs.RSSRatio = ratio(fs.Runs[n-1].PeakRSSMiB, fs.Runs[n-2].PeakRSSMiB)
	}
	pr.Files = fs
}
