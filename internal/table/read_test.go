package table

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeParquet[T any](t *testing.T, rows []T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "preds.parquet")
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
	return p
}

var wantThree = []Prediction{
	{ID: "a", Text: "great, \"really\"", Label: 1, Pred: 1, Prob: 0.9},
	{ID: "b", Text: "bad", Label: 0, Pred: 1, Prob: 0.6},
	{ID: "c", Text: "meh", Label: 0, Pred: 0, Prob: 0},
}

func TestReadPredictionsFormats(t *testing.T) {
	type pq struct {
		ID    string  `parquet:"id"`
		Text  string  `parquet:"text"`
		Label int64   `parquet:"label"`
		Pred  int32   `parquet:"pred"`
		Prob  float64 `parquet:"prob"`
	}
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		want []Prediction
	}{
		{"csv with BOM and upper-case header", func(t *testing.T) string {
			return writeFile(t, "p.csv", "\ufeffID,Text,Label,Pred,Prob\na,\"great, \"\"really\"\"\",1,1,0.9\nb,bad,0,1,0.6\nc,meh,0,0,0\n")
		}, wantThree},
		{"tsv", func(t *testing.T) string {
			return writeFile(t, "p.tsv", "id\ttext\tlabel\tpred\tprob\na\tgreat, \"really\"\t1\t1\t0.9\nb\tbad\t0\t1\t0.6\nc\tmeh\t0\t0\t0\n")
		}, wantThree},
		{"jsonl", func(t *testing.T) string {
			return writeFile(t, "p.jsonl", `{"id":"a","text":"great, \"really\"","label":1,"pred":1,"prob":0.9}

{"id":"b","text":"bad","label":"0","pred":true,"prob":"0.6"}
{"id":"c","text":"meh","label":false,"pred":0.0,"prob":0}
`)
		}, wantThree},
		{"json array", func(t *testing.T) string {
			return writeFile(t, "p.json", `[{"id":"a","text":"great, \"really\"","label":1,"pred":1,"prob":0.9},
{"id":"b","text":"bad","label":0,"pred":1,"prob":0.6},{"id":"c","text":"meh","label":0,"pred":0,"prob":0}]`)
		}, wantThree},
		{"parquet", func(t *testing.T) string {
			return writeParquet(t, []pq{{"a", "great, \"really\"", 1, 1, 0.9}, {"b", "bad", 0, 1, 0.6}, {"c", "meh", 0, 0, 0}})
		}, wantThree},
		{"numeric ids, no pred column", func(t *testing.T) string {
			return writeFile(t, "p.jsonl", "{\"id\":7,\"label\":1,\"prob\":0.5}\n{\"label\":0,\"prob\":0.49}\n")
		}, []Prediction{{ID: "7", Label: 1, Pred: 1, Prob: 0.5}, {ID: "2", Label: 0, Pred: 0, Prob: 0.49}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			got, err := ReadPredictions(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			// From a pipe (stdin) with no extension to go by, the content tells the format.
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if got, err = ReadPredictionsFrom(f, "stdin"); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("from stdin: got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestReadPredictionsNoProb(t *testing.T) {
	got, err := ReadPredictions(writeFile(t, "p.csv", "label,pred\n1,1\n0,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].HasProb() || !math.IsNaN(got[1].Prob) {
		t.Errorf("got %+v, want two rows without prob", got)
	}
}

func TestReadPredictionsBadInput(t *testing.T) {
	type noLabel struct {
		Pred int64   `parquet:"pred"`
		Prob float64 `parquet:"prob"`
	}
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		want []string // substrings of the error
	}{
		{"missing label column", func(t *testing.T) string {
			return writeFile(t, "p.csv", "id,pred,prob\n1,1,0.9\n")
		}, []string{"p.csv", `missing column "label"`, "columns found: id, pred, prob"}},
		{"missing label column parquet", func(t *testing.T) string {
			return writeParquet(t, []noLabel{{1, 0.5}})
		}, []string{"preds.parquet", `missing column "label"`}},
		{"label 2", func(t *testing.T) string {
			return writeFile(t, "p.csv", "label,pred,prob\n1,1,0.9\n2,1,0.8\n")
		}, []string{"p.csv line 3", `label "2" is not 0 or 1`}},
		{"label positive", func(t *testing.T) string {
			return writeFile(t, "p.jsonl", "{\"label\":1,\"pred\":1,\"prob\":0.9}\n{\"label\":\"positive\",\"pred\":1,\"prob\":0.9}\n")
		}, []string{"p.jsonl line 2", `label "positive" is not 0 or 1`}},
		{"label missing in a row", func(t *testing.T) string {
			return writeFile(t, "p.jsonl", "{\"label\":1,\"pred\":1,\"prob\":0.9}\n{\"pred\":1,\"prob\":0.9}\n")
		}, []string{"p.jsonl line 2", "label is missing"}},
		{"prob above 1", func(t *testing.T) string {
			return writeFile(t, "p.csv", "label,pred,prob\n1,1,1.5\n")
		}, []string{"p.csv line 2", `prob "1.5" is outside [0, 1]`}},
		{"prob negative", func(t *testing.T) string {
			return writeFile(t, "p.jsonl", "{\"label\":1,\"pred\":1,\"prob\":-0.1}\n")
		}, []string{"line 1", "prob -0.1 is outside [0, 1]"}},
		{"prob NaN", func(t *testing.T) string {
			return writeFile(t, "p.csv", "label,pred,prob\n1,1,NaN\n")
		}, []string{"line 2", "outside [0, 1]"}},
		{"prob not a number", func(t *testing.T) string {
			return writeFile(t, "p.csv", "label,pred,prob\n1,1,high\n")
		}, []string{"line 2", `prob "high" is not a number`}},
		{"pred 3", func(t *testing.T) string {
			return writeFile(t, "p.json", `[{"label":1,"pred":3,"prob":0.5}]`)
		}, []string{"record 1", "pred 3 is not 0 or 1"}},
		{"neither pred nor prob", func(t *testing.T) string {
			return writeFile(t, "p.csv", "label,text\n1,x\n")
		}, []string{`need a "pred" or "prob" column`}},
		{"empty csv", func(t *testing.T) string { return writeFile(t, "p.csv", "") }, []string{"empty file"}},
		{"header only", func(t *testing.T) string { return writeFile(t, "p.csv", "label,pred\n") }, []string{"no prediction rows"}},
		{"ragged csv", func(t *testing.T) string {
			return writeFile(t, "p.csv", "label,pred\n1,1\n0\n")
		}, []string{"line 3", "1 fields, header has 2"}},
		{"broken json line", func(t *testing.T) string {
			return writeFile(t, "p.jsonl", "{\"label\":1,\"pred\":1}\n{\"label\":\n")
		}, []string{"p.jsonl line 2"}},
		{"not parquet", func(t *testing.T) string { return writeFile(t, "p.parquet", "hello") }, []string{"p.parquet"}},
		{"unknown extension", func(t *testing.T) string { return writeFile(t, "p.xlsx", "x") }, []string{"unknown predictions format"}},
		{"no such file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.csv") }, []string{"none.csv"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPredictions(tc.path(t))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWritePredictionsJSONLRoundTrip(t *testing.T) {
	in := append([]Prediction{}, wantThree...)
	var buf bytes.Buffer
	if err := WritePredictionsJSONL(&buf, in); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, "round.jsonl", buf.String())
	got, err := ReadPredictions(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip: got %+v, want %+v", got, in)
	}
	buf.Reset()
	if err := WritePredictionsJSONL(&buf, []Prediction{{ID: "x", Label: 1, Pred: 0, Prob: math.NaN()}}); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "{\"id\":\"x\",\"label\":1,\"pred\":0}\n" {
		t.Errorf("without prob: %q", got)
	}
}
