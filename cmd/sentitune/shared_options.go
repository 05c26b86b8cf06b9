package main

import (
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/predict"
)

// scorerOptions adds the model options predict, serve and eval share; sc is where the command's
// config holds them (their defaults too).
func scorerOptions[C any](o *options[C], sc func(*C) *predict.ScorerConfig) {
	o.str("model", "Hugging Face model folder `DIR`, or ORG/NAME[@REV] from a hub cache (the adapter's base model)", func(c *C) *string { return &sc(c).ModelDir }, "m")
	o.str("adapter", "LoRA adapter folder `DIR` from finetune (or PEFT)", func(c *C) *string { return &sc(c).AdapterDir }, "a")
	o.str("device", "auto|cpu|cuda|cuda:N", func(c *C) *string { return &sc(c).Device })
	o.str("dtype", "auto (f32 on CPU, bf16 on CUDA)|f32|bf16|f16", func(c *C) *string { return &sc(c).DType })
	o.integer("threads", "CPU threads for libtorch (0: its default)", func(c *C) *int { return &sc(c).Threads })
	o.integer("batch-size", "rows per forward pass", func(c *C) *int { return &sc(c).BatchSize })
	o.integer("max-len", "prompt + answer tokens; longer reviews lose their end, as in training (0: the length the adapter or merged model was trained at, else 512; a value here overrides it)", func(c *C) *int { return &sc(c).MaxLen })
	o.real("threshold", "pred = 1 when prob ≥ `P`", func(c *C) *float64 { return &sc(c).Threshold })
	o.str("instruction", "instruction `TEXT` for a bare model (an adapter brings its own)", func(c *C) *string { return &sc(c).Instruction })
	o.str("system", "system prompt `TEXT` for a bare model (default: the chat template's)", func(c *C) *string { return &sc(c).System })
	o.str("template", templateUsage, func(c *C) *string { return &sc(c).Template })
}

// batchTokensOption adds --batch-tokens where rows are batched by length (predict, eval; serve
// bounds its passes with --max-batch-tokens).
func batchTokensOption[C any](o *options[C], sc func(*C) *predict.ScorerConfig) {
	o.integer("batch-tokens", "padded tokens (rows × longest row) per forward pass, at most: long reviews form smaller batches than --batch-size (0: 2048)", func(c *C) *int { return &sc(c).BatchTokens })
}

// defaultScorer is the scorer options' defaults with batch rows per forward pass.
func defaultScorer(batch int) predict.ScorerConfig {
	return predict.ScorerConfig{Device: "auto", DType: "auto", BatchSize: batch, Threshold: predict.DefaultThreshold}
}

// inputOptions adds the flags that read a review file: --NAME FILE and how to read it (format,
// encoding, columns, label values, bad rows), shared by predict (--input) and eval (--data).
func inputOptions[C any](o *options[C], name, usage string, in func(*C) *predict.Config, aliases ...string) {
	o.str(name, usage, func(c *C) *string { return &in(c).Input }, aliases...)
	o.str("input-format", "format of --"+name+": auto|csv|tsv|json|jsonl|parquet|alpaca", func(c *C) *string { return &in(c).InputFormat })
	o.str("encoding", "text encoding of --"+name+": auto|utf-8|gbk|utf-16", func(c *C) *string { return &in(c).Encoding })
	o.str("text-col", "text column `NAME` of --"+name+" (default: detected: text, review, content, … ; Alpaca: input)", func(c *C) *string { return &in(c).TextCol })
	o.str("id-col", "id column `NAME` of --"+name+" carried to the output (default: detected: id, review_id, …, else the row number)", func(c *C) *string { return &in(c).IDCol })
	o.str("label-col", "label column `NAME` of --"+name+", read as 0/1 (default: detected; Alpaca: output)", func(c *C) *string { return &in(c).LabelCol })
	o.str("label-map", "label values of --"+name+": 'pos=1,neg=0', or 'stars'", func(c *C) *string { return &in(c).LabelMap })
	o.str("on-bad-row", "rows of --"+name+" that cannot be read, have an empty text or an unknown label: error|skip", func(c *C) *string { return &in(c).OnBadRow })
}

// defaultInput is inputOptions' defaults.
func defaultInput() predict.Config {
	return predict.Config{InputFormat: table.FormatAuto, Encoding: "auto", OnBadRow: predict.OnBadRowError}
}
