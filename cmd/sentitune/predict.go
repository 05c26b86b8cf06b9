package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
)

func predictCommand() *cli.Command {
	return &cli.Command{
		Name:  "predict",
		Usage: "score reviews with one forward pass per batch",
		UsageText: "sentitune predict --model DIR [--adapter DIR] --input FILE --out FILE [options]\n" +
			"sentitune predict --model DIR [--adapter DIR] --text \"a review\" (or reviews on stdin, one per line)\n" +
			"sentitune predict --merge-shards --out FILE [SHARD_FILE ...]",
		Description: "Reads the logits of the \"1\" and \"0\" answer tokens at the answer position: pred is 1 when\n" +
			"prob = P(label=1) = softmax over the two logits ≥ --threshold. The prompt (instruction, system,\n" +
			"label tokens) comes from the adapter's sentitune.json, so it is the one training used.\n" +
			"Input: csv, tsv, json, jsonl, parquet or prep's Alpaca files (input = text, output = label).\n" +
			"Output rows: id (the --id-col, a column named id, or the row number), label (when the input has\n" +
			"one), pred, prob. Written to a temporary file and renamed when complete.\n" +
			"--shard I/N scores the I-th (from 0) of N contiguous slices and writes OUT-0000I-of-0000N.EXT;\n" +
			"Each shard writes a manifest (OUT-…EXT.shard.json: input hash, rows, its range, output hash);\n" +
			"--merge-shards checks that the shards tile one input exactly once, then joins them into OUT,\n" +
			"byte-identical to an unsharded run when --window divides --shard-block (see deploy/README.md).",
		Flags: append(scorerFlags(predict.DefaultBatchSize),
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "review `FILE` to score"},
			&cli.StringFlag{Name: "input-format", Value: prep.FormatAuto, Usage: "auto|csv|tsv|json|jsonl|parquet|alpaca"},
			&cli.StringFlag{Name: "encoding", Value: "auto", Usage: "text encoding of --input: auto|utf-8|gbk|utf-16"},
			&cli.StringFlag{Name: "text-col", Usage: "text column `NAME` (default: detected: text, review, content, … ; Alpaca: input)"},
			&cli.StringFlag{Name: "id-col", Usage: "id column `NAME` copied to the output (default: a column named id, else the row number)"},
			&cli.StringFlag{Name: "label-col", Usage: "label column `NAME` copied to the output as 0/1 (default: detected)"},
			&cli.BoolFlag{Name: "no-label", Usage: "do not copy a label column"},
			&cli.StringFlag{Name: "label-map", Usage: "label values: 'pos=1,neg=0', or 'stars'"},
			&cli.StringFlag{Name: "on-bad-row", Value: predict.OnBadRowError, Usage: "unparsable rows, empty texts, unknown labels: error|skip"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "output `FILE` (.csv, .jsonl or .parquet)"},
			&cli.StringFlag{Name: "format", Usage: "output format csv|jsonl|parquet (default: from --out's extension)"},
			&cli.BoolFlag{Name: "keep-text", Usage: "also write the review text"},
			&cli.StringFlag{Name: "shard", Usage: "score only slice `I/N` (0 ≤ I < N) of --input"},
			&cli.BoolFlag{Name: "merge-shards", Usage: "join the shard outputs of --out (or the files given as arguments) into --out"},
			&cli.IntFlag{Name: "window", Value: predict.DefaultWindow, Usage: "rows read, sorted by length and scored together (memory bound)"},
			&cli.IntFlag{Name: "shard-block", Value: predict.DefaultWindow, Usage: "shards are cut on multiples of `N` rows (the same for every shard of a set; --window may differ)"},
			&cli.IntFlag{Name: "generate", Usage: "greedy-decode up to `N` tokens and parse the first 0/1 instead of scoring (for comparison)"},
			textListFlag("text", []string{"t"}, "score this `TEXT` and print \"pred prob\" (repeatable; each value is one whole text, commas included)"),
			&cli.StringFlag{Name: "stats", Usage: "write the run's statistics as JSON to `FILE`"},
			&cli.DurationFlag{Name: "log-every", Value: progress.DefaultInterval, Usage: "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line (rows/s, ETA) at least every `DURATION`"},
		),
		Action: runPredict,
	}
}

