package reports

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
)

// skewedPredictions are 400 rows, half labelled 1, whose probs rank the rows well but sit
// almost all above 0.5: 97.5 % are predicted 1.
func skewedPredictions() []eval.Prediction {
	var out []eval.Prediction
	for i := range 400 {
		f := float64(i/2) / 200
		p := eval.Prediction{ID: fmt.Sprint(i + 1), Label: i % 2, Prob: 0.48 + 0.4*f}
		if p.Label == 1 {
			p.Prob = 0.55 + 0.45*f
		}
		if p.Prob >= 0.5 {
			p.Pred = 1
		}
		out = append(out, p)
	}
	return out
}

// TestOneClassWarning: a threshold that predicts nearly every row as one class is called out
// in the headline (report, metrics.json, terminal summary) with a pointer to the threshold table.
func TestOneClassWarning(t *testing.T) {
	out := t.TempDir()
	in := Input{Model: Side{Name: "skewed", Predictions: skewedPredictions()}}
	if err := Write(out, in); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, MetricsFile))), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0], "skewed predicts 97.5% of rows as 1, though only 50.0% are labelled 1") ||
		!strings.Contains(doc.Warnings[0], "Thresholds on this split") || !strings.Contains(doc.Warnings[0], "ROC-AUC") {
		t.Errorf("metrics.json warnings %q", doc.Warnings)
	}
	md := readFile(t, filepath.Join(out, MarkdownFile))
	if w, v := strings.Index(md, "> **Warning.** skewed predicts 97.5%"), strings.Index(md, "**skewed: "); w < 0 || v < w {
		t.Errorf("report.md has no warning above the verdict:\n%s", md[:min(len(md), 1200)])
	}
	page := readFile(t, filepath.Join(out, HTMLFile))
	if !strings.Contains(page, `<div class="warn">skewed predicts 97.5% of rows as 1`) || !strings.Contains(page, `id="thresholds"`) {
		t.Error("report.html lacks the warning or the threshold table's anchor")
	}
	if err := in.complete(); err != nil {
		t.Fatal(err)
	}
	if s := Summary(&in); !strings.Contains(s, "warning: skewed predicts 97.5% of rows as 1") {
		t.Errorf("summary lacks the warning:\n%s", s)
	}

	// No warning when the labels are as lopsided as the predictions, or the threshold is sound.
	for name, preds := range map[string][]eval.Prediction{
		"lopsided labels": func() []eval.Prediction {
			ps := skewedPredictions()
			for i := range ps {
				ps[i].Label = 1
				if i < 8 {
					ps[i].Label = 0
				}
			}
			return ps
		}(),
		"balanced predictions": func() []eval.Prediction {
			ps := skewedPredictions()
			for i := range ps {
				ps[i].Pred = 0
				if ps[i].Prob >= 0.7 {
					ps[i].Pred = 1
				}
			}
			return ps
		}(),
	} {
		in := Input{Model: Side{Name: "m", Predictions: preds}}
		if err := in.complete(); err != nil {
			t.Fatal(err)
		}
		if w := in.allWarnings(); len(w) != 0 {
			t.Errorf("%s: unexpected warnings %q", name, w)
		}
	}
}

// sidePreds is n positives and n negatives of which the classifier calls tp positives and fp
// negatives 1.
func sidePreds(n, tp, fp int) []eval.Prediction {
	var out []eval.Prediction
	for i := range n {
		out = append(out, eval.Prediction{ID: fmt.Sprintf("p%d", i), Label: 1, Pred: b2i(i < tp), Prob: 0.2 + 0.6*float64(b2i(i < tp))})
		out = append(out, eval.Prediction{ID: fmt.Sprintf("n%d", i), Label: 0, Pred: b2i(i < fp), Prob: 0.2 + 0.6*float64(b2i(i < fp))})
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDeltaColours: precision bought with collapsing recall is not shown as a gain; when both
// rise, both are.
func TestDeltaColours(t *testing.T) {
	base := sidePreds(100, 80, 20) // precision 0.8, recall 0.8
	for _, tc := range []struct {
		name                  string
		model                 []eval.Prediction
		precision, recall, f1 string
	}{
		{"precision up, recall collapses", sidePreds(100, 20, 0), "trade", "down", "down"},
		{"recall up, precision a little down", sidePreds(100, 95, 30), "trade", "up", "up"},
		{"both up", sidePreds(100, 90, 10), "up", "up", "up"},
		{"both down", sidePreds(100, 70, 30), "down", "down", "down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Model: Side{Predictions: tc.model}, Baseline: &Side{Predictions: base}}
			if err := in.complete(); err != nil {
				t.Fatal(err)
			}
			v := buildView(&in)
			got := [3]string{v.Cards[1].DeltaClass, v.Cards[2].DeltaClass, v.Cards[3].DeltaClass}
			if got != [3]string{tc.precision, tc.recall, tc.f1} {
				t.Errorf("precision/recall/F1 delta classes %v, want %s %s %s", got, tc.precision, tc.recall, tc.f1)
			}
			if tc.precision == "trade" && tc.recall == "down" && !strings.Contains(v.Cards[1].Sub, "traded against recall (−60.0 pts)") {
				t.Errorf("precision card sub %q", v.Cards[1].Sub)
			}
			page, err := renderHTML(&in)
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`<div class="delta %s">`, tc.precision)
			if !strings.Contains(string(page), want) {
				t.Errorf("report.html lacks %s", want)
			}
		})
	}
}

// TestPValueText: a tiny p-value reads "p < 0.0001" in both renderings, with no HTML entity in
// the Markdown and no "p = <".
func TestPValueText(t *testing.T) {
	model, base := sidePreds(100, 95, 5), sidePreds(100, 60, 40)
	in := Input{Model: Side{Name: "m", Predictions: model}, Baseline: &Side{Name: "TF-IDF baseline", Predictions: base}}
	c, err := eval.Compare(model, base)
	if err != nil {
		t.Fatal(err)
	}
	c.A, c.B = "m", "TF-IDF baseline"
	if c.PValue >= 0.0001 {
		t.Fatalf("p = %g; the test needs p < 0.0001", c.PValue)
	}
	in.Comparisons = []eval.Comparison{*c}
	out := t.TempDir()
	if err := Write(out, in); err != nil {
		t.Fatal(err)
	}
	md := readFile(t, filepath.Join(out, MarkdownFile))
	page := readFile(t, filepath.Join(out, HTMLFile))
	for _, want := range []string{"(McNemar p < 0.0001)", "; p < 0.0001 (chi-square"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	if strings.Contains(md, "&lt;") || strings.Contains(md, "p = <") {
		t.Error("report.md writes the p-value as an HTML entity or as \"p = <\"")
	}
	if !strings.Contains(page, "(McNemar p &lt; 0.0001)") || strings.Contains(page, "p = &lt;") {
		t.Error("report.html does not read \"p < 0.0001\"")
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for in, want := range map[string]string{
		"p < 0.0001 and 3 > 2":        "p < 0.0001 and 3 > 2",
		"<b>great</b> phone<br>works": `\<b>great\</b> phone\<br>works`,
		"a|b\nc":                      "a|b c",
		"<!-- x --> <?php":            `\<!-- x --> \<?php`,
	} {
		if got := mdText(in); got != want {
			t.Errorf("mdText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := mdCell("a|b <i>"); got != `a\|b \<i>` {
		t.Errorf("mdCell = %q", got)
	}
}
