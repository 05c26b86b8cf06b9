package finetune

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/prep"
)

func TestLabelCrossEntropyK(t *testing.T) {
	logits := []float32{1, -2, 3}
	for label := range logits {
		z := 0.0
		for _, l := range logits {
			z += math.Exp(float64(l))
		}
		want := -math.Log(math.Exp(float64(logits[label])) / z)
		if got := labelCrossEntropy(logits, label); math.Abs(got-want) > 1e-12 {
			t.Errorf("class %d: %v, want %v", label, got, want)
		}
	}
	if got := labelCrossEntropy([]float32{-900, 800, 0}, 0); math.Abs(got-1700) > 1e-9 {
		t.Errorf("large logits: %v, want 1700", got)
	}
	if argmax([]float32{0.5, 2, 2}) != 1 || argmax([]float32{1, 1}) != 0 {
		t.Error("argmax takes the first of the largest")
	}
}

// prepThree preps the shipped 3-class sample into a folder with train, val and test splits.
func prepThree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "prep3")
	if _, err := prep.Run(prep.Config{Input: "../data/reviews3.jsonl", Out: dir, Labels: task.Stars3.String(),
		TestRatio: 0.2, ValRatio: 0.2, Seed: 42, Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A 3-class run takes its label set from the prep folder, trains on the three answers,
// evaluates accuracy and label loss over the three label tokens, and records the set.
func TestTrainThreeClasses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.Data, cfg.MaxSteps, cfg.EvalEvery, cfg.LoadBest = prepThree(t), 12, 6, false
	res, err := Train(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Labels, task.Stars3) {
		t.Fatalf("labels %v, want %v (from the prep folder's stats.json)", res.Labels, task.Stars3)
	}
	meta, err := task.ReadMeta(filepath.Join(out, DirAdapter))
	if err != nil {
		t.Fatal(err)
	}
	tok := mustTokenizer(t)
	ids, err := task.Stars3.TokenIDs(tok)
	if err != nil {
		t.Fatal(err)
	}
	if ls, err := meta.LabelSet(); err != nil || !reflect.DeepEqual(ls, task.Stars3) ||
		!reflect.DeepEqual(meta.LabelTokenIDs, map[string]int{"0": ids[0], "1": ids[1], "2": ids[2]}) {
		t.Fatalf("sentitune.json labels %q, token ids %v (%v)", meta.Labels, meta.LabelTokenIDs, err)
	}
	var rec struct {
		Data struct {
			Labels string `json:"labels"`
		} `json:"data"`
	}
	readJSON(t, filepath.Join(out, FileRun), &rec)
	if rec.Data.Labels != task.Stars3.String() {
		t.Fatalf("run.json data.labels %q", rec.Data.Labels)
	}

	// Score the validation rows one at a time over the whole vocabulary and take the three
	// label tokens' softmax: the run's accuracy and label loss must be these.
	evalSet, _, err := readExamplesIn(tok, filepath.Join(cfg.Data, prep.FileVal), cfg.MaxLen, task.Stars3)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.LoadAdapter(filepath.Join(out, DirAdapter)); err != nil {
		t.Fatal(err)
	}
	correct, labelLoss, classes := 0, 0.0, map[int]bool{}
	for _, e := range evalSet {
		row := nextTokenLogits(t, m, e.ids[:e.prompt])
		p := make([]float64, len(ids))
		z := 0.0
		for c, id := range ids {
			p[c] = math.Exp(float64(row[id]))
			z += p[c]
		}
		pred := 0
		for c := range p {
			if p[c] > p[pred] {
				pred = c
			}
		}
		if pred == e.label {
			correct++
		}
		labelLoss -= math.Log(p[e.label] / z)
		classes[e.label] = true
	}
	n := float64(len(evalSet))
	if len(classes) != 3 || res.Eval == nil || res.Eval.Examples != len(evalSet) {
		t.Fatalf("validation classes %v, eval %+v", classes, res.Eval)
	}
	if res.Eval.Accuracy != float64(correct)/n || math.Abs(res.Eval.LabelLoss-labelLoss/n) > 1e-4 {
		t.Fatalf("eval accuracy %v, label loss %v; scored one by one over 3 classes: %v, %v",
			res.Eval.Accuracy, res.Eval.LabelLoss, float64(correct)/n, labelLoss/n)
	}
}

// nextTokenLogits is the full-vocabulary logit row after prompt, the model run on it alone.
func nextTokenLogits(t *testing.T, m *llm.Model, prompt []int) []float32 {
	t.Helper()
	s := torch.NewScope()
	defer s.Close()
	var row []float32
	err := torch.NoGrad(func() error {
		h, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{prompt}}, []int{0}, []int{len(prompt) - 1}, false)
		if err != nil {
			return err
		}
		logits, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		row, err = s.ToDType(logits, torch.Float32).Float32s()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func TestLabelSetErrors(t *testing.T) {
	three := prepThree(t)
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"an answer of several tokens", func(c *Config) {
			c.Data, c.TrainFile, c.Labels = "", fix.train, "negative=0,positive=1,mixed=somewhat mixed"
		}, "label mixed: answer \"somewhat mixed\" is"},
		{"flags against the prep folder", func(c *Config) { c.Data, c.LabelMap = three, "stars5" }, "differ from the prep folder"},
		{"a raw-value label map", func(c *Config) { c.LabelMap = "pos=1,neg=0" }, "--label-map \"pos=1,neg=0\""},
		{"both", func(c *Config) { c.Labels, c.LabelMap = "a=0,b=1,c=2", "stars3" }, "drop --labels"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, filepath.Join(t.TempDir(), "run"))
			c.set(&cfg)
			if _, err := Train(cfg, nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
