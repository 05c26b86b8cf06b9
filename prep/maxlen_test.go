package prep

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCountsOverMaxLen: with a tokenizer, stats.json and the summary say how many rows
// exceed the max length finetune will cut them to, and that their end is cut.
func TestRunCountsOverMaxLen(t *testing.T) {
	dir := t.TempDir()
	qwen, err := loadTokenizer(writeBundledTokenizer(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("text,label\n")
	long := 0
	for i := range 40 {
		text := fmt.Sprintf("Good item %d", i)
		if i%5 == 0 { // 8 reviews of about 300 tokens
			text = strings.Repeat("the battery died after two days ", 50)
			long++
		}
		fmt.Fprintf(&csv, "%q,%d\n", text, i%2)
	}
	in := filepath.Join(dir, "mixed.csv")
	if err := os.WriteFile(in, []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		maxLen, wantMax, wantOver int
	}{{128, 128, long}, {0, DefaultMaxLen, 0}} {
		st, err := Run(Config{Input: in, Out: filepath.Join(t.TempDir(), "p"), TestRatio: 0.25, Tokenizer: qwen, MaxLen: tc.maxLen})
		if err != nil {
			t.Fatal(err)
		}
		over := 0
		for _, ss := range st.Splits {
			over += *ss.OverMaxLen
		}
		if st.MaxLen != tc.wantMax || over != tc.wantOver || st.TruncationSide != "right" {
			t.Errorf("max len %d: %d rows over %d (side %q), want %d over %d", tc.maxLen, over, st.MaxLen, st.TruncationSide, tc.wantOver, tc.wantMax)
		}
		var sum bytes.Buffer
		st.WriteSummary(&sum)
		train := st.Splits[SplitTrain]
		for _, want := range []string{fmt.Sprintf("%d over --max-len %d", *train.OverMaxLen, tc.wantMax), "lose the end of their review in finetune (truncation side right)"} {
			if !strings.Contains(sum.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, sum.String())
			}
		}
	}
	// Without a tokenizer nothing is counted.
	st, err := Run(Config{Input: in, Out: filepath.Join(t.TempDir(), "p"), TestRatio: 0.25, MaxLen: 128})
	if err != nil {
		t.Fatal(err)
	}
	if st.MaxLen != 0 || st.Splits[SplitTrain].OverMaxLen != nil {
		t.Errorf("counted without a tokenizer: %+v", st.Splits[SplitTrain])
	}
}
