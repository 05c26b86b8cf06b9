package predict

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// In a prep split the label is the model's answer, parsed as finetune parses it (task.ParseAnswer);
// in a review file it is a review label (prep.NormalizeLabel: pos/neg, stars, --label-map).
func TestReadLabelledAnswers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	split := write("test.json", `[
{"instruction": "Rate it.", "input": "Great phone", "output": "1", "id": "r1"},
{"instruction": "Rate it.", "input": "Broke in a day", "output": " 0\n"}
]`)
	rows, _, err := ReadLabelled(Config{Input: split})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Label != 1 || rows[1].Label != 0 || rows[0].ID != "r1" || rows[1].ID != "2" || rows[1].Instruction != "Rate it." {
		t.Fatalf("split rows %+v", rows)
	}
	splitRows := rows
	// LLaMA-Factory datasets answer in words: read as prep maps labels, and said.
	words := write("words.json", `[{"instruction": "Rate it.", "input": "Great phone", "output": "positive"},
{"instruction": "Rate it.", "input": "Meh", "output": "1"},
{"instruction": "Rate it.", "input": "Broke", "output": " 差评"},
{"instruction": "Rate it.", "input": "Awful", "output": "Negative"}]`)
	rows, _, err = ReadLabelled(Config{Input: words})
	if err != nil {
		t.Fatal(err)
	}
	if got := []int{rows[0].Label, rows[1].Label, rows[2].Label, rows[3].Label}; !slices.Equal(got, []int{1, 1, 0, 0}) {
		t.Errorf("word answers read as %v, want [1 1 0 0]", got)
	}
	want := words + `: outputs read as answers as prep maps labels: "Negative" → 0 (1), "positive" → 1 (1), "差评" → 0 (1)`
	if got := AnswerMapping(words, rows); got != want {
		t.Errorf("AnswerMapping = %q\nwant %q", got, want)
	}
	if got := AnswerMapping(split, splitRows); got != "" {
		t.Errorf("AnswerMapping of answers only = %q, want nothing", got)
	}
	maybe := write("maybe.json", `[{"instruction": "Rate it.", "input": "Hm", "output": "maybe"}]`)
	if _, _, err := ReadLabelled(Config{Input: maybe}); err == nil || !strings.Contains(err.Error(), maybe) ||
		!strings.Contains(err.Error(), `output "maybe" is not a label (want 0 or 1), nor a label word prep maps`) {
		t.Fatalf("an answer that is no label: %v", err)
	}
	// A label map says the outputs are review labels after all.
	if rows, _, err := ReadLabelled(Config{Input: words, LabelMap: "positive=1,negative=0"}); err != nil || rows[0].Label != 1 {
		t.Fatalf("--label-map on an Alpaca file: %+v, %v", rows, err)
	}
	reviews := write("reviews.csv", "text,label\nGreat phone,positive\nBroke in a day,neg\n")
	if rows, _, err := ReadLabelled(Config{Input: reviews}); err != nil || len(rows) != 2 || rows[0].Label != 1 || rows[1].Label != 0 {
		t.Fatalf("review labels: %+v, %v", rows, err)
	}
}
