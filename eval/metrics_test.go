package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
)

type goldenCase struct {
	Name     string         `json:"name"`
	Labels   []int          `json:"labels"`
	Preds    []int          `json:"preds"`
	Probs    []float64      `json:"probs"`
	Expected map[string]any `json:"expected"`
}

func (g goldenCase) predictions() []Prediction {
	out := make([]Prediction, len(g.Labels))
	for i := range g.Labels {
		out[i] = Prediction{ID: fmt.Sprint(i + 1), Label: g.Labels[i], Pred: g.Preds[i], Prob: math.NaN()}
		if g.Probs != nil {
			out[i].Prob = g.Probs[i]
		}
	}
	return out
}

// metricsJSON round-trips m through JSON, as metrics.json consumers see it.
func metricsJSON(t *testing.T, m *Metrics) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal metrics: %v", err)
	}
	if strings.Contains(string(b), "NaN") || strings.Contains(string(b), "Inf") {
		t.Fatalf("metrics JSON contains NaN/Inf: %s", b)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestMetricsMatchSklearn compares every metric with testdata/metrics_golden.json, written by
// testdata/golden.py from scikit-learn and SciPy (random, tied and edge-case predictions).
func TestMetricsMatchSklearn(t *testing.T) {
	var cases []goldenCase
	readJSONFile(t, "metrics_golden.json", &cases)
	if len(cases) < 10 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	for _, gc := range cases {
		t.Run(gc.Name, func(t *testing.T) {
			m, err := Compute(gc.predictions())
			if err != nil {
				t.Fatal(err)
			}
			got := metricsJSON(t, m)
			keys := make([]string, 0, len(gc.Expected))
			for k := range gc.Expected {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				compareJSON(t, k, got[k], gc.Expected[k])
			}
			// Every null top-level metric is explained in "undefined".
			undef, _ := got["undefined"].(map[string]any)
			for k, v := range got {
				if v == nil && undef[k] == nil {
					t.Errorf("%s is null with no reason in \"undefined\"", k)
				}
			}
			if gc.Probs == nil {
				for _, k := range []string{"roc_auc", "pr_auc", "log_loss", "brier", "ece"} {
					if got[k] != nil {
						t.Errorf("%s = %v without probabilities, want null", k, got[k])
					}
				}
			}
		})
	}
}

// compareJSON compares a decoded JSON value with the golden one (numbers to 1e-9 relative).
func compareJSON(t *testing.T, path string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if got != nil {
			t.Errorf("%s = %v, want null (undefined)", path, got)
		}
	case float64:
		g, ok := got.(float64)
		if !ok {
			t.Errorf("%s = %v, want %v", path, got, w)
			return
		}
		if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %.15g, want %.15g", path, g, w)
		}
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s = %v, want object %v", path, got, w)
			return
		}
		for k := range w {
			compareJSON(t, path+"."+k, g[k], w[k])
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s = %v, want %v", path, got, w)
			return
		}
		for i := range w {
			compareJSON(t, fmt.Sprintf("%s[%d]", path, i), g[i], w[i])
		}
	default:
		t.Fatalf("%s: unexpected golden type %T", path, want)
	}
}

func f(x float64) *float64 { return &x }

