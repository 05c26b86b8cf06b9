package prep

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFractionLabelIsNoStarRating: 0.5 is not a star rating; it is an unknown label, so
// --on-bad-row skip drops and counts it, and the default refuses it naming the row.
func TestFractionLabelIsNoStarRating(t *testing.T) {
	if _, err := NormalizeLabel("0.5", nil); !errors.Is(err, ErrUnknownLabel) || errors.Is(err, ErrStarRating) {
		t.Fatalf("NormalizeLabel(0.5): %v, want an unknown label", err)
	}
	if _, err := NormalizeLabel("4", nil); !errors.Is(err, ErrStarRating) {
		t.Fatalf("NormalizeLabel(4): %v, want a star rating", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "soft.csv")
	csv := "text,label\ngood,1\nbad,0\nfine,1\nunsure,0.5\nawful,0\ngreat,1\npoor,0\n"
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := Run(Config{Input: in, Out: filepath.Join(dir, "skip"), OnBadRow: OnBadRowSkip, TestRatio: 0.3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows.Kept != 6 || st.Rows.ByReason[ReasonUnknownLabel] != 1 {
		t.Fatalf("kept %d, rejected %v; want 6 kept and the 0.5 row counted as an unknown label", st.Rows.Kept, st.Rows.ByReason)
	}
	_, err = Run(Config{Input: in, Out: filepath.Join(dir, "error"), TestRatio: 0.3, Seed: 1})
	if err == nil || !strings.Contains(err.Error(), in+":5") || strings.Contains(err.Error(), "star") {
		t.Fatalf("default policy: %v; want an error naming %s:5 that does not call 0.5 a star rating", err, in)
	}
}

// TestRepairedRowsListed: rows whose invalid bytes were repaired are listed by row number in
// stats.json and in the summary, not only counted.
func TestRepairedRowsListed(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "mixed.csv")
	var b bytes.Buffer
	b.WriteString("text,label\n")
	bad := map[int]bool{3: true, 7: true, 8: true}
	for row := 1; row <= 10; row++ {
		text := "plain review"
		if bad[row] {
			text = "caf\xe9 review" // Latin-1 é in a UTF-8 file
		}
		b.WriteString(text + "," + []string{"0", "1"}[row%2] + "\n")
	}
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	st, err := Run(Config{Input: in, Out: out, Encoding: "utf-8", TestRatio: 0.2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(out, FileStats))
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Cleaned struct {
			Count int   `json:"invalid_utf8_repaired"`
			Rows  []int `json:"invalid_utf8_rows"`
		} `json:"cleaned"`
	}
	if err := json.Unmarshal(raw, &js); err != nil {
		t.Fatal(err)
	}
	if js.Cleaned.Count != 3 || len(js.Cleaned.Rows) != 3 || js.Cleaned.Rows[0] != 3 || js.Cleaned.Rows[1] != 7 || js.Cleaned.Rows[2] != 8 {
		t.Fatalf("stats.json cleaned: %+v, want 3 repaired rows 3, 7, 8", js.Cleaned)
	}
	var sum bytes.Buffer
	st.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "rows 3, 7, 8") {
		t.Fatalf("summary does not list the repaired rows:\n%s", sum.String())
	}
}
