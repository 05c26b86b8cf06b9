package pipeline

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestClassRun: run --labels on data/reviews3.jsonl writes the K-class report (metrics.json's
// task multiclass, the classes, the multinomial baseline on the same rows) and keeps its
// metrics in Result.Classes, with the binary Metrics left nil.
func TestClassRun(t *testing.T) {
	cfg := DemoDefaults()
	cfg.Out = filepath.Join(t.TempDir(), "classes")
	cfg.Input = "../data/reviews3.jsonl"
	cfg.Prep.Labels = "negative=0,neutral=1,positive=2"
	cfg.Finetune.MaxSteps = 6
	var log bytes.Buffer
	res, err := Run(cfg, &log)
	if err != nil {
		t.Fatalf("run --labels: %v\n%s", err, log.String())
	}
	classes := []string{"negative", "neutral", "positive"}
	if res.Metrics != nil || res.Classes == nil || !slices.Equal(res.Classes.Classes, classes) || res.Classes.Baseline == nil {
		t.Fatalf("result: binary metrics %v, classes %+v", res.Metrics, res.Classes)
	}
	b, err := os.ReadFile(filepath.Join(res.ReportDir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Task     string   `json:"task"`
		N        int      `json:"n"`
		Labels   []string `json:"labels"`
		Baseline struct {
			N int `json:"n"`
		} `json:"baseline"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Task != "multiclass" || !slices.Equal(doc.Labels, classes) || doc.N == 0 || doc.Baseline.N != doc.N {
		t.Errorf("metrics.json: %+v", doc)
	}
	if !strings.Contains(log.String(), "confusion (rows: label, columns: pred)") {
		t.Errorf("the eval stage printed no K-class summary:\n%s", log.String())
	}
}
