package table

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// PredictionReader streams the rows of an output file (for MergeShards and tests).
type PredictionReader interface {
	Columns() Columns
	Next() (Prediction, error) // io.EOF after the last row
	Close() error
}

// OpenPredictions opens a predictions file in format (written by predict.Run). A K-class file
// names its classes in its prob_<name> columns; one without them is read with OpenClassPredictions.
func OpenPredictions(path, format string) (PredictionReader, error) {
	return OpenClassPredictions(path, format, nil)
}

// OpenClassPredictions opens a predictions file whose classes (names in class order) are known:
// a K-class file's label and pred cells are class names. classes nil reads the classes from the
// file's prob_<name> columns (Parquet: its metadata), or a binary file when it has none.
func OpenClassPredictions(path, format string, classes []string) (PredictionReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var rr PredictionReader
	switch format {
	case FormatCSV:
		rr, err = newCSVRows(f, path, classes)
	case FormatJSONL:
		rr, err = newJSONLRows(f, path, classes)
	case FormatParquet:
		rr, err = newParquetRows(f, path, classes)
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
func ReadRows(path string) (Columns, []Prediction, error) { return ReadClassRows(path, nil) }

// ReadClassRows reads a whole predictions file written by predict.Run whose classes are known
// (see OpenClassPredictions).
func ReadClassRows(path string, classes []string) (Columns, []Prediction, error) {
	format, err := FormatOf(path)
	if err != nil {
		return Columns{}, nil, err
	}
	rr, err := OpenClassPredictions(path, format, classes)
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

// newRow is a row before its cells are read: no label, no answer, and room for K probabilities.
func (c Columns) newRow() Prediction {
	row := Prediction{Label: NoLabel, Pred: NoAnswer}
	if c.Classes != nil && c.Prob {
		row.Probs = make([]float64, 0, len(c.Classes))
	}
	return row
}

// checkProbs checks a K-class row's probabilities once all its cells are read.
func (c Columns) checkProbs(row Prediction) error {
	if row.Probs == nil {
		return nil
	}
	return CheckClassProbs(row.Probs, c.Classes)
}

type csvRows struct {
	f     *os.File
	r     *csv.Reader
	path  string
	names []string
	cols  Columns
}

func newCSVRows(f *os.File, path string, classes []string) (*csvRows, error) {
	r := csv.NewReader(bufio.NewReaderSize(f, 64<<10))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read %s header: %w", path, err)
	}
	names := append([]string(nil), header...)
	cols, err := columnsFromNames(path, names, classes)
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
	row := c.cols.newRow()
	for i, name := range c.names {
		v := rec[i]
		switch {
		case name == "id":
			row.ID = v
		case name == "label":
			row.Label, err = classIndex(v, c.cols.Classes)
		case name == "pred":
			row.Pred, err = classIndex(v, c.cols.Classes)
		case name == "prob":
			row.Prob, err = strconv.ParseFloat(v, 64)
		case strings.HasPrefix(name, probPrefix):
			var p float64
			p, err = strconv.ParseFloat(v, 64)
			row.Probs = append(row.Probs, p)
		case name == "text":
			row.Text = v
		case name == "generated":
			row.Generated = v
		}
		if err != nil {
			return Prediction{}, fmt.Errorf("read %s:%d column %s: %w", c.path, line, name, err)
		}
	}
	if err := c.cols.checkProbs(row); err != nil {
		return Prediction{}, fmt.Errorf("read %s:%d: %w", c.path, line, err)
	}
	return row, nil
}

type jsonlRows struct {
	f       *os.File
	sc      *bufio.Scanner
	path    string
	line    int
	classes []string // given by the caller
	cols    Columns
	peek    *Prediction
}

func newJSONLRows(f *os.File, path string, classes []string) (*jsonlRows, error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	j := &jsonlRows{f: f, sc: sc, path: path, classes: classes}
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
	keys, raw, err := orderedObject(j.sc.Bytes())
	if err != nil {
		return Prediction{}, fmt.Errorf("read %s:%d: %w", j.path, j.line, err)
	}
	names := inFileOrder(keys)
	cols, err := columnsFromNames(fmt.Sprintf("%s:%d", j.path, j.line), names, j.classes)
	if err != nil {
		return Prediction{}, err
	}
	if first {
		j.cols = cols
	} else if !cols.Equal(j.cols) {
		return Prediction{}, fmt.Errorf("read %s:%d: columns %v differ from the first row's", j.path, j.line, names)
	}
	row := cols.newRow()
	for _, name := range names {
		v := raw[name]
		switch {
		case name == "id":
			err = json.Unmarshal(v, &row.ID)
		case name == "label":
			row.Label, err = jsonClass(v, cols.Classes)
		case name == "pred":
			row.Pred, err = jsonClass(v, cols.Classes)
		case name == "prob":
			err = json.Unmarshal(v, &row.Prob)
		case strings.HasPrefix(name, probPrefix):
			var p float64
			err = json.Unmarshal(v, &p)
			row.Probs = append(row.Probs, p)
		case name == "text":
			err = json.Unmarshal(v, &row.Text)
		case name == "generated":
			err = json.Unmarshal(v, &row.Generated)
		}
		if err != nil {
			return Prediction{}, fmt.Errorf("read %s:%d column %s: %w", j.path, j.line, name, err)
		}
	}
	if err := cols.checkProbs(row); err != nil {
		return Prediction{}, fmt.Errorf("read %s:%d: %w", j.path, j.line, err)
	}
	return row, nil
}

// inFileOrder puts a JSON row's keys in a predictions file's column order (JSON objects are
// unordered) except the prob_<name> columns, whose order is the class order.
func inFileOrder(keys []string) []string {
	var names []string
	for _, want := range []string{"id", "label", "pred", "prob", probPrefix, "text", "generated"} {
		for _, k := range keys {
			if k == want || want == probPrefix && strings.HasPrefix(k, probPrefix) {
				names = append(names, k)
			}
		}
	}
	for _, k := range keys {
		if !slices.Contains(names, k) {
			names = append(names, k) // columnsFromNames names it
		}
	}
	return names
}

// orderedObject reads one JSON object: its keys in order, and each key's raw value.
func orderedObject(b []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	var keys []string
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		key := tok.(string) // inside an object, a token before a value is its key
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := raw[key]; dup {
			return nil, nil, fmt.Errorf("key %q twice", key)
		}
		keys, raw[key] = append(keys, key), v
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	return keys, raw, nil
}

// jsonClass reads a label or pred value: a class name (a K-class file; a number is read as its
// text, for stars5's "4"), else the number 0 or 1; null is NoLabel/NoAnswer.
func jsonClass(v json.RawMessage, classes []string) (int, error) {
	s := strings.TrimSpace(string(v))
	if s == "null" {
		return -1, nil
	}
	if strings.HasPrefix(s, `"`) {
		if classes == nil {
			return 0, fmt.Errorf("%s is not 0 or 1", s)
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, err
		}
		if s == "" {
			return 0, errors.New(`"" is not a class`)
		}
	}
	return classIndex(s, classes)
}

type parquetRows struct {
	f       *os.File
	r       *parquet.Reader
	path    string
	cols    Columns
	name    []string       // leaf index → column name
	probIdx map[string]int // prob_<name> column → class
	buf     []parquet.Row
	n, i    int
	row     int
}

func newParquetRows(f *os.File, path string, classes []string) (_ *parquetRows, err error) {
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
	leafNames := map[int]string{}
	for _, p := range schema.Columns() {
		leaf, _ := schema.Lookup(p...)
		leafNames[leaf.ColumnIndex] = p[0]
	}
	if meta, ok := pf.Lookup(ClassesMetadataKey); ok {
		if classes, err = resolveClasses(path, strings.Split(meta, ","), classes); err != nil {
			return nil, err
		}
	}
	names, err := parquetColumnOrder(path, leafNames, classes)
	if err != nil {
		return nil, err
	}
	cols, err := columnsFromNames(path, names, classes)
	if err != nil {
		return nil, err
	}
	name := make([]string, len(leafNames))
	for i, n := range leafNames {
		name[i] = n
	}
	probIdx := map[string]int{}
	for i, n := range cols.probNames() {
		probIdx[n] = i
	}
	return &parquetRows{f: f, r: parquet.NewReader(pf), path: path, cols: cols, name: name, probIdx: probIdx, buf: make([]parquet.Row, 256)}, nil
}

// parquetColumnOrder puts a Parquet file's columns (a group: sorted by name) in a predictions
// file's order, the prob_<name> columns in the class order.
func parquetColumnOrder(path string, leafNames map[int]string, classes []string) ([]string, error) {
	set := map[string]bool{}
	for _, n := range leafNames {
		set[n] = true
	}
	order := []string{"id", "label", "pred", "prob"}
	for _, c := range classes {
		order = append(order, probPrefix+c)
	}
	order = append(order, "text", "generated")
	var names []string
	for _, n := range order {
		if set[n] {
			names = append(names, n)
			delete(set, n)
		}
	}
	for n := range set {
		if strings.HasPrefix(n, probPrefix) && classes == nil {
			return nil, fmt.Errorf("read %s: column %q but no %s metadata: the class order is unknown", path, n, ClassesMetadataKey)
		}
		return nil, fmt.Errorf("read %s: unexpected column %q: not a sentitune predictions file", path, n)
	}
	return names, nil
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
	row := p.cols.newRow()
	if row.Probs != nil {
		row.Probs = row.Probs[:len(p.cols.Classes)]
	}
	for _, v := range pr {
		c := v.Column()
		if c < 0 || c >= len(p.name) || v.IsNull() {
			continue
		}
		var err error
		switch name := p.name[c]; name {
		case "id":
			row.ID = string(v.ByteArray())
		case "label":
			row.Label, err = p.class(v)
		case "pred":
			row.Pred, err = p.class(v)
		case "prob":
			row.Prob = v.Double()
		case "text":
			row.Text = string(v.ByteArray())
		case "generated":
			row.Generated = string(v.ByteArray())
		default:
			if i, ok := p.probIdx[name]; ok && row.Probs != nil {
				row.Probs[i] = v.Double()
			}
		}
		if err != nil {
			return Prediction{}, fmt.Errorf("read %s row %d column %s: %w", p.path, p.row, p.name[c], err)
		}
	}
	if err := p.cols.checkProbs(row); err != nil {
		return Prediction{}, fmt.Errorf("read %s row %d: %w", p.path, p.row, err)
	}
	return row, nil
}

// class reads a label or pred value: a class name in a K-class file, else 0 or 1.
func (p *parquetRows) class(v parquet.Value) (int, error) {
	if p.cols.Classes != nil {
		return classIndex(string(v.ByteArray()), p.cols.Classes)
	}
	return classIndex(strconv.FormatInt(v.Int64(), 10), nil)
}
