package prep

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// alpacaInput writes an LLaMA-Factory style Alpaca file: two instructions, one record with a
// system prompt, word answers.
func alpacaInput(t *testing.T) string {
	t.Helper()
	var recs []map[string]string
	for i := range 40 {
		r := map[string]string{"instruction": "Rate the hotel review: 1 good, 0 bad.", "input": fmt.Sprintf("great stay %d", i), "output": "positive"}
		if i%2 == 1 {
			r["input"], r["output"] = fmt.Sprintf("dirty room %d", i), "negative"
		}
		if i%4 >= 2 {
			r["instruction"] = "Is this review positive? 1/0"
		}
		if i == 0 {
			r["system"] = "You are a strict rater."
		}
		recs = append(recs, r)
	}
	b, _ := json.Marshal(recs)
	path := filepath.Join(t.TempDir(), "lf.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readSplits(t *testing.T, dir string) []task.Record {
	t.Helper()
	var all []task.Record
	for _, f := range []string{FileTrain, FileTest} {
		recs, err := task.ReadRecords(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

func TestAlpacaInputKeepsItsPrompts(t *testing.T) {
	in := alpacaInput(t)
	out := filepath.Join(t.TempDir(), "prep")
	st, err := Run(Config{Input: in, Out: out, TestRatio: 0.25, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	systems := 0
	for _, r := range readSplits(t, out) {
		var idx int
		fmt.Sscanf(r.Input[strings.LastIndexByte(r.Input, ' ')+1:], "%d", &idx)
		want := "Rate the hotel review: 1 good, 0 bad."
		if idx%4 >= 2 {
			want = "Is this review positive? 1/0"
		}
		if r.Instruction != want {
			t.Errorf("%q: instruction %q, want its own %q", r.Input, r.Instruction, want)
		}
		if r.System != "" {
			systems++
			if r.Input != "great stay 0" || r.System != "You are a strict rater." {
				t.Errorf("%q: system %q", r.Input, r.System)
			}
		}
	}
	if systems != 1 {
		t.Errorf("%d records with a system prompt, want the one that had it", systems)
	}
	if !strings.Contains(st.Instruction, "2 different") {
		t.Errorf("stats instruction %q should say the records keep 2 different ones", st.Instruction)
	}
	info, _ := os.ReadFile(filepath.Join(out, FileDatasetInfo))
	if !strings.Contains(string(info), `"system": "system"`) {
		t.Errorf("dataset_info.json should map the system column:\n%s", info)
	}

	// --instruction and --system replace every record's own.
	out2 := filepath.Join(t.TempDir(), "prep")
	if _, err := Run(Config{Input: in, Out: out2, TestRatio: 0.25, Seed: 1, Instruction: "Mine?", System: "Sys"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range readSplits(t, out2) {
		if r.Instruction != "Mine?" || r.System != "Sys" {
			t.Fatalf("%q: instruction %q, system %q; want the flags'", r.Input, r.Instruction, r.System)
		}
	}
}
