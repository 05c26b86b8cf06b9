package prep

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

func TestLabelSetOf(t *testing.T) {
	for _, c := range []struct {
		labels, labelMap string
		want             task.Labels
		err              string
	}{
		{"", "", nil, ""},
		{"", "stars3", task.Stars3, ""},
		{"", "STARS5", task.Stars5, ""},
		{"negative=0,neutral=1,positive=2", "", task.Stars3, ""},
		{"", "pos=1,neg=0", nil, "a map of raw values is prep's"},
		{"a=0,b=1", "stars5", nil, "drop --labels"},
		{"only=0", "", nil, "at least two labels"},
	} {
		got, err := LabelSetOf(c.labels, c.labelMap)
		if (c.err == "" && err != nil) || (c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err))) || !reflect.DeepEqual(got, c.want) {
			t.Errorf("LabelSetOf(%q, %q) = %v, %v; want %v, %q", c.labels, c.labelMap, got, err, c.want, c.err)
		}
	}
}

// A prep folder records its label set; finetune reads it back.
func TestReadLabelSet(t *testing.T) {
	dir := t.TempDir()
	if ls, err := ReadLabelSet(dir); ls != nil || err != nil {
		t.Fatalf("no stats.json: %v, %v", ls, err)
	}
	three := filepath.Join(dir, "three")
	if _, err := Run(Config{Input: "../data/reviews3.jsonl", Out: three, Labels: task.Stars3.String(), TestRatio: 0.2, Seed: 1, Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	if ls, err := ReadLabelSet(three); err != nil || !reflect.DeepEqual(ls, task.Stars3) {
		t.Fatalf("3-class prep folder: %v, %v", ls, err)
	}
	binary := filepath.Join(dir, "binary")
	os.MkdirAll(binary, 0o755)
	os.WriteFile(filepath.Join(binary, FileStats), []byte(`{"input": "x"}`), 0o644)
	if ls, err := ReadLabelSet(binary); err != nil || !ls.IsBinary() {
		t.Fatalf("binary prep folder: %v, %v", ls, err)
	}
	os.WriteFile(filepath.Join(binary, FileStats), []byte(`{"label_set": "x"}`), 0o644)
	if _, err := ReadLabelSet(binary); err == nil || !strings.Contains(err.Error(), "label_set") {
		t.Fatalf("a bad label_set: %v", err)
	}
}
