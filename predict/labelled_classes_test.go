package predict

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// TestReadLabelledOfClasses: with a K-class label set the labels of a prep split (answers) and of
// a review file (answers or names) are classes of that set; anything else names file and row.
func TestReadLabelledOfClasses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	split := write("test.json", `[
{"instruction": "Rate it.", "input": "Great phone", "output": "2", "id": "r1"},
{"instruction": "Rate it.", "input": "It works", "output": "1"},
{"instruction": "Rate it.", "input": "Broke in a day", "output": "0"}
]`)
	rows, _, err := ReadLabelledOf(Config{Input: split}, task.Stars3)
	if err != nil || len(rows) != 3 || rows[0].Label != 2 || rows[1].Label != 1 || rows[2].Label != 0 {
		t.Fatalf("split rows %+v, %v", rows, err)
	}
	reviews := write("reviews.csv", "text,label\nGreat,positive\nOkay,Neutral\nBad,0\n")
	rows, _, err = ReadLabelledOf(Config{Input: reviews}, task.Stars3)
	if err != nil || len(rows) != 3 || rows[0].Label != 2 || rows[1].Label != 1 || rows[2].Label != 0 {
		t.Fatalf("review rows %+v, %v", rows, err)
	}
	bad := write("bad.csv", "text,label\nGreat,positive\nMeh,mixed\n")
	if _, _, err := ReadLabelledOf(Config{Input: bad}, task.Stars3); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"mixed"`) {
		t.Errorf("an unknown label: %v", err)
	}
	// The binary reader still refuses a third class.
	if _, _, err := ReadLabelled(Config{Input: split}); err == nil {
		t.Error("ReadLabelled read the answer 2")
	}
}
