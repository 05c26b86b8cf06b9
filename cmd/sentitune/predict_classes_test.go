package main

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
)

// A 3-class adapter's --text answers name the class, its probability and each class's; a
// finetune --label-map that contradicts the prep folder is refused.
func TestPredictTextsThreeClasses(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	model := tinyPredictModel(t)
	if out, err := runApp(t, "", "prep", "--input", filepath.Join("..", "..", "data", "reviews3.jsonl"), "--labels", "negative=0,neutral=1,positive=2", "--out", p("prep")); err != nil {
		t.Fatalf("prep: %v\n%s", err, out)
	}
	if out, err := runApp(t, "", "finetune", "--model", model, "--data", p("prep"), "--label-map", "stars5", "--out", p("bad")); err == nil || !strings.Contains(out+err.Error(), "differ from the prep folder") {
		t.Fatalf("finetune --label-map stars5 on a 3-class prep folder: %v\n%s", err, out)
	}
	if out, err := runApp(t, "", "finetune", "--model", model, "--data", p("prep"), "--max-steps", "2", "--batch-size", "4", "--out", p("run")); err != nil {
		t.Fatalf("finetune: %v\n%s", err, out)
	}
	out, err := runApp(t, "", "predict", "--model", model, "--adapter", p("run/adapter"), "--device", "cpu", "--text", "It works, nothing special.", "--text", "Broke in a day.")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"negative", "neutral", "positive"}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 5 {
			t.Fatalf("line %q: want \"pred prob negative=p neutral=p positive=p\"", line)
		}
		prob, _ := strconv.ParseFloat(f[1], 64)
		sum, best, bestP := 0.0, "", -1.0
		for c, name := range names {
			k, v, _ := strings.Cut(f[2+c], "=")
			q, err := strconv.ParseFloat(v, 64)
			if k != name || err != nil {
				t.Fatalf("line %q: field %q", line, f[2+c])
			}
			sum += q
			if q > bestP {
				best, bestP = name, q
			}
		}
		if f[0] != best || prob != bestP || math.Abs(sum-1) > 1e-5 {
			t.Fatalf("line %q: pred %s (%v), the most probable %s (%v), sum %v", line, f[0], prob, best, bestP, sum)
		}
	}
}

func TestGeneratedClass(t *testing.T) {
	for _, c := range []struct {
		ls   task.Labels
		pred int
		want string
	}{{task.Stars3, predict.NoAnswer, "-"}, {task.Stars3, 1, "neutral"}, {task.Binary, 1, "1"}} {
		if got := generatedClass(c.ls, c.pred); got != c.want {
			t.Errorf("generatedClass(%v, %d) = %q, want %q", c.ls, c.pred, got, c.want)
		}
	}
}
