package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalClassBaselineCached: the multinomial baseline is cached in PREP/.cache as the binary one
// is: a second eval reads the fit instead of fitting and reports identical baseline numbers.
func TestEvalClassBaselineCached(t *testing.T) {
	dir := t.TempDir()
	prep := filepath.Join(dir, "prep3")
	if err := newApp().Run([]string{"sentitune", "prep", "--input", filepath.Join("..", "..", "data", "reviews3.jsonl"),
		"--labels", "negative=0,neutral=1,positive=2", "--out", prep}); err != nil {
		t.Fatal(err)
	}
	preds := filepath.Join("testdata", "classes", "reviews3-preds.csv")
	var baselines [2][]byte
	for i := range baselines {
		out := filepath.Join(dir, "report"+string(rune('a'+i)))
		var stdout bytes.Buffer
		app := newApp()
		app.Writer, app.ErrWriter = &stdout, &stdout
		if err := app.Run([]string{"sentitune", "eval", "--predictions", preds, "--baseline", prep, "--out", out}); err != nil {
			t.Fatal(err)
		}
		cached, _ := filepath.Glob(filepath.Join(prep, ".cache", "multinomial-*.gob"))
		if len(cached) != 1 {
			t.Fatalf("eval %d: cache files %v, want one multinomial-*.gob", i+1, cached)
		}
		got := readMetricsJSON(t, out)
		var err error
		if baselines[i], err = json.Marshal(got["baseline"]); err != nil {
			t.Fatal(err)
		}
		prov, _ := got["provenance"].(map[string]any)
		how, _ := prov["baseline"].(string)
		if want := []string{"the fit cached in ", "the fit read from its cache "}[i] + cached[0]; !strings.Contains(how, want) {
			t.Errorf("eval %d: provenance baseline %q lacks %q", i+1, how, want)
		}
	}
	if !bytes.Equal(baselines[0], baselines[1]) {
		t.Errorf("the cached fit scores differently:\nfitted %s\ncached %s", baselines[0], baselines[1])
	}
	if len(baselines[0]) < 100 {
		t.Errorf("baseline %s", baselines[0])
	}
}
