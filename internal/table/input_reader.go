package table

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Record is one data row of an input file. Values are aligned with the
// reader's Columns(); a missing or null value is "". Row counts data records
// from 1 (the CSV header is not a row; rows a reader rejected with a *RowError
// are counted). Line is the 1-based line where the record starts in CSV, TSV
// and JSON Lines files, and 0 for formats without lines (JSON arrays, Parquet).
type Record struct {
	Row    int
	Line   int
	Values []string
}

// Get returns the value of column i, or "" when the record is shorter.
func (r Record) Get(i int) string {
	if i < 0 || i >= len(r.Values) {
		return ""
	}
	return r.Values[i]
}

// Reader streams the records of one input file with constant memory.
//
// Next returns io.EOF after the last record. When Next returns a *RowError
// (broken quoting, wrong field count, a line that is not a JSON object…)
// only that row is bad and the caller may call Next again to continue; any
// other error is final.
type Reader interface {
	Columns() []string
	Next() (Record, error)
	Close() error
	// Info describes the source. The encoding of a text file whose first
	// bytes are ASCII is settled only when the first non-ASCII byte is read.
	Info() Source
}

// Source describes where records come from.
type Source struct {
	Path     string `json:"path"`
	Format   string `json:"format"`   // csv, tsv, json, jsonl, parquet (alpaca files read as json or jsonl)
	Encoding string `json:"encoding"` // utf-8, gbk, utf-16le, utf-16be, binary (parquet)
}

// ReadOptions tune how a file is decoded.
type ReadOptions struct {
	// Encoding of text formats: "" or "auto" (BOM, else UTF-8 unless the
	// first non-ASCII bytes decode as GBK Chinese), "utf-8", "gbk" (read as
	// GB18030, its superset), "utf-16" (needs a BOM).
	Encoding string
	// Delimiter overrides CSV delimiter detection (',' or ';' from the header).
	Delimiter rune
	// MaxRecordBytes bounds one record (a line, a multi-line CSV record or a
	// JSON array element); 0 means 4 MiB. It keeps memory constant when a
	// quote is never closed.
	MaxRecordBytes int
	// OnBytes, when set, is called with the number of raw input bytes
	// consumed by each read (for progress bars).
	OnBytes func(n int)
	// Name, when set, names the input in messages and for format detection
	// instead of the path opened (a spooled copy of a pipe: see Spool).
	Name string
}

func (o ReadOptions) maxRecord() int {
	if o.MaxRecordBytes <= 0 {
		return 4 << 20
	}
	return o.MaxRecordBytes
}

// Formats accepted by Open.
const (
	FormatAuto    = "auto"
	FormatCSV     = "csv"
	FormatTSV     = "tsv"
	FormatJSON    = "json"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
	FormatAlpaca  = "alpaca"
)

// Formats lists the values Open accepts for format.
var Formats = []string{FormatAuto, FormatCSV, FormatTSV, FormatJSON, FormatJSONL, FormatParquet, FormatAlpaca}

// RowError reports one bad row; reading can continue after it.
type RowError struct {
	Path string
	Row  int
	Line int // 0 when the format has no lines
	Err  error
}

