package scoring

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/filehash"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/predict"
)

// A bare model is prompted with the split's first instruction; records with another one are
// counted, warned about and recorded. A scorer the caller loaded is used as it is.
func TestSplit(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "tiny")
	if err := llm.InitRandomModel(model, "tiny", 1, "f32"); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "test.json")
	os.WriteFile(data, []byte(`[
{"instruction": "Rate it.", "input": "Great phone", "output": "1", "id": "a"},
{"instruction": "Rate it.", "input": "Broke in a day", "output": "0", "id": "b"},
{"instruction": "Classify it.", "input": "Works fine", "output": "1", "id": "c"}
]`), 0o644)
	sum, err := filehash.SHA256(data)
	if err != nil {
		t.Fatal(err)
	}

	var log bytes.Buffer
	res, err := Split(Config{Data: predict.Config{Input: data}, Scorer: predict.ScorerConfig{ModelDir: model, Device: "cpu"}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Predictions) != 3 {
		t.Fatalf("%d predictions, want 3", len(res.Predictions))
	}
	for i, want := range []struct {
		id    string
		label int
	}{{"a", 1}, {"b", 0}, {"c", 1}} {
		p := res.Predictions[i]
		if p.ID != want.id || p.Label != want.label || p.Prob < 0 || p.Prob > 1 || (p.Pred != 0 && p.Pred != 1) {
			t.Errorf("prediction %d = %+v, want id %s label %d", i, p, want.id, want.label)
		}
	}
	prov := res.Provenance
	for k, want := range map[string]string{"instruction": "Rate it.", "instruction_mismatch": "1 of 3 records", "data": data,
		"data_sha256": sum, "model": model, "label_token_ids": "0→15, 1→16"} {
		if prov[k] != want {
			t.Errorf("provenance %s = %q, want %q", k, prov[k], want)
		}
	}
	if !strings.Contains(prov["scoring"], "3 rows in") || !strings.Contains(prov["scoring"], "model load") {
		t.Errorf("provenance scoring = %q", prov["scoring"])
	}
	for _, want := range []string{"eval: reading " + data, "eval: loading " + model,
		`eval: warning: 1 of 3 records of ` + data + ` have another instruction than the one scored with ("Rate it.")`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}

	sc, err := predict.NewScorer(predict.ScorerConfig{ModelDir: model, Device: "cpu", Instruction: "Other."})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	res, err = Split(Config{Data: predict.Config{Input: data}, Loaded: sc})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Provenance["instruction_mismatch"]; got != "3 of 3 records" || res.Provenance["instruction"] != "Other." ||
		strings.Contains(res.Provenance["scoring"], "model load") {
		t.Errorf("with a loaded scorer: provenance %v", res.Provenance)
	}

	_, err = Split(Config{Data: predict.Config{Input: filepath.Join(dir, "nope.json")}, DataFlag: "--data", Loaded: sc})
	if err == nil || !strings.HasPrefix(err.Error(), "eval: --data ") || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("missing file: %v", err)
	}
}
