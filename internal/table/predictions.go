// Package table reads and writes rows of review and prediction files (CSV, TSV, JSON, JSON Lines,
// Parquet): the predictions file format predict writes and predict and eval read is defined here
// once, with its one row type, Prediction. Pure Go: it never needs libtorch.
package table

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// NoLabel marks a row whose input had no label; NoAnswer marks a --generate
// row whose generated text held no 0 or 1.
const (
	NoLabel  = -1
	NoAnswer = -1
)

// Prediction is one row of a predictions file: written by predict, read by predict (shard
// merges) and eval. Label and Pred are classes: 0/1 (the positive class is 1), or 0..K-1 in a
// K-class file (Columns.Classes), where the file holds their names.
type Prediction struct {
	ID        string    `json:"id,omitempty"`        // the input's id, or its row number
	Text      string    `json:"text,omitempty"`      // the review (predict: with --keep-text)
	Label     int       `json:"label"`               // the input's label, or NoLabel
	Pred      int       `json:"pred"`                // the predicted class, or NoAnswer (generate mode only)
	Prob      float64   `json:"prob"`                // P(label = 1); eval: NaN when the file has none; unused in generate mode
	Probs     []float64 `json:"-"`                   // K classes: P(class) in class order (prob_<name>); nil for the binary task
	Generated string    `json:"generated,omitempty"` // the generated answer, in generate mode
}

// HasProb reports whether the row carries a probability (eval's rows: Prob is NaN when not).
func (p Prediction) HasProb() bool { return !math.IsNaN(p.Prob) }

// Columns says which columns besides id and pred an output file has.
type Columns struct {
	Label     bool
	Prob      bool
	Text      bool
	Generated bool
	// Classes names a K-class file's classes in class order: its label and pred hold these names
	// and Prob means one prob_<name> column per class; nil is the binary task (0/1 and prob).
	Classes []string
}

// Equal reports whether c and o describe the same columns.
func (c Columns) Equal(o Columns) bool {
	return c.Label == o.Label && c.Prob == o.Prob && c.Text == o.Text && c.Generated == o.Generated &&
		slices.Equal(c.Classes, o.Classes)
}

// probNames are the probability columns: prob, or prob_<name> per class.
func (c Columns) probNames() []string {
	if c.Classes == nil {
		return []string{"prob"}
	}
	names := make([]string, len(c.Classes))
	for i, n := range c.Classes {
		names[i] = probPrefix + n
	}
	return names
}

// probPrefix starts a K-class probability column's name.
const probPrefix = "prob_"

// Names lists the columns in file order.
func (c Columns) Names() []string {
	names := []string{"id"}
	if c.Label {
		names = append(names, "label")
	}
	names = append(names, "pred")
	if c.Prob {
		names = append(names, c.probNames()...)
	}
	if c.Text {
		names = append(names, "text")
	}
	if c.Generated {
		names = append(names, "generated")
	}
	return names
}

// columnsFromNames is the inverse of Names; classes are the file's classes when its prob_<name>
// columns do not name them (no probabilities), else nil or the same.
func columnsFromNames(path string, names []string, classes []string) (Columns, error) {
	var c Columns
	var found []string
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case n == "id", n == "pred":
		case n == "label":
			c.Label = true
		case n == "prob":
			c.Prob = true
		case strings.HasPrefix(n, probPrefix) && len(n) > len(probPrefix):
			c.Prob = true
			found = append(found, strings.TrimPrefix(n, probPrefix))
		case n == "text":
			c.Text = true
		case n == "generated":
			c.Generated = true
		default:
			return c, fmt.Errorf("read %s: unexpected column %q: not a sentitune predictions file", path, n)
		}
		seen[n] = true
	}
	if seen["prob"] && found != nil {
		return c, fmt.Errorf("read %s: both prob and prob_%s columns: not a sentitune predictions file", path, found[0])
	}
	var err error
	if c.Classes, err = resolveClasses(path, found, classes); err != nil {
		return c, err
	}
	if !seen["id"] || !seen["pred"] {
		return c, fmt.Errorf("read %s: want columns id and pred, found %s: not a sentitune predictions file", path, strings.Join(names, ", "))
	}
	if want := c.Names(); strings.Join(want, ",") != strings.Join(names, ",") {
		return c, fmt.Errorf("read %s: columns %s are not in sentitune's order %s", path, strings.Join(names, ","), strings.Join(want, ","))
	}
	return c, nil
}

