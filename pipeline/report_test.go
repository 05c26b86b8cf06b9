package pipeline

import (
	"os"
	"path/filepath"
	"testing"
	"time"
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
