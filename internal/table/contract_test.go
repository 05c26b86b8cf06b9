package table

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestPredictWritesWhatEvalReads: a predictions file written by NewWriter (predict) reads back as
// the same rows through ReadRows (predict's shard merge) and ReadPredictions (eval), in every format.
func TestPredictWritesWhatEvalReads(t *testing.T) {
	rows := []Prediction{
		{ID: "r1", Label: 1, Pred: 1, Prob: 0.875, Text: `great, "really"`},
		{ID: "r2", Label: 0, Pred: 1, Prob: 0.5000000000000001, Text: "bad\nsecond line"},
		{ID: "3", Label: 0, Pred: 0, Prob: 0, Text: "meh"},
	}
	cols := Columns{Label: true, Prob: true, Text: true}
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "preds."+format)
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewPredictionWriter(f, format, cols)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			gotCols, got, err := ReadRows(path)
			if err != nil || !gotCols.Equal(cols) || !reflect.DeepEqual(got, rows) {
				t.Errorf("ReadRows: %v %+v, %v; want %+v", gotCols, got, err, rows)
			}
			if got, err = ReadPredictions(path); err != nil || !reflect.DeepEqual(got, rows) {
				t.Errorf("ReadPredictions: %+v, %v; want %+v", got, err, rows)
			}
		})
	}
}