// TestMetricsHandComputed checks small cases worked out by hand.
func TestMetricsHandComputed(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name  string
		preds []Prediction
		check func(t *testing.T, m *Metrics)
	}{
		{"ties count half in ROC-AUC", []Prediction{
			{Label: 1, Pred: 1, Prob: 0.5}, {Label: 0, Pred: 1, Prob: 0.5}, {Label: 1, Pred: 1, Prob: 0.9}, {Label: 0, Pred: 0, Prob: 0.1},
		}, func(t *testing.T, m *Metrics) {
			// Pairs (pos, neg): (0.5, 0.5) tie = ½, (0.5, 0.1) = 1, (0.9, 0.5) = 1, (0.9, 0.1) = 1 → 3.5/4.
			eq(t, "roc_auc", m.ROCAUC, f(0.875))
			// Thresholds 0.9 (R ½, P 1) then 0.5 (R 1, P ⅔): AP = ½·1 + ½·⅔.
			eq(t, "pr_auc", m.PRAUC, f(0.5+1.0/3))
			eq(t, "best_f1_threshold", f(m.BestF1Threshold.Threshold), f(0.5))
		}},
		{"no positives predicted", []Prediction{
			{Label: 1, Pred: 0, Prob: 0.4}, {Label: 0, Pred: 0, Prob: 0.2},
		}, func(t *testing.T, m *Metrics) {
			eq(t, "precision", m.Precision, nil)
			eq(t, "precision_ci95", ciLow(m.PrecisionCI), nil)
			eq(t, "recall", m.Recall, f(0))
			eq(t, "f1", m.F1, f(0))
			eq(t, "mcc", m.MCC, nil)
			if m.Undefined["precision"] == "" || m.Undefined["mcc"] == "" {
				t.Errorf("undefined notes missing: %v", m.Undefined)
			}
		}},
		{"n = 1", []Prediction{{Label: 0, Pred: 0, Prob: 0.25}}, func(t *testing.T, m *Metrics) {
			eq(t, "accuracy", &m.Accuracy, f(1))
			eq(t, "roc_auc", m.ROCAUC, nil)
			eq(t, "pr_auc", m.PRAUC, nil)
			eq(t, "brier", m.Brier, f(0.0625))
			eq(t, "log_loss", m.LogLoss, f(-math.Log(0.75)))
			// Wilson for 1/1: centre (1 + z²/2)/(1 + z²), half z·√(z²/4)/(1 + z²) → [z²/(1+z²)·0 + …].
			z2 := z975 * z975
			eq(t, "accuracy_ci95.low", ciLow(m.AccuracyCI), f(1/(1+z2)))
			eq(t, "majority", f(float64(m.Majority.Class)), f(0))
		}},
		{"all one class", []Prediction{{Label: 1, Pred: 1, Prob: 0.9}, {Label: 1, Pred: 0, Prob: 0.3}}, func(t *testing.T, m *Metrics) {
			eq(t, "roc_auc", m.ROCAUC, nil)
			eq(t, "specificity", m.Specificity, nil)
			eq(t, "balanced_accuracy", m.BalancedAccuracy, nil)
			eq(t, "pr_auc", m.PRAUC, f(1))
			eq(t, "macro_f1", m.MacroF1, f(1.0/3)) // class 0: 2·0/(0+1+0) = 0; class 1: 2/(2+0+1) = ⅔
		}},
		{"wilson known value 81/263", wilsonCase(81, 263), func(t *testing.T, m *Metrics) {
			// Reference: Wilson interval for 81/263 is [0.2553, 0.3662] (e.g. statsmodels proportion_confint).
			if lo, hi := m.AccuracyCI.Low, m.AccuracyCI.High; math.Abs(lo-0.2553) > 5e-5 || math.Abs(hi-0.3662) > 5e-5 {
				t.Errorf("accuracy CI [%.5f, %.5f], want [0.2553, 0.3662]", lo, hi)
			}
		}},
		{"no probabilities", []Prediction{{Label: 1, Pred: 1, Prob: nan}, {Label: 0, Pred: 1, Prob: nan}}, func(t *testing.T, m *Metrics) {
			eq(t, "roc_auc", m.ROCAUC, nil)
			eq(t, "brier", m.Brier, nil)
			if m.Calibration != nil || m.BestF1Threshold != nil {
				t.Error("calibration/thresholds without probabilities")
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compute(tc.preds)
			if err != nil {
				t.Fatal(err)
			}
			metricsJSON(t, m)
			tc.check(t, m)
		})
	}
}

func wilsonCase(k, n int) []Prediction {
	out := make([]Prediction, n)
	for i := range out {
		out[i] = Prediction{Label: 1, Pred: 0, Prob: 0.5}
		if i < k {
			out[i].Pred = 1
		}
	}
	return out
}

