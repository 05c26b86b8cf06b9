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
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// header is the columns a file has: lower-cased names, and as written in file order (JSON: in
// order of first appearance); classes is a Parquet file's sentitune.classes metadata.
type header struct {
	has     map[string]bool
	order   []string
	classes []string
}

func newHeader() *header { return &header{has: map[string]bool{}} }

// add notes a column name as the file spells it.
func (h *header) add(name string) string {
	key := strings.ToLower(strings.TrimSpace(name))
	if !h.has[key] {
		h.has[key] = true
		h.order = append(h.order, strings.TrimSpace(name))
	}
	return key
}

// record is one row as read from a file, before validation.
// loc names the row for error messages ("line 7", "row 3").
type record struct {
	loc    string
	fields map[string]any // lower-cased column name → raw value (string, json.Number, bool, float64, int64, nil)
}

// ReadPredictions reads any predictions file (predict's, or another tool's): CSV, TSV, JSON Lines, a JSON array, or Parquet,
// chosen by extension (.csv .tsv .jsonl .ndjson .json .parquet). Columns, case-insensitive:
// label (required), pred and/or prob (at least one), id and text (optional).
// A missing pred is derived as prob >= 0.5; a missing prob column leaves Prob NaN.
func ReadPredictions(path string) ([]Prediction, error) {
	_, preds, err := ReadClassPredictions(path, nil)
	return preds, err
}

// ReadClassPredictions reads a predictions file as ReadPredictions does, or a K-class one: its
// label and pred hold class names and it has a prob_<name> column per class (or none: pred
// only). classes are the class names in class order, nil to take them from the prob_<name>
// columns; it returns the file's classes, nil for a binary file.
func ReadClassPredictions(path string, classes []string) ([]string, []Prediction, error) {
	recs, cols, err := readRecords(path)
	if err != nil {
		return nil, nil, err
	}
	return toClassPredictions(path, recs, cols, classes)
}

// ReadPredictionsFrom reads a predictions file from r (a pipe, stdin), naming it name in
// messages. The format is name's extension when it has a known one, else the content's: Parquet
// by its magic bytes, a JSON array or JSON Lines by their first character, TSV when the header
// line has a tab and no comma, else CSV.
func ReadPredictionsFrom(r io.Reader, name string) ([]Prediction, error) {
	_, preds, err := ReadClassPredictionsFrom(r, name, nil)
	return preds, err
}

// ReadClassPredictionsFrom is ReadClassPredictions on a stream (see ReadPredictionsFrom).
func ReadClassPredictionsFrom(r io.Reader, name string, classes []string) ([]string, []Prediction, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", name, err)
	}
	ext := strings.ToLower(filepath.Ext(name))
	if _, known := predictionFormats[ext]; !known {
		ext = sniffFormat(b)
	}
	recs, cols, err := readRecordsAs(ext, name, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	return toClassPredictions(name, recs, cols, classes)
}

// toClassPredictions reads a K-class file when it has prob_<name> columns, sentitune.classes
// metadata or given classes, else a binary one.
func toClassPredictions(path string, recs []record, h *header, classes []string) ([]string, []Prediction, error) {
	var found []string
	for _, n := range h.order {
		if len(n) > len(probPrefix) && strings.EqualFold(n[:len(probPrefix)], probPrefix) {
			found = append(found, n[len(probPrefix):])
		}
	}
	if h.classes != nil {
		if found != nil && !h.hasProbsOf(h.classes) {
			return nil, nil, fmt.Errorf("read %s: its prob_ columns %s are not its %s metadata's classes %s", path, strings.Join(found, ", "), ClassesMetadataKey, strings.Join(h.classes, ", "))
		}
		found = h.classes // a Parquet group sorts its columns: the metadata keeps the order
	}
	classes, err := resolveClasses(path, found, classes)
	if err != nil {
		return nil, nil, err
	}
	if classes == nil {
		preds, err := toPredictions(path, recs, h.has)
		return nil, preds, err
	}
	preds, err := toClassRows(path, recs, h.has, classes)
	return classes, preds, err
}

