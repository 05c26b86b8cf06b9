package reports

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExampleReportGolden regenerates the example report and compares it with
// testdata/example/ (go test ./reports -update rewrites it).
func TestExampleReportGolden(t *testing.T) {
	out := t.TempDir()
	writeExample(t, out)
	golden := filepath.Join("testdata", "example")
	if *update {
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{MetricsFile, MarkdownFile, HTMLFile} {
			if err := os.WriteFile(filepath.Join(golden, f), []byte(readFile(t, filepath.Join(out, f))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, f := range []string{MarkdownFile, HTMLFile} {
		if got, want := readFile(t, filepath.Join(out, f)), readFile(t, filepath.Join(golden, f)); got != want {
			t.Errorf("%s differs from testdata/example/%s (run go test ./reports -update after checking the change)", f, f)
		}
	}
	var got, want any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, MetricsFile))), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(golden, MetricsFile))), &want); err != nil {
		t.Fatal(err)
	}
	if !nearlyEqual(got, want) {
		t.Errorf("metrics.json differs from testdata/example/metrics.json")
	}
}

func nearlyEqual(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k := range x {
			if !nearlyEqual(x[k], y[k]) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !nearlyEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(a, b)
	}
}

func TestExampleReportContents(t *testing.T) {
	out := t.TempDir()
	in := writeExample(t, out)

	var doc map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(out, MetricsFile))), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"accuracy", "precision", "recall", "f1", "tp", "fp", "tn", "fn", "roc_auc", "pr_auc", "n",
		"specificity", "balanced_accuracy", "mcc", "log_loss", "brier", "ece", "calibration", "accuracy_ci95",
		"best_f1_threshold", "best_accuracy_threshold", "majority_baseline", "per_class", "macro_f1",
		"name", "baseline", "compared", "comparisons", "provenance", "note"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("metrics.json has no %q", k)
		}
	}
	if doc["n"] != 200.0 || doc["name"] != "stand-in model" {
		t.Errorf("n = %v, name = %v", doc["n"], doc["name"])
	}
	if b, _ := doc["baseline"].(map[string]any); b == nil || b["accuracy"] == nil || b["name"] != "TF-IDF baseline" {
		t.Errorf("baseline = %v", doc["baseline"])
	}
	if cs, _ := doc["comparisons"].([]any); len(cs) != 2 {
		t.Errorf("comparisons = %v, want model vs baseline and vs the smaller stand-in", doc["comparisons"])
	}

	page := readFile(t, filepath.Join(out, HTMLFile))
	if n := strings.Count(page, `<svg class="plot"`); n != 5 {
		t.Errorf("%d plots, want 5 (ROC, PR, calibration, histogram, loss)", n)
	}
	// Self-contained: no scripts, stylesheets, images or fonts from elsewhere.
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`<script`), regexp.MustCompile(`<link`), regexp.MustCompile(`<img`),
		regexp.MustCompile(`url\(`), regexp.MustCompile(`https?://[^"]*`), regexp.MustCompile(`@import`)} {
		for _, m := range bad.FindAllString(page, -1) {
			if m != "http://www.w3.org/2000/svg" {
				t.Errorf("report.html is not self-contained: %q", m)
			}
		}
	}
	md := readFile(t, filepath.Join(out, MarkdownFile))
	for _, s := range []string{page, md, readFile(t, filepath.Join(out, MetricsFile))} {
		if strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
			t.Error("report contains NaN or Inf")
		}
	}
	for _, want := range []string{"## Metrics side by side", "## Confusion matrix", "## Paired comparisons (McNemar)",
		"## Most confident errors", "### False positives", "## Provenance", "> **Note.**", "| TF-IDF baseline |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, want := range []string{"Most confident errors", "95% CI", "pts vs baseline", "Training loss", "McNemar", "300 of the 800 training sentences"} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}

	// predictions.jsonl round-trips, so this directory can be a --compare target.
	preds, err := eval.ReadPredictions(filepath.Join(out, PredictionsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(preds, in.Model.Predictions) {
		t.Error("predictions.jsonl does not round-trip")
	}
	side, err := ReadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if side.Name != "stand-in model" || side.Metrics.Accuracy != in.Model.Metrics.Accuracy {
		t.Errorf("ReadReport: %s %v", side.Name, side.Metrics.Accuracy)
	}
	if s := Summary(in); !strings.Contains(s, "TF-IDF baseline") || !strings.Contains(s, "McNemar stand-in model vs TF-IDF baseline") {
		t.Errorf("summary:\n%s", s)
	}
}

// TestWriteEdgeCases: reports for degenerate predictions still render, with undefined values
// shown as such (null in JSON, "—" on the page), never NaN.
func TestWriteEdgeCases(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name      string
		preds     []eval.Prediction
		plots     int
		nullKeys  []string
		pageTexts []string
	}{
		{"n = 1", []eval.Prediction{{ID: "1", Text: "ok", Label: 1, Pred: 1, Prob: 0.7}}, 3, []string{"roc_auc", "specificity", "mcc"}, []string{"100.0%"}},
		{"all one class", []eval.Prediction{{Label: 0, Pred: 0, Prob: 0.2}, {Label: 0, Pred: 1, Prob: 0.6}}, 2, []string{"roc_auc", "pr_auc", "recall", "balanced_accuracy"}, nil},
		{"no positives predicted", []eval.Prediction{{Label: 1, Pred: 0, Prob: 0.4}, {Label: 0, Pred: 0, Prob: 0.1}}, 4, []string{"precision", "mcc", "precision_ci95"}, []string{"undefined: no positive predictions"}},
		{"no probabilities", []eval.Prediction{{Label: 1, Pred: 1, Prob: nan}, {Label: 0, Pred: 1, Prob: nan}}, 0, []string{"roc_auc", "log_loss", "ece"}, []string{"carry no probabilities"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r")
			if err := Write(out, Input{Model: Side{Predictions: tc.preds}}); err != nil {
				t.Fatal(err)
			}
			page := readFile(t, filepath.Join(out, HTMLFile))
			raw := readFile(t, filepath.Join(out, MetricsFile))
			if strings.Contains(page+raw+readFile(t, filepath.Join(out, MarkdownFile)), "NaN") {
				t.Error("NaN in report")
			}
			if n := strings.Count(page, `<svg class="plot"`); n != tc.plots {
				t.Errorf("%d plots, want %d", n, tc.plots)
			}
			var doc map[string]any
			if err := json.Unmarshal([]byte(raw), &doc); err != nil {
				t.Fatal(err)
			}
			undef, _ := doc["undefined"].(map[string]any)
			for _, k := range tc.nullKeys {
				if v, ok := doc[k]; !ok || v != nil {
					t.Errorf("%s = %v, want null", k, v)
				}
				if undef[k] == nil {
					t.Errorf("no reason for null %s", k)
				}
			}
			for _, s := range tc.pageTexts {
				if !strings.Contains(page, s) {
					t.Errorf("page lacks %q", s)
				}
			}
		})
	}
}

func TestWriteFailsCleanly(t *testing.T) {
	t.Run("nothing to report", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "r")
		if err := Write(out, Input{}); err == nil {
			t.Fatal("want an error")
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Error("report directory created for a failed report")
		}
	})
	t.Run("unwritable file", func(t *testing.T) {
		out := t.TempDir()
		if err := os.Mkdir(filepath.Join(out, HTMLFile), 0o755); err != nil { // a directory where report.html goes
			t.Fatal(err)
		}
		err := Write(out, Input{Model: Side{Predictions: []eval.Prediction{{Label: 1, Pred: 1, Prob: 0.9}}}})
		if err == nil || !strings.Contains(err.Error(), HTMLFile) {
			t.Fatalf("error %v, want one naming %s", err, HTMLFile)
		}
		left, _ := filepath.Glob(filepath.Join(out, ".*tmp*"))
		if len(left) != 0 {
			t.Errorf("temporary files left behind: %v", left)
		}
	})
	t.Run("bad label", func(t *testing.T) {
		err := Write(t.TempDir(), Input{Model: Side{Predictions: []eval.Prediction{{Label: 3, Pred: 1, Prob: 0.9}}}})
		if err == nil || !strings.Contains(err.Error(), "not 0 or 1") {
			t.Errorf("error %v", err)
		}
	})
}

