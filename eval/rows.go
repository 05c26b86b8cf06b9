package eval

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/prep"
)

// LabelledRow is one record of a prep split: its id (the record's "id", else its 1-based
// record number, as predict numbers the rows of an Alpaca file without ids), text and label.
type LabelledRow struct {
	ID    string
	Text  string
	Label int
}

// ReadLabelledRows reads a prep split (train.json / test.json): the review is the record's
// input (its instruction when input is empty) and the label its output, "1" or "0".
func ReadLabelledRows(path string) ([]LabelledRow, error) {
	recs, err := prep.ReadAlpaca(path)
	if err != nil {
		return nil, err
	}
	rows := make([]LabelledRow, len(recs))
	for i, r := range recs {
		row := LabelledRow{ID: strings.TrimSpace(r.ID), Text: r.Input}
		if row.ID == "" {
			row.ID = strconv.Itoa(i + 1)
		}
		if strings.TrimSpace(row.Text) == "" {
			row.Text = r.Instruction
		}
		switch strings.TrimSpace(r.Output) {
		case "1":
			row.Label = 1
		case "0":
		default:
			return nil, fmt.Errorf("read %s record %d: output %q is not a 1/0 label", path, i+1, r.Output)
		}
		rows[i] = row
	}
	return rows, nil
}
