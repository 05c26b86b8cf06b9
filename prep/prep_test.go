package prep

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

// wordEncoder is a stand-in tokenizer: one token per space-separated word.
type wordEncoder struct{}

func (wordEncoder) Encode(s string) ([]int, error) { return make([]int, len(strings.Fields(s))), nil }

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRunGolden(t *testing.T) {
	tmp := t.TempDir()
	writeParquet(t, filepath.Join(tmp, "reviews.parquet"))
	model := writeBundledTokenizer(t, tmp)
	qwen, err := loadTokenizer(model) // loaded once: the other cases share it
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "hello.jsonl"), []byte("{\"text\":\"Hello, world!\",\"label\":1}\n{\"text\":\"Hello, world! Hello, world!\",\"label\":0}\n"), 0o644)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"model_tokens", Config{Input: "testdata/in/reviews.csv", TestRatio: 0.2, Seed: 42, Model: model}},
		{"model_tokens_zh", Config{Input: "testdata/in/reviews.jsonl", TestRatio: 0.5, Seed: 42, Tokenizer: qwen, System: "你是评论分析助手"}},
		{"model_hello", Config{Input: filepath.Join(tmp, "hello.jsonl"), TestRatio: 0, Seed: 42, Tokenizer: qwen}},
		{"csv", Config{Input: "testdata/in/reviews.csv", TestRatio: 0.2, Seed: 42}},
		{"csv_val_system", Config{Input: "testdata/in/reviews.csv", TestRatio: 0.2, ValRatio: 0.2, Seed: 7,
			System: "You are a careful annotator.", Instruction: "Positive (1) or negative (0)?", Name: "reviews"}},
		{"csv_tokens", Config{Input: "testdata/in/reviews.csv", TestRatio: 0.2, Seed: 42, Tokenizer: wordEncoder{}, MaxChars: 20}},
		{"semicolon", Config{Input: "testdata/in/semicolon.csv", TestRatio: 0.5, Seed: 1}},
		{"tsv", Config{Input: "testdata/in/reviews.tsv", TestRatio: 0.5, Seed: 1}},
		{"gbk", Config{Input: "testdata/in/reviews_gbk.csv", TestRatio: 0.5, Seed: 1}},
		{"json", Config{Input: "testdata/in/reviews.json", TestRatio: 0.5, Seed: 1, Lang: "zh"}},
		{"jsonl", Config{Input: "testdata/in/reviews.jsonl", TestRatio: 0.5, Seed: 1}},
		{"alpaca", Config{Input: "testdata/in/alpaca.json", Format: FormatAlpaca, TestRatio: 0.5, Seed: 1}},
		{"parquet", Config{Input: filepath.Join(tmp, "reviews.parquet"), TestRatio: 0.5, Seed: 1}},
		{"stars", Config{Input: "testdata/in/stars.csv", LabelMap: "stars", TestRatio: 0.3, Seed: 1}},
		{"dirty", Config{Input: "testdata/in/dirty.csv", TestRatio: 0, Seed: 1}},
		{"broken_skip", Config{Input: "testdata/in/broken.csv", OnBadRow: OnBadRowSkip, TestRatio: 0, Seed: 1}},
		{"unknown_label_skip", Config{Input: "testdata/in/unknown_label.csv", OnBadRow: OnBadRowSkip, TestRatio: 0.5, Seed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Out = filepath.Join(t.TempDir(), "out")
			st, err := Run(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Rows.Read != st.Rows.Kept+st.Rows.Rejected {
				t.Errorf("read %d != kept %d + rejected %d", st.Rows.Read, st.Rows.Kept, st.Rows.Rejected)
			}
			files := listDir(t, tt.cfg.Out)
			if !slices.Equal(files, sortedCopy(st.Files)) {
				t.Errorf("files %v, stats say %v", files, st.Files)
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(tt.cfg.Out, f))
				if err != nil {
					t.Fatal(err)
				}
				b = bytes.ReplaceAll(b, []byte(tmp), []byte("TMP"))
				golden(t, filepath.Join("testdata", "golden", tt.name, f), b)
			}
			var summary bytes.Buffer
			st.WriteSummary(&summary)
			if !strings.Contains(summary.String(), "wrote") || strings.Count(summary.String(), "\n") > 24 {
				t.Errorf("summary is not one screen:\n%s", summary.String())
			}
			// outputs are valid Alpaca files
			recs, err := task.ReadRecords(filepath.Join(tt.cfg.Out, FileTrain))
			if err != nil || len(recs) != st.Splits[SplitTrain].Rows {
				t.Errorf("ReadAlpaca: %d records, %v; want %d", len(recs), err, st.Splits[SplitTrain].Rows)
			}
		})
	}
}

