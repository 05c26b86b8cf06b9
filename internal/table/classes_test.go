package table

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writePredictions writes rows with cols to dir/name through NewPredictionWriter.
func writePredictions(t *testing.T, path string, cols Columns, rows []Prediction) {
	t.Helper()
	format, err := FormatOf(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
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
}

var threeClasses = []string{"negative", "neutral", "positive"}

func threeClassRows() []Prediction {
	return []Prediction{
		{ID: "a", Label: 1, Pred: 1, Probs: []float64{0.125, 0.75, 0.125}, Text: `so-so, "fine"`},
		{ID: "b", Label: 0, Pred: 2, Probs: []float64{0.1, 0.2, 0.7000000000000001}, Text: "bad\nreally"},
		{ID: "c", Label: 0, Pred: 0, Probs: []float64{1, 0, 0}, Text: "awful"},
	}
}

// TestClassPredictionsRoundTrip: a K-class file (class names in label and pred, prob_<name> per
// class) reads back as the same rows and columns in every format, with and without the classes
// given, and ReadClassPredictions (eval's reader) reads the same rows.
func TestClassPredictionsRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		cols    Columns
		rows    []Prediction
		classes []string // given to the reader
	}{
		{"with probabilities", Columns{Label: true, Prob: true, Text: true, Classes: threeClasses}, threeClassRows(), nil},
		{"classes given", Columns{Label: true, Prob: true, Classes: threeClasses}, stripText(threeClassRows()), threeClasses},
		{"stars5, no probabilities", Columns{Label: true, Classes: []string{"1", "2", "3", "4", "5"}},
			[]Prediction{{ID: "1", Label: 4, Pred: 3}, {ID: "2", Label: 0, Pred: 0}}, []string{"1", "2", "3", "4", "5"}},
		{"unlabelled rows", Columns{Prob: true, Classes: threeClasses}, // predict on reviews without labels
			[]Prediction{{ID: "u", Label: NoLabel, Pred: 2, Probs: []float64{0, 0.25, 0.75}}}, nil},
	}
	for _, tc := range cases {
		for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "preds."+format)
				writePredictions(t, path, tc.cols, tc.rows)
				cols, got, err := ReadClassRows(path, tc.classes)
				if err != nil || !cols.Equal(tc.cols) || !reflect.DeepEqual(got, tc.rows) {
					t.Fatalf("ReadClassRows: %+v %+v, %v; want %+v %+v", cols, got, err, tc.cols, tc.rows)
				}
				if !tc.cols.Label {
					return // eval reads labelled files only
				}
				classes, lenient, err := ReadClassPredictions(path, tc.classes)
				if err != nil || !reflect.DeepEqual(classes, tc.cols.Classes) {
					t.Fatalf("ReadClassPredictions: classes %v, %v; want %v", classes, err, tc.cols.Classes)
				}
				for i, r := range lenient {
					want := tc.rows[i]
					if r.ID != want.ID || r.Label != want.Label || r.Pred != want.Pred || r.Text != want.Text || !reflect.DeepEqual(r.Probs, want.Probs) || r.HasProb() {
						t.Errorf("ReadClassPredictions row %d: %+v, want %+v", i, r, want)
					}
				}
			})
		}
	}
}

func stripText(rows []Prediction) []Prediction {
	for i := range rows {
		rows[i].Text = ""
	}
	return rows
}

// TestClassPredictionsFileBytes: the K-class columns as a person reads them.
func TestClassPredictionsFileBytes(t *testing.T) {
	dir := t.TempDir()
	cols := Columns{Label: true, Prob: true, Classes: threeClasses}
	rows := stripText(threeClassRows())[:2]
	want := map[string]string{
		"preds.csv": "id,label,pred,prob_negative,prob_neutral,prob_positive\n" +
			"a,neutral,neutral,0.125,0.75,0.125\n" +
			"b,negative,positive,0.1,0.2,0.7000000000000001\n",
		"preds.jsonl": `{"id":"a","label":"neutral","pred":"neutral","prob_negative":0.125,"prob_neutral":0.75,"prob_positive":0.125}` + "\n" +
			`{"id":"b","label":"negative","pred":"positive","prob_negative":0.1,"prob_neutral":0.2,"prob_positive":0.7000000000000001}` + "\n",
	}
	for name, text := range want {
		path := filepath.Join(dir, name)
		writePredictions(t, path, cols, rows)
		if b, _ := os.ReadFile(path); string(b) != text {
			t.Errorf("%s:\n%s\nwant\n%s", name, b, text)
		}
	}
	// The binary file is unchanged: 0/1 and one prob column.
	path := filepath.Join(dir, "binary.csv")
	writePredictions(t, path, Columns{Label: true, Prob: true}, []Prediction{{ID: "a", Label: 1, Pred: 0, Prob: 0.25}})
	if b, _ := os.ReadFile(path); string(b) != "id,label,pred,prob\na,1,0,0.25\n" {
		t.Errorf("binary.csv: %s", b)
	}
}

