package finetune

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestTruncationReported: the header says how many training and evaluation examples
// --max-len cuts, and from which end, and run.json records the same counts.
func TestTruncationReported(t *testing.T) {
	tok := mustTokenizer(t)
	full := func(path string) []int {
		exs, _, err := readExamples(tok, path, 0)
		if err != nil {
			t.Fatal(err)
		}
		return lengthsOf(exs)
	}
	trainLens, valLens := full(fix.train), full(fix.val)
	sorted := slices.Sorted(slices.Values(trainLens))
	maxLen := sorted[len(sorted)/2] // about half the training examples are longer
	over := func(lens []int) (n int) {
		for _, l := range lens {
			if l > maxLen {
				n++
			}
		}
		return n
	}
	wantTrain, wantVal := over(trainLens), over(valLens)
	if wantTrain == 0 || wantTrain == len(trainLens) {
		t.Fatalf("max length %d cuts %d of %d: the test needs some cut and some not", maxLen, wantTrain, len(trainLens))
	}

	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.MaxLen, cfg.MaxSteps = maxLen, 1
	var progress bytes.Buffer
	res, err := Train(cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("--max-len %d cuts %d of %d training examples", maxLen, wantTrain, len(trainLens))
	if !strings.Contains(progress.String(), want) || !strings.Contains(progress.String(), "truncation side right: a long review loses its end") {
		t.Errorf("header lacks %q and the truncation side:\n%s", want, progress.String())
	}
	if res.TrainTruncated != wantTrain || (res.Eval != nil && res.EvalTruncated != wantVal) {
		t.Errorf("result: %d training and %d evaluation examples cut, want %d and %d", res.TrainTruncated, res.EvalTruncated, wantTrain, wantVal)
	}
	var rec struct {
		Data struct {
			TrainTruncated int    `json:"train_truncated"`
			EvalTruncated  int    `json:"eval_truncated"`
			TruncationSide string `json:"truncation_side"`
		} `json:"data"`
	}
	readJSON(t, filepath.Join(out, FileRun), &rec)
	if rec.Data.TrainTruncated != wantTrain || rec.Data.EvalTruncated != res.EvalTruncated || rec.Data.TruncationSide != "right" {
		t.Errorf("run.json data %+v, want %d training examples cut from the right", rec.Data, wantTrain)
	}
}