// hasProbsOf reports whether the file's prob_<name> columns are exactly those of classes.
func (h *header) hasProbsOf(classes []string) bool {
	n := 0
	for k := range h.has {
		if strings.HasPrefix(k, probPrefix) {
			n++
		}
	}
	for _, c := range classes {
		if !h.has[strings.ToLower(probPrefix+c)] {
			return false
		}
	}
	return n == len(classes)
}

// toClassRows validates a K-class file's records: label (a class name), pred (a class name,
// else the most probable class) and the prob_<name> columns, if any, which must sum to 1.
func toClassRows(path string, recs []record, cols map[string]bool, classes []string) ([]Prediction, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("read %s: no prediction rows", path)
	}
	if !cols["label"] {
		return nil, fmt.Errorf("read %s: missing column \"label\" (columns found: %s)", path, columnList(cols))
	}
	withProbs := cols[strings.ToLower(probPrefix+classes[0])]
	if !cols["pred"] && !withProbs {
		return nil, fmt.Errorf("read %s: need a \"pred\" column or prob_<class> columns (%s) (columns found: %s)", path, strings.Join(Columns{Classes: classes}.probNames(), ", "), columnList(cols))
	}
	preds := make([]Prediction, 0, len(recs))
	for i, r := range recs {
		p, err := toClassRow(r, cols, withProbs, classes)
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", path, r.loc, err)
		}
		if p.ID == "" {
			p.ID = strconv.Itoa(i + 1)
		}
		preds = append(preds, p)
	}
	return preds, nil
}

func toClassRow(r record, cols map[string]bool, withProbs bool, classes []string) (Prediction, error) {
	p := Prediction{ID: scalarString(r.fields["id"]), Text: scalarString(r.fields["text"]), Prob: math.NaN()}
	var err error
	if p.Label, err = classValue("label", r.fields["label"], classes); err != nil {
		return p, err
	}
	if withProbs {
		p.Probs = make([]float64, len(classes))
		for c, name := range classes {
			col := strings.ToLower(probPrefix + name)
			if p.Probs[c], err = probValue(r.fields[col]); err != nil {
				return p, fmt.Errorf("%s%s", probPrefix+name, strings.TrimPrefix(err.Error(), "prob"))
			}
		}
		if err := CheckClassProbs(p.Probs, classes); err != nil {
			return p, err
		}
	}
	if cols["pred"] {
		p.Pred, err = classValue("pred", r.fields["pred"], classes)
		return p, err
	}
	for c := range p.Probs { // no pred column: the most probable class
		if p.Probs[c] > p.Probs[p.Pred] {
			p.Pred = c
		}
	}
	return p, nil
}

// classValue reads a K-class label or pred cell: a class name (a number, for stars5, as its text).
func classValue(name string, v any, classes []string) (int, error) {
	s := strings.TrimSpace(scalarString(v))
	if s == "" {
		return 0, fmt.Errorf("%s is missing", name)
	}
	c, err := classIndex(s, classes)
	if err != nil {
		return 0, fmt.Errorf("%s %w", name, err)
	}
	return c, nil
}

// predictionFormats are the extensions ReadPredictions knows.
var predictionFormats = map[string]bool{".csv": true, ".tsv": true, ".jsonl": true, ".ndjson": true, ".json": true, ".parquet": true, ".pq": true}

// sniffFormat is the extension of the format b's content is in.
func sniffFormat(b []byte) string {
	if bytes.HasPrefix(b, []byte("PAR1")) {
		return ".parquet"
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\ufeff")), " \t\r\n")
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return ".json" // a JSON array or JSON Lines: readJSON tells them apart
	}
	header, _, _ := bytes.Cut(t, []byte("\n"))
	if bytes.IndexByte(header, '\t') >= 0 && bytes.IndexByte(header, ',') < 0 {
		return ".tsv"
	}
	return ".csv"
}

