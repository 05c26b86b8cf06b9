package reports

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/internal/task"
)

var update = flag.Bool("update", false, "rewrite testdata/example/ and example-report.png")

// amazonRows is the bundled sample: the 1,000 Amazon sentences.
func amazonRows(t *testing.T) (texts []string, labels []int) {
	t.Helper()
	texts, labels, err := data.Amazon()
	if err != nil {
		t.Fatal(err)
	}
	return texts, labels
}

func writeAlpaca(t *testing.T, path string, texts []string, labels []int) {
	t.Helper()
	recs := make([]task.Record, len(texts))
	for i := range texts {
		recs[i] = task.Record{Instruction: "Is this product review positive? Answer 1 or 0.", Input: texts[i], Output: fmt.Sprint(labels[i])}
	}
	b, err := json.MarshalIndent(recs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// example builds a prep directory (80/20 split of the Amazon sentences), a stand-in "model"
// (the TF-IDF logistic regression trained on only the first trainRows training rows: a weaker
// classifier, so the report has something to compare), and that stand-in's Newton-iteration objective as
// a training log in a run directory.
type example struct {
	prepDir, runDir string
	preds           []eval.Prediction
}

func makeExample(t *testing.T, trainRows int) example {
	t.Helper()
	texts, labels := amazonRows(t)
	var trX, teX, ids []string
	var trY, teY []int
	for i := range texts {
		if i%5 == 0 {
			teX, teY, ids = append(teX, texts[i]), append(teY, labels[i]), append(ids, fmt.Sprint(len(ids)+1))
		} else {
			trX, trY = append(trX, texts[i]), append(trY, labels[i])
		}
	}
	dir := t.TempDir()
	ex := example{prepDir: filepath.Join(dir, "prep"), runDir: filepath.Join(dir, "run")}
	for _, d := range []string{ex.prepDir, ex.runDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeAlpaca(t, filepath.Join(ex.prepDir, "train.json"), trX, trY)
	writeAlpaca(t, filepath.Join(ex.prepDir, "test.json"), teX, teY)
	b, err := eval.TrainBaseline(trX[:trainRows], trY[:trainRows])
	if err != nil {
		t.Fatal(err)
	}
	ex.preds = b.PredictAll(ids, teX, teY)
	var log bytes.Buffer
	for i, f := range b.Objective {
		fmt.Fprintf(&log, "{\"step\":%d,\"loss\":%g,\"lr\":0,\"split\":\"train\"}\n", i, f)
	}
	if err := os.WriteFile(filepath.Join(ex.runDir, "train_log.jsonl"), log.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ex
}

const exampleNote = "Example report. The \"model\" here is a stand-in, a TF-IDF logistic regression trained on " +
	"only 300 of the 800 training sentences, and its training curve is that regression's objective per Newton iteration, so that this page can be generated without libtorch. A tuned model's report looks the same."

// writeExample writes the example report (model vs baseline vs a smaller stand-in) into out.
func writeExample(t *testing.T, out string) *Input {
	t.Helper()
	small := makeExample(t, 100)
	smallDir := filepath.Join(t.TempDir(), "stand-in-100")
	if _, err := RunEval(small.preds, EvalConfig{Out: smallDir, Name: "stand-in, 100 rows",
		Provenance: map[string]string{"date": "2026-11-27T00:00:00Z"}}); err != nil {
		t.Fatal(err)
	}
	ex := makeExample(t, 300)
	in, err := RunEval(ex.preds, EvalConfig{
		Out:         out,
		Title:       "Amazon review sentiment — example report",
		Name:        "stand-in model",
		BaselineDir: ex.prepDir,
		CompareDirs: []string{smallDir},
		RunDir:      ex.runDir,
		Provenance: map[string]string{
			"date":      "2026-11-27T00:00:00Z",
			"model":     "stand-in (TF-IDF logistic regression, 300 training rows)",
			"data":      "Amazon sentences (UCI Sentiment Labelled Sentences, CC BY 4.0), rows with index % 5 == 0 as test",
			"data_hash": "see data/amazon.jsonl",
		},
		Note: exampleNote,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Temporary directories in the provenance would make the example differ on every run.
	for k, v := range in.Provenance {
		v = strings.ReplaceAll(v, ex.prepDir, "PREPDIR")
		in.Provenance[k] = strings.ReplaceAll(v, ex.runDir, "RUNDIR")
	}
	if err := Write(out, *in); err != nil {
		t.Fatal(err)
	}
	return in
}
