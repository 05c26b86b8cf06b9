package table

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/sentitune/sentitune/internal/task"
)

// AspectPrediction is one review of an aspect-sentiment predictions file; its slices run over
// the file's aspects, classes are task.AspectLabels'.
type AspectPrediction struct {
	ID    string
	Text  string
	Label []int       // known class per aspect; nil when the file has no labels
	Pred  []int       // predicted class per aspect
	Probs [][]float64 // per aspect, the probability of each class; nil when the file has none
}

// AspectColumns says which columns an aspect predictions file has: id, [text], then per aspect
// [label_<a>], aspect_<a> (the predicted label name) and [prob_<a>_<label> per class].
type AspectColumns struct {
	Aspects []string
	Label   bool
	Text    bool
	Prob    bool
}

// Names lists the columns in file order.
func (c AspectColumns) Names() []string {
	names := []string{"id"}
	if c.Text {
		names = append(names, "text")
	}
	for _, a := range c.Aspects {
		if c.Label {
			names = append(names, task.AspectLabelColumn(a))
		}
		names = append(names, task.AspectColumn(a))
		if c.Prob {
			names = append(names, task.AspectProbColumns(a)...)
		}
	}
	return names
}

// cells renders one row in Names' order; probabilities stay numbers for JSON.
func (c AspectColumns) cells(r AspectPrediction) ([]any, error) {
	n := len(c.Aspects)
	if len(r.Pred) != n || (c.Label && len(r.Label) != n) || (c.Prob && len(r.Probs) != n) {
		return nil, fmt.Errorf("row %s: %d predictions, %d labels and %d probability rows for %d aspects", r.ID, len(r.Pred), len(r.Label), len(r.Probs), n)
	}
	out := []any{r.ID}
	if c.Text {
		out = append(out, r.Text)
	}
	for k, a := range c.Aspects {
		if c.Label {
			name, err := aspectClassName(r.Label[k])
			if err != nil {
				return nil, fmt.Errorf("row %s %s: %w", r.ID, task.AspectLabelColumn(a), err)
			}
			out = append(out, name)
		}
		name, err := aspectClassName(r.Pred[k])
		if err != nil {
			return nil, fmt.Errorf("row %s %s: %w", r.ID, task.AspectColumn(a), err)
		}
		out = append(out, name)
		if c.Prob {
			if err := CheckClassProbs(r.Probs[k], aspectClasses()); err != nil {
				return nil, fmt.Errorf("row %s aspect %s: %w", r.ID, a, err)
			}
			for _, p := range r.Probs[k] {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// aspectClasses are task.AspectLabels' names in class order.
func aspectClasses() []string {
	names := make([]string, len(task.AspectLabels))
	for i, l := range task.AspectLabels {
		names[i] = l.Name
	}
	return names
}

func aspectClassName(c int) (string, error) {
	if c < 0 || c >= len(task.AspectLabels) {
		return "", fmt.Errorf("class %d is not one of %s", c, task.AspectLabels)
	}
	return task.AspectLabels[c].Name, nil
}

// WriteAspectPredictions writes rows as csv or jsonl (format); aspect files have no Parquet form.
func WriteAspectPredictions(w io.Writer, format string, cols AspectColumns, rows []AspectPrediction) error {
	switch format {
	case FormatCSV:
		return writeAspectCSV(w, cols, rows)
	case FormatJSONL:
		return writeAspectJSONL(w, cols, rows)
	}
	return fmt.Errorf("aspect predictions are written as csv or jsonl, not %q", format)
}

func writeAspectCSV(w io.Writer, cols AspectColumns, rows []AspectPrediction) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(cols.Names()); err != nil {
		return err
	}
	for _, r := range rows {
		cells, err := cols.cells(r)
		if err != nil {
			return err
		}
		rec := make([]string, len(cells))
		for i, v := range cells {
			if p, ok := v.(float64); ok {
				rec[i] = formatProb(p)
			} else {
				rec[i] = v.(string)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func writeAspectJSONL(w io.Writer, cols AspectColumns, rows []AspectPrediction) error {
	names := cols.Names()
	var b bytes.Buffer
	for _, r := range rows {
		cells, err := cols.cells(r)
		if err != nil {
			return err
		}
		b.Reset()
		for i, v := range cells {
			if i == 0 {
				b.WriteString("{")
			} else {
				b.WriteString(",")
			}
			writeJSONString(&b, names[i])
			b.WriteString(":")
			if p, ok := v.(float64); ok {
				b.WriteString(formatProb(p))
			} else {
				writeJSONString(&b, v.(string))
			}
		}
		b.WriteString("}\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// IsAspectPredictions reports whether columns cols are an aspect predictions file's.
func IsAspectPredictions(cols []string) bool {
	for _, c := range cols {
		if strings.HasPrefix(c, "aspect_") {
			return true
		}
	}
	return false
}

// ReadAspectPredictions reads an aspect predictions file (csv or jsonl, as written by
// WriteAspectPredictions); its aspects are its aspect_<a> columns in order. Label and
// probability columns are optional but, when present, present for every aspect.
func ReadAspectPredictions(path string) (AspectColumns, []AspectPrediction, error) {
	r, err := Open(path, FormatAuto, ReadOptions{})
	if err != nil {
		return AspectColumns{}, nil, err
	}
	defer r.Close()
	cols, idx, err := aspectColumnsOf(path, r.Columns())
	if err != nil {
		return AspectColumns{}, nil, err
	}
	var rows []AspectPrediction
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return AspectColumns{}, nil, fmt.Errorf("read %w", err)
		}
		row, err := idx.row(rec, cols)
		if err != nil {
			return AspectColumns{}, nil, fmt.Errorf("%s: %w", Where(path, rec), err)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return AspectColumns{}, nil, fmt.Errorf("%s: no predictions", path)
	}
	return cols, rows, nil
}

// aspectIndex locates an aspect file's columns; -1 = absent.
type aspectIndex struct {
	id, text    int
	label, pred []int   // per aspect
	probs       [][]int // per aspect, per class
}

func aspectColumnsOf(path string, names []string) (AspectColumns, aspectIndex, error) {
	at := map[string]int{}
	for i, n := range names {
		at[n] = i
	}
	find := func(n string) int {
		if i, ok := at[n]; ok {
			return i
		}
		return -1
	}
	var cols AspectColumns
	for _, n := range names {
		if a, ok := strings.CutPrefix(n, "aspect_"); ok {
			cols.Aspects = append(cols.Aspects, a)
		}
	}
	if len(cols.Aspects) == 0 {
		return cols, aspectIndex{}, fmt.Errorf("%s: no aspect_<name> columns: not an aspect predictions file", path)
	}
	idx := aspectIndex{id: find("id"), text: find("text")}
	if idx.id < 0 {
		return cols, idx, fmt.Errorf("%s: no id column", path)
	}
	cols.Text = idx.text >= 0
	cols.Label = find(task.AspectLabelColumn(cols.Aspects[0])) >= 0
	cols.Prob = find(task.AspectProbColumns(cols.Aspects[0])[0]) >= 0
	for _, a := range cols.Aspects {
		idx.pred = append(idx.pred, find(task.AspectColumn(a)))
		l := find(task.AspectLabelColumn(a))
		if (l >= 0) != cols.Label {
			return cols, idx, fmt.Errorf("%s: column %s: label columns must be given for every aspect or none", path, task.AspectLabelColumn(a))
		}
		idx.label = append(idx.label, l)
		var ps []int
		for _, name := range task.AspectProbColumns(a) {
			p := find(name)
			if (p >= 0) != cols.Prob {
				return cols, idx, fmt.Errorf("%s: column %s: probability columns must be given for every aspect and class or none", path, name)
			}
			ps = append(ps, p)
		}
		idx.probs = append(idx.probs, ps)
	}
	return cols, idx, nil
}

// row reads one record.
func (x aspectIndex) row(rec Record, cols AspectColumns) (AspectPrediction, error) {
	r := AspectPrediction{ID: rec.Get(x.id), Text: rec.Get(x.text)} // Get(-1) is ""
	for k, a := range cols.Aspects {
		pred, err := ParseAspectClass(rec.Get(x.pred[k]))
		if err != nil {
			return r, fmt.Errorf("column %s: %w", task.AspectColumn(a), err)
		}
		r.Pred = append(r.Pred, pred)
		if cols.Label {
			label, err := ParseAspectClass(rec.Get(x.label[k]))
			if err != nil {
				return r, fmt.Errorf("column %s: %w", task.AspectLabelColumn(a), err)
			}
			r.Label = append(r.Label, label)
		}
		if cols.Prob {
			probs := make([]float64, len(x.probs[k]))
			for c, i := range x.probs[k] {
				if probs[c], err = strconv.ParseFloat(strings.TrimSpace(rec.Get(i)), 64); err != nil || math.IsNaN(probs[c]) {
					return r, fmt.Errorf("column %s: %q is not a probability", task.AspectProbColumns(a)[c], rec.Get(i))
				}
			}
			if err := CheckClassProbs(probs, aspectClasses()); err != nil {
				return r, fmt.Errorf("aspect %s: %w", a, err)
			}
			r.Probs = append(r.Probs, probs)
		}
	}
	return r, nil
}

// ParseAspectClass reads an aspect cell of a predictions file: a task.AspectLabels name.
func ParseAspectClass(s string) (int, error) {
	s = strings.TrimSpace(s)
	for c, l := range task.AspectLabels {
		if s == l.Name {
			return c, nil
		}
	}
	return -1, fmt.Errorf("%q is not one of %s", s, strings.Join(aspectClasses(), ", "))
}
