package eval

import "github.com/sentitune/sentitune/internal/task"

// LabelledRow is one record of a prep split: its id (the record's "id", else its 1-based
// record number, as predict numbers the rows of an Alpaca file without ids), text and label.
type LabelledRow struct {
	ID    string
	Text  string
	Label int
}

// ReadLabelledRows reads a prep split (train.json / test.json): the review is the record's
// input (its instruction when input is empty) and the label its parsed answer (task.ReadExamples).
func ReadLabelledRows(path string) ([]LabelledRow, error) {
	return ReadLabelledRowsOf(path, task.Binary)
}

// ReadLabelledRowsOf reads a prep split of the label set ls (a K-class split: prep --labels).
func ReadLabelledRowsOf(path string, ls task.Labels) ([]LabelledRow, error) {
	exs, err := ls.ReadExamples(path)
	if err != nil {
		return nil, err
	}
	rows := make([]LabelledRow, len(exs))
	for i, e := range exs {
		rows[i] = LabelledRow{ID: e.Key(), Text: e.Review(), Label: e.Label}
	}
	return rows, nil
}
