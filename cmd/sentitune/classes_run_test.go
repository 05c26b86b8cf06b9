package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/table"
)

// TestThreeClassEndToEnd: prep --labels on data/reviews3.jsonl, a few finetune steps of the tiny
// model, then eval --model on the test split and predict + eval --predictions on the same rows.
// Both reports' metrics.json equal eval.ComputeMulticlass (checked against scikit-learn by
// TestMulticlassMatchesSklearn) on the rows they scored, predict's file has one prob_<name>
// column per class, and the two evaluations agree.
func TestThreeClassEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	classes := []string{"negative", "neutral", "positive"}
	for _, args := range [][]string{
		{"prep", "--input", filepath.Join("..", "..", "data", "reviews3.jsonl"), "--labels", "negative=0,neutral=1,positive=2", "--test-ratio", "0.2", "--out", p("prep")},
		{"init-model", "--preset", "tiny", "--seed", "1", "--out", p("tiny")},
		{"finetune", "--model", p("tiny"), "--data", p("prep"), "--out", p("run"), "--lora-r", "8", "--lora-alpha", "16", "--lr", "3e-3", "--batch-size", "8", "--max-steps", "6"},
		{"eval", "--model", p("tiny"), "--adapter", p("run/adapter"), "--data", p("prep/test.json"), "--out", p("report")},
		{"predict", "--model", p("tiny"), "--adapter", p("run/adapter"), "--input", p("prep/test.json"), "--out", p("preds.csv")},
		{"eval", "--predictions", p("preds.csv"), "--baseline", p("prep"), "--out", p("report2")},
	} {
		if err := newApp().Run(append([]string{"sentitune"}, args...)); err != nil {
			t.Fatalf("%s: %v", args[0], err)
		}
	}
	cols, predicted, err := table.ReadClassRows(p("preds.csv"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cols.Classes, classes) || strings.Join(cols.Names(), ",") != "id,label,pred,prob_negative,prob_neutral,prob_positive" {
		t.Fatalf("predict's columns %v", cols.Names())
	}
	if len(predicted) != 36 { // 20% of 180
		t.Errorf("%d test rows predicted, want 36", len(predicted))
	}
	for _, report := range []string{"report", "report2"} {
		got := readMetricsJSON(t, p(report))
		_, rows, err := table.ReadClassPredictions(filepath.Join(p(report), "predictions.jsonl"), nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := eval.ComputeClassPredictions(classes, rows, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m)
		var want map[string]any
		json.Unmarshal(b, &want)
		compareGolden(t, report+"/metrics.json", got, want)
		if got["task"] != "multiclass" || got["roc_auc_ovr_macro"] == nil || got["baseline"] == nil {
			t.Errorf("%s: task %v, roc_auc_ovr_macro %v, baseline %v", report, got["task"], got["roc_auc_ovr_macro"], got["baseline"] != nil)
		}
		// eval --model scored the rows predict scored: the same classes, probabilities to float32 rounding.
		for i, r := range rows {
			q := predicted[i]
			if r.ID != q.ID || r.Label != q.Label || r.Pred != q.Pred || len(r.Probs) != 3 || math.Abs(r.Probs[1]-q.Probs[1]) > 1e-5 {
				t.Fatalf("%s row %d: %+v; predict wrote %+v", report, i, r, q)
			}
		}
	}
}
