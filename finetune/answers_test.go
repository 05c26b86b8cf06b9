package finetune

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// An LLaMA-Factory dataset answers with words; finetune maps the ones prep understands and says so.
func TestReadAnswersMapsLabelWords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lf.json")
	body := `[{"instruction": "i", "input": "a", "output": "positive"},
{"instruction": "i", "input": "b", "output": "差评"},
{"instruction": "i", "input": "c", "output": "1"},
{"instruction": "i", "input": "d", "output": " negative "}]`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	exs, err := readAnswers(path)
	if err != nil {
		t.Fatal(err)
	}
	var labels []int
	for _, e := range exs {
		labels = append(labels, e.Label)
	}
	if want := []int{1, 0, 1, 0}; !slices.Equal(labels, want) {
		t.Errorf("labels %v, want %v", labels, want)
	}
	line := answerMapping(path, exs)
	for _, want := range []string{`"negative" → 0 (1)`, `"positive" → 1 (1)`, `"差评" → 0 (1)`} {
		if !strings.Contains(line, want) {
			t.Errorf("mapping line lacks %s: %s", want, line)
		}
	}
	if strings.Contains(line, `"1"`) {
		t.Errorf("an answer already 1 is reported as mapped: %s", line)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`[{"instruction": "i", "input": "a", "output": "maybe"}]`), 0o644)
	if _, err := readAnswers(bad); err == nil || !strings.Contains(err.Error(), "record 1") || !strings.Contains(err.Error(), "sentitune prep --input") {
		t.Errorf("unmappable answer: err = %v", err)
	}
}
