package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/predict"
)

// tinyPredictModel writes a random tiny Qwen2 model into the test's temporary folder.
func tinyPredictModel(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := llm.InitRandomModel(dir, "tiny", 1, "f32"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func runApp(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	app.Reader = strings.NewReader(stdin)
	err := app.Run(append([]string{"sentitune"}, args...))
	return out.String(), err
}

func TestPredictCommandTexts(t *testing.T) {
	model := tinyPredictModel(t)
	out, err := runApp(t, "", "predict", "--model", model, "--device", "cpu", "--text", "great phone", "--text", "broke in a day")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out)
	}
	for _, l := range lines {
		var pred int
		var prob float64
		if n, err := fmt.Sscanf(l, "%d %f", &pred, &prob); n != 2 || err != nil || prob < 0 || prob > 1 || pred != map[bool]int{true: 1, false: 0}[prob >= 0.5] {
			t.Fatalf("line %q is not \"pred prob\"", l)
		}
	}
	// stdin, one text per line, gives the same lines.
	again, err := runApp(t, "great phone\nbroke in a day\n", "predict", "--model", model, "--device", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if again != out {
		t.Fatalf("stdin output %q, --text output %q", again, out)
	}
	// An empty line is an error naming it.
	if _, err := runApp(t, "fine\n\nok\n", "predict", "--model", model, "--device", "cpu"); err == nil || !strings.Contains(err.Error(), "stdin line 2: empty text") {
		t.Fatalf("empty stdin line: %v", err)
	}
	gen, err := runApp(t, "", "predict", "--model", model, "--device", "cpu", "--generate", "2", "--text", "great phone")
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(gen); len(f) < 2 || (f[0] != "-" && f[0] != "0" && f[0] != "1") || !strings.HasPrefix(f[1], `"`) {
		t.Fatalf("--generate output %q", gen)
	}
}

func TestPredictCommandFileShardsMerge(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("review_id,review,sentiment\n")
	for i := range 23 {
		fmt.Fprintf(&b, "r%d,\"review number %d, %s\",%s\n", i, i, strings.Repeat("quite ", i%7), []string{"positive", "negative"}[i%2])
	}
	in := filepath.Join(dir, "reviews.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole.csv")
	common := []string{"predict", "--model", model, "--device", "cpu", "--input", in, "--id-col", "review_id", "--window", "4", "--shard-block", "4", "--batch-size", "3"}
	out, err := runApp(t, "", append(common, "--out", whole, "--stats", filepath.Join(dir, "stats.json"))...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "scored 23 rows") {
		t.Fatalf("summary %q", out)
	}
	cols, rows, err := predict.ReadRows(whole)
	if err != nil {
		t.Fatal(err)
	}
	if !cols.Equal(predict.Columns{Label: true, Prob: true}) || len(rows) != 23 || rows[4].ID != "r4" || rows[4].Label != 1 || rows[5].Label != 0 {
		t.Fatalf("columns %+v, rows %+v", cols, rows)
	}
	parts := filepath.Join(dir, "parts.csv")
	for i := range 4 {
		if _, err := runApp(t, "", append(common, "--out", parts, "--shard", fmt.Sprintf("%d/4", i))...); err != nil {
			t.Fatal(err)
		}
	}
	out, err = runApp(t, "", "predict", "--merge-shards", "--out", parts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "merged 4 shards, 23 rows") {
		t.Fatalf("merge output %q", out)
	}
	x, _ := os.ReadFile(whole)
	y, _ := os.ReadFile(parts)
	if !bytes.Equal(x, y) {
		t.Fatal("merged shards differ from the unsharded output")
	}
}

func TestPredictCommandErrors(t *testing.T) {
	model := tinyPredictModel(t)
	dir := t.TempDir()
	noText := filepath.Join(dir, "a.csv")
	os.WriteFile(noText, []byte("title,stars\nx,5\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", "--text", "x"}, 2, "--model DIR is required"},
		{[]string{"predict", "--model", model, "--input", noText}, 2, "--out FILE is required"},
		{[]string{"predict", "--model", model, "--out", "x.csv"}, 2, "--out needs --input"},
		{[]string{"predict", "--model", model, "--input", noText, "--text", "x"}, 2, "not both"},
		{[]string{"predict", "--model", model, "--input", noText, "--out", filepath.Join(dir, "o.csv"), "--shard", "4/4"}, 2, "0 ≤ I < N"},
		{[]string{"predict", "--merge-shards"}, 2, "--out FILE is required"},
		{[]string{"predict", "--model", model, "--device", "cpu", "--input", noText, "--out", filepath.Join(dir, "o.csv")}, 1, "no text column"},
		{[]string{"predict", "--model", model, "--device", "cpu", "--text", "<p></p>"}, 1, "--text 1: empty text"},
		{[]string{"predict", "--model", filepath.Join(dir, "nope"), "--text", "x"}, 1, "nope"},
	}
	for _, c := range cases {
		_, err := runApp(t, "", c.args...)
		code := 0
		if err != nil {
			code = 1
			var ee exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
		}
		if err == nil || code != c.code || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: exit %d, error %v; want exit %d and %q", c.args[1:], code, err, c.code, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "o.csv")); err == nil {
		t.Error("an output was written despite the errors")
	}
}