// toPredictions validates records read from the file called path.
func toPredictions(path string, recs []record, cols map[string]bool) ([]Prediction, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("read %s: no prediction rows", path)
	}
	if !cols["label"] {
		return nil, fmt.Errorf("read %s: missing column \"label\" (columns found: %s)", path, columnList(cols))
	}
	if isGenerated(cols) { // LLaMA-Factory's generated_predictions.jsonl
		return toGenerated(path, recs)
	}
	if !cols["pred"] && !cols["prob"] {
		return nil, fmt.Errorf("read %s: need a \"pred\" or \"prob\" column, or \"predict\" (generated text, as in LLaMA-Factory's generated_predictions.jsonl) (columns found: %s)", path, columnList(cols))
	}
	preds := make([]Prediction, 0, len(recs))
	for i, r := range recs {
		p, err := toPrediction(r, cols)
		if err != nil {
			return nil, fmt.Errorf("read %s %s: %w", path, r.loc, err)
		}
		if p.ID == "" {
			p.ID = strconv.Itoa(i + 1)
		}
		preds = append(preds, p)
	}
	return preds, nil
}

func columnList(cols map[string]bool) string {
	names := make([]string, 0, len(cols))
	for c := range cols {
		names = append(names, c)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func toPrediction(r record, cols map[string]bool) (Prediction, error) {
	var p Prediction
	var err error
	if p.Label, err = binaryValue("label", r.fields["label"]); err != nil {
		return p, err
	}
	p.Prob = math.NaN()
	if cols["prob"] {
		if p.Prob, err = probValue(r.fields["prob"]); err != nil {
			return p, err
		}
	}
	if cols["pred"] {
		if p.Pred, err = binaryValue("pred", r.fields["pred"]); err != nil {
			return p, err
		}
	} else if p.Prob >= 0.5 {
		p.Pred = 1
	}
	p.ID = scalarString(r.fields["id"])
	p.Text = scalarString(r.fields["text"])
	return p, nil
}

// binaryValue accepts 0/1 as numbers, numeric strings or booleans.
func binaryValue(name string, v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, fmt.Errorf("%s is missing", name)
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case int64:
		if x == 0 || x == 1 {
			return int(x), nil
		}
	case float64:
		if x == 0 || x == 1 {
			return int(x), nil
		}
	case json.Number, string:
		s := strings.TrimSpace(fmt.Sprint(x))
		switch strings.ToLower(s) {
		case "":
			return 0, fmt.Errorf("%s is missing", name)
		case "true":
			return 1, nil
		case "false":
			return 0, nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil && (f == 0 || f == 1) {
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("%s %s is not 0 or 1", name, quoteValue(v))
}

func probValue(v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case nil:
		return 0, errors.New("prob is missing")
	case float64:
		f = x
	case int64:
		f = float64(x)
	case json.Number, string:
		s := strings.TrimSpace(fmt.Sprint(x))
		if s == "" {
			return 0, errors.New("prob is missing")
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, fmt.Errorf("prob %s is not a number", quoteValue(v))
		}
	default:
		return 0, fmt.Errorf("prob %s is not a number", quoteValue(v))
	}
	if math.IsNaN(f) || f < 0 || f > 1 {
		return 0, fmt.Errorf("prob %s is outside [0, 1]", quoteValue(v))
	}
	return f, nil
}

func quoteValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case json.Number:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func readRecords(path string) ([]record, *header, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if !predictionFormats[ext] {
		return nil, nil, fmt.Errorf("read %s: unknown predictions format %q (want .csv, .tsv, .jsonl, .json or .parquet)", path, ext)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var size int64
	if ext == ".parquet" || ext == ".pq" {
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		size = st.Size()
	}
	return readRecordsAs(ext, path, f, size)
}

// fileReader is what every format's reader needs: a stream, and random access for Parquet.
type fileReader interface {
	io.Reader
	io.ReaderAt
}

// readRecordsAs reads f (size bytes, needed for Parquet only) in the format of extension ext.
func readRecordsAs(ext, path string, f fileReader, size int64) ([]record, *header, error) {
	switch ext {
	case ".csv":
		return readDelimited(f, path, ',')
	case ".tsv":
		return readDelimited(f, path, '\t')
	case ".parquet", ".pq":
		return readParquet(f, size, path)
	default:
		return readJSON(f, path)
	}
}

func readDelimited(f io.Reader, path string, comma rune) ([]record, *header, error) {
	cr := csv.NewReader(bufio.NewReader(f))
	cr.Comma = comma
	cr.LazyQuotes = comma == '\t' // TSV exports rarely quote; a bare " is text
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("read %s: empty file", path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	cols := newHeader()
	names := make([]string, len(header))
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		names[i] = cols.add(h)
	}
	var recs []record
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		if len(row) != len(names) {
			return nil, nil, fmt.Errorf("read %s line %d: %d fields, header has %d", path, line, len(row), len(names))
		}
		r := record{loc: fmt.Sprintf("line %d", line), fields: make(map[string]any, len(row))}
		for i, v := range row {
			r.fields[names[i]] = v
		}
		recs = append(recs, r)
	}
	return recs, cols, nil
}

func readJSON(f io.Reader, path string) ([]record, *header, error) {
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	cols := newHeader()
	var recs []record
	add := func(loc string, obj map[string]any, raw []byte) {
		if keys, _, err := orderedObject(raw); err == nil { // the column order, for prob_<name>
			for _, k := range keys {
				cols.add(k)
			}
		}
		r := record{loc: loc, fields: make(map[string]any, len(obj))}
		for k, v := range obj {
			r.fields[cols.add(k)] = v
		}
		recs = append(recs, r)
	}
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(t, &raws); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		for i, raw := range raws {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var o map[string]any
			if err := dec.Decode(&o); err != nil {
				return nil, nil, fmt.Errorf("read %s record %d: %w", path, i+1, err)
			}
			add(fmt.Sprintf("record %d", i+1), o, raw)
		}
		return recs, cols, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for line := 1; sc.Scan(); line++ {
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.UseNumber()
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			return nil, nil, fmt.Errorf("read %s line %d: %w", path, line, err)
		}
		add(fmt.Sprintf("line %d", line), obj, l)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	return recs, cols, nil
}

func readParquet(f io.ReaderAt, size int64, path string) ([]record, *header, error) {
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	// Leaf column index → lower-cased top-level name; nested columns are ignored.
	cols := newHeader()
	if meta, ok := pf.Lookup(ClassesMetadataKey); ok {
		cols.classes = strings.Split(meta, ",")
	}
	names := map[int]string{}
	for i, p := range pf.Schema().Columns() {
		if len(p) == 1 {
			names[i] = cols.add(p[0])
		}
	}
	rd := parquet.NewReader(pf)
	defer rd.Close()
	var recs []record
	buf := make([]parquet.Row, 256)
	for rowNum := 1; ; {
		n, err := rd.ReadRows(buf)
		for _, row := range buf[:n] {
			r := record{loc: fmt.Sprintf("row %d", rowNum), fields: map[string]any{}}
			for _, v := range row {
				name, ok := names[v.Column()]
				if !ok {
					continue
				}
				r.fields[name] = parquetValue(v)
			}
			recs = append(recs, r)
			rowNum++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s row %d: %w", path, rowNum, err)
		}
	}
	return recs, cols, nil
}

func parquetValue(v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	switch v.Kind() {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32, parquet.Int64:
		return v.Int64()
	case parquet.Float:
		return float64(v.Float())
	case parquet.Double:
		return v.Double()
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	default:
		return v.String()
	}
}

// WritePredictionsJSONL writes predictions one JSON object per line (id, text, label, pred, prob),
// the form a report directory keeps so later runs can pair predictions for McNemar's test.
// Rows without a probability are written without "prob".
func WritePredictionsJSONL(w io.Writer, preds []Prediction) error {
	bw := bufio.NewWriter(w)
	for _, p := range preds {
		var row any = p
		if !p.HasProb() {
			row = struct {
				ID    string `json:"id,omitempty"`
				Text  string `json:"text,omitempty"`
				Label int    `json:"label"`
				Pred  int    `json:"pred"`
			}{p.ID, p.Text, p.Label, p.Pred}
		}
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
