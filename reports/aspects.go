package reports

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/atomicfile"
)

// AspectReport is an aspect-sentiment evaluation as written to a report folder.
type AspectReport struct {
	Title      string
	Note       string
	Metrics    *eval.AspectMetrics
	Provenance map[string]string // where the predictions came from
}

// aspectDoc is metrics.json of an aspect evaluation.
type aspectDoc struct {
	Task string `json:"task"` // "aspects"
	*eval.AspectMetrics
	Provenance map[string]string `json:"provenance,omitempty"`
}

// WriteAspectReport writes dir/metrics.json, report.md and report.html, each file atomically.
func WriteAspectReport(dir string, r AspectReport) error {
	if r.Title == "" {
		r.Title = "sentitune aspect evaluation"
	}
	doc, err := json.MarshalIndent(aspectDoc{Task: "aspects", AspectMetrics: r.Metrics, Provenance: r.Provenance}, "", "  ")
	if err != nil {
		return fmt.Errorf("report %s: encode metrics: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for name, data := range map[string][]byte{
		MetricsFile:  append(doc, '\n'),
		MarkdownFile: []byte(aspectMarkdown(r)),
		HTMLFile:     []byte(aspectHTML(r)),
	} {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

// AspectSummary is the few lines eval prints: one per aspect.
func AspectSummary(m *eval.AspectMetrics) string {
	var b strings.Builder
	fmt.Fprintf(&b, "aspects: %d reviews; mean accuracy %.3f, mean macro F1 %.3f\n", m.Reviews, m.MeanAccuracy, m.MeanMacroF1)
	for _, a := range m.Aspects {
		fmt.Fprintf(&b, "  %-12s mentioned %4d  accuracy %.3f  macro F1 %.3f  kappa %s\n", a.Aspect, a.Mentioned, a.Metrics.Accuracy, a.Metrics.Macro.F1, opt(a.Metrics.CohenKappa))
	}
	return b.String()
}

func aspectMarkdown(r AspectReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	if r.Note != "" {
		fmt.Fprintf(&b, "> %s\n\n", r.Note)
	}
	m := r.Metrics
	fmt.Fprintf(&b, "%d reviews, each scored once per aspect; labels %s. Mean accuracy %.3f, mean macro F1 %.3f.\n\n",
		m.Reviews, strings.Join(m.Labels, "/"), m.MeanAccuracy, m.MeanMacroF1)
	b.WriteString("| aspect | mentioned | accuracy | macro F1 | weighted F1 | Cohen's κ | ROC-AUC (macro, one vs rest) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range m.Aspects {
		x := a.Metrics
		fmt.Fprintf(&b, "| %s | %d | %.3f | %.3f | %.3f | %s | %s |\n", a.Aspect, a.Mentioned, x.Accuracy, x.Macro.F1, x.Weighted.F1, opt(x.CohenKappa), opt(x.ROCAUCMacro))
	}
	for _, a := range m.Aspects {
		fmt.Fprintf(&b, "\n## %s\n\n| label | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|\n", a.Aspect)
		for _, c := range a.Metrics.PerClass {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d |\n", c.Label, opt(c.Precision), opt(c.Recall), opt(c.F1), c.Support)
		}
	}
	b.WriteString(provenanceMarkdown(r.Provenance))
	return b.String()
}

func provenanceMarkdown(p map[string]string) string {
	if len(p) == 0 {
		return ""
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n## Provenance\n\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "- %s: `%s`\n", k, p[k])
	}
	return b.String()
}

// aspectHTML is a self-contained page: the per-aspect table, then each aspect's K-class section.
func aspectHTML(r AspectReport) string {
	var b strings.Builder
	e := html.EscapeString
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<h1>%s</h1>\n",
		e(r.Title), aspectCSS, e(r.Title))
	if r.Note != "" {
		fmt.Fprintf(&b, "<p class=\"note\">%s</p>\n", e(r.Note))
	}
	m := r.Metrics
	fmt.Fprintf(&b, "<p>%d reviews, each scored once per aspect (%s). Mean accuracy %.3f, mean macro F1 %.3f.</p>\n",
		m.Reviews, e(strings.Join(m.Labels, " / ")), m.MeanAccuracy, m.MeanMacroF1)
	b.WriteString("<table>\n<tr><th>aspect</th><th>mentioned</th><th>accuracy</th><th>macro F1</th><th>weighted F1</th><th>Cohen's κ</th><th>ROC-AUC (macro)</th></tr>\n")
	for _, a := range m.Aspects {
		x := a.Metrics
		fmt.Fprintf(&b, "<tr><td><a href=\"#aspect-%s\">%s</a></td><td class=\"num\">%d</td><td class=\"num\">%.3f</td><td class=\"num\">%.3f</td><td class=\"num\">%.3f</td><td class=\"num\">%s</td><td class=\"num\">%s</td></tr>\n",
			e(a.Aspect), e(a.Aspect), a.Mentioned, x.Accuracy, x.Macro.F1, x.Weighted.F1, opt(x.CohenKappa), opt(x.ROCAUCMacro))
	}
	b.WriteString("</table>\n")
	for _, a := range m.Aspects {
		fmt.Fprintf(&b, "<h2 id=\"aspect-%s\">%s</h2>\n%s", e(a.Aspect), e(a.Aspect), MulticlassHTML(a.Metrics))
	}
	b.WriteString("</main>\n</body>\n</html>\n")
	return b.String()
}

const aspectCSS = `body{margin:0;background:#f8fafc;color:#0f172a;font:15px/1.5 system-ui,sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 24px 48px}
h2{margin:32px 0 10px;padding-bottom:6px;border-bottom:1px solid #e2e8f0}
.note{background:#fffbeb;border:1px solid #fcd34d;border-radius:10px;padding:10px 14px}
table{border-collapse:collapse;background:#fff;border:1px solid #e2e8f0}
th,td{padding:6px 12px;text-align:left;border-bottom:1px solid #e2e8f0}
th{background:#f1f5f9}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto}`
