package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
)

// TestAspectRun runs `sentitune run --aspects battery,screen,delivery,price --input data/aspects.jsonl`
// on the demo model, briefly: the adapter records the aspects, predictions have one column group
// per aspect for every test review, and the report has each aspect's metrics.
func TestAspectRun(t *testing.T) {
	aspects := []string{"battery", "screen", "delivery", "price"}
	cfg := DemoDefaults()
	cfg.Out = filepath.Join(t.TempDir(), "aspects")
	cfg.Input = "../data/aspects.jsonl"
	cfg.Prep.Aspects = strings.Join(aspects, ",")
	cfg.Finetune.MaxSteps = 6
	var log bytes.Buffer
	res, err := Run(cfg, &log)
	if err != nil {
		t.Fatalf("run --aspects: %v\n%s", err, log.String())
	}
	meta, err := task.ReadMeta(res.Train.Adapter)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(meta.Aspects, aspects) || meta.Instruction != task.AspectInstruction("en") || meta.Labels != task.AspectLabels.String() {
		t.Errorf("sentitune.json: aspects %q, labels %q, instruction %q", meta.Aspects, meta.Labels, meta.Instruction)
	}
	cols, rows, err := table.ReadAspectPredictions(filepath.Join(res.ReportDir, "predictions.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cols.Aspects, aspects) || !cols.Label || !cols.Prob || len(rows) != 25 {
		t.Errorf("predictions: %+v, %d rows (want the 25 test reviews)", cols, len(rows))
	}
	if res.Aspects == nil || len(res.Aspects.Aspects) != len(aspects) || res.Aspects.Reviews != 25 {
		t.Fatalf("aspect metrics %+v", res.Aspects)
	}
	page, err := os.ReadFile(filepath.Join(res.ReportDir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range aspects {
		if !strings.Contains(string(page), `id="aspect-`+a+`"`) {
			t.Errorf("report.html has no section for %s", a)
		}
		if !strings.Contains(log.String(), a+"=") {
			t.Errorf("the examples do not name %s:\n%s", a, log.String())
		}
	}
	if !strings.Contains(string(page), "synthetic reviews") {
		t.Error("report.html does not say the demo learnt from synthetic reviews")
	}
}
