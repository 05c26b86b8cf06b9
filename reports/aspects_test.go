package reports

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/table"
)

func TestWriteAspectReport(t *testing.T) {
	cols := table.AspectColumns{Aspects: []string{"battery", "screen"}, Label: true}
	rows := []table.AspectPrediction{
		{ID: "1", Label: []int{2, 3}, Pred: []int{2, 3}},
		{ID: "2", Label: []int{0, 1}, Pred: []int{3, 1}},
		{ID: "3", Label: []int{3, 0}, Pred: []int{3, 0}},
	}
	m, err := eval.ComputeAspects(cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	if err := WriteAspectReport(dir, AspectReport{Metrics: m, Note: "synthetic <data>"}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Task    string `json:"task"`
		Aspects []struct {
			Aspect  string `json:"aspect"`
			Metrics struct {
				Accuracy float64 `json:"accuracy"`
			} `json:"metrics"`
		} `json:"aspects"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, MetricsFile))
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Task != "aspects" || len(doc.Aspects) != 2 || doc.Aspects[0].Metrics.Accuracy != 2.0/3 || doc.Aspects[1].Metrics.Accuracy != 1 {
		t.Errorf("metrics.json: %s", data)
	}
	page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	for _, want := range []string{`id="aspect-battery"`, `id="aspect-screen"`, "synthetic &lt;data&gt;", `class="multiclass"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html lacks %s", want)
		}
	}
	if !strings.Contains(string(md), "| battery | 2 | 0.667 |") {
		t.Errorf("report.md:\n%s", md)
	}
	if s := AspectSummary(m); !strings.Contains(s, "battery") || !strings.Contains(s, "3 reviews") {
		t.Errorf("summary %q", s)
	}
}
