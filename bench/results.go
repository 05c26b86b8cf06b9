package main

// Results is bench/results/cpu-<date>.json.
type Results struct {
	Command     string       `json:"command"`
	Date        string       `json:"date"`
	Quick       bool         `json:"quick,omitempty"`
	WallSeconds float64      `json:"wall_seconds"`
	Machine     Machine      `json:"machine"`
	Engine      Engine       `json:"engine"`
	Load        []LoadSample `json:"load_average"` // other builds share these 2 cores

	GEMM       *GEMMResult      `json:"gemm,omitempty"`
	Training   []TrainResult    `json:"training,omitempty"`
	Prediction *PredictResult   `json:"prediction,omitempty"`
	Tokenizer  *TokenizerResult `json:"tokenizer,omitempty"`
	Prep       *PrepResult      `json:"prep,omitempty"`
	ScaleOut   *ScaleOutResult  `json:"scale_out,omitempty"`
	Errors     []string         `json:"errors,omitempty"`
}

type Machine struct {
	CPU      string  `json:"cpu"`     // /proc/cpuinfo model name
	CPUID    string  `json:"cpu_id"`  // family/model/stepping, SIMD flags
	Cores    int     `json:"cores"`   // logical CPUs
	RAMGiB   float64 `json:"ram_gib"` // MemTotal
	Kernel   string  `json:"kernel"`  // /proc/sys/kernel/osrelease
	Go       string  `json:"go"`      // toolchain that built the bench
	Hostname string  `json:"hostname"`
}

type Engine struct {
	Libtorch             string `json:"libtorch"` // torch.Version()
	Shim                 string `json:"shim"`     // build/libsentitorch.so
	BLAS                 string `json:"blas"`     // readlink -f libblas.so.3
	BLASNote             string `json:"blas_note"`
	Threads              int    `json:"threads"` // set on both sides for every measurement
	DefaultThreadsGo     int    `json:"default_threads_go"`
	DefaultThreadsPython int    `json:"default_threads_python"`
	Python               string `json:"python"`
	PythonTorch          string `json:"python_torch"`
}

type LoadSample struct {
	After  string  `json:"after"`
	Load1  float64 `json:"load1"`
	Load5  float64 `json:"load5"`
	Load15 float64 `json:"load15"`
}

type GEMMResult struct {
	Points            []GEMMPoint `json:"points"`
	PeakGFLOPS        float64     `json:"peak_gflops"`         // best over sizes at Engine.Threads: the MFU ceiling
	Peak1ThreadGFLOPS float64     `json:"peak_1thread_gflops"` // for scale
	Note              string      `json:"note"`
}

type GEMMPoint struct {
	N            int       `json:"n"` // N×N · N×N, fp32
	Threads      int       `json:"threads"`
	BestGFLOPS   float64   `json:"best_gflops"`
	MedianGFLOPS float64   `json:"median_gflops"`
	Seconds      []float64 `json:"seconds"`
}

// Measure is one side of a comparison: one implementation, one configuration.
type Measure struct {
	Impl       string    `json:"impl"` // sentitune | pytorch-eager
	What       string    `json:"what,omitempty"`
	Seconds    []float64 `json:"seconds"` // per step / per repeat, warm-up excluded
	Median     float64   `json:"median_s"`
	Best       float64   `json:"best_s,omitempty"` // fastest repeat: the least disturbed by other processes
	TokensPerS float64   `json:"tokens_per_s,omitempty"`
	RowsPerS   float64   `json:"rows_per_s,omitempty"`
	PeakRSSMiB float64   `json:"peak_rss_mib,omitempty"` // ru_maxrss of the measuring process
	Threads    int       `json:"threads,omitempty"`
	MFU        float64   `json:"mfu,omitempty"`
	FinalLoss  float64   `json:"final_loss,omitempty"`
	Error      string    `json:"error,omitempty"`
}

type TrainResult struct {
	Preset        string     `json:"preset"`
	Model         ModelShape `json:"model"`
	Batch         int        `json:"batch"`
	Seq           int        `json:"seq"`
	Rank          int        `json:"lora_rank"`
	Targets       string     `json:"lora_targets"`
	LossPositions string     `json:"loss_positions"`
	Rounds        int        `json:"rounds"` // sentitune and PyTorch alternate, steps pooled
	Steps         int        `json:"steps_per_round"`
	Warmup        int        `json:"warmup_steps"`
	FLOPsPerStep  float64    `json:"model_flops_per_step"`
	FLOPsFormula  string     `json:"model_flops_formula"`

	Sentitune     Measure `json:"sentitune"`      // answer-only logits
	PyTorch       Measure `json:"pytorch"`        // answer-only logits
	SentituneFull Measure `json:"sentitune_full"` // all T×V logits, answer rows picked after
	PyTorchFull   Measure `json:"pytorch_full"`

	Ratio             float64 `json:"ratio_sentitune_over_pytorch"`      // tokens/s, answer-only (goal ≥ 1.0)
	RatioBest         float64 `json:"ratio_best_step"`                   // PyTorch best step / sentitune best step
	RatioFull         float64 `json:"ratio_full_sentitune_over_pytorch"` // tokens/s, full logits
	AnswerOnlySpeedup float64 `json:"answer_only_speedup"`               // sentitune answer-only / full-logits tokens/s
	AnswerOnlyRSS     float64 `json:"answer_only_rss_ratio"`             // peak RSS answer-only / full-logits
}

