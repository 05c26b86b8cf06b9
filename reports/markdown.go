package reports

import (
	"fmt"
	"strings"
)

func renderMarkdown(in *Input) string {
	v := buildView(in)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", mdText(v.Title), mdText(v.Subtitle))
	if v.Note != "" {
		fmt.Fprintf(&b, "> **Note.** %s\n\n", mdText(v.Note))
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(&b, "> **Warning.** %s\n\n", mdText(w))
	}
	fmt.Fprintf(&b, "**%s**\n\n", mdText(v.Verdict))

	b.WriteString("| | value | 95% CI | vs baseline |\n|---|---:|---|---:|\n")
	for _, c := range v.Cards {
		d := strings.TrimSuffix(c.Delta, " vs baseline")
		if c.DeltaClass == "trade" {
			d += " (trade-off; judge by F1)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", c.Label, c.Value, strings.TrimPrefix(c.CI, "95% CI "), d)
	}

	b.WriteString("\n## Metrics side by side\n\n| metric |")
	for _, c := range v.Columns {
		fmt.Fprintf(&b, " %s |", mdCell(c))
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(v.Columns)) + "\n")
	for _, r := range v.Rows {
		fmt.Fprintf(&b, "| %s |", r.Label)
		for _, c := range r.Cells {
			t := c.Text
			if c.Best {
				t = "**" + t + "**"
			}
			fmt.Fprintf(&b, " %s |", t)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\n%s\n", mdText(v.Majority))

	cm := v.CM
	fmt.Fprintf(&b, "\n## Confusion matrix\n\n| | predicted 0 | predicted 1 |\n|---|---:|---:|\n"+
		"| labelled 0 | %d TN (%s) | %d FP (%s) |\n| labelled 1 | %d FN (%s) | %d TP (%s) |\n",
		cm.TN, cm.TNPct, cm.FP, cm.FPPct, cm.FN, cm.FNPct, cm.TP, cm.TPPct)

	if len(v.Thresholds) > 0 {
		b.WriteString("\n## Thresholds on this split\n\n| classifier | optimises | threshold | accuracy | F1 |\n|---|---|---:|---:|---:|\n")
		for _, r := range v.Thresholds {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdCell(r.Label), r.Cells[0].Text, r.Cells[1].Text, r.Cells[2].Text, r.Cells[3].Text)
		}
		b.WriteString("\nPredict 1 when prob ≥ threshold; chosen on the test split itself, so optimistic.\n")
	}
	if v.NoProbNote != "" {
		fmt.Fprintf(&b, "\n%s\n", v.NoProbNote)
	} else {
		b.WriteString("\nPlots (ROC, precision-recall, calibration, probability histogram, loss) are in report.html.\n")
	}

	if len(v.Comparisons) > 0 {
		b.WriteString("\n## Paired comparisons (McNemar)\n\n| A | B | acc A | acc B | only A right | only B right | both right | both wrong | p | test |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, c := range v.Comparisons {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %d | %d | %s | %s |\n", mdCell(c.A), mdCell(c.B), c.AccA, c.AccB, c.AOnly, c.BOnly, c.Both, c.Neither, c.PValue, c.Method)
		}
		b.WriteString("\n")
		for _, c := range v.Comparisons {
			fmt.Fprintf(&b, "- %s\n", mdText(c.Verdict))
		}
	}

	b.WriteString("\n## Most confident errors\n")
	for _, part := range []struct {
		title string
		rows  []errorRow
	}{{"False positives (labelled 0, predicted 1; highest prob first)", v.FalsePos}, {"False negatives (labelled 1, predicted 0; lowest prob first)", v.FalseNeg}} {
		fmt.Fprintf(&b, "\n### %s\n\n", part.title)
		if len(part.rows) == 0 {
			b.WriteString("None.\n")
			continue
		}
		b.WriteString("| id | prob | text |\n|---|---:|---|\n")
		for _, r := range part.rows {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCell(r.ID), r.Prob, mdCell(r.Text))
		}
	}

	if len(v.Provenance) > 0 {
		b.WriteString("\n## Provenance\n\n| | |\n|---|---|\n")
		for _, kv := range v.Provenance {
			fmt.Fprintf(&b, "| %s | %s |\n", mdCell(kv[0]), mdCell(kv[1]))
		}
	}
	return b.String()
}

// mdCell makes text safe inside a Markdown table cell.
func mdCell(s string) string {
	return mdText(strings.ReplaceAll(s, "|", `\|`))
}

// mdText makes text safe as a one-line Markdown paragraph without HTML entities, which read
// wrong in the .md file itself: only a "<" that could open a tag or autolink is
// backslash-escaped, so "p < 0.0001" stays as written.
func mdText(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '<' && i+1 < len(s) && opensTag(s[i+1]) {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// opensTag reports whether c after "<" makes CommonMark read raw HTML or an autolink.
func opensTag(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/' || c == '!' || c == '?'
}
