package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sentitune/sentitune/data"
)

// TestConfigReportTo: run.yaml's finetune section takes finetune's log-every and report-to.
func TestConfigReportTo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(path, []byte("finetune: {report-to: tensorboard, log-every: 1m}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path, Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if f := cfg.Finetune; len(f.ReportTo) != 1 || f.ReportTo[0] != "tensorboard" || f.LogEvery != time.Minute {
		t.Errorf("finetune report-to %v, log-every %v", f.ReportTo, f.LogEvery)
	}
}

// TestPrepStageLogLines: run's prep stage reports its reading like prep does, as lines in a log.
func TestPrepStageLogLines(t *testing.T) {
	dir := t.TempDir()
	cfg := Defaults()
	cfg.Input, cfg.Finetune.LogEvery = filepath.Join(dir, "reviews.jsonl"), time.Nanosecond
	if err := os.WriteFile(cfg.Input, data.AmazonJSONL(), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := runPrep(cfg, &Result{PrepDir: filepath.Join(dir, "prep")}, &log); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^prep: reading: .* \(100\.0%\), .*ETA 0s$`).MatchString(log.String()) {
		t.Errorf("no reading line at 100%%:\n%s", log.String())
	}
}