// resolveClasses settles a file's classes: those its prob_<name> columns name (found), else the
// given ones; when both are known they must be the same names in the same order (case aside).
func resolveClasses(path string, found, given []string) ([]string, error) {
	if found == nil {
		return slices.Clone(given), nil
	}
	for i, n := range found {
		for _, m := range found[:i] {
			if strings.EqualFold(n, m) {
				return nil, fmt.Errorf("read %s: two prob_ columns name the class %q", path, n)
			}
		}
	}
	same := given == nil || len(found) == len(given)
	for i := 0; given != nil && same && i < len(found); i++ {
		same = strings.EqualFold(found[i], given[i])
	}
	if !same {
		return nil, fmt.Errorf("read %s: its prob_ columns name the classes %s, not the labels %s", path, strings.Join(found, ", "), strings.Join(given, ", "))
	}
	return found, nil
}

// classIndex is the class a label or pred cell names: a class name (case aside) when the file
// has classes, else 0 or 1; an empty cell is NoLabel/NoAnswer.
func classIndex(s string, classes []string) (int, error) {
	if s == "" {
		return -1, nil
	}
	if classes == nil {
		if s == "0" || s == "1" {
			return int(s[0] - '0'), nil
		}
		return 0, fmt.Errorf("%q is not 0 or 1", s)
	}
	for i, n := range classes {
		if s == n {
			return i, nil
		}
	}
	for i, n := range classes {
		if strings.EqualFold(s, n) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%q is not one of the classes %s", s, strings.Join(classes, ", "))
}

// className is a class index's name in a K-class file ("" for NoLabel/NoAnswer).
func className(v int, classes []string) (string, error) {
	if v < 0 {
		return "", nil
	}
	if v >= len(classes) {
		return "", fmt.Errorf("class %d is outside the %d classes %s", v, len(classes), strings.Join(classes, ", "))
	}
	return classes[v], nil
}

// ProbSumTolerance is how far a row's K class probabilities may sum from 1: rounded exports
// (a few decimals) pass, logits or a missing class do not.
const ProbSumTolerance = 0.01

// CheckClassProbs refuses K class probabilities outside [0, 1] or not summing to about 1.
func CheckClassProbs(probs []float64, classes []string) error {
	if len(probs) != len(classes) {
		return fmt.Errorf("%d probabilities for the %d classes %s", len(probs), len(classes), strings.Join(classes, ", "))
	}
	sum := 0.0
	for i, p := range probs {
		if math.IsNaN(p) || p < 0 || p > 1 {
			return fmt.Errorf("%s%s %v is outside [0, 1]", probPrefix, classes[i], p)
		}
		sum += p
	}
	if math.Abs(sum-1) > ProbSumTolerance {
		return fmt.Errorf("the probabilities %s sum to %v, not 1", strings.Join(Columns{Classes: classes}.probNames(), "+"), sum)
	}
	return nil
}

// FormatOf returns the output format for a file name: csv, jsonl (also
// .ndjson and .json) or parquet (.parquet, .pq).
func FormatOf(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		return FormatCSV, nil
	case ".jsonl", ".ndjson", ".json":
		return FormatJSONL, nil
	case ".parquet", ".pq":
		return FormatParquet, nil
	default:
		return "", fmt.Errorf("output %s: cannot tell the format from %q: pass --format csv|jsonl|parquet", path, ext)
	}
}

// CheckFormat refuses a format that is not csv, jsonl or parquet.
func CheckFormat(format string) error {
	switch format {
	case FormatCSV, FormatJSONL, FormatParquet:
		return nil
	}
	return fmt.Errorf("unknown output format %q (want csv, jsonl or parquet)", format)
}

// formatProb writes the shortest decimal that parses back to the same float64,
// so outputs round-trip exactly and shard merges are byte-identical.
func formatProb(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) }

// Writer writes rows of one output file. Its bytes depend only on the
// sequence of rows written, never on how calls are chunked: MergeShards
// relies on that for byte-identical output.
type PredictionWriter interface {
	Write(r Prediction) error
	Close() error // flushes; does not close the underlying file
}

// NewPredictionWriter starts a predictions file with the columns cols in format on w.
func NewPredictionWriter(w io.Writer, format string, cols Columns) (PredictionWriter, error) {
	switch format {
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(cols.Names()); err != nil {
			return nil, err
		}
		return &csvWriter{w: cw, cols: cols}, nil
	case FormatJSONL:
		return &jsonlWriter{w: w, cols: cols}, nil
	case FormatParquet:
		return newParquetWriter(w, cols), nil
	}
	return nil, CheckFormat(format)
}

type csvWriter struct {
	w    *csv.Writer
	cols Columns
	rec  []string
}

