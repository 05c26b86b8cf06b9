package main

import (
	"fmt"
	"math"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/prep"
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

// flagCheck collects the first out-of-range value among a command's numeric flags; err is a
// usage error (exit 2) naming the command and the flag.
type flagCheck struct {
	c   *cli.Context
	cmd string
	err error
}

func (f *flagCheck) fail(name, format string, a ...any) {
	if f.err == nil {
		f.err = usageError("%s: --%s %s", f.cmd, name, fmt.Sprintf(format, a...))
	}
}

// ints checks that each named int flag the command has is at least lo.
func (f *flagCheck) ints(lo int, names ...string) {
	for _, n := range names {
		if v := f.c.Int(n); v < lo {
			what := "must not be negative"
			if lo > 0 {
				what = fmt.Sprintf("must be at least %d", lo)
			}
			f.fail(n, "%d: %s", v, what)
		}
	}
}

// floats checks that each named float flag is finite and within [lo, hi].
func (f *flagCheck) floats(lo, hi float64, names ...string) {
	for _, n := range names {
		v := f.c.Float64(n)
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			f.fail(n, "%v: must be a finite number", v)
		case v < lo || v > hi:
			f.fail(n, "%g: must be in [%g, %g]", v, lo, hi)
		}
	}
}

// probability checks a threshold-like flag: strictly between 0 and 1 (0 or 1 would make every
// prediction one class).
func (f *flagCheck) probability(name string) {
	if v := f.c.Float64(name); !(v > 0 && v < 1) {
		f.fail(name, "%v: must be a probability strictly between 0 and 1", v)
	}
}

// durations checks that each named duration flag is positive.
func (f *flagCheck) durations(names ...string) {
	for _, n := range names {
		if v := f.c.Duration(n); v <= 0 {
			f.fail(n, "%v: must be a positive duration (e.g. 500ms, 30s)", v)
		}
	}
}

// checkScorerFlags validates scorerFlags; minBatch is 1, or 0 where 0 means a default (serve).
func checkScorerFlags(c *cli.Context, cmd string, minBatch int) error {
	f := &flagCheck{c: c, cmd: cmd}
	f.ints(0, "threads", "max-len")
	f.ints(minBatch, "batch-size")
	f.probability("threshold")
	return f.err
}

// largestBody bounds --max-body: a request body is held in memory while it is decoded.
const largestBody = 1 << 30

// checkPredictFlags validates predict's numeric flags.
func checkPredictFlags(c *cli.Context) error {
	f := &flagCheck{c: c, cmd: "predict"}
	f.ints(1, "window", "shard-block")
	f.ints(0, "generate")
	f.durations("log-every")
	if f.err != nil {
		return f.err
	}
	return checkScorerFlags(c, "predict", 1)
}

// checkServeFlags validates serve's numeric flags (--max-body is checked by parseBytes); the
// server replaces zero values by its defaults, so zero is refused rather than silently replaced.
func checkServeFlags(c *cli.Context) error {
	f := &flagCheck{c: c, cmd: "serve"}
	f.ints(1, "max-batch", "max-texts", "max-batch-tokens", "max-request-tokens", "max-queue-tokens")
	f.durations("max-wait", "timeout", "drain")
	if f.err != nil {
		return f.err
	}
	return checkScorerFlags(c, "serve", 0)
}

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
		if f.path != "" && prep.IsStream(f.path) {
			return usageError("finetune: --%s %s is a pipe, which can be read only once; training reads its data file again (run.json's hash, every rank, --resume): write it to a file first", f.flag, f.path)
		}
	}
	return nil
}
