package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/pipeline"
)

// parseOptions runs a command's flag parsing and its option table's load, not its action: no
// model is loaded and nothing is written.
func parseOptions[C any](t *testing.T, cmd *cli.Command, o *options[C], args ...string) (C, error) {
	t.Helper()
	var got C
	cmd.Action = func(c *cli.Context) error {
		var err error
		got, err = o.load(c)
		return err
	}
	app := &cli.App{Name: "sentitune", Commands: []*cli.Command{cmd}, Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{}}
	err := app.Run(append([]string{"sentitune", cmd.Name}, args...))
	return got, err
}

// writeYAML writes a --config file and returns its path.
func writeYAML(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "options.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestOptionPrecedence: for every command, a --config key sets an option over its default and a
// flag given on the command line sets it over the YAML.
func TestOptionPrecedence(t *testing.T) {
	t.Run("predict", func(t *testing.T) {
		cfg := writeYAML(t, "batch-size: 8\nthreshold: 0.3\ntext-col: body\ntext: [from yaml]\n")
		got, err := parseOptions(t, predictCommand(), predictOptionTable(), "--config", cfg, "--threshold", "0.7", "-t", "a, b")
		if err != nil {
			t.Fatal(err)
		}
		if got.Scorer.BatchSize != 8 || got.Scorer.Threshold != 0.7 || got.TextCol != "body" || got.Window != predictOptionTable().def.Window ||
			!reflect.DeepEqual(got.Texts, []string{"a, b"}) || got.Scorer.Device != "auto" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("serve", func(t *testing.T) {
		cfg := writeYAML(t, "max-batch: 4\naddr: 0.0.0.0:9\nmax-wait: 20ms\n")
		got, err := parseOptions(t, serveCommand(), serveOptionTable(), "--config", cfg, "--addr", "127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Server.MaxBatch != 4 || got.Addr != "127.0.0.1:1" || got.Server.MaxWait != 20*time.Millisecond || got.MaxBody != "1MiB" || !got.PlainControlTokens {
			t.Errorf("%+v", got)
		}
	})
	t.Run("eval", func(t *testing.T) {
		cfg := writeYAML(t, "compare: [old]\nname: yaml\nlog-every: 5s\ntext-col: body\n")
		got, err := parseOptions(t, evalCommand(), evalOptionTable(), "--config", cfg, "--name", "flag", "--compare", "a,b", "--compare", "c")
		if err != nil {
			t.Fatal(err)
		}
		if got.Report.Name != "flag" || got.Report.LogEvery != 5*time.Second || got.Data.TextCol != "body" ||
			!reflect.DeepEqual(got.Report.CompareDirs, []string{"a,b", "c"}) || got.Scorer.BatchSize != 32 {
			t.Errorf("%+v", got)
		}
	})
	t.Run("prep", func(t *testing.T) {
		cfg := writeYAML(t, "test-ratio: 0.2\nseed: 7\ndedup: true\n")
		got, err := parseOptions(t, prepCommand(), prepOptionTable(), "--config", cfg, "--seed", "9")
		if err != nil {
			t.Fatal(err)
		}
		if got.TestRatio != 0.2 || got.Seed != 9 || !got.Dedup || got.Lang != "auto" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("finetune", func(t *testing.T) {
		cfg := writeYAML(t, "lr: 0.003\nlora-r: 16\n")
		got, err := parseOptions(t, finetuneCommand(), finetuneOptionTable(), "--config", cfg, "--lora-r", "4")
		if err != nil {
			t.Fatal(err)
		}
		if got.LR != 0.003 || got.LoRAR != 4 || got.Scheduler != finetune.Defaults().Scheduler {
			t.Errorf("%+v", got)
		}
	})
	t.Run("run", func(t *testing.T) {
		cfg := writeYAML(t, "model: m\nseed: 3\nfinetune: {epochs: 2}\n")
		got, err := parseOptions(t, runCommand(), runOptionTable(), "--config", cfg, "--epochs", "5", "--device", "cpu")
		if err != nil {
			t.Fatal(err)
		}
		if got.Model != "m" || got.Seed != 3 || got.Finetune.Epochs != 5 || got.Finetune.Device != "cpu" || got.Eval.Device != "cpu" ||
			got.Finetune.LR != pipeline.Defaults().Finetune.LR {
			t.Errorf("%+v", got)
		}
	})
	t.Run("init-model", func(t *testing.T) {
		cfg := writeYAML(t, "preset: small\nseed: 4\n")
		got, err := parseOptions(t, initModelCommand(), initModelOptionTable(), "--config", cfg, "--seed", "6")
		if err != nil {
			t.Fatal(err)
		}
		want := initModelOptionTable().def
		want.Preset, want.Seed = "small", 6
		if got != want || got.DType != "f32" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("merge", func(t *testing.T) {
		cfg := writeYAML(t, "model: base\nadapter: a\n")
		got, err := parseOptions(t, mergeCommand(), mergeOptionTable(), "--config", cfg, "--adapter", "b", "--out", "o")
		if err != nil {
			t.Fatal(err)
		}
		if got != (mergeConfig{Model: "base", Adapter: "b", Out: "o", QuantizationBit: -1}) {
			t.Errorf("%+v", got)
		}
	})
	t.Run("logits", func(t *testing.T) {
		cfg := writeYAML(t, "ids: 1,2\ndtype: f32\n")
		got, err := parseOptions(t, logitsCommand(), logitsOptionTable(), "--config", cfg, "--ids", "3")
		if err != nil {
			t.Fatal(err)
		}
		if got.IDList != "3" || got.DType != "f32" || got.Device != "auto" {
			t.Errorf("%+v", got)
		}
	})
	t.Run("tokenize", func(t *testing.T) {
		cfg := writeYAML(t, "model: m\nchat: true\nsystem: from yaml\n")
		got, err := parseOptions(t, tokenizeCommand(), tokenizeOptionTable(), "--config", cfg, "--system", "from flag", "--text", "hi")
		if err != nil {
			t.Fatal(err)
		}
		if got.Model != "m" || !got.Chat || got.System != "from flag" || got.Text != "hi" || !got.HasText {
			t.Errorf("%+v", got)
		}
	})
}

// TestUsageErrorsExit2: in every command, an unknown flag, a value that does not parse, a --config
// that cannot be read or names an unknown key are usage errors (exit 2) naming what is wrong,
// found before any model is loaded (--model names no folder).
func TestUsageErrorsExit2(t *testing.T) {
	unknownKey := writeYAML(t, "no-such-option: 1\n")
	notMapping := writeYAML(t, "- a\n- b\n")
	for _, cmd := range newApp().Commands {
		t.Run(cmd.Name, func(t *testing.T) {
			has := map[string]bool{}
			for _, f := range cmd.Flags {
				has[f.Names()[0]] = true
			}
			cases := [][]string{{"--no-such-flag"}}
			if has[configFlag] {
				cases = append(cases, []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")})
			}
			if has[configFlag] && cmd.Name != "run" { // run's file has sections (prep:, finetune:, eval:): pipeline.LoadConfig checks its keys
				cases = append(cases, []string{"--config", unknownKey}, []string{"--config", notMapping})
			}
			var base []string
			if has["model"] {
				base = []string{"--model", filepath.Join(t.TempDir(), "none")}
			}
			for _, f := range cmd.Flags {
				switch f.(type) {
				case *cli.IntFlag, *cli.Float64Flag, *cli.Uint64Flag, *cli.Int64Flag, *cli.DurationFlag:
					cases = append(cases, []string{"--" + f.Names()[0], "abc"})
				}
			}
			for _, args := range cases {
				err := newApp().Run(append(append([]string{"sentitune", cmd.Name}, base...), args...))
				if code := exitCode(err); code != 2 {
					t.Errorf("%v: exit %d (%v), want 2", args, code, err)
				}
				if want := strings.TrimPrefix(args[0], "--"); args[0] == "--config" {
					if !strings.Contains(err.Error(), "config") {
						t.Errorf("%v: %v does not name the config file", args, err)
					}
				} else if err != nil && !strings.Contains(err.Error(), want) {
					t.Errorf("%v: %v does not name %s", args, err, want)
				}
			}
		})
	}
}

// TestMissingRequiredFlagsExit2: commands that used to exit 1 on a missing flag exit 2.
func TestMissingRequiredFlagsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"merge", "--model", "m", "--adapter", "a"}, "merge: --out is required"},
		{[]string{"logits", "--model", "m"}, "--ids: no token ids given"},
		{[]string{"logits", "--ids", "1,x", "--model", "m"}, `--ids: item 2 ("x") is not a token id`},
		{[]string{"logits", "--ids", "1"}, "logits: --model DIR is required"},
		{[]string{"eval", "--predictions", "p.csv"}, "eval: --out REPORTDIR is required"},
		{[]string{"eval", "--out", "r"}, "eval: need --predictions FILE"},
		{[]string{"init-model", "--logit-scale", "-2", "--out", "o"}, "--logit-scale -2"},
	} {
		err := newApp().Run(append([]string{"sentitune"}, tc.args...))
		if exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v (exit %d), want %q with exit 2", tc.args, err, exitCode(err), tc.want)
		}
	}
}
