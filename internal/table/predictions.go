// Package table reads and writes rows of review and prediction files (CSV, TSV, JSON, JSON Lines,
// Parquet): the predictions file format predict writes and predict and eval read is defined here
// once, with its one row type, Prediction. Pure Go: it never needs libtorch.
package table

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
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
// merges) and eval. The positive class is 1.
type Prediction struct {
	ID        string  `json:"id,omitempty"`        // the input's id, or its row number
	Text      string  `json:"text,omitempty"`      // the review (predict: with --keep-text)
	Label     int     `json:"label"`               // 0/1 from the input's label column, or NoLabel
	Pred      int     `json:"pred"`                // 0/1, or NoAnswer (generate mode only)
	Prob      float64 `json:"prob"`                // P(label = 1); eval: NaN when the file has none; unused in generate mode
	Generated string  `json:"generated,omitempty"` // the generated answer, in generate mode
}

// HasProb reports whether the row carries a probability (eval's rows: Prob is NaN when not).
func (p Prediction) HasProb() bool { return !math.IsNaN(p.Prob) }

// Columns says which columns besides id and pred an output file has.
type Columns struct {
	Label     bool
	Prob      bool
	Text      bool
	Generated bool
}

// Names lists the columns in file order.
func (c Columns) Names() []string {
	names := []string{"id"}
	if c.Label {
		names = append(names, "label")
	}
	names = append(names, "pred")
	if c.Prob {
		names = append(names, "prob")
	}
	if c.Text {
		names = append(names, "text")
	}
	if c.Generated {
		names = append(names, "generated")
	}
	return names
}

