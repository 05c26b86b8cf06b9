package predict

import "github.com/sentitune/sentitune/internal/table"

// The predictions file (its row type, columns, formats, readers and writers) is internal/table's;
// these names keep predict's callers working.
const (
	FormatCSV     = table.FormatCSV
	FormatJSONL   = table.FormatJSONL
	FormatParquet = table.FormatParquet
	NoLabel       = table.NoLabel
	NoAnswer      = table.NoAnswer
)

// Row is one row of a predictions file.
type Row = table.Prediction

// Columns says which columns besides id and pred a predictions file has.
type Columns = table.Columns

// FormatOf returns the output format for a file name (table.FormatOf).
func FormatOf(path string) (string, error) { return table.FormatOf(path) }

// ReadRows reads a whole predictions file written by Run (table.ReadRows).
func ReadRows(path string) (Columns, []Row, error) { return table.ReadRows(path) }
