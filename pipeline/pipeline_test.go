package pipeline

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
)

// TestDemo runs the built-in demo exactly as `sentitune run` does with no arguments and holds it to
// the front-door promise: held-out accuracy ≥ 0.78 (the word-list floor on these sentences is 0.726),
// a final training loss below 1, greedy generation that gives label scoring's answer, a report that says
// the model is random-weight, and example predictions.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the full demo trains for about a minute")
	}
	cfg := DemoDefaults()
	cfg.Out = filepath.Join(t.TempDir(), "demo")
	cfg.Finetune.LogEvery = time.Nanosecond // a log, not a terminal: every stage prints its progress lines
	var log bytes.Buffer
	res, err := Run(cfg, &log)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, log.String())
	}
	if !regexp.MustCompile(`(?m)^eval: scoring: 200/200 rows \(100\.0%\)`).MatchString(log.String()) {
		t.Errorf("no progress line for scoring the test split:\n%s", log.String())
	}
	acc := res.Metrics.Accuracy
	if acc < 0.78 {
		t.Fatalf("demo held-out accuracy %v, want ≥ 0.78\n%s", acc, log.String())
	}
	t.Logf("demo accuracy %.3f in %.1f s (stages %+v)", acc, res.Seconds, res.Stages)
	// The demo model can fit its answer (init-model --logit-scale): the last step's training loss is well below 1.
	if loss := demoFinalTrainLoss(t, res); !(loss < 1) {
		t.Errorf("demo's final training loss %v (train_log.jsonl), want < 1", loss)
	} else {
		t.Logf("demo's final training loss %.3f", loss)
	}
	t.Run("generation agrees with label scoring", func(t *testing.T) {
		// With the answer likely (logit scale 16), greedy generation must pick scoring's label token.
		agree, noAnswer, n := demoGenerateAgreement(t, res)
		t.Logf("--generate 2 agrees with label scoring on %d of %d test rows; %d without a 0/1", agree, n, noAnswer)
		if float64(agree) < 0.99*float64(n) {
			t.Errorf("--generate 2 agrees with label scoring on %d of %d test rows (%d without a 0/1), want ≥ 99 %%", agree, n, noAnswer)
		}
	})
	if res.Baseline == nil || res.Baseline.N != res.Metrics.N {
		t.Error("demo report has no TF-IDF baseline")
	}
	if len(res.Examples) != len(DemoExamples) {
		t.Errorf("%d example predictions, want %d", len(res.Examples), len(DemoExamples))
	}
	html, err := os.ReadFile(filepath.Join(res.ReportDir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(html), "random-weight") {
		t.Error("report.html does not say the demo model is random-weight")
	}
	for _, want := range []string{"[1/5] prep", "[3/5] finetune", "[5/5] examples", "Total wall time"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("progress output lacks %q", want)
		}
	}
}

// TestRunIsDeterministic: the same seed gives the same metrics. Counts (tp, fp, tn, fn and everything
// derived from them: accuracy, precision, recall, F1, …) must be identical; probability-based values
// (AUC, log-loss, calibration) may differ slightly: gradients differ at ~1e-7 relative between two
// processes (one forward/backward repeated inside one process is bit-identical), and when the
// probabilities of a barely trained model nearly tie, that can swap two rows in the ranking curves.
func TestRunIsDeterministic(t *testing.T) {
	metrics := func() map[string]any {
		cfg := DemoDefaults()
		cfg.Out = filepath.Join(t.TempDir(), "run")
		cfg.Finetune.MaxSteps = 12
		cfg.Examples = nil
		res, err := Run(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res.Metrics)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := metrics(), metrics()
	exact := map[string]bool{"n": true, "tp": true, "fp": true, "tn": true, "fn": true, "accuracy": true, "precision": true,
		"recall": true, "f1": true, "specificity": true, "balanced_accuracy": true, "mcc": true}
	for k, va := range a {
		vb := b[k]
		fa, okA := va.(float64)
		fb, okB := vb.(float64)
		switch {
		case exact[k] && !reflect.DeepEqual(va, vb):
			t.Errorf("%s: %v then %v with the same seed", k, va, vb)
		case okA && okB && math.Abs(fa-fb) > 1e-3:
			t.Errorf("%s: %v then %v with the same seed (beyond 1e-3)", k, fa, fb)
		case okA != okB:
			t.Errorf("%s: %v then %v", k, va, vb)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "run.yaml")
	os.WriteFile(good, []byte("model: m\ninput: r.csv\nprep: {text-col: review, test-ratio: 0.2}\nfinetune: {lora-r: 16, epochs: 2}\neval: {batch-size: 8}\nexamples: one text\n"), 0o644)
	cfg, err := LoadConfig(good, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Model != "m" || cfg.Prep.TextCol != "review" || cfg.Prep.TestRatio != 0.2 || cfg.Finetune.LoRAR != 16 ||
		cfg.Finetune.Epochs != 2 || cfg.Eval.BatchSize != 8 || len(cfg.Examples) != 1 {
		t.Fatalf("config not applied: %+v", cfg)
	}
	if cfg.Finetune.LoRAAlpha != 16 || cfg.Finetune.LR != 1e-4 {
		t.Errorf("defaults lost under a partial finetune section: alpha %v lr %v", cfg.Finetune.LoRAAlpha, cfg.Finetune.LR)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("finetune: {lora-rank: 8}\n"), 0o644)
	if _, err := LoadConfig(bad, Defaults()); err == nil || !strings.Contains(err.Error(), "lora-rank") {
		t.Fatalf("misspelt key: err = %v, want it named", err)
	}
}

// demoGenerateAgreement greedy-decodes two tokens for every test row (predict --generate 2) and counts
// the rows whose parsed answer equals label scoring's prediction, and those with no 0/1 at all.
// demoFinalTrainLoss is the training loss of the last "train" record of the run's train_log.jsonl.
func demoFinalTrainLoss(t *testing.T, res *Result) float64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(res.RunDir, "train_log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	loss := math.NaN()
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Split string  `json:"split"`
			Loss  float64 `json:"loss"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("train_log.jsonl line %d: %v", i+1, err)
		}
		if rec.Split == "train" {
			loss = rec.Loss
		}
	}
	return loss
}

func demoGenerateAgreement(t *testing.T, res *Result) (agree, noAnswer, n int) {
	t.Helper()
	recs, err := task.ReadRecords(filepath.Join(res.PrepDir, prep.FileTest))
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(recs))
	for i, r := range recs {
		texts[i] = r.Input
	}
	sc, err := predict.NewScorer(predict.ScorerConfig{ModelDir: res.ModelDir, AdapterDir: res.Train.Adapter, Device: "cpu", DType: "f32"})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	scores, err := sc.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	gens, err := sc.Generate(texts, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		switch {
		case gens[i].Pred == scores[i].Pred:
			agree++
		case gens[i].Pred == predict.NoAnswer:
			noAnswer++
		}
	}
	return agree, noAnswer, len(texts)
}
