package finetune

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// TestHeldOutRecords: the records HeldOutRecords names are the rows training held out.
func TestHeldOutRecords(t *testing.T) {
	recs := make([]task.Record, 60)
	exs := make([]example, len(recs))
	for i := range recs {
		label := boolInt(i%3 == 0)
		recs[i] = task.Record{Instruction: "classify", Input: "review " + strconv.Itoa(i), Output: strconv.Itoa(label), ID: strconv.Itoa(i)}
		exs[i] = example{ids: []int{i}, label: label}
	}
	b, _ := json.Marshal(recs)
	path := filepath.Join(t.TempDir(), "train.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := HeldOutRecords(path, 0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	_, val := carveValidation(exs, 0.2, 7)
	if len(got) != len(val) || len(val) != 12 {
		t.Fatalf("held out %d records, training held out %d (want 12)", len(got), len(val))
	}
	for i, e := range val {
		if got[i].ID != strconv.Itoa(e.ids[0]) {
			t.Errorf("held-out record %d is row %s, training held out row %d", i, got[i].ID, e.ids[0])
		}
	}
	if none, err := HeldOutRecords(path, 0, 7); err != nil || len(none) != 0 {
		t.Errorf("val-ratio 0: %d records, %v; want none", len(none), err)
	}
}