func TestReadTrainLog(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ReadTrainLog(write("ok.jsonl", `{"step":1,"loss":2.5,"lr":0.001,"split":"train"}
{"event":"checkpoint","step":1}

{"step":2,"loss":2.25,"lr":0.001}
{"step":2,"loss":2.4,"split":"eval","label_loss":0.5,"accuracy":0.75}
`))
	if err != nil {
		t.Fatal(err)
	}
	labelLoss, acc := 0.5, 0.75
	want := []LossPoint{{Step: 1, Loss: 2.5, Split: "train"}, {Step: 2, Loss: 2.25, Split: "train"},
		{Step: 2, Loss: 2.4, Split: "eval", LabelLoss: &labelLoss, Accuracy: &acc}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ name, content, want string }{
		{"broken.jsonl", "{\"step\":1,\"loss\":1}\n{\"step\":\n", "broken.jsonl line 2"},
		{"nostep.jsonl", "{\"loss\":1}\n", "loss without step"},
		{"empty.jsonl", "", "no loss entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadTrainLog(write(tc.name, tc.content))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ReadTrainLog(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("missing file: want an error")
	}
}

func TestRunEval(t *testing.T) {
	ex := makeExample(t, 300)
	t.Run("baseline on test.json when predictions have no text", func(t *testing.T) {
		preds := append([]eval.Prediction(nil), ex.preds...)
		for i := range preds {
			preds[i].Text = ""
		}
		in, err := RunEval(preds, EvalConfig{Out: t.TempDir(), BaselineDir: ex.prepDir})
		if err != nil {
			t.Fatal(err)
		}
		if in.Baseline == nil || !strings.Contains(in.Provenance["baseline"], "test.json") {
			t.Fatalf("baseline provenance %q", in.Provenance["baseline"])
		}
		if len(in.Comparisons) != 1 || in.Comparisons[0].N != 200 || len(in.Warnings) != 0 {
			t.Errorf("comparisons %+v, warnings %v", in.Comparisons, in.Warnings)
		}
		if in.Provenance["date"] == "" {
			t.Error("no date in provenance")
		}
	})
	t.Run("unpaired comparison is a warning", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other")
		if _, err := RunEval(ex.preds[:50], EvalConfig{Out: other}); err != nil {
			t.Fatal(err)
		}
		in, err := RunEval(ex.preds, EvalConfig{Out: t.TempDir(), CompareDirs: []string{other}})
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Others) != 1 || len(in.Comparisons) != 0 || len(in.Warnings) != 1 || !strings.Contains(in.Warnings[0], "200 vs 50") {
			t.Errorf("others %d, comparisons %d, warnings %v", len(in.Others), len(in.Comparisons), in.Warnings)
		}
	})
	for _, tc := range []struct {
		name string
		cfg  EvalConfig
		want string
	}{
		{"no out", EvalConfig{}, "no report directory"},
		{"prep dir without train.json", EvalConfig{BaselineDir: t.TempDir()}, "train.json"},
		{"compare dir without predictions", EvalConfig{CompareDirs: []string{t.TempDir()}}, "no predictions.jsonl there"},
		{"run dir without log", EvalConfig{RunDir: t.TempDir()}, "train_log.jsonl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Out == "" && tc.name != "no out" {
				tc.cfg.Out = filepath.Join(t.TempDir(), "r")
			}
			_, err := RunEval(ex.preds, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if tc.cfg.Out != "" {
				if _, err := os.Stat(filepath.Join(tc.cfg.Out, MetricsFile)); !os.IsNotExist(err) {
					t.Error("a failed eval wrote a report")
				}
			}
		})
	}
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 1, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 60, []float64{0, 20, 40, 60}},
		{0.26, 0.71, []float64{0.3, 0.4, 0.5, 0.6, 0.7}},
		{5, 5, []float64{5}},
	} {
		if got := ticks(tc.lo, tc.hi); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
		}
	}
}
