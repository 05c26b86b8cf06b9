package prep

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// writeCSV writes rows "text,label" under a header into dir/in.csv.
func writeCSV(t *testing.T, dir string, rows [][2]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("text,label\n")
	for _, r := range rows {
		b.WriteString(r[0] + "," + r[1] + "\n")
	}
	path := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readRecords(t *testing.T, path string) []task.Record {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []task.Record
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// threeClassRows has ten reviews for each of negative, neutral and positive (as raw words).
func threeClassRows() [][2]string {
	var rows [][2]string
	for i := range 10 {
		n := string(rune('a' + i))
		rows = append(rows, [2]string{"awful thing " + n, "negative"}, [2]string{"it is okay " + n, "Neutral"}, [2]string{"love it " + n, "positive"})
	}
	return rows
}

func TestRunThreeLabels(t *testing.T) {
	dir := t.TempDir()
	in := writeCSV(t, dir, threeClassRows())
	st, err := Run(Config{Input: in, Out: filepath.Join(dir, "out"), Labels: "negative=0,neutral=1,positive=2", TestRatio: 0.2, Seed: 1, Lang: "en"})
	if err != nil {
		t.Fatal(err)
	}
	if st.LabelSet != "negative=0,neutral=1,positive=2" {
		t.Errorf("label_set = %q", st.LabelSet)
	}
	if got := st.Splits[SplitTest].Labels; got["0"] != 2 || got["1"] != 2 || got["2"] != 2 {
		t.Errorf("test label counts %v, want 2 of each answer", got)
	}
	want := map[string]string{"awful": "0", "it": "1", "love": "2"}
	for _, r := range readRecords(t, filepath.Join(dir, "out", FileTrain)) {
		if w := want[strings.Fields(r.Input)[0]]; r.Output != w {
			t.Errorf("%q: output %q, want %q", r.Input, r.Output, w)
		}
		if r.Instruction != "What is the sentiment of the following product review? Answer 0 for negative, 1 for neutral or 2 for positive, with nothing else." {
			t.Errorf("instruction %q does not list the three answers", r.Instruction)
		}
	}
}

func TestRunStarPresets(t *testing.T) {
	var rows [][2]string
	for i := range 20 {
		rows = append(rows, [2]string{"review number " + strings.Repeat("x", i+1), string(rune('1' + i%5))})
	}
	for _, tc := range []struct {
		preset string
		want   map[string]string // stars → answer
	}{
		{LabelMapStars5, map[string]string{"1": "1", "2": "2", "3": "3", "4": "4", "5": "5"}},
		{LabelMapStars3, map[string]string{"1": "0", "2": "0", "3": "1", "4": "2", "5": "2"}},
	} {
		dir := t.TempDir()
		in := writeCSV(t, dir, rows)
		if _, err := Run(Config{Input: in, Out: filepath.Join(dir, "out"), LabelMap: tc.preset, TestRatio: 0.2, Lang: "en"}); err != nil {
			t.Fatalf("%s: %v", tc.preset, err)
		}
		recs := readRecords(t, filepath.Join(dir, "out", FileTrain))
		recs = append(recs, readRecords(t, filepath.Join(dir, "out", FileTest))...)
		if len(recs) != 20 {
			t.Fatalf("%s: %d records, want 20", tc.preset, len(recs))
		}
		for _, r := range recs {
			stars := string(rune('1' + (len(r.Input)-len("review number ")-1)%5))
			if r.Output != tc.want[stars] {
				t.Errorf("%s: %d stars answered %q, want %q", tc.preset, stars[0]-'0', r.Output, tc.want[stars])
			}
		}
	}
}

func TestRunLabelsErrors(t *testing.T) {
	dir := t.TempDir()
	in := writeCSV(t, dir, append(threeClassRows(), [2]string{"what", "mixed"}))
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"unknown value", Config{Labels: "negative=0,neutral=1,positive=2"}, []string{"in.csv:32", `unknown label value "mixed"`}},
		{"mapped value", Config{Labels: "negative=0,neutral=1,positive=2", LabelMap: "mixed=neutral"}, nil},
		{"map to no label", Config{Labels: "negative=0,neutral=1,positive=2", LabelMap: "mixed=meh"}, []string{`"mixed" maps to "meh"`}},
		{"bad spec", Config{Labels: "negative=0,positive"}, []string{"--labels", "NAME=ANSWER"}},
		{"repeated answer", Config{Labels: "negative=0,neutral=0,positive=2"}, []string{"repeats"}},
		{"preset and labels", Config{Labels: "a=0,b=1", LabelMap: "stars3"}, []string{"drop --labels"}},
		{"multi-token answer", Config{Labels: "negative=0,neutral=1,positive=very good", LabelMap: "mixed=skip", Tokenizer: wordEncoder{}},
			[]string{`answer "very good" is 2 tokens`}},
		{"one class", Config{Labels: "negative=0,neutral=1,positive=2", LabelMap: "mixed=skip,neutral=negative,positive=negative"},
			[]string{"every kept row is negative", "at least two"}},
	} {
		cfg := tc.cfg
		cfg.Input, cfg.Out = in, filepath.Join(dir, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
		_, err := Run(cfg)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
}

// TestRunLabelsMultiToken: with the model's tokenizer, an answer of several tokens is refused.
func TestRunLabelsMultiToken(t *testing.T) {
	dir := t.TempDir()
	in := writeCSV(t, dir, threeClassRows())
	model := writeBundledTokenizer(t, dir)
	_, err := Run(Config{Input: in, Out: filepath.Join(dir, "out"), Model: model, Labels: "negative=0,neutral=1,positive=strongly positive"})
	if err == nil || !strings.Contains(err.Error(), `answer "strongly positive" is 3 tokens`) || !strings.Contains(err.Error(), "'positive=2'") {
		t.Fatalf("err = %v, want the two-token answer refused", err)
	}
	if _, err := Run(Config{Input: in, Out: filepath.Join(dir, "out2"), Model: model, Labels: "negative=0,neutral=1,positive=2"}); err != nil {
		t.Fatal(err)
	}
}

// TestStarRatingsNameThePresets: a binary run on star ratings points at the K-class presets too.
func TestStarRatingsNameThePresets(t *testing.T) {
	_, err := Run(Config{Input: "testdata/in/stars.csv", Out: filepath.Join(t.TempDir(), "out")})
	if err == nil || !strings.Contains(err.Error(), "stars3 or stars5 for three or five classes") {
		t.Fatalf("err = %v", err)
	}
}