func ciLow(c *Interval) *float64 {
	if c == nil {
		return nil
	}
	return &c.Low
}

func eq(t *testing.T, name string, got, want *float64) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil || want == nil:
		t.Errorf("%s = %v, want %v", name, fmtPtr(got), fmtPtr(want))
	case math.Abs(*got-*want) > 1e-12:
		t.Errorf("%s = %.15g, want %.15g", name, *got, *want)
	}
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "undefined"
	}
	return fmt.Sprint(*p)
}

func TestComputeErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		preds []Prediction
		want  string
	}{
		{"empty", nil, "no predictions"},
		{"label 2", []Prediction{{ID: "a", Label: 2, Pred: 1, Prob: 0.5}}, "not 0 or 1"},
		{"prob 1.5", []Prediction{{ID: "a", Label: 1, Pred: 1, Prob: 1.5}}, "outside [0, 1]"},
		{"mixed prob", []Prediction{{Label: 1, Pred: 1, Prob: 0.5}, {Label: 1, Pred: 1, Prob: math.NaN()}}, "need all or none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(tc.preds)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMcNemarMatchesSciPy(t *testing.T) {
	var cases []struct {
		AOnly       int      `json:"a_only"`
		BOnly       int      `json:"b_only"`
		BothCorrect int      `json:"both_correct"`
		BothWrong   int      `json:"both_wrong"`
		Method      string   `json:"method"`
		Statistic   *float64 `json:"statistic"`
		PValue      float64  `json:"p_value"`
	}
	readJSONFile(t, "mcnemar_golden.json", &cases)
	for _, gc := range cases {
		t.Run(fmt.Sprintf("b=%d,c=%d", gc.AOnly, gc.BOnly), func(t *testing.T) {
			// Build paired predictions with those counts; B's rows are shuffled by id.
			var a, b []Prediction
			add := func(n int, okA, okB bool) {
				for range n {
					id := fmt.Sprint(len(a))
					pa, pb := Prediction{ID: id, Label: 1, Pred: 0, Prob: math.NaN()}, Prediction{ID: id, Label: 1, Pred: 0, Prob: math.NaN()}
					if okA {
						pa.Pred = 1
					}
					if okB {
						pb.Pred = 1
					}
					a, b = append(a, pa), append([]Prediction{pb}, b...)
				}
			}
			add(gc.AOnly, true, false)
			add(gc.BOnly, false, true)
			add(gc.BothCorrect, true, true)
			add(gc.BothWrong, false, false)
			c, err := Compare(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if c.PairedBy != "id" || c.AOnly != gc.AOnly || c.BOnly != gc.BOnly || c.BothCorrect != gc.BothCorrect || c.BothWrong != gc.BothWrong {
				t.Errorf("counts %+v, want a_only %d b_only %d both %d/%d paired by id", c, gc.AOnly, gc.BOnly, gc.BothCorrect, gc.BothWrong)
			}
			if c.Method != gc.Method {
				t.Errorf("method %s, want %s", c.Method, gc.Method)
			}
			eq(t, "statistic", c.Statistic, gc.Statistic)
			if math.Abs(c.PValue-gc.PValue) > 1e-10 {
				t.Errorf("p = %.15g, want %.15g", c.PValue, gc.PValue)
			}
		})
	}
}

func TestCompareErrors(t *testing.T) {
	p := func(id string, label int) Prediction { return Prediction{ID: id, Label: label, Prob: math.NaN()} }
	for _, tc := range []struct {
		name string
		a, b []Prediction
		want string
	}{
		{"length", []Prediction{p("1", 1)}, nil, "1 vs 0 predictions"},
		{"labels differ", []Prediction{p("1", 1), p("2", 0)}, []Prediction{p("1", 1), p("2", 1)}, "not the same test set"},
		{"labels differ by order", []Prediction{p("", 1), p("", 0)}, []Prediction{p("", 0), p("", 1)}, "not the same test set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compare(tc.a, tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
