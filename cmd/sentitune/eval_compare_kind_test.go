package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalCompareOtherLabels: eval --compare with a report of other labels (binary against
// 3-class, either way round, or 3 classes against 5 stars) is refused before any work with an
// error naming both reports and their labels, exit 1, and no report folder written.
func TestEvalCompareOtherLabels(t *testing.T) {
	dir := t.TempDir()
	preds3 := filepath.Join("testdata", "classes", "reviews3-preds.csv")
	stars5 := filepath.Join("testdata", "classes", "stars5-preds.jsonl")
	binary := filepath.Join(dir, "binary.csv")
	rows := "id,label,prob\n"
	for i := range 20 {
		rows += fmt.Sprintf("%d,%d,%.2f\n", i+1, i%2, float64(i%5)/4)
	}
	if err := os.WriteFile(binary, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	report := func(name string, args ...string) string {
		out := filepath.Join(dir, name)
		if err := newApp().Run(append([]string{"sentitune", "eval", "--out", out, "--predictions"}, args...)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	rBinary, r3 := report("r-binary", binary), report("r3", preds3)
	cases := []struct {
		name, compare string
		args          []string
		want          []string
	}{
		{"binary vs 3 classes", r3, []string{binary}, []string{"a 3-class report (negative, neutral, positive)", "is a binary report (labels 0/1)"}},
		{"3 classes vs binary", rBinary, []string{preds3}, []string{"a binary report (labels 0/1)", "is a 3-class report (negative, neutral, positive)"}},
		{"5 stars vs 3 classes", r3, []string{stars5, "--labels", "stars5"}, []string{"a 3-class report (negative, neutral, positive)", "is a 5-class report (1, 2, 3, 4, 5)"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("new%d", i))
			err := newApp().Run(append([]string{"sentitune", "eval", "--out", out, "--compare", tc.compare, "--predictions"}, tc.args...))
			if err == nil || exitCode(err) != 1 {
				t.Fatalf("error %v (exit %d), want exit 1", err, exitCode(err))
			}
			for _, s := range append(tc.want, "compare "+tc.compare+":", "this report ("+out+")") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a report folder was written: %v", err)
			}
		})
	}
}
