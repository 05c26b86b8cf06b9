package finetune

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// readAnswers is readAnswersIn for the binary task.
func readAnswers(path string) ([]task.Example, error) { return readAnswersIn(path, task.Binary) }

// readAnswersIn reads an Alpaca file's records and their classes in ls. An output that is not
// the model's answer but a label prep understands is mapped as prep maps it (binary:
// positive/negative, 好评/差评, true/false; K classes: a class name, e.g. "neutral"), so
// LLaMA-Factory datasets with word answers train as they are; answerMapping says how.
func readAnswersIn(path string, ls task.Labels) ([]task.Example, error) {
	recs, err := task.ReadRecords(path)
	if err != nil {
		return nil, err
	}
	exs := make([]task.Example, len(recs))
	for i, r := range recs {
		label, err := ls.ParseAnswer(r.Output)
		if err != nil {
			mapped, perr := wordClass(ls, r.Output)
			if perr != nil {
				return nil, fmt.Errorf("%s record %d: %w, nor a label prep maps (%v); prep the file (sentitune prep --input %s --label-map 'word=1,other=0') to map its answers", path, i+1, err, perr, path)
			}
			label = mapped
		}
		exs[i] = task.Example{Record: r, Row: i + 1, Label: label}
	}
	return exs, nil
}

// wordClass maps an output that is not an answer of ls: binary as prep's built-in words,
// K classes by class name (any case).
func wordClass(ls task.Labels, output string) (int, error) {
	if ls.IsBinary() {
		return prep.NormalizeLabel(output, nil)
	}
	return ls.ClassOf(output)
}

// answerMapping is the line saying which outputs were mapped to which answer ("" when every
// output already was the answer).
func answerMapping(path string, ls task.Labels, exs []task.Example) string {
	counts := map[string]int{}
	for _, e := range exs {
		out := strings.TrimSpace(e.Output)
		if out != ls[e.Label].Answer {
			counts[fmt.Sprintf("%q → %s", out, ls[e.Label].Answer)]++
		}
	}
	if len(counts) == 0 {
		return ""
	}
	pairs := make([]string, 0, len(counts))
	for p, n := range counts {
		pairs = append(pairs, fmt.Sprintf("%s (%d)", p, n))
	}
	slices.Sort(pairs)
	return fmt.Sprintf("finetune: %s: outputs mapped to the answer as prep maps labels: %s\n", path, strings.Join(pairs, ", "))
}