// scorerFlags are the model options shared by predict, serve and eval.
func scorerFlags(batch int) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "model", Aliases: []string{"m"}, Usage: "Hugging Face model folder `DIR` (the adapter's base model)"},
		&cli.StringFlag{Name: "adapter", Aliases: []string{"a"}, Usage: "LoRA adapter folder `DIR` from finetune (or PEFT)"},
		&cli.StringFlag{Name: "device", Value: "auto", Usage: "auto|cpu|cuda|cuda:N"},
		&cli.StringFlag{Name: "dtype", Value: "auto", Usage: "auto (f32 on CPU, bf16 on CUDA)|f32|bf16|f16"},
		&cli.IntFlag{Name: "threads", Usage: "CPU threads for libtorch (0: its default)"},
		&cli.IntFlag{Name: "batch-size", Value: batch, Usage: "rows per forward pass"},
		&cli.IntFlag{Name: "max-len", Usage: "prompt + answer tokens; longer reviews lose their end, as in training (0: the length the adapter or merged model was trained at, else 512; a value here overrides it)"},
		&cli.Float64Flag{Name: "threshold", Value: predict.DefaultThreshold, Usage: "pred = 1 when prob ≥ `P`"},
		&cli.StringFlag{Name: "instruction", Usage: "instruction `TEXT` for a bare model (an adapter brings its own)"},
		&cli.StringFlag{Name: "system", Usage: "system prompt `TEXT` for a bare model (default: the chat template's)"},
	}
}

// scorerConfig reads scorerFlags; flags a command lacks read as their zero value.
func scorerConfig(c *cli.Context) predict.ScorerConfig {
	return predict.ScorerConfig{
		ModelDir:    c.String("model"),
		AdapterDir:  c.String("adapter"),
		Device:      c.String("device"),
		DType:       c.String("dtype"),
		Threads:     c.Int("threads"),
		BatchSize:   c.Int("batch-size"),
		MaxLen:      c.Int("max-len"),
		Threshold:   c.Float64("threshold"),
		Instruction: c.String("instruction"),
		System:      c.String("system"),
	}
}

func usageError(format string, a ...any) error {
	return exitError{2, fmt.Errorf(format, a...)}
}

func runPredict(c *cli.Context) error {
	out := c.String("out")
	if c.Bool("merge-shards") {
		if out == "" {
			return usageError("predict --merge-shards: --out FILE is required")
		}
		removeTempsOnSignal()
		var st *predict.MergeStats
		var err error
		if c.NArg() > 0 {
			st, err = predict.MergeFiles(out, c.String("format"), c.Args().Slice())
		} else {
			st, err = predict.MergeShards(out, c.String("format"))
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "predict: merged %d shards, %d rows → %s\n", st.Shards, st.Rows, st.Out)
		return nil
	}
	if c.NArg() > 0 {
		return usageError("predict: unexpected arguments %q (texts go in --text or on stdin)", c.Args().Slice())
	}
	sc := scorerConfig(c)
	if sc.ModelDir == "" {
		return usageError("predict: --model DIR is required")
	}
	if err := checkPredictFlags(c); err != nil {
		return err
	}
	texts := textValues(c, "text")
	input := c.String("input")
	switch {
	case input != "" && len(texts) > 0:
		return usageError("predict: give --input FILE or --text, not both")
	case input == "" && out != "":
		return usageError("predict: --out needs --input FILE")
	case input != "":
		return predictFile(c, sc)
	case len(texts) > 0:
		return predictTexts(c, sc, texts)
	case term.IsTerminal(int(os.Stdin.Fd())):
		return usageError("predict: need --input FILE, --text TEXT, or texts on stdin (one per line)")
	default:
		return predictLines(c, sc, c.App.Reader)
	}
}