type PredictResult struct {
	LengthSpread string        `json:"length_spread"`
	Rate         *ScoringRate  `json:"score_vs_bare,omitempty"`     // small model: the scorer's overhead
	Generate     *ScoringRate  `json:"score_vs_generate,omitempty"` // tiny model: scoring vs --generate
	Fixed        *FixedForward `json:"fixed_shape,omitempty"`
	Files        *FileScoring  `json:"files,omitempty"`
}

// ScoringRate: predict.Run over rows from the middle of a length-sorted
// IMDB-like window — label scoring vs a bare batched forward over exactly the
// scorer's batches, or vs predict.Run --generate on the same rows.
type ScoringRate struct {
	Preset           string  `json:"preset"`
	Rows             int     `json:"rows"`
	RowsFrom         string  `json:"rows_from"`
	Batch            int     `json:"batch"`
	MaxLen           int     `json:"max_len"`
	RealTokens       int64   `json:"real_tokens"`
	PaddingFraction  float64 `json:"padding_fraction"`
	GenerateMaxNew   int     `json:"generate_max_new,omitempty"`
	GenerateNoAnswer int     `json:"generate_no_answer,omitempty"`
	Repeats          int     `json:"repeats"`
	FLOPs            float64 `json:"model_flops"`
	FLOPsFormula     string  `json:"model_flops_formula"`

	Score    Measure  `json:"score"`              // predict.Run: read, tokenize, score, write
	Bare     *Measure `json:"bare,omitempty"`     // llm Model.HiddenAt (every position) over the same padded batches, nothing else
	Generate *Measure `json:"generate,omitempty"` // predict.Run --generate

	ScoreOverBare     float64 `json:"score_over_bare_token_rate,omitempty"` // goal ≥ 0.90
	ScoreOverGenerate float64 `json:"score_over_generate_rows,omitempty"`   // rows/s ratio
}

// FixedForward: one B×T batch of random ids, scoring forward (hidden, lm_head
// at the last position, the two label logits) vs torch_ref.py forward.
type FixedForward struct {
	Preset    string  `json:"preset"`
	Batch     int     `json:"batch"`
	Seq       int     `json:"seq"`
	Sentitune Measure `json:"sentitune"` // predict Scorer.ScoreIDs
	Bare      Measure `json:"bare"`      // Model.HiddenAt (every position) only
	PyTorch   Measure `json:"pytorch"`
	Ratio     float64 `json:"ratio_sentitune_over_pytorch"`
	RatioBest float64 `json:"ratio_best_step"`
	Rounds    int     `json:"rounds"` // sentitune and PyTorch alternate, steps pooled
}

// FileScoring: predict.Run over 5k and 50k IMDB-like rows: padding over real
// windows, and whether peak RSS stays flat.
type FileScoring struct {
	Preset   string    `json:"preset"`
	Model    string    `json:"model_note"`
	Runs     []FileRun `json:"runs"`
	RSSRatio float64   `json:"rss_ratio_large_over_small"` // last two runs (same texts, 10× the rows): flat ≈ 1
}

type FileRun struct {
	Rows            int     `json:"rows"`
	Kind            string  `json:"kind"`
	InputMiB        float64 `json:"input_mib"`
	Seconds         float64 `json:"score_seconds"`
	RowsPerS        float64 `json:"rows_per_s"`
	TokensPerS      float64 `json:"tokens_per_s"`
	RealTokens      int64   `json:"real_tokens"`
	PaddingFraction float64 `json:"padding_fraction"`
	Batches         int64   `json:"batches"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	Error           string  `json:"error,omitempty"`
}

type TokenizerResult struct {
	Corpus     string    `json:"corpus"`
	Bytes      int       `json:"bytes"`
	Tokens     int       `json:"tokens"`
	Seconds    []float64 `json:"seconds"`
	TokensPerS float64   `json:"tokens_per_s"`
	MBPerS     float64   `json:"mb_per_s"`
	FirstPassS float64   `json:"first_pass_s"` // cold word cache
	LoadS      float64   `json:"load_s"`
}

type PrepResult struct {
	Rows       int       `json:"rows"`
	InputMiB   float64   `json:"input_mib"`
	Options    string    `json:"options"`
	Seconds    []float64 `json:"seconds"`
	RowsPerS   float64   `json:"rows_per_s"`
	PeakRSSMiB []float64 `json:"peak_rss_mib"`
	Goal       string    `json:"goal"`
}

type ScaleOutResult struct {
	Status string        `json:"status"` // "measured" or "not measured yet"
	Reason string        `json:"reason,omitempty"`
	Runs   []ScaleOutRun `json:"runs,omitempty"`
	Model  string        `json:"model_for_n_gpus"`
}

type ScaleOutRun struct {
	Procs         int     `json:"procs"`
	Threads       int     `json:"threads_per_proc"`
	TokensPerS    float64 `json:"tokens_per_s"`
	TokensPerStep int     `json:"tokens_per_step_logged"`
	Error         string  `json:"error,omitempty"`
}
