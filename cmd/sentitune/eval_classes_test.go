package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/table"
)

// classGolden is one case of testdata/classes/golden.json (golden.py, scikit-learn).
type classGolden struct {
	Name    string
	Ordered bool
	Want    map[string]any
}

func readClassGoldens(t *testing.T) map[string]classGolden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "classes", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []classGolden
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	out := map[string]classGolden{}
	for _, c := range cases {
		out[c.Name] = c
	}
	return out
}

// TestEvalClassPredictions: eval --predictions on K-class files writes the metrics scikit-learn
// computes for them (testdata/classes/golden.json): a 3-class CSV with prob_<name> columns, the
// same rows as JSON Lines and Parquet, and a 1–5 star file without probabilities read with
// --labels stars5 (ordered: MAE and quadratic-weighted kappa).
func TestEvalClassPredictions(t *testing.T) {
	golden := readClassGoldens(t)
	dir := t.TempDir()
	csvPath := filepath.Join("testdata", "classes", "reviews3-preds.csv")
	cols, rows, err := table.ReadClassRows(csvPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, golden string
		args               []string
	}{
		{"csv", csvPath, "reviews3-preds.csv", nil},
		{"jsonl", writeClassFile(t, filepath.Join(dir, "preds.jsonl"), cols, rows), "reviews3-preds.csv", nil},
		{"parquet", writeClassFile(t, filepath.Join(dir, "preds.parquet"), cols, rows), "reviews3-preds.csv", nil},
		{"stars5", filepath.Join("testdata", "classes", "stars5-preds.jsonl"), "stars5-preds.jsonl", []string{"--labels", "stars5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report")
			var stdout bytes.Buffer
			app := newApp()
			app.Writer = &stdout
			args := append([]string{"sentitune", "eval", "--predictions", tc.file, "--out", out}, tc.args...)
			if err := app.Run(args); err != nil {
				t.Fatal(err)
			}
			got := readMetricsJSON(t, out)
			want := golden[tc.golden]
			if got["task"] != "multiclass" || got["ordered"] != want.Ordered {
				t.Errorf("task %v ordered %v, want multiclass %v", got["task"], got["ordered"], want.Ordered)
			}
			compareGolden(t, "metrics.json", got, want.Want)
			for _, s := range []string{"macro_f1", "confusion (rows: label, columns: pred)", "qw_kappa", "report: "} {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout.String())
				}
			}
			html, err := os.ReadFile(filepath.Join(out, "report.html"))
			if err != nil || !bytes.Contains(html, []byte(`<svg class="confusion"`)) {
				t.Errorf("report.html has no confusion heatmap (%v)", err)
			}
			// The report's predictions.jsonl is a K-class file that reads back as the same rows.
			classes, back, err := table.ReadClassPredictions(filepath.Join(out, "predictions.jsonl"), nil)
			if tc.name == "stars5" {
				classes, back, err = table.ReadClassPredictions(filepath.Join(out, "predictions.jsonl"), []string{"1", "2", "3", "4", "5"})
			}
			if err != nil || len(back) != int(got["n"].(float64)) || len(classes) != len(got["labels"].([]any)) {
				t.Errorf("predictions.jsonl: %d rows, classes %v, %v", len(back), classes, err)
			}
		})
	}
}

