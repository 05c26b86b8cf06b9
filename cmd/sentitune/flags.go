package main

import (
	"fmt"
	"math"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/predict"
)

// textList is a repeatable flag whose every value is one whole text. cli.StringSliceFlag splits
// at commas (and decodes a "sl:::" prefix); review text has commas, so it must not be split.
type textList []string

// textListCopy is what urfave/cli hands Set when it copies the flag's value to its other names
// (--text to -t) after parsing; a NUL cannot occur in a command-line argument.
const textListCopy = "\x00textList copy"

func (l *textList) Set(v string) error {
	if v != textListCopy {
		*l = append(*l, v)
	}
	return nil
}

func (l *textList) String() string    { return "" } // no default to show in --help
func (l *textList) Serialize() string { return textListCopy }

// textListFlag is a repeatable --NAME TEXT flag read back with textValues.
func textListFlag(name string, aliases []string, usage string) *cli.GenericFlag {
	return &cli.GenericFlag{Name: name, Aliases: aliases, Usage: usage, Value: &textList{}}
}

// textValues returns the values of a textListFlag in the order given.
func textValues(c *cli.Context, name string) []string {
	if l, ok := c.Generic(name).(*textList); ok {
		return *l
	}
	return nil
}

// flagCheck collects the first out-of-range option value; err is a usage error (exit 2) naming
// the command and the flag. It checks values, not the command line, so a --config YAML value is
// checked as a flag's would be.
type flagCheck struct {
	cmd string
	err error
}

func (f *flagCheck) fail(name, format string, a ...any) {
	if f.err == nil {
		f.err = usageError("%s: --%s %s", f.cmd, name, fmt.Sprintf(format, a...))
	}
}

// atLeast checks that an int option is at least lo.
func (f *flagCheck) atLeast(lo int, name string, v int) {
	if v < lo {
		what := "must not be negative"
		if lo > 0 {
			what = fmt.Sprintf("must be at least %d", lo)
		}
		f.fail(name, "%d: %s", v, what)
	}
}

// within checks that a float option is finite and within [lo, hi].
func (f *flagCheck) within(lo, hi float64, name string, v float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		f.fail(name, "%v: must be a finite number", v)
	case v < lo || v > hi:
		f.fail(name, "%g: must be in [%g, %g]", v, lo, hi)
	}
}

// probability checks a threshold-like option: strictly between 0 and 1 (0 or 1 would make every
// prediction one class).
func (f *flagCheck) probability(name string, v float64) {
	if !(v > 0 && v < 1) {
		f.fail(name, "%v: must be a probability strictly between 0 and 1", v)
	}
}

// positive checks that a duration option is positive.
func (f *flagCheck) positive(name string, v time.Duration) {
	if v <= 0 {
		f.fail(name, "%v: must be a positive duration (e.g. 500ms, 30s)", v)
	}
}

// checkScorer adds scorerOptions' checks; minBatch is 1, or 0 where 0 means a default (serve).
func (f *flagCheck) checkScorer(sc predict.ScorerConfig, minBatch int) {
	f.atLeast(0, "threads", sc.Threads)
	f.atLeast(0, "max-len", sc.MaxLen)
	f.atLeast(minBatch, "batch-size", sc.BatchSize)
	f.atLeast(0, "batch-tokens", sc.BatchTokens)
	f.probability("threshold", sc.Threshold)
}

// largestBody bounds --max-body: a request body is held in memory while it is decoded.
const largestBody = 1 << 30

// checkPrepOptions validates prep's numeric options (flags, or a run YAML's prep: section).
func checkPrepOptions(cmd string, testRatio, valRatio float64, maxChars int) error {
	for _, r := range []struct {
		name string
		v    float64
	}{{"test-ratio", testRatio}, {"val-ratio", valRatio}} {
		if !(r.v >= 0 && r.v < 1) {
			return usageError("%s: --%s %v: must be a share in [0, 1)", cmd, r.name, r.v)
		}
	}
	if testRatio+valRatio >= 1 {
		return usageError("%s: --test-ratio %g + --val-ratio %g leave nothing to train on: their sum must be below 1", cmd, testRatio, valRatio)
	}
	if maxChars < 0 {
		return usageError("%s: --max-chars %d: must not be negative (0: no limit)", cmd, maxChars)
	}
	return nil
}

// checkFinetuneFiles refuses a pipe as --train or --eval: training reads its data file again
// after loading it (the SHA-256 in run.json, every rank, --resume), and a pipe is empty by then.
func checkFinetuneFiles(cfg finetune.Config) error {
	for _, f := range []struct{ flag, path string }{{"train", cfg.TrainFile}, {"eval", cfg.EvalFile}} {
		if f.path != "" && table.IsStream(f.path) {
			return usageError("finetune: --%s %s is a pipe, which can be read only once; training reads its data file again (run.json's hash, every rank, --resume): write it to a file first", f.flag, f.path)
		}
	}
	return nil
}
