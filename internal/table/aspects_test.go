package table

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestAspectPredictionsRoundTrip(t *testing.T) {
	cols := AspectColumns{Aspects: []string{"battery", "screen"}, Label: true, Text: true, Prob: true}
	rows := []AspectPrediction{
		{ID: "a1", Text: "Battery, great", Label: []int{2, 3}, Pred: []int{2, 1},
			Probs: [][]float64{{0.1, 0.1, 0.7, 0.1}, {0.25, 0.25, 0.25, 0.25}}},
		{ID: "a2", Text: "Screen \"dim\"", Label: []int{3, 0}, Pred: []int{3, 0},
			Probs: [][]float64{{0, 0, 0, 1}, {0.5, 0.2, 0.2, 0.1}}},
	}
	wantHeader := "id,text,label_battery,aspect_battery,prob_battery_negative,prob_battery_neutral,prob_battery_positive,prob_battery_none," +
		"label_screen,aspect_screen,prob_screen_negative,prob_screen_neutral,prob_screen_positive,prob_screen_none"
	for _, format := range []string{FormatCSV, FormatJSONL} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteAspectPredictions(&b, format, cols, rows); err != nil {
				t.Fatal(err)
			}
			if format == FormatCSV && !strings.HasPrefix(b.String(), wantHeader+"\n") {
				t.Errorf("header %q", strings.SplitN(b.String(), "\n", 2)[0])
			}
			if format == FormatJSONL && !strings.HasPrefix(b.String(), `{"id":"a1","text":"Battery, great","label_battery":"positive","aspect_battery":"positive","prob_battery_negative":0.1,`) {
				t.Errorf("first line %q", strings.SplitN(b.String(), "\n", 2)[0])
			}
			path := filepath.Join(t.TempDir(), "preds."+format)
			os.WriteFile(path, b.Bytes(), 0o644)
			gotCols, got, err := ReadAspectPredictions(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotCols, cols) || !reflect.DeepEqual(got, rows) {
				t.Errorf("read back %+v %+v", gotCols, got)
			}
		})
	}
}

func TestAspectPredictionsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"unknown class":  "id,aspect_battery\na1,great\n",
		"probs sum":      "id,aspect_battery,prob_battery_negative,prob_battery_neutral,prob_battery_positive,prob_battery_none\na1,none,0.5,0.5,0.5,0.5\n",
		"labels partial": "id,label_battery,aspect_battery,aspect_screen\na1,none,none,none\n",
		"not aspects":    "id,pred,prob\na1,1,0.9\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".csv")
			os.WriteFile(path, []byte(body), 0o644)
			if _, _, err := ReadAspectPredictions(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("err %v, want one naming %s", err, path)
			}
		})
	}
	var b bytes.Buffer
	if err := WriteAspectPredictions(&b, FormatParquet, AspectColumns{Aspects: []string{"a"}}, nil); err == nil {
		t.Error("parquet was accepted")
	}
}