// columnsFromNames is the inverse of Names.
func columnsFromNames(path string, names []string) (Columns, error) {
	var c Columns
	seen := map[string]bool{}
	for _, n := range names {
		switch n {
		case "id", "pred":
		case "label":
			c.Label = true
		case "prob":
			c.Prob = true
		case "text":
			c.Text = true
		case "generated":
			c.Generated = true
		default:
			return c, fmt.Errorf("read %s: unexpected column %q: not a sentitune predictions file", path, n)
		}
		seen[n] = true
	}
	if !seen["id"] || !seen["pred"] {
		return c, fmt.Errorf("read %s: want columns id and pred, found %s: not a sentitune predictions file", path, strings.Join(names, ", "))
	}
	if want := c.Names(); strings.Join(want, ",") != strings.Join(names, ",") {
		return c, fmt.Errorf("read %s: columns %s are not in sentitune's order %s", path, strings.Join(names, ","), strings.Join(want, ","))
	}
	return c, nil
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
	c.rec = append(c.rec[:0], r.ID)
	if c.cols.Label {
		c.rec = append(c.rec, optionalInt(r.Label))
	}
	c.rec = append(c.rec, optionalInt(r.Pred))
	if c.cols.Prob {
		c.rec = append(c.rec, formatProb(r.Prob))
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

type jsonlWriter struct {
	w    io.Writer
	cols Columns
	buf  bytes.Buffer
}

func (j *jsonlWriter) Write(r Prediction) error {
	b := &j.buf
	b.Reset()
	b.WriteString(`{"id":`)
	writeJSONString(b, r.ID)
	if j.cols.Label {
		b.WriteString(`,"label":`)
		writeJSONInt(b, r.Label)
	}
	b.WriteString(`,"pred":`)
	writeJSONInt(b, r.Pred)
	if j.cols.Prob {
		if math.IsNaN(r.Prob) || math.IsInf(r.Prob, 0) {
			return fmt.Errorf("row %s: prob %v is not a number", r.ID, r.Prob)
		}
		b.WriteString(`,"prob":`)
		b.WriteString(formatProb(r.Prob))
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
	if cols.Label {
		g["label"] = parquet.Optional(parquet.Int(64))
	}
	if cols.Generated { // no answer is null
		g["pred"] = parquet.Optional(parquet.Int(64))
	} else {
		g["pred"] = parquet.Int(64)
	}
	if cols.Prob {
		g["prob"] = parquet.Leaf(parquet.DoubleType)
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
	pw := parquet.NewWriter(w, schema, parquet.CreatedBy("sentitune", "", ""))
	return &parquetWriter{w: pw, cols: cols, idx: idx}
}

func (p *parquetWriter) Write(r Prediction) error {
	row := make(parquet.Row, len(p.idx))
	set := func(name string, v parquet.Value) { row[p.idx[name]] = v.Level(0, 0, p.idx[name]) }
	optional := func(name string, v int) {
		c := p.idx[name]
		if v < 0 {
			row[c] = parquet.Value{}.Level(0, 0, c)
		} else {
			row[c] = parquet.Int64Value(int64(v)).Level(0, 1, c)
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
		set("pred", parquet.Int64Value(int64(r.Pred)))
	}
	if p.cols.Prob {
		set("prob", parquet.DoubleValue(r.Prob))
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

// PredictionReader streams the rows of an output file (for MergeShards and tests).
type PredictionReader interface {
	Columns() Columns
	Next() (Prediction, error) // io.EOF after the last row
	Close() error
}

// OpenPredictions opens a predictions file in format (written by predict.Run).
func OpenPredictions(path, format string) (PredictionReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var rr PredictionReader
	switch format {
	case FormatCSV:
		rr, err = newCSVRows(f, path)
	case FormatJSONL:
		rr, err = newJSONLRows(f, path)
	case FormatParquet:
		rr, err = newParquetRows(f, path)
	default:
		err = CheckFormat(format)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return rr, nil
}

// ReadRows reads a whole predictions file written by predict.Run.
func ReadRows(path string) (Columns, []Prediction, error) {
	format, err := FormatOf(path)
	if err != nil {
		return Columns{}, nil, err
	}
	rr, err := OpenPredictions(path, format)
	if err != nil {
		return Columns{}, nil, err
	}
	defer rr.Close()
	var rows []Prediction
	for {
		r, err := rr.Next()
		if err == io.EOF {
			return rr.Columns(), rows, nil
		}
		if err != nil {
			return Columns{}, nil, err
		}
		rows = append(rows, r)
	}
}

type csvRows struct {
	f     *os.File
	r     *csv.Reader
	path  string
	names []string
	cols  Columns
}

func newCSVRows(f *os.File, path string) (*csvRows, error) {
	r := csv.NewReader(bufio.NewReaderSize(f, 64<<10))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s header: %w", path, err)
	}
	names := append([]string(nil), header...)
	cols, err := columnsFromNames(path, names)
	if err != nil {
		return nil, err
	}
	return &csvRows{f: f, r: r, path: path, names: names, cols: cols}, nil
}

func (c *csvRows) Columns() Columns { return c.cols }
func (c *csvRows) Close() error     { return c.f.Close() }

func (c *csvRows) Next() (Prediction, error) {
	rec, err := c.r.Read()
	if err == io.EOF {
		return Prediction{}, io.EOF
	}
	line, _ := c.r.FieldPos(0)
	if err != nil {
		return Prediction{}, fmt.Errorf("read %s: %w", c.path, err)
	}
	row := Prediction{Label: NoLabel, Pred: NoAnswer}
	for i, name := range c.names {
		v := rec[i]
		switch name {
		case "id":
			row.ID = v
		case "label":
			row.Label, err = parseOptionalInt(v)
		case "pred":
			row.Pred, err = parseOptionalInt(v)
		case "prob":
			row.Prob, err = strconv.ParseFloat(v, 64)
		case "text":
			row.Text = v
		case "generated":
			row.Generated = v
		}
		if err != nil {
			return Prediction{}, fmt.Errorf("read %s:%d column %s: %w", c.path, line, name, err)
		}
	}
	return row, nil
}

func parseOptionalInt(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not 0 or 1", s)
	}
	return v, nil
}

type jsonlRows struct {
	f    *os.File
	sc   *bufio.Scanner
	path string
	line int
	cols Columns
	peek *Prediction
}

// jsonRow mirrors jsonlWriter's fields; pointers tell null from absent.
type jsonRow struct {
	ID        *string  `json:"id"`
	Label     *int     `json:"label"`
	Pred      *int     `json:"pred"`
	Prob      *float64 `json:"prob"`
	Text      *string  `json:"text"`
	Generated *string  `json:"generated"`
}

func newJSONLRows(f *os.File, path string) (*jsonlRows, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	j := &jsonlRows{f: f, sc: sc, path: path}
	// The columns are those of the first row (an empty file has none to merge).
	first, err := j.next(true)
	if err == io.EOF {
		return j, nil
	}
	if err != nil {
		return nil, err
	}
	j.peek = &first
	return j, nil
}

func (j *jsonlRows) Columns() Columns { return j.cols }
func (j *jsonlRows) Close() error     { return j.f.Close() }

func (j *jsonlRows) Next() (Prediction, error) {
	if j.peek != nil {
		r := *j.peek
		j.peek = nil
		return r, nil
	}
	return j.next(false)
}

func (j *jsonlRows) next(first bool) (Prediction, error) {
	if !j.sc.Scan() {
		if err := j.sc.Err(); err != nil {
			return Prediction{}, fmt.Errorf("read %s: %w", j.path, err)
		}
		return Prediction{}, io.EOF
	}
	j.line++
	var jr jsonRow
	dec := json.NewDecoder(bytes.NewReader(j.sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&jr); err != nil {
		return Prediction{}, fmt.Errorf("read %s:%d: %w", j.path, j.line, err)
	}
	var names []string
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal(j.sc.Bytes(), &raw); err != nil {
		return Prediction{}, fmt.Errorf("read %s:%d: %w", j.path, j.line, err)
	}
	for _, n := range []string{"id", "label", "pred", "prob", "text", "generated"} {
		if _, ok := raw[n]; ok {
			names = append(names, n)
		}
	}
	cols, err := columnsFromNames(fmt.Sprintf("%s:%d", j.path, j.line), names)
	if err != nil {
		return Prediction{}, err
	}
	if first {
		j.cols = cols
	} else if cols != j.cols {
		return Prediction{}, fmt.Errorf("read %s:%d: columns %v differ from the first row's", j.path, j.line, names)
	}
	row := Prediction{Label: NoLabel, Pred: NoAnswer}
	if jr.ID != nil {
		row.ID = *jr.ID
	}
	if jr.Label != nil {
		row.Label = *jr.Label
	}
	if jr.Pred != nil {
		row.Pred = *jr.Pred
	}
	if jr.Prob != nil {
		row.Prob = *jr.Prob
	}
	if jr.Text != nil {
		row.Text = *jr.Text
	}
	if jr.Generated != nil {
		row.Generated = *jr.Generated
	}
	return row, nil
}

type parquetRows struct {
	f    *os.File
	r    *parquet.Reader
	path string
	cols Columns
	name []string // leaf index → column name
	buf  []parquet.Row
	n, i int
	row  int
}

func newParquetRows(f *os.File, path string) (_ *parquetRows, err error) {
	defer func() { // parquet-go panics on some corrupt inputs
		if p := recover(); p != nil {
			err = fmt.Errorf("read %s: invalid parquet file: %v", path, p)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	schema := pf.Schema()
	var names []string
	leafNames := map[int]string{}
	for _, p := range schema.Columns() {
		leaf, _ := schema.Lookup(p...)
		leafNames[leaf.ColumnIndex] = p[0]
	}
	// File order is alphabetical in parquet groups; check the set, not the order.
	set := map[string]bool{}
	for _, n := range leafNames {
		set[n] = true
	}
	for _, n := range []string{"id", "label", "pred", "prob", "text", "generated"} {
		if set[n] {
			names = append(names, n)
			delete(set, n)
		}
	}
	for n := range set {
		return nil, fmt.Errorf("read %s: unexpected column %q: not a sentitune predictions file", path, n)
	}
	cols, err := columnsFromNames(path, names)
	if err != nil {
		return nil, err
	}
	name := make([]string, len(leafNames))
	for i, n := range leafNames {
		name[i] = n
	}
	return &parquetRows{f: f, r: parquet.NewReader(pf), path: path, cols: cols, name: name, buf: make([]parquet.Row, 256)}, nil
}

func (p *parquetRows) Columns() Columns { return p.cols }

func (p *parquetRows) Close() error {
	err := p.r.Close()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (p *parquetRows) Next() (Prediction, error) {
	if p.i == p.n {
		n, err := p.r.ReadRows(p.buf)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return Prediction{}, io.EOF
			}
			return Prediction{}, fmt.Errorf("read %s row %d: %w", p.path, p.row+1, err)
		}
		p.n, p.i = n, 0
	}
	pr := p.buf[p.i]
	p.i++
	p.row++
	row := Prediction{Label: NoLabel, Pred: NoAnswer}
	for _, v := range pr {
		c := v.Column()
		if c < 0 || c >= len(p.name) || v.IsNull() {
			continue
		}
		switch p.name[c] {
		case "id":
			row.ID = string(v.ByteArray())
		case "label":
			row.Label = int(v.Int64())
		case "pred":
			row.Pred = int(v.Int64())
		case "prob":
			row.Prob = v.Double()
		case "text":
			row.Text = string(v.ByteArray())
		case "generated":
			row.Generated = string(v.ByteArray())
		}
	}
	return row, nil
}
