package prep

import (
	"fmt"
	"strconv"
	"strings"
)

// IDRowNumber as --id-col uses the source row number as the id even when the input has an
// id column.
const IDRowNumber = "#row"

// IDColumnNames are the column names DetectIDColumn recognises (case-insensitive), best first.
var IDColumnNames = []string{"id", "review_id", "reviewid", "review id", "row_id", "sample_id", "example_id", "doc_id", "uid", "uuid", "guid", "_id", "编号"}

// DetectIDColumn picks a row id column by exact (case-insensitive) name from IDColumnNames.
func DetectIDColumn(cols []string) (string, bool) {
	for _, n := range IDColumnNames {
		for _, c := range cols {
			if strings.EqualFold(strings.TrimSpace(c), n) {
				return c, true
			}
		}
	}
	return "", false
}

// idColumn resolves the id column of cols: the one named by idCol, else a detected one;
// -1 means ids are source row numbers.
func idColumn(cols []string, idCol string) (int, error) {
	switch idCol {
	case IDRowNumber:
		return -1, nil
	case "":
		name, ok := DetectIDColumn(cols)
		if !ok {
			return -1, nil
		}
		idCol = name
	}
	return FindColumn(cols, idCol)
}

// rowID is the id of a record: its id column's value, or its source row number.
func rowID(rec Record, col int) string {
	if col < 0 {
		return strconv.Itoa(rec.Row)
	}
	return strings.TrimSpace(rec.Get(col))
}

// checkIDs fails on an empty or repeated id among the kept rows of path: an id must name one
// row of the input.
func checkIDs(path string, examples []example, column string) error {
	if column == "" {
		return nil // row numbers are unique
	}
	where := func(e example) string { return Where(path, Record{Row: e.row, Line: e.line}) }
	first := make(map[string]int, len(examples))
	for i, e := range examples {
		if e.id == "" {
			return fmt.Errorf("id column %q is empty at %s; ids must name each row (pass --id-col %s to use row numbers)", column, where(e), IDRowNumber)
		}
		if prev, dup := first[e.id]; dup {
			return fmt.Errorf("id column %q repeats %q at %s and %s; ids must be unique (pass --id-col %s to use row numbers)",
				column, e.id, where(examples[prev]), where(e), IDRowNumber)
		}
		first[e.id] = i
	}
	return nil
}