func (e *RowError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s row %d: %v", e.Path, e.Row, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// Where names the row for messages: "file:line" or "file row N".
func Where(path string, rec Record) string {
	if rec.Line > 0 {
		return fmt.Sprintf("%s:%d", path, rec.Line)
	}
	return fmt.Sprintf("%s row %d", path, rec.Row)
}

// ErrEmptyFile is returned by Open for a file with no content.
var ErrEmptyFile = errors.New("empty file")

// Open opens path as a stream of records. format is one of Formats; "auto"
// picks by extension and content.
func Open(path, format string, opts ReadOptions) (Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if opts.Name != "" {
		path = opts.Name
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: is a directory", path)
	}
	if format == "" || format == FormatAuto {
		format, err = formatByName(path)
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	if !st.Mode().IsRegular() { // a pipe or device: no ReadAt, one pass only
		return openStream(f, path, format, opts)
	}
	if format == "" { // sniff parquet magic before decoding text
		var magic [4]byte
		if n, _ := f.ReadAt(magic[:], 0); n == 4 && string(magic[:]) == "PAR1" {
			format = FormatParquet
		}
	}
	if format == FormatParquet {
		r, err := openParquet(f, st.Size(), path, opts)
		if err != nil {
			f.Close()
			return nil, err
		}
		return r, nil
	}
	r, err := newTextReader(f, f, path, format, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// openStream reads a pipe or device in its one pass; Parquet, which needs random access, is first
// copied to a temporary file that the reader removes when closed.
func openStream(f *os.File, path, format string, opts ReadOptions) (Reader, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	if format == "" {
		if magic, _ := br.Peek(4); string(magic) == "PAR1" {
			format = FormatParquet
		}
	}
	if format != FormatParquet {
		r, err := newTextReader(br, f, path, format, opts)
		if err != nil {
			f.Close()
		}
		return r, err
	}
	s, err := spool(br, path)
	f.Close()
	if err != nil {
		return nil, err
	}
	st, err := s.Stat()
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := openParquet(s, st.Size(), path, opts)
	if err != nil {
		s.Close()
		return nil, err
	}
	return r, nil
}

// NewReader reads records from r (for example stdin). name is used in
// messages and, with format "auto", to guess the format. Parquet needs
// random access: r must then be an io.ReaderAt with a Size() int64 method
// (as *bytes.Reader is).
func NewReader(r io.Reader, name, format string, opts ReadOptions) (Reader, error) {
	if format == "" || format == FormatAuto {
		var err error
		if format, err = formatByName(name); err != nil {
			return nil, err
		}
	}
	if format == FormatParquet {
		ra, ok := r.(interface {
			io.ReaderAt
			Size() int64
		})
		if !ok {
			return nil, fmt.Errorf("read %s: parquet needs a seekable file", name)
		}
		return openParquet(ra, ra.Size(), name, opts)
	}
	return newTextReader(r, nil, name, format, opts)
}

// formatByName maps a file extension to a format; "" means sniff the content.
func formatByName(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".csv":
		return FormatCSV, nil
	case ".tsv", ".tab":
		return FormatTSV, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".parquet", ".pq":
		return FormatParquet, nil
	default: // .json may hold an array or JSON Lines; .txt and others are sniffed
		return "", nil
	}
}

// CheckInputFormat refuses a format Open does not accept.
func CheckInputFormat(format string) error {
	for _, f := range Formats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// newTextReader decodes r to UTF-8 and picks the parser.
func newTextReader(r io.Reader, closer io.Closer, path, format string, opts ReadOptions) (Reader, error) {
	if format != "" {
		if err := CheckInputFormat(format); err != nil {
			return nil, err
		}
	}
	if opts.OnBytes != nil {
		r = &countingReader{r: r, on: opts.OnBytes}
	}
	dec, err := newDecoder(r, opts.Encoding)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	br := bufio.NewReaderSize(dec, 64<<10)
	head, err := br.Peek(br.Size())
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if err == io.EOF && len(bytes.TrimSpace(head)) == 0 {
		return nil, fmt.Errorf("read %s: %w", path, ErrEmptyFile)
	}
	alpaca := format == FormatAlpaca
	if format == "" || format == FormatJSON || format == FormatAlpaca {
		format = sniffTextFormat(head, format)
	}
	src := Source{Path: path, Format: format}
	info := func() Source { s := src; s.Encoding = dec.name(); return s }
	var rd Reader
	switch format {
	case FormatCSV, FormatTSV:
		rd, err = newCSVReader(br, closer, info, format, opts)
	case FormatJSONL:
		rd, err = newJSONLReader(br, closer, info, opts)
	case FormatJSON:
		rd, err = newJSONArrayReader(br, closer, info, opts)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, err
	}
	if alpaca && !HasAlpacaColumns(rd.Columns()) {
		return nil, fmt.Errorf("read %s: not an Alpaca file: want columns instruction, input, output; found %s", path, ListColumns(rd.Columns()))
	}
	return rd, nil
}

// sniffTextFormat decides between JSON array, JSON Lines and CSV/TSV from
// the first bytes. want is "" (anything), "json" or "alpaca" (JSON only).
func sniffTextFormat(head []byte, want string) string {
	t := bytes.TrimLeft(head, " \t\r\n")
	switch {
	case len(t) > 0 && t[0] == '[':
		return FormatJSON
	case len(t) > 0 && t[0] == '{':
		return FormatJSONL
	case want != "":
		return FormatJSON // let the JSON reader report what is wrong
	}
	line := t
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if bytes.Count(line, []byte{'\t'}) > bytes.Count(line, []byte{','}) {
		return FormatTSV
	}
	return FormatCSV
}

// HasAlpacaColumns reports whether cols look like an Alpaca record (instruction, input, output).
func HasAlpacaColumns(cols []string) bool {
	n := 0
	for _, c := range cols {
		switch c {
		case "instruction", "input", "output":
			n++
		}
	}
	return n == 3
}

type countingReader struct {
	r  io.Reader
	on func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.on(n)
	}
	return n, err
}

// ListColumns formats column names for error messages.
func ListColumns(cols []string) string {
	if len(cols) == 0 {
		return "(none)"
	}
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = fmt.Sprintf("%q", c)
	}
	return strings.Join(q, ", ")
}

// FindColumn returns the index of column name: an exact match, else the
// only case-insensitive match after trimming spaces. The error lists the
// columns found.
func FindColumn(cols []string, name string) (int, error) {
	for i, c := range cols {
		if c == name {
			return i, nil
		}
	}
	found := -1
	for i, c := range cols {
		if strings.EqualFold(strings.TrimSpace(c), strings.TrimSpace(name)) {
			if found >= 0 {
				return -1, fmt.Errorf("column %q is ambiguous: columns found: %s", name, ListColumns(cols))
			}
			found = i
		}
	}
	if found < 0 {
		return -1, fmt.Errorf("no column %q: columns found: %s", name, ListColumns(cols))
	}
	return found, nil
}

// Column names recognised by DetectTextColumn and DetectLabelColumn, best first.
var (
	TextColumnNames = []string{
		"text", "review", "review_text", "reviewtext", "review_body", "content", "comment", "comments",
		"sentence", "body", "评论", "评论内容", "内容", "评价", "评价内容", "文本", "input",
	}
	LabelColumnNames = []string{
		"label", "labels", "class", "sentiment", "polarity", "rating", "stars", "star", "score", "target",
		"标签", "情感", "情感标签", "类别", "评分", "output",
	}
	textColumnWords  = []string{"text", "review", "content", "comment", "sentence", "评论", "内容", "评价", "文本"}
	labelColumnWords = []string{"label", "class", "sentiment", "polarity", "rating", "star", "标签", "情感", "评分"}
)

// DetectTextColumn picks the review text column by name: an exact
// (case-insensitive) name from TextColumnNames, else the first column whose
// name contains one of the words text/review/content/comment/sentence/评论/内容.
func DetectTextColumn(cols []string) (string, bool) {
	return detectColumn(cols, TextColumnNames, textColumnWords)
}

// DetectLabelColumn picks the label column like DetectTextColumn, from
// LabelColumnNames and the words label/class/sentiment/rating/标签.
func DetectLabelColumn(cols []string) (string, bool) {
	return detectColumn(cols, LabelColumnNames, labelColumnWords)
}

func detectColumn(cols, names, words []string) (string, bool) {
	for _, n := range names {
		for _, c := range cols {
			if strings.EqualFold(strings.TrimSpace(c), n) {
				return c, true
			}
		}
	}
	for _, w := range words {
		for _, c := range cols {
			lc := strings.ToLower(c)
			if strings.Contains(lc, w) && !strings.HasSuffix(lc, "id") {
				return c, true
			}
		}
	}
	return "", false
}
