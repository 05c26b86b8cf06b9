package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/reports"
)

// evalClassNames reads eval's --labels: stars3, stars5, a label set as prep takes it
// ("negative=0,neutral=1,positive=2") or the class names alone ("negative,neutral,positive");
// "" leaves the classes to the file's prob_<name> columns.
func evalClassNames(spec string) ([]string, error) {
	spec = strings.TrimSpace(spec)
	var ls task.Labels
	switch strings.ToLower(spec) {
	case "":
		return nil, nil
	case "stars5":
		ls = task.Stars5
	case "stars3":
		ls = task.Stars3
	default:
		if !strings.Contains(spec, "=") {
			return strings.Split(spec, ","), checkClassNames(spec)
		}
		var err error
		if ls, err = task.ParseLabels(spec); err != nil {
			return nil, usageError("eval: --labels: %v", err)
		}
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name
	}
	return names, nil
}

// checkClassNames refuses a name list with an empty or repeated name.
func checkClassNames(spec string) error {
	seen := map[string]bool{}
	for _, n := range strings.Split(spec, ",") {
		key := strings.ToLower(strings.TrimSpace(n))
		if key == "" || seen[key] || n != strings.TrimSpace(n) {
			return usageError("eval: --labels %q: want stars3, stars5, NAME=ANSWER,... or NAME,NAME,... (no empty, padded or repeated names)", spec)
		}
		seen[key] = true
	}
	if len(seen) < 2 {
		return usageError("eval: --labels %q: a classifier needs at least two labels", spec)
	}
	return nil
}

// readClassPredictions reads --predictions (a file, or "-" for stdin) as a K-class file when it
// has prob_<name> columns or classes are given, else as a binary one (classes nil).
func readClassPredictions(c *cli.Context, path string, classes []string) ([]string, []eval.Prediction, error) {
	if path == "-" {
		return table.ReadClassPredictionsFrom(c.App.Reader, "stdin", classes)
	}
	if !table.IsStream(path) {
		return table.ReadClassPredictions(path, classes)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return table.ReadClassPredictionsFrom(f, path, classes)
}

// runClassEval is eval's K-class end: metrics, the multinomial baseline and the report.
func runClassEval(c *cli.Context, preds []eval.Prediction, classes []string, ordered bool, cfg reports.EvalConfig) error {
	ordered = ordered || eval.OrderedScale(classes)
	in, err := reports.RunClassEval(preds, classes, ordered, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(c.App.Writer, reports.ClassSummary(in))
	fmt.Fprintf(c.App.Writer, "report: %s\n", filepath.Join(cfg.Out, reports.HTMLFile))
	return nil
}