func (c *csvWriter) Write(r Prediction) error {
	if err := c.cols.checkRow(r); err != nil {
		return err
	}
	c.rec = append(c.rec[:0], r.ID)
	if c.cols.Label {
		c.rec = append(c.rec, c.cols.classCell(r.Label))
	}
	c.rec = append(c.rec, c.cols.classCell(r.Pred))
	if c.cols.Prob && c.cols.Classes == nil {
		c.rec = append(c.rec, formatProb(r.Prob))
	}
	if c.cols.Prob && c.cols.Classes != nil {
		for _, p := range r.Probs {
			c.rec = append(c.rec, formatProb(p))
		}
	}
	if c.cols.Text {
		c.rec = append(c.rec, r.Text)
	}
	if c.cols.Generated {
		c.rec = append(c.rec, r.Generated)
	}
	return c.w.Write(c.rec)
}

func (c *csvWriter) Close() error {
	c.w.Flush()
	return c.w.Error()
}

func optionalInt(v int) string {
	if v < 0 {
		return ""
	}
	return strconv.Itoa(v)
}

// classCell is a label or pred cell: the class name in a K-class file, else 0/1; "" for none.
func (c Columns) classCell(v int) string {
	if c.Classes == nil {
		return optionalInt(v)
	}
	name, _ := className(v, c.Classes) // checkRow has refused classes out of range
	return name
}

// checkRow refuses a K-class row the file cannot hold: a class out of range, or (with
// probabilities) not one probability per class.
func (c Columns) checkRow(r Prediction) error {
	if c.Classes == nil {
		return nil
	}
	for _, v := range []int{r.Label, r.Pred} {
		if _, err := className(v, c.Classes); err != nil {
			return fmt.Errorf("row %s: %w", r.ID, err)
		}
	}
	if c.Prob && len(r.Probs) != len(c.Classes) {
		return fmt.Errorf("row %s: %d probabilities for the %d classes %s", r.ID, len(r.Probs), len(c.Classes), strings.Join(c.Classes, ", "))
	}
	return nil
}

type jsonlWriter struct {
	w    io.Writer
	cols Columns
	buf  bytes.Buffer
}

func (j *jsonlWriter) Write(r Prediction) error {
	if err := j.cols.checkRow(r); err != nil {
		return err
	}
	b := &j.buf
	b.Reset()
	b.WriteString(`{"id":`)
	writeJSONString(b, r.ID)
	if j.cols.Label {
		b.WriteString(`,"label":`)
		j.writeClass(r.Label)
	}
	b.WriteString(`,"pred":`)
	j.writeClass(r.Pred)
	if j.cols.Prob {
		probs := []float64{r.Prob}
		if j.cols.Classes != nil {
			probs = r.Probs
		}
		for i, name := range j.cols.probNames() {
			if math.IsNaN(probs[i]) || math.IsInf(probs[i], 0) {
				return fmt.Errorf("row %s: %s %v is not a number", r.ID, name, probs[i])
			}
			b.WriteString(`,`)
			writeJSONString(b, name)
			b.WriteString(`:`)
			b.WriteString(formatProb(probs[i]))
		}
	}
	if j.cols.Text {
		b.WriteString(`,"text":`)
		writeJSONString(b, r.Text)
	}
	if j.cols.Generated {
		b.WriteString(`,"generated":`)
		writeJSONString(b, r.Generated)
	}
	b.WriteString("}\n")
	_, err := j.w.Write(b.Bytes())
	return err
}

func (j *jsonlWriter) Close() error { return nil }

// writeClass writes a label or pred: a class name (a K-class file), else 0/1; null for none.
func (j *jsonlWriter) writeClass(v int) {
	if j.cols.Classes == nil || v < 0 {
		writeJSONInt(&j.buf, v)
		return
	}
	writeJSONString(&j.buf, j.cols.classCell(v))
}

func writeJSONInt(b *bytes.Buffer, v int) {
	if v < 0 {
		b.WriteString("null")
		return
	}
	b.WriteString(strconv.Itoa(v))
}

// writeJSONString writes s as a JSON string without HTML escaping, so
// reviews with <, > and & stay readable.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)           // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

// Parquet output: rows are handed to parquet-go in chunks of parquetChunk
// and a row group is cut after parquetRowGroup rows or ParquetGroupBytes of
// text, whichever comes first (parquet-go holds a row group in memory).
// Both are counted from the first row, so the file depends only on the rows
// (see PredictionWriter).
const (
	parquetChunk    = 1024
	parquetRowGroup = 64 * 1024
)

var ParquetGroupBytes = 8 << 20 // a variable so predict's memory test can see the cap at work

