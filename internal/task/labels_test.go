package task

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAnswer(t *testing.T) {
	cases := []struct {
		output string
		want   int // -1: an error
	}{
		{"1", 1}, {"0", 0}, {" 1\n", 1}, {"\t0 ", 0},
		{"", -1}, {"2", -1}, {"01", -1}, {"+1", -1}, {"1.0", -1}, {"positive", -1}, {"1 0", -1},
	}
	for _, c := range cases {
		got, err := Binary.ParseAnswer(c.output)
		if c.want < 0 {
			if err == nil || !strings.Contains(err.Error(), "want 0 or 1") {
				t.Errorf("ParseAnswer(%q) = %d, %v; want an error saying what a label is", c.output, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseAnswer(%q) = %d, %v; want %d", c.output, got, err, c.want)
		}
	}
	three := Labels{{Answer: "neg"}, {Answer: "neu"}, {Answer: "pos"}}
	if got, err := three.ParseAnswer("neu"); err != nil || got != 1 {
		t.Fatalf("three labels: ParseAnswer(neu) = %d, %v", got, err)
	}
	if _, err := three.ParseAnswer("1"); err == nil || !strings.Contains(err.Error(), "want neg or neu or pos") {
		t.Fatalf("three labels: %v", err)
	}
}

func TestReadExamples(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `[
{"instruction": "Rate it.", "input": "Great phone", "output": "1", "id": "r7"},
{"instruction": "Rate it.", "input": "Broke in a day", "output": "0", "system": "Be brief."},
{"instruction": "Awful, returned it", "input": "", "output": " 0 "}
]`)
	exs, err := Binary.ReadExamples(good)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		key, review, system string
		label               int
	}
	want := []row{{"r7", "Great phone", "", 1}, {"2", "Broke in a day", "Be brief.", 0}, {"3", "Awful, returned it", "", 0}}
	if len(exs) != len(want) {
		t.Fatalf("%d examples, want %d", len(exs), len(want))
	}
	for i, w := range want {
		e := exs[i]
		if got := (row{e.Key(), e.Review(), e.System, e.Label}); got != w || e.Row != i+1 {
			t.Errorf("example %d = %+v (row %d), want %+v", i+1, got, e.Row, w)
		}
	}
	lines := write("lines.jsonl", "{\"input\": \"ok\", \"output\": \"1\"}\n{\"input\": \"meh\", \"output\": \"0\"}\n")
	if exs, err := Binary.ReadExamples(lines); err != nil || len(exs) != 2 || exs[1].Label != 0 {
		t.Fatalf("JSON Lines: %v, %v", exs, err)
	}
	bad := write("bad.json", `[{"input": "ok", "output": "1"}, {"input": "great", "output": "positive"}]`)
	if _, err := Binary.ReadExamples(bad); err == nil || !strings.Contains(err.Error(), bad+` record 2: output "positive" is not a label`) {
		t.Fatalf("bad answer: %v", err)
	}
	if _, err := Binary.ReadExamples(write("empty.json", "[]")); err == nil || !strings.Contains(err.Error(), "no Alpaca records") {
		t.Fatalf("empty file: %v", err)
	}
}

func TestLabelTokenIDs(t *testing.T) {
	tok := bundledTok(t)
	zero, one, err := LabelTokenIDs(tok)
	if err != nil {
		t.Fatal(err)
	}
	if zero != 15 || one != 16 { // Qwen: "0" → 15, "1" → 16
		t.Fatalf("label tokens = %d, %d, want 15, 16", zero, one)
	}
	// Answers sharing their first token cannot be told apart by one forward pass.
	same := Labels{{Answer: "10"}, {Answer: "1"}}
	if _, err := same.TokenIDs(tok); err == nil || !strings.Contains(err.Error(), "start with the same token") {
		t.Fatalf("shared first token: %v", err)
	}
	if _, err := Binary.TokenIDs(nil); err == nil {
		t.Fatal("nil tokenizer: want an error")
	}
}

func TestFindAnswer(t *testing.T) {
	cases := []struct {
		reply string
		want  int // -1: none
	}{
		{"1", 1}, {"0<|im_end|>", 0}, {"The answer is 1.", 1}, {"10", 1}, {"01", 0}, {"positive", -1}, {"", -1},
	}
	for _, c := range cases {
		got, ok := Binary.FindAnswer(c.reply)
		if (c.want < 0 && ok) || (c.want >= 0 && (!ok || got != c.want)) {
			t.Errorf("FindAnswer(%q) = %d, %v; want %d", c.reply, got, ok, c.want)
		}
	}
	// Of answers at the same place the longest wins: "neutral" is not "neu…" of another label.
	ls := Labels{{Answer: "neg"}, {Answer: "neu"}, {Answer: "neutral"}}
	if got, ok := ls.FindAnswer("It is neutral."); !ok || got != 2 {
		t.Fatalf("longest answer: %d, %v", got, ok)
	}
}
