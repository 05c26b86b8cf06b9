package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/progress"
	"github.com/sentitune/sentitune/predict"
)

// predictOptions is predict's command line.
type predictOptions struct {
	predict.Config
	Texts       []string      // --text: score these instead of a file
	ShardSpec   string        // --shard I/N
	MergeShards bool          // --merge-shards
	Stats       string        // --stats FILE
	LogEvery    time.Duration // progress lines when stderr is not a terminal
}

func predictOptionTable() *options[predictOptions] {
	def := predictOptions{Config: defaultInput(), LogEvery: progress.DefaultInterval}
	def.Scorer = defaultScorer(predict.DefaultBatchSize)
	def.Window, def.ShardBlock = predict.DefaultWindow, predict.DefaultWindow
	o := newOptions(def)
	scorerOptions(o, func(p *predictOptions) *predict.ScorerConfig { return &p.Scorer })
	batchTokensOption(o, func(p *predictOptions) *predict.ScorerConfig { return &p.Scorer })
	inputOptions(o, "input", "review `FILE` to score", func(p *predictOptions) *predict.Config { return &p.Config }, "i")
	o.boolean("no-label", "do not copy a label column", func(p *predictOptions) *bool { return &p.NoLabel })
	o.str("out", "output `FILE` (.csv, .jsonl or .parquet)", func(p *predictOptions) *string { return &p.Out }, "o")
	o.str("format", "output format csv|jsonl|parquet (default: from --out's extension)", func(p *predictOptions) *string { return &p.Format })
	o.boolean("keep-text", "also write the review text", func(p *predictOptions) *bool { return &p.KeepText })
	o.str("shard", "score only slice `I/N` (0 ≤ I < N) of --input", func(p *predictOptions) *string { return &p.ShardSpec })
	o.boolean("merge-shards", "join the shard outputs of --out (or the files given as arguments) into --out", func(p *predictOptions) *bool { return &p.MergeShards })
	o.integer("window", "rows read, sorted by length and scored together (memory bound)", func(p *predictOptions) *int { return &p.Window })
	o.integer("shard-block", "shards are cut on multiples of `N` rows (the same for every shard of a set; --window may differ)", func(p *predictOptions) *int { return &p.ShardBlock })
	o.integer("generate", "greedy-decode up to `N` tokens and parse the first 0/1 instead of scoring (for comparison)", func(p *predictOptions) *int { return &p.Generate })
	o.texts("text", "score this `TEXT` and print \"pred prob\" (repeatable; each value is one whole text, commas included)", func(p *predictOptions) *[]string { return &p.Texts }, "t")
	o.str("stats", "write the run's statistics as JSON to `FILE`", func(p *predictOptions) *string { return &p.Stats })
	o.duration("log-every", "with stderr not a terminal (nohup, Slurm, Kubernetes): a progress line (rows/s, ETA) at least every `DURATION`", func(p *predictOptions) *time.Duration { return &p.LogEvery })
	return o
}

func predictCommand() *cli.Command {
	o := predictOptionTable()
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
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			opt, err := o.load(c)
			if err != nil {
				return err
			}
			return runPredict(c, opt)
		},
	}
}

// checkPredictOptions validates predict's numeric options.
func checkPredictOptions(opt predictOptions) error {
	f := &flagCheck{cmd: "predict"}
	f.atLeast(1, "window", opt.Window)
	f.atLeast(1, "shard-block", opt.ShardBlock)
	f.atLeast(0, "generate", opt.Generate)
	f.positive("log-every", opt.LogEvery)
	f.checkScorer(opt.Scorer, 1)
	return f.err
}

func runPredict(c *cli.Context, opt predictOptions) error {
	if opt.MergeShards {
		if opt.Out == "" {
			return usageError("predict --merge-shards: --out FILE is required")
		}
		removeTempsOnSignal()
		var st *predict.MergeStats
		var err error
		if c.NArg() > 0 {
			st, err = predict.MergeFiles(opt.Out, opt.Format, c.Args().Slice())
		} else {
			st, err = predict.MergeShards(opt.Out, opt.Format)
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
	if opt.Scorer.ModelDir == "" {
		return usageError("predict: --model DIR is required")
	}
	if err := checkPredictOptions(opt); err != nil {
		return err
	}
	switch {
	case opt.Input != "" && len(opt.Texts) > 0:
		return usageError("predict: give --input FILE or --text, not both")
	case opt.Input == "" && opt.Out != "":
		return usageError("predict: --out needs --input FILE")
	case opt.Input != "":
		return predictFile(c, opt)
	case len(opt.Texts) > 0:
		return predictTexts(c, opt.Scorer, opt.Texts, opt.Generate)
	case progress.IsTerminal(c.App.Reader):
		return usageError("predict: need --input FILE, --text TEXT, or texts on stdin (one per line)")
	default:
		return predictLines(c, opt.Scorer, c.App.Reader, opt.Generate)
	}
}

func predictFile(c *cli.Context, opt predictOptions) error {
	if isAspectAdapter(opt.Scorer.AdapterDir) {
		return predictAspectFile(c, opt)
	}
	if opt.Out == "" {
		return usageError("predict: --out FILE is required with --input")
	}
	cfg := opt.Config
	if opt.ShardSpec != "" {
		var err error
		if cfg.Shard, err = predict.ParseShard(opt.ShardSpec); err != nil {
			return usageError("predict: %v", err)
		}
	}
	if progress.IsTerminal(c.App.ErrWriter) {
		cfg.Progress = c.App.ErrWriter
	} else {
		cfg.Log, cfg.LogInterval = c.App.ErrWriter, opt.LogEvery
	}
	removeTempsOnSignal()
	st, err := predict.Run(cfg)
	if err != nil {
		return err
	}
	st.WriteSummary(c.App.Writer)
	if opt.Stats != "" {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(opt.Stats, append(b, '\n')); err != nil {
			return fmt.Errorf("predict: write --stats: %w", err)
		}
	}
	return nil
}

func predictTexts(c *cli.Context, cfg predict.ScorerConfig, texts []string, generate int) error {
	if isAspectAdapter(cfg.AdapterDir) && generate == 0 {
		return predictAspectTexts(c, cfg, texts)
	}
	sc, err := predict.NewScorer(cfg)
	if err != nil {
		return err
	}
	defer sc.Close()
	w := bufio.NewWriter(c.App.Writer)
	defer w.Flush()
	return printScores(w, sc, texts, generate, func(i int) string { return fmt.Sprintf("--text %d", i+1) })
}

// predictLines scores stdin one line per text, in chunks, printing as it goes.
func predictLines(c *cli.Context, cfg predict.ScorerConfig, r io.Reader, generate int) error {
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
		err := printScores(w, sc, texts, generate, func(i int) string { return fmt.Sprintf("stdin line %d", at+i) })
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
				fmt.Fprintf(w, "%s %s\n", generatedClass(sc.Labels(), g.Pred), strconv.Quote(g.Text))
			}
		}
	} else {
		var scores []predict.Score
		if scores, err = sc.Score(texts); err == nil {
			for _, s := range scores {
				fmt.Fprintln(w, scoreLine(sc.Labels(), s))
			}
		}
	}
	var te *predict.TextError
	if errors.As(err, &te) {
		return fmt.Errorf("predict: %s: %w", where(te.Index), te.Err)
	}
	return err
}