func predictFile(c *cli.Context, sc predict.ScorerConfig) error {
	if c.String("out") == "" {
		return usageError("predict: --out FILE is required with --input")
	}
	cfg := predict.Config{
		Scorer:      sc,
		Input:       c.String("input"),
		InputFormat: c.String("input-format"),
		Encoding:    c.String("encoding"),
		TextCol:     c.String("text-col"),
		IDCol:       c.String("id-col"),
		LabelCol:    c.String("label-col"),
		NoLabel:     c.Bool("no-label"),
		LabelMap:    c.String("label-map"),
		Out:         c.String("out"),
		Format:      c.String("format"),
		KeepText:    c.Bool("keep-text"),
		Window:      c.Int("window"),
		ShardBlock:  c.Int("shard-block"),
		Generate:    c.Int("generate"),
		OnBadRow:    c.String("on-bad-row"),
	}
	if s := c.String("shard"); s != "" {
		var err error
		if cfg.Shard, err = predict.ParseShard(s); err != nil {
			return usageError("predict: %v", err)
		}
	}
	if progress.IsTerminal(c.App.ErrWriter) {
		cfg.Progress = c.App.ErrWriter
	} else {
		cfg.Log, cfg.LogInterval = c.App.ErrWriter, c.Duration("log-every")
	}
	removeTempsOnSignal()
	st, err := predict.Run(cfg)
	if err != nil {
		return err
	}
	st.WriteSummary(c.App.Writer)
	if path := c.String("stats"); path != "" {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(path, append(b, '\n')); err != nil {
			return fmt.Errorf("predict: write --stats: %w", err)
		}
	}
	return nil
}

func predictTexts(c *cli.Context, cfg predict.ScorerConfig, texts []string) error {
	sc, err := predict.NewScorer(cfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	w := bufio.NewWriter(c.App.Writer)
	defer w.Flush()
	return printScores(w, sc, texts, c.Int("generate"), func(i int) string { return fmt.Sprintf("--text %d", i+1) })
}

// predictLines scores stdin one line per text, in chunks, printing as it goes.
func predictLines(c *cli.Context, cfg predict.ScorerConfig, r io.Reader) error {
	sc, err := predict.NewScorer(cfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	w := bufio.NewWriter(c.App.Writer)
	defer w.Flush()
	chunk := max(cfg.BatchSize, predict.DefaultBatchSize) * 4
	br := bufio.NewScanner(r)
	br.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var texts []string
	first := 1 // line number of texts[0]
	line := 0
	flush := func() error {
		if len(texts) == 0 {
			return nil
		}
		at := first
		err := printScores(w, sc, texts, c.Int("generate"), func(i int) string { return fmt.Sprintf("stdin line %d", at+i) })
		texts, first = texts[:0], line+1
		if err == nil {
			err = w.Flush()
		}
		return err
	}
	for br.Scan() {
		line++
		texts = append(texts, strings.TrimSuffix(br.Text(), "\r"))
		if len(texts) == chunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := br.Err(); err != nil {
		return fmt.Errorf("predict: read stdin line %d: %w", line+1, err)
	}
	if line == 0 {
		return usageError("predict: no texts on stdin")
	}
	return flush()
}

// printScores prints "pred prob" per text (with --generate: "pred answer",
// pred "-" when the answer holds no 0/1).
func printScores(w io.Writer, sc *predict.Scorer, texts []string, generate int, where func(int) string) error {
	var err error
	if generate > 0 {
		var gens []predict.Generation
		if gens, err = sc.Generate(texts, generate); err == nil {
			for _, g := range gens {
				pred := "-"
				if g.Pred != predict.NoAnswer {
					pred = strconv.Itoa(g.Pred)
				}
				fmt.Fprintf(w, "%s %s\n", pred, strconv.Quote(g.Text))
			}
		}
	} else {
		var scores []predict.Score
		if scores, err = sc.Score(texts); err == nil {
			for _, s := range scores {
				fmt.Fprintf(w, "%d %.6f\n", s.Pred, s.Prob)
			}
		}
	}
	var te *predict.TextError
	if errors.As(err, &te) {
		return fmt.Errorf("predict: %s: %w", where(te.Index), te.Err)
	}
	return err
}
