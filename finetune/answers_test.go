package finetune

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
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
	line := answerMapping(path, task.Binary, exs)
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

// A K-class file answers with the set's answers or its class names; other words are refused.
func TestReadAnswersKClasses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "three.json")
	body := `[{"instruction": "i", "input": "a", "output": "2"},
{"instruction": "i", "input": "b", "output": "Neutral"},
{"instruction": "i", "input": "c", "output": "0"}]`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	exs, err := readAnswersIn(path, task.Stars3)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, e := range exs {
		got = append(got, e.Label)
	}
	if !slices.Equal(got, []int{2, 1, 0}) {
		t.Fatalf("classes %v, want [2 1 0]", got)
	}
	if line := answerMapping(path, task.Stars3, exs); !strings.Contains(line, `"Neutral" → 1 (1)`) {
		t.Fatalf("mapping line %q", line)
	}
	// "Neutral" names no class of another set.
	other := task.Labels{{Answer: "0", Name: "bad"}, {Answer: "1", Name: "meh"}, {Answer: "2", Name: "good"}}
	if _, err := readAnswersIn(path, other); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("a name of another set: %v", err)
	}
}
