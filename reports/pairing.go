package reports

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/task"
)

// baselineRows returns the rows the baseline scores: exactly the model's rows, so that the
// headline compares two classifiers on the same reviews. With text on every prediction these
// are the predictions themselves; otherwise each prediction's id is looked up in
// prepDir/test.json (a record's "id", else its record number, as predict numbers rows) and
// the labels must agree there. Any prediction not found, or found with another label, is an
// error: a baseline scored on other rows than the model's compares nothing.
func baselineRows(prepDir string, preds []eval.Prediction) (ids, texts []string, labels []int, from string, err error) {
	return baselineRowsOf(prepDir, preds, task.Binary)
}

// baselineRowsOf is baselineRows for a split prepared with the label set ls.
func baselineRowsOf(prepDir string, preds []eval.Prediction, ls task.Labels) (ids, texts []string, labels []int, from string, err error) {
	ids, texts, labels = make([]string, len(preds)), make([]string, len(preds)), make([]int, len(preds))
	if allHaveText(preds) {
		for i, p := range preds {
			ids[i], texts[i], labels[i] = p.ID, p.Text, p.Label
		}
		return ids, texts, labels, "the model's test rows (their text)", nil
	}
	testPath := filepath.Join(prepDir, "test.json")
	rows, err := eval.ReadLabelledRowsOf(testPath, ls)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("eval: baseline: the predictions carry no text, so their rows are looked up by id in %s: %w", testPath, err)
	}
	byID := make(map[string]int, len(rows))
	for i, r := range rows {
		if prev, dup := byID[r.ID]; dup {
			return nil, nil, nil, "", fmt.Errorf("eval: baseline: %s records %d and %d have the same id %q, so predictions cannot be matched to its rows; pass --no-baseline",
				testPath, prev+1, i+1, r.ID)
		}
		byID[r.ID] = i
	}
	seen := make(map[string]bool, len(preds))
	var missing []string
	for i, p := range preds {
		if seen[p.ID] {
			return nil, nil, nil, "", fmt.Errorf("eval: baseline: id %q appears twice in the predictions, so their rows cannot be matched to %s; pass --no-baseline", p.ID, testPath)
		}
		seen[p.ID] = true
		j, ok := byID[p.ID]
		if !ok {
			missing = append(missing, p.ID)
			continue
		}
		if r := rows[j]; r.Label != p.Label {
			return nil, nil, nil, "", fmt.Errorf("eval: baseline: prediction id %q is labelled %d but %s labels its id %q %d: the predictions are not of this test split "+
				"(predict on %s, or pass --no-baseline)", p.ID, p.Label, testPath, r.ID, r.Label, testPath)
		}
		ids[i], texts[i], labels[i] = p.ID, rows[j].Text, p.Label
	}
	if len(missing) > 0 {
		return nil, nil, nil, "", fmt.Errorf("eval: baseline: %d of %d prediction ids are not in %s (first: %s), and the baseline must score the model's rows: "+
			"predict on %s, keep the text (predict --keep-text), or pass --no-baseline", len(missing), len(preds), testPath, quoteFew(missing, 3), testPath)
	}
	return ids, texts, labels, fmt.Sprintf("the model's %d rows, found by id in %s (%d rows)", len(preds), testPath, len(rows)), nil
}

// quoteFew quotes the first n values of vs.
func quoteFew(vs []string, n int) string {
	q := make([]string, 0, n)
	for _, v := range vs[:min(n, len(vs))] {
		q = append(q, fmt.Sprintf("%q", v))
	}
	return strings.Join(q, ", ")
}
