package prep

import (
	"io"

	"github.com/sentitune/sentitune/internal/table"
)

// Review files are read by internal/table (formats, encodings, columns); these names keep prep's
// callers working.

// Formats accepted by Open.
const (
	FormatAuto    = table.FormatAuto
	FormatCSV     = table.FormatCSV
	FormatTSV     = table.FormatTSV
	FormatJSON    = table.FormatJSON
	FormatJSONL   = table.FormatJSONL
	FormatParquet = table.FormatParquet
	FormatAlpaca  = table.FormatAlpaca
)

type (
	Record      = table.Record
	Reader      = table.Reader
	Source      = table.Source
	ReadOptions = table.ReadOptions
	RowError    = table.RowError
)

// Formats lists the values Open accepts for format; Encodings the text encodings; the column names
// DetectTextColumn and DetectLabelColumn recognise.
var (
	Formats          = table.Formats
	Encodings        = table.Encodings
	TextColumnNames  = table.TextColumnNames
	LabelColumnNames = table.LabelColumnNames
)

// Open opens a review file (table.Open).
func Open(path, format string, opts ReadOptions) (Reader, error) {
	return table.Open(path, format, opts)
}

// NewReader reads a review file from a stream (table.NewReader).
func NewReader(r io.Reader, name, format string, opts ReadOptions) (Reader, error) {
	return table.NewReader(r, name, format, opts)
}

// Where names a record's place in path for messages (table.Where).
func Where(path string, rec Record) string { return table.Where(path, rec) }

// FindColumn finds a column by name (table.FindColumn).
func FindColumn(cols []string, name string) (int, error) { return table.FindColumn(cols, name) }

// DetectTextColumn picks the review text column (table.DetectTextColumn).
func DetectTextColumn(cols []string) (string, bool) { return table.DetectTextColumn(cols) }

// DetectLabelColumn picks the label column (table.DetectLabelColumn).
func DetectLabelColumn(cols []string) (string, bool) { return table.DetectLabelColumn(cols) }

// IsStream reports whether path is a pipe or another stream (table.IsStream).
func IsStream(path string) bool { return table.IsStream(path) }

// Spool makes a stream readable again (table.Spool).
func Spool(path string) (string, func(), error) { return table.Spool(path) }

func checkFormat(format string) error     { return table.CheckInputFormat(format) }
func hasAlpacaColumns(cols []string) bool { return table.HasAlpacaColumns(cols) }
func listColumns(cols []string) string    { return table.ListColumns(cols) }
