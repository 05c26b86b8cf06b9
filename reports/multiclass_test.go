package reports

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
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
