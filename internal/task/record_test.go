package task

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadRecordsForms(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"array.json":  "\ufeff[\n {\"instruction\":\"i\",\"input\":\"a\",\"output\":\"1\"},\n {\"instruction\":\"i\",\"input\":\"b\",\"output\":\"0\",\"system\":\"s\"}\n]\n",
		"lines.jsonl": "{\"instruction\":\"i\",\"input\":\"a\",\"output\":\"1\"}\n\n{\"instruction\":\"i\",\"input\":\"b\",\"output\":\"0\",\"system\":\"s\"}\n",
	}
	want := []Record{{"i", "a", "1", "", "", ""}, {"i", "b", "0", "s", "", ""}}
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		got, err := ReadRecords(p)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v %v", name, got, err)
		}
	}
	for name, body := range map[string]string{"empty.json": "  \n", "bad.json": `[{"instruction": 1}]`, "cut.json": `[{"instruction":"i"}`} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadRecords(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v should name the file", name, err)
		}
	}
}

func TestDefaultInstruction(t *testing.T) {
	if DefaultInstruction("zh") != InstructionZH || DefaultInstruction("en") != InstructionEN || DefaultInstruction("fr") != InstructionEN {
		t.Error("wrong default instruction")
	}
	for _, s := range []string{InstructionZH, InstructionEN} {
		if !strings.Contains(s, "1") || !strings.Contains(s, "0") {
			t.Errorf("%q does not ask for 1/0", s)
		}
	}
}