// TestClassPredictionsErrors: an unknown class name, probabilities that do not sum to 1 and
// classes that disagree with the file's are errors naming the file, row and column.
func TestClassPredictionsErrors(t *testing.T) {
	cases := []struct {
		name, file, text string
		classes          []string
		want             []string // in the message
	}{
		{"unknown label", "p.csv", "id,label,pred,prob_negative,prob_neutral,prob_positive\na,neutral,neutral,0.2,0.6,0.2\nb,mixed,neutral,0.2,0.6,0.2\n",
			nil, []string{"p.csv:3", "column label", `"mixed" is not one of the classes negative, neutral, positive`}},
		{"unknown pred", "p.jsonl", `{"id":"a","label":"neutral","pred":"great","prob_negative":0.2,"prob_neutral":0.6,"prob_positive":0.2}` + "\n",
			nil, []string{"p.jsonl:1", "column pred", `"great" is not one of the classes`}},
		{"sum", "p.csv", "id,label,pred,prob_negative,prob_neutral,prob_positive\na,neutral,neutral,0.2,0.6,0.4\n",
			nil, []string{"p.csv:2", "sum to 1.2", "not 1"}},
		{"logits", "p.jsonl", `{"id":"a","pred":"neutral","prob_negative":-2,"prob_neutral":3,"prob_positive":0}` + "\n",
			nil, []string{"p.jsonl:1", "prob_negative -2 is outside [0, 1]"}},
		{"classes disagree", "p.csv", "id,pred,prob_negative,prob_positive\na,positive,0.5,0.5\n",
			threeClasses, []string{"p.csv", "negative, positive, not the labels negative, neutral, positive"}},
		{"repeated class", "p.csv", "id,pred,prob_a,prob_A\na,a,0.5,0.5\n",
			nil, []string{"p.csv", `two prob_ columns name the class "A"`}},
		{"names without classes", "p.csv", "id,label,pred\na,neutral,neutral\n",
			nil, []string{"p.csv:2", "column label", `"neutral" is not 0 or 1`}},
		{"binary 2", "p.csv", "id,label,pred,prob\na,2,1,0.5\n",
			nil, []string{"p.csv:2", `"2" is not 0 or 1`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadClassRows(path, tc.classes)
			if err == nil {
				t.Fatal("ReadClassRows: no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ReadClassRows error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestClassPredictionsWriteErrors: a row the K-class file cannot hold is refused, not written.
func TestClassPredictionsWriteErrors(t *testing.T) {
	cols := Columns{Label: true, Prob: true, Classes: threeClasses}
	for _, format := range []string{FormatCSV, FormatJSONL, FormatParquet} {
		for _, r := range []Prediction{
			{ID: "x", Label: 3, Pred: 0, Probs: []float64{1, 0, 0}},
			{ID: "x", Label: 0, Pred: 0, Probs: []float64{1, 0}},
		} {
			w, err := NewPredictionWriter(&strings.Builder{}, format, cols)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(r); err == nil || !strings.Contains(err.Error(), "row x") {
				t.Errorf("%s: Write(%+v) = %v, want an error naming row x", format, r, err)
			}
		}
	}
}

// TestReadClassPredictionsErrors: eval's reader names the file and row of an unknown class or of
// probabilities that do not sum to 1, and reads a pred-less file's most probable class.
func TestReadClassPredictionsErrors(t *testing.T) {
	cases := []struct {
		name, file, text string
		want             []string
	}{
		{"unknown label", "p.csv", "id,label,pred,prob_negative,prob_neutral,prob_positive\na,neutral,neutral,0.2,0.6,0.2\nb,mixed,neutral,0.2,0.6,0.2\n",
			[]string{"p.csv line 3", `label "mixed" is not one of the classes negative, neutral, positive`}},
		{"sum", "p.json", `[{"label":"neutral","prob_negative":0.5,"prob_neutral":0.6,"prob_positive":0.2}]`,
			[]string{"p.json record 1", "sum to 1.3", "not 1"}},
		{"missing probability", "p.jsonl", `{"label":"neutral","prob_negative":0.4,"prob_neutral":0.6}` + "\n" + `{"label":"neutral","prob_negative":0.4}` + "\n",
			[]string{"p.jsonl line 2", "prob_neutral is missing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.file)
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := ReadClassPredictions(path, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	path := filepath.Join(t.TempDir(), "p.csv")
	os.WriteFile(path, []byte("label,Prob_Negative,Prob_Neutral,Prob_Positive\npositive,0.1,0.3,0.6\n"), 0o644)
	classes, preds, err := ReadClassPredictions(path, nil)
	if err != nil || !reflect.DeepEqual(classes, []string{"Negative", "Neutral", "Positive"}) || len(preds) != 1 || preds[0].Pred != 2 || preds[0].Label != 2 {
		t.Errorf("no pred column: %v %+v %v; want pred 2 (the most probable)", classes, preds, err)
	}
}
