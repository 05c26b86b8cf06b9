package reports

import (
	"fmt"
	"html"
	"strings"

	"github.com/sentitune/sentitune/eval"
)

// classColors tell classes apart in the per-class plots (cycled beyond eight).
var classColors = []string{"#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"}

// MulticlassHTML renders a K-class evaluation as an HTML fragment: the metrics table, the
// confusion-matrix heatmap, per-class precision/recall/F1 bars and one-vs-rest ROC curves
// (when the metrics came with probabilities).
func MulticlassHTML(m *eval.MulticlassMetrics) string {
	var b strings.Builder
	b.WriteString(`<section class="multiclass">` + "\n")
	b.WriteString(multiclassTable(m))
	b.WriteString(confusionSVG(m))
	b.WriteString(classBarsSVG(m))
	if svg := rocOneVsRestSVG(m); svg != "" {
		b.WriteString(svg)
	}
	b.WriteString("</section>\n")
	return b.String()
}

// opt formats a metric that may be undefined.
func opt(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.3f", *v)
}

func multiclassTable(m *eval.MulticlassMetrics) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<table>\n<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>ROC-AUC (one vs rest)</th></tr>\n")
	for _, c := range m.PerClass {
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td></tr>\n",
			html.EscapeString(c.Label), opt(c.Precision), opt(c.Recall), opt(c.F1), c.Support, opt(c.ROCAUC))
	}
	for _, a := range []struct {
		name string
		v    eval.Average
		auc  *float64
	}{{"macro", m.Macro, m.ROCAUCMacro}, {"micro", m.Micro, nil}, {"weighted", m.Weighted, nil}} {
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%d</td><td>%s</td></tr>\n",
			a.name, a.v.Precision, a.v.Recall, a.v.F1, m.N, opt(a.auc))
	}
	b.WriteString("</table>\n")
	fmt.Fprintf(&b, "<p>accuracy %.3f · Cohen's κ %s", m.Accuracy, opt(m.CohenKappa))
	if m.MAE != nil {
		fmt.Fprintf(&b, " · MAE %.3f classes · quadratic-weighted κ %s", *m.MAE, opt(m.QuadraticKappa))
	}
	b.WriteString("</p>\n")
	return b.String()
}

// confusionSVG draws the K×K confusion matrix, each cell shaded by its share of the true class's
// rows (so rows read as recall) and labelled with its count.
func confusionSVG(m *eval.MulticlassMetrics) string {
	k := len(m.Labels)
	cell := float64(min(64, 360/k))
	left, top := 96.0, 40.0
	w, h := max(left+cell*float64(k)+16, 380), top+cell*float64(k)+40 // room for the title
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="confusion" viewBox="0 0 %s %s" xmlns="http://www.w3.org/2000/svg" role="img">`+"\n", num(w), num(h))
	fmt.Fprintf(&b, `<text x="8" y="18" font-weight="600">Confusion: rows true, columns predicted</text>`+"\n")
	for i, row := range m.Confusion {
		total := 0
		for _, c := range row {
			total += c
		}
		y := top + cell*float64(i)
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", num(left-6), num(y+cell/2), html.EscapeString(m.Labels[i]))
		for j, c := range row {
			share := 0.0
			if total > 0 {
				share = float64(c) / float64(total)
			}
			x := left + cell*float64(j)
			fill := "#1e3a8a"
			text := "#0f172a"
			if share > 0.5 {
				text = "#ffffff"
			}
			fmt.Fprintf(&b, `<rect class="cell" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="%s" stroke="%s"><title>true %s, predicted %s: %d (%.1f%% of %s)</title></rect>`+"\n",
				num(x), num(y), num(cell), num(cell), fill, num(0.05+0.9*share), gridColor,
				html.EscapeString(m.Labels[i]), html.EscapeString(m.Labels[j]), c, 100*share, html.EscapeString(m.Labels[i]))
			fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle" dominant-baseline="middle" fill="%s">%d</text>`+"\n", num(x+cell/2), num(y+cell/2), text, c)
		}
	}
	for j, name := range m.Labels {
		fmt.Fprintf(&b, `<text x="%s" y="%s" text-anchor="middle">%s</text>`+"\n", num(left+cell*float64(j)+cell/2), num(top+cell*float64(k)+18), html.EscapeString(name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// classBarsSVG draws precision, recall and F1 of each class as grouped bars (an undefined value
// draws no bar).
func classBarsSVG(m *eval.MulticlassMetrics) string {
	k := len(m.PerClass)
	group := float64(max(60, 360/k))
	w := float64(padL) + group*float64(k) + float64(padR)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="class-bars" viewBox="0 0 %s %d" xmlns="http://www.w3.org/2000/svg" role="img">`+"\n", num(w), chartH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-weight="600">Per-class precision, recall and F1</text>`+"\n", padL)
	for _, t := range []float64{0, 0.5, 1} {
		y := padT + plotH - t*plotH
		fmt.Fprintf(&b, `<line x1="%d" x2="%s" y1="%s" y2="%s" stroke="%s"/><text x="%d" y="%s" text-anchor="end" dominant-baseline="middle" fill="%s">%s</text>`+"\n",
			padL, num(w-padR), num(y), num(y), gridColor, padL-6, num(y), mutedColor, tickLabel(t))
	}
	metrics := []string{"precision", "recall", "F1"}
	bar := group / 4
	for c, pc := range m.PerClass {
		x0 := float64(padL) + group*float64(c) + bar/2
		for i, v := range []*float64{pc.Precision, pc.Recall, pc.F1} {
			if v == nil {
				continue
			}
			hgt := *v * plotH
			fmt.Fprintf(&b, `<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s %s %.3f</title></rect>`+"\n",
				num(x0+bar*float64(i)), num(padT+plotH-hgt), num(bar*0.9), num(hgt), classColors[i], html.EscapeString(pc.Label), metrics[i], *v)
		}
		fmt.Fprintf(&b, `<text x="%s" y="%d" text-anchor="middle">%s</text>`+"\n", num(x0+bar*1.5), padT+plotH+18, html.EscapeString(pc.Label))
	}
	for i, name := range metrics {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", padL+90*i, chartH-14, classColors[i], padL+90*i+14, chartH-5, name)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// rocOneVsRestSVG draws each class's one-vs-rest ROC curve; "" without probabilities.
func rocOneVsRestSVG(m *eval.MulticlassMetrics) string {
	c := chart{Title: "ROC curves, one vs rest", XLabel: "false positive rate", YLabel: "true positive rate", XMax: 1, YMax: 1, Diagonal: true, Legend: "br"}
	for i, curve := range m.ROC {
		if curve == nil {
			continue
		}
		pts := make([][2]float64, len(curve))
		for j, p := range curve {
			pts[j] = [2]float64{p.X, p.Y}
		}
		name := m.Labels[i]
		if auc := m.PerClass[i].ROCAUC; auc != nil {
			name = fmt.Sprintf("%s (AUC %.3f)", name, *auc)
		}
		c.Series = append(c.Series, series{Name: name, Color: classColors[i%len(classColors)], Points: pts})
	}
	if len(c.Series) == 0 {
		return ""
	}
	return c.svg() + "\n"
}
