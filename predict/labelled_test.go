package predict

import (
	"os"
	"path/filepath"
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
	words := write("words.json", `[{"instruction": "Rate it.", "input": "Great phone", "output": "positive"}]`)
	if _, _, err := ReadLabelled(Config{Input: words}); err == nil || !strings.Contains(err.Error(), words) ||
		!strings.Contains(err.Error(), `output "positive" is not a label (want 0 or 1)`) {
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