// ClassesMetadataKey is the Parquet key-value metadata naming a K-class file's classes in class
// order, comma-separated (task.ParseLabels refuses commas in names).
const ClassesMetadataKey = "sentitune.classes"

type parquetWriter struct {
	w          *parquet.Writer
	cols       Columns
	idx        map[string]int // column name → leaf index
	pending    []parquet.Row
	inGroup    int // rows written to the current row group
	groupBytes int // their approximate size, pending rows included
}

func parquetSchema(cols Columns) *parquet.Schema {
	g := parquet.Group{"id": parquet.String()}
	class := parquet.Int(64)
	if cols.Classes != nil { // K classes: label and pred hold class names
		class = parquet.String()
	}
	if cols.Label {
		g["label"] = parquet.Optional(class)
	}
	if cols.Generated { // no answer is null
		g["pred"] = parquet.Optional(class)
	} else {
		g["pred"] = class
	}
	if cols.Prob {
		for _, name := range cols.probNames() {
			g[name] = parquet.Leaf(parquet.DoubleType)
		}
	}
	if cols.Text {
		g["text"] = parquet.String()
	}
	if cols.Generated {
		g["generated"] = parquet.String()
	}
	return parquet.NewSchema("prediction", g)
}

func newParquetWriter(w io.Writer, cols Columns) *parquetWriter {
	schema := parquetSchema(cols)
	idx := map[string]int{}
	for _, path := range schema.Columns() {
		leaf, _ := schema.Lookup(path...)
		idx[path[0]] = leaf.ColumnIndex
	}
	opts := []parquet.WriterOption{schema, parquet.CreatedBy("sentitune", "", "")}
	if cols.Classes != nil { // a parquet group sorts its columns by name: the class order is kept here
		opts = append(opts, parquet.KeyValueMetadata(ClassesMetadataKey, strings.Join(cols.Classes, ",")))
	}
	pw := parquet.NewWriter(w, opts...)
	return &parquetWriter{w: pw, cols: cols, idx: idx}
}

func (p *parquetWriter) Write(r Prediction) error {
	if err := p.cols.checkRow(r); err != nil {
		return err
	}
	row := make(parquet.Row, len(p.idx))
	set := func(name string, v parquet.Value) { row[p.idx[name]] = v.Level(0, 0, p.idx[name]) }
	class := func(v int) parquet.Value {
		if p.cols.Classes != nil {
			return parquet.ByteArrayValue([]byte(p.cols.classCell(v)))
		}
		return parquet.Int64Value(int64(v))
	}
	optional := func(name string, v int) {
		c := p.idx[name]
		if v < 0 {
			row[c] = parquet.Value{}.Level(0, 0, c)
		} else {
			row[c] = class(v).Level(0, 1, c)
		}
	}
	set("id", parquet.ByteArrayValue([]byte(r.ID)))
	if p.cols.Label {
		optional("label", r.Label)
	}
	if p.cols.Generated {
		optional("pred", r.Pred)
	} else {
		if r.Pred < 0 {
			return fmt.Errorf("row %s: no prediction", r.ID)
		}
		set("pred", class(r.Pred))
	}
	if p.cols.Prob && p.cols.Classes == nil {
		set("prob", parquet.DoubleValue(r.Prob))
	}
	if p.cols.Prob && p.cols.Classes != nil {
		for i, name := range p.cols.probNames() {
			set(name, parquet.DoubleValue(r.Probs[i]))
		}
	}
	if p.cols.Text {
		set("text", parquet.ByteArrayValue([]byte(r.Text)))
	}
	if p.cols.Generated {
		set("generated", parquet.ByteArrayValue([]byte(r.Generated)))
	}
	p.pending = append(p.pending, row)
	p.groupBytes += len(r.ID) + len(r.Text) + len(r.Generated) + 24
	if len(p.pending) == parquetChunk || p.groupFull() {
		return p.flushPending()
	}
	return nil
}

func (p *parquetWriter) groupFull() bool {
	return p.inGroup+len(p.pending) == parquetRowGroup || p.groupBytes >= ParquetGroupBytes
}

func (p *parquetWriter) flushPending() error {
	if len(p.pending) == 0 {
		return nil
	}
	if _, err := p.w.WriteRows(p.pending); err != nil {
		return err
	}
	full := p.groupFull()
	p.inGroup += len(p.pending)
	clear(p.pending)
	p.pending = p.pending[:0]
	if full {
		p.inGroup, p.groupBytes = 0, 0
		return p.w.Flush()
	}
	return nil
}

func (p *parquetWriter) Close() error {
	if err := p.flushPending(); err != nil {
		return err
	}
	return p.w.Close()
}
