package reports

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/prep"
)

// TestMulticlassHTML renders a 3-class evaluation with one class never predicted: a 3×3 heatmap
// with the counts, bars for each defined value, one ROC curve per class, all well-formed XML.
func TestMulticlassHTML(t *testing.T) {
	labels := []string{"negative", "neutral", "positive"}
	y := []int{0, 0, 0, 1, 1, 2, 2, 2, 2}
	pred := []int{0, 0, 1, 1, 0, 0, 0, 0, 1}
	probs := [][]float64{{.7, .2, .1}, {.6, .3, .1}, {.3, .5, .2}, {.2, .6, .2}, {.5, .4, .1}, {.5, .2, .3}, {.6, .1, .3}, {.4, .2, .4}, {.2, .5, .3}}
	m, err := eval.ComputeMulticlass(labels, y, pred, probs, true)
	if err != nil {
		t.Fatal(err)
	}
	out := MulticlassHTML(m)
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, out)
		}
	}
	for what, want := range map[string]int{
		`class="cell"`: 9, // K×K heatmap
		`class="bar"`:  8, // 3 classes × P/R/F1, less positive's undefined precision
		"<path":        3, // one ROC curve per class
	} {
		if got := strings.Count(out, what); got != want {
			t.Errorf("%d × %s, want %d", got, what, want)
		}
	}
	for _, want := range []string{
		"true positive, predicted negative: 3 (75.0% of positive)",
		"<td>positive</td><td>—</td><td>0.000</td><td>0.000</td><td>4</td>",
		"quadratic-weighted κ",
		"negative (AUC ", "neutral (AUC ", "positive (AUC ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
}

// TestThreeClassSample runs the shipped 3-class sample (data/reviews3.jsonl) through prep with
// --labels, the multinomial TF-IDF baseline, the K-class metrics and the report fragment.
func TestThreeClassSample(t *testing.T) {
	out := t.TempDir()
	labels, err := task.ParseLabels("negative=0,neutral=1,positive=2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prep.Run(prep.Config{Input: "../data/reviews3.jsonl", Out: out, Labels: labels.String(), TestRatio: 0.2, Seed: 42, Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) (texts []string, classes []int) {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		var recs []task.Record
		if err := json.Unmarshal(b, &recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			c, err := labels.ParseAnswer(r.Output)
			if err != nil {
				t.Fatal(err)
			}
			texts, classes = append(texts, r.Input), append(classes, c)
		}
		return texts, classes
	}
	trX, trY := read(prep.FileTrain)
	teX, teY := read(prep.FileTest)
	if len(trX) != 144 || len(teX) != 36 {
		t.Fatalf("train %d, test %d rows; want 144 and 36", len(trX), len(teX))
	}
	b, err := eval.FitMultinomialBaseline(trX, trY, len(labels))
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]int, len(teX))
	probs := make([][]float64, len(teX))
	for i, text := range teX {
		probs[i] = b.Predict(text)
		for c, p := range probs[i] {
			if p > probs[i][pred[i]] {
				pred[i] = c
			}
		}
	}
	names := []string{labels[0].Name, labels[1].Name, labels[2].Name}
	m, err := eval.ComputeMulticlass(names, teY, pred, probs, true)
	if err != nil {
		t.Fatal(err)
	}
	// Short invented reviews: the baseline must at least beat chance (1/3) clearly.
	if m.Accuracy < 0.5 {
		t.Errorf("baseline accuracy %.3f on the 3-class sample, want >= 0.5", m.Accuracy)
	}
	t.Logf("TF-IDF multinomial baseline on data/reviews3.jsonl (seed 42, 20%% test): accuracy %.3f, macro F1 %.3f, kappa %.3f", m.Accuracy, m.Macro.F1, *m.CohenKappa)
	if html := MulticlassHTML(m); strings.Count(html, `class="cell"`) != 9 {
		t.Error("the report fragment has no 3×3 confusion matrix")
	}
}
