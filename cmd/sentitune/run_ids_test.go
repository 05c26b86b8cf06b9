package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRunConfigIDColumn: run passes the input's id column to prep, from the flag or the YAML.
func TestRunConfigIDColumn(t *testing.T) {
	cfg, err := parseRunConfig(t, "--model", "m", "--input", "reviews.csv", "--id-col", "review_id")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Prep.IDCol != "review_id" {
		t.Errorf("--id-col review_id: prep id column %q", cfg.Prep.IDCol)
	}
	path := filepath.Join(t.TempDir(), "run.yaml")
	if err := os.WriteFile(path, []byte("model: m\ninput: reviews.csv\nprep: {id-col: sku}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cfg, err = parseRunConfig(t, "--config", path); err != nil {
		t.Fatal(err)
	}
	if cfg.Prep.IDCol != "sku" {
		t.Errorf("YAML prep id-col sku: prep id column %q", cfg.Prep.IDCol)
	}
}