// writeBundledTokenizer writes the bundled Qwen tokenizer files as a model folder.
func writeBundledTokenizer(t *testing.T, dir string) string {
	t.Helper()
	files, err := tokenizer.BundledFiles()
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	os.Mkdir(model, 0o755)
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(model, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return model
}

func sortedCopy(a []string) []string {
	b := slices.Clone(a)
	slices.Sort(b)
	return b
}

// TestAmazonSample checks the bundled data end to end: counts, stratification,
// and byte-identical output for the same seed.
func TestAmazonSample(t *testing.T) {
	dir := t.TempDir()
	run := func(out string, seed int64) *Stats {
		st, err := Run(Config{Input: "../data/amazon.jsonl", Out: filepath.Join(dir, out), TestRatio: 0.2, ValRatio: 0.1, Seed: seed, Dedup: true})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a, _, c := run("a", 42), run("b", 42), run("c", 43)
	if a.Rows.Read != 1000 || a.Rows.Kept != 990 || a.Duplicates.Removed != 10 || a.Lang != "en" {
		t.Errorf("read %d kept %d removed %d lang %s; want 1000, 990, 10, en", a.Rows.Read, a.Rows.Kept, a.Duplicates.Removed, a.Lang)
	}
	for _, l := range []string{"0", "1"} {
		n := 0
		for _, s := range a.Splits {
			n += s.Labels[l]
		}
		for name, ratio := range map[string]float64{SplitTest: 0.2, SplitVal: 0.1} {
			if got, want := float64(a.Splits[name].Labels[l]), ratio*float64(n); got < want-1 || got > want+1 {
				t.Errorf("%s label %s: %v rows, want %.1f ± 1", name, l, got, want)
			}
		}
	}
	for _, f := range a.Files {
		x, _ := os.ReadFile(filepath.Join(dir, "a", f))
		y, _ := os.ReadFile(filepath.Join(dir, "b", f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: same seed, different bytes", f)
		}
	}
	x, _ := os.ReadFile(filepath.Join(dir, "a", FileTest))
	y, _ := os.ReadFile(filepath.Join(dir, "c", FileTest))
	if bytes.Equal(x, y) {
		t.Error("seeds 42 and 43 gave the same test.json")
	}
	// no text in two splits
	seen := map[string]string{}
	for _, name := range []string{SplitTrain, SplitVal, SplitTest} {
		recs, err := task.ReadRecords(filepath.Join(dir, "a", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if prev, ok := seen[r.Input]; ok {
				t.Errorf("%q in %s and %s", r.Input, prev, name)
			}
			seen[r.Input] = name
		}
	}
	if c.Splits[SplitTest].Rows != a.Splits[SplitTest].Rows {
		t.Errorf("split sizes depend on the seed: %d vs %d", c.Splits[SplitTest].Rows, a.Splits[SplitTest].Rows)
	}
}

func TestRunBadInput(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"missing label column", Config{Input: "testdata/in/no_label.csv"},
			[]string{"no label column found", `columns found: "id", "review", "date"`, "--label-col"}},
		{"named column absent", Config{Input: "testdata/in/reviews.csv", TextCol: "body"},
			[]string{`no column "body": columns found: "id", "review", "sentiment"`}},
		{"unknown label", Config{Input: "testdata/in/unknown_label.csv"},
			[]string{"testdata/in/unknown_label.csv:4", `unknown label value "maybe"`, `column "label"`}},
		{"empty file", Config{Input: "testdata/in/empty.csv"}, []string{"testdata/in/empty.csv", "empty file"}},
		{"header only", Config{Input: "testdata/in/header_only.csv"}, []string{"no usable rows"}},
		{"broken quoting", Config{Input: "testdata/in/broken.csv"},
			[]string{"testdata/in/broken.csv:3", "after closing quote", "--on-bad-row skip"}},
		{"star ratings", Config{Input: "testdata/in/stars.csv", OnBadRow: OnBadRowSkip},
			[]string{"testdata/in/stars.csv:3", `column "stars"`, "star rating", `"2"`, "--label-map stars"}},
		{"one class", Config{Input: "testdata/in/stars.csv", LabelMap: "1=1,2=1,3=1,4=1,5=1"}, []string{"has label 1", "both"}},
		{"bad ratio", Config{Input: "testdata/in/reviews.csv", TestRatio: 0.6, ValRatio: 0.5}, []string{"sum below 1"}},
		{"bad policy", Config{Input: "testdata/in/reviews.csv", OnBadRow: "ignore"}, []string{`"ignore"`}},
		{"bad label map", Config{Input: "testdata/in/reviews.csv", LabelMap: "pos=yes"}, []string{"1, 0 or skip"}},
		{"too few rows", Config{Input: "testdata/in/alpaca.json", TestRatio: 0.1}, []string{"too few"}},
		{"model without tokenizer", Config{Input: "testdata/in/reviews.csv", Model: "testdata/in"}, []string{"--model testdata/in", "tokenizer.json not found"}},
		{"model nowhere", Config{Input: "testdata/in/reviews.csv", Model: "nowhere"}, []string{"--model nowhere", "does not exist"}},
		{"model name in no cache", Config{Input: "testdata/in/reviews.csv", Model: "no-org/no-model"}, []string{"no-org/no-model", "models--no-org--no-model", "sentitune download"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			tt.cfg.Out = filepath.Join(parent, "out")
			_, err := Run(tt.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if names := listDir(t, parent); len(names) != 0 {
				t.Errorf("left behind %v", names)
			}
			// an existing output folder is left as it was
			os.Mkdir(tt.cfg.Out, 0o755)
			os.WriteFile(filepath.Join(tt.cfg.Out, FileTrain), []byte("old"), 0o644)
			if _, err := Run(tt.cfg); err == nil {
				t.Fatal("no error on second run")
			}
			if b, _ := os.ReadFile(filepath.Join(tt.cfg.Out, FileTrain)); string(b) != "old" {
				t.Errorf("train.json changed to %q", b)
			}
			if names := listDir(t, parent); !slices.Equal(names, []string{"out"}) {
				t.Errorf("left behind %v", names)
			}
		})
	}
}

func TestRunOutIsFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	os.WriteFile(out, []byte("x"), 0o644)
	if _, err := Run(Config{Input: "testdata/in/reviews.csv", Out: out, TestRatio: 0.2}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("got %v", err)
	}
}

func TestRunReplacesStaleOutputs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	if _, err := Run(Config{Input: "testdata/in/reviews.csv", Out: out, TestRatio: 0.2, ValRatio: 0.2}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Run(Config{Input: "testdata/in/reviews.csv", Out: out, TestRatio: 0.2}); err != nil {
		t.Fatal(err)
	}
	want := []string{FileDatasetInfo, "notes.txt", FileStats, FileTest, FileTrain}
	if got := listDir(t, out); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (val.json of the earlier run removed, other files kept)", got, want)
	}
}

func TestDetectLang(t *testing.T) {
	if DetectLang([]string{"质量很好，物流也快", "Great product"}) != "zh" || DetectLang([]string{"Great phone, 很好 overall and I love it"}) != "en" {
		t.Error("DetectLang")
	}
}

func TestSyntheticReviews(t *testing.T) {
	var a, b bytes.Buffer
	if err := GenerateSyntheticReviews(&a, 200, 5); err != nil {
		t.Fatal(err)
	}
	GenerateSyntheticReviews(&b, 200, 5)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same seed, different bytes")
	}
	if per := a.Len() / 200; per < 900 || per > 1300 {
		t.Errorf("%d bytes per review, want about 1 KB", per)
	}
	r, err := NewReader(&a, "synthetic.csv", "auto", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := NormalizeLabel(rec.Values[2], nil); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 200 {
		t.Errorf("read %d rows, want 200", n)
	}
}