// TestEvalClassBaseline: with --baseline a K-class prep folder, the multinomial TF-IDF baseline
// scores the same rows and McNemar's test compares it; a binary prep folder is refused.
func TestEvalClassBaseline(t *testing.T) {
	dir := t.TempDir()
	prep3, prep2 := filepath.Join(dir, "prep3"), filepath.Join(dir, "prep2")
	if err := newApp().Run([]string{"sentitune", "prep", "--input", filepath.Join("..", "..", "data", "reviews3.jsonl"),
		"--labels", "negative=0,neutral=1,positive=2", "--out", prep3}); err != nil {
		t.Fatal(err)
	}
	if err := newApp().Run([]string{"sentitune", "prep", "--input", filepath.Join("..", "..", "data", "amazon.jsonl"), "--out", prep2}); err != nil {
		t.Fatal(err)
	}
	preds := filepath.Join("testdata", "classes", "reviews3-preds.csv")
	out := filepath.Join(dir, "report")
	var stdout bytes.Buffer
	app := newApp()
	app.Writer = &stdout
	if err := app.Run([]string{"sentitune", "eval", "--predictions", preds, "--baseline", prep3, "--out", out}); err != nil {
		t.Fatal(err)
	}
	got := readMetricsJSON(t, out)
	base, _ := got["baseline"].(map[string]any)
	if base == nil || base["name"] != "TF-IDF baseline" || base["n"] != got["n"] || len(base["confusion"].([]any)) != 3 {
		t.Fatalf("baseline %v", got["baseline"])
	}
	if acc := base["accuracy"].(float64); acc < 0.5 || acc > 1 { // 3 classes: chance is 0.33
		t.Errorf("baseline accuracy %v on the sample's own reviews", acc)
	}
	if cmp, _ := got["comparisons"].([]any); len(cmp) != 1 || !strings.Contains(stdout.String(), "McNemar model vs TF-IDF baseline") {
		t.Errorf("comparisons %v; stdout:\n%s", got["comparisons"], stdout.String())
	}
	err := newApp().Run([]string{"sentitune", "eval", "--predictions", preds, "--baseline", prep2, "--out", filepath.Join(dir, "r2")})
	if err == nil || !strings.Contains(err.Error(), "prepared with the labels negative=0,positive=1") {
		t.Errorf("binary prep folder as a K-class baseline: %v", err)
	}
}

// TestEvalClassErrors: a class the file does not know, probabilities that do not sum to 1 and
// --labels that disagree with the file name the file and row and write no report; a malformed
// --labels is a usage error (exit 2).
func TestEvalClassErrors(t *testing.T) {
	dir := t.TempDir()
	head := "id,label,pred,prob_negative,prob_neutral,prob_positive\n"
	cases := []struct {
		name, text string
		args       []string
		want       string
		code       int
	}{
		{"unknown class", head + "1,neutral,neutral,0.2,0.6,0.2\n2,mixed,neutral,0.2,0.6,0.2\n", nil, `line 3: label "mixed" is not one of the classes`, 1},
		{"sum", head + "1,neutral,neutral,0.2,0.6,0.3\n", nil, "line 2: the probabilities prob_negative+prob_neutral+prob_positive sum to 1.1", 1},
		{"labels disagree", head + "1,neutral,neutral,0.2,0.6,0.2\n", []string{"--labels", "stars5"}, "not the labels 1, 2, 3, 4, 5", 1},
		{"bad labels", head + "1,neutral,neutral,0.2,0.6,0.2\n", []string{"--labels", "good,good"}, "--labels", 2},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprintf("p%d.csv", i))
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, fmt.Sprintf("r%d", i))
			err := newApp().Run(append([]string{"sentitune", "eval", "--predictions", path, "--out", out}, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != tc.code {
				t.Errorf("error %v (exit %d), want %q and exit %d", err, exitCode(err), tc.want, tc.code)
			}
			if tc.code == 1 && !strings.Contains(err.Error(), path) {
				t.Errorf("error %v does not name %s", err, path)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a report folder was written: %v", err)
			}
		})
	}
}

func writeClassFile(t *testing.T, path string, cols table.Columns, rows []table.Prediction) string {
	t.Helper()
	format, err := table.FormatOf(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := table.NewPredictionWriter(&buf, format, cols)
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
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readMetricsJSON(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// compareGolden checks that got has every value of want: numbers within 1e-12, nulls null,
// strings, lists and objects alike.
func compareGolden(t *testing.T, at string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		if !ok || math.Abs(g-w) > 1e-12*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %v, sklearn %v", at, got, w)
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s = %v, want an object", at, got)
			return
		}
		for k, v := range w {
			compareGolden(t, at+"."+k, g[k], v)
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s = %v, want %d values", at, got, len(w))
			return
		}
		for i := range w {
			compareGolden(t, fmt.Sprintf("%s[%d]", at, i), g[i], w[i])
		}
	default:
		if got != want {
			t.Errorf("%s = %v, sklearn %v", at, got, want)
		}
	}
}
