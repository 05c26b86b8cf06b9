package finetune

import (
	"bytes"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/prep"
)

func TestCarveValidation(t *testing.T) {
	exs := make([]example, 100)
	for i := range exs {
		exs[i] = example{ids: []int{i}, label: boolInt(i%4 == 0)} // 25 of label 1, 75 of label 0
	}
	train, val := carveValidation(exs, 0.1, 42)
	if len(val) != 10 || len(train) != 90 {
		t.Fatalf("carved %d + %d rows, want 90 + 10", len(train), len(val))
	}
	ones := 0
	seen := map[int]bool{}
	for _, e := range val {
		ones += e.label
		seen[e.ids[0]] = true
	}
	if ones < 2 || ones > 3 { // 25 % of 10
		t.Errorf("validation has %d rows of label 1 out of 10, want 2 or 3 (stratified)", ones)
	}
	prev := -1
	for _, e := range train {
		if seen[e.ids[0]] || e.ids[0] <= prev {
			t.Fatalf("training rows overlap the validation rows or lost their order at id %d", e.ids[0])
		}
		prev = e.ids[0]
	}
	again, val2 := carveValidation(exs, 0.1, 42)
	if !reflect.DeepEqual(val, val2) || !reflect.DeepEqual(train, again) {
		t.Error("the same seed carved another slice")
	}
	if _, other := carveValidation(exs, 0.1, 43); reflect.DeepEqual(val, other) {
		t.Error("another seed carved the same slice")
	}
	if tr, v := carveValidation(exs, 0, 42); len(v) != 0 || len(tr) != 100 {
		t.Errorf("val-ratio 0 carved %d rows", len(v))
	}
	if tr, v := carveValidation(exs[:8], 0.1, 42); len(v) != 0 || len(tr) != 8 {
		t.Errorf("8 rows: carved %d, want none (too few)", len(v))
	}
	big := make([]example, 30000)
	if _, v := carveValidation(big, 0.2, 1); len(v) != valCarveCap {
		t.Errorf("30000 rows at 0.2: carved %d, want the cap %d", len(v), valCarveCap)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Without val.json, finetune evaluates on a slice of train and never opens
// test.json: here test.json is not even valid JSON.
func TestTrainNeverReadsTest(t *testing.T) {
	dir := t.TempDir()
	recs, err := amazonAlpaca()
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAlpaca(filepath.Join(dir, prep.FileTrain), recs[:64]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, prep.FileTest), []byte("not json: the held-out set"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.Data, cfg.MaxSteps = dir, 2
	var progress bytes.Buffer
	res, err := Train(cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if res.Eval == nil || res.Eval.Examples != 6 {
		t.Fatalf("evaluation %+v, want 6 rows carved from 64", res.Eval)
	}
	if !strings.Contains(progress.String(), "validation: 6 of 64 rows of train.json held out") {
		t.Errorf("the log does not say where validation rows came from:\n%s", progress.String())
	}
	var rec struct {
		Data dataRecord `json:"data"`
	}
	readJSON(t, filepath.Join(out, FileRun), &rec)
	if rec.Data.TrainExamples != 58 || rec.Data.EvalExamples != 6 || rec.Data.Eval != "" ||
		!strings.Contains(rec.Data.Validation, "6 of 64 rows of train.json held out (val-ratio 0.1, stratified, seed 42)") {
		t.Errorf("run.json data %+v", rec.Data)
	}
	if _, ok := rec.Data.SHA256[prep.FileTest]; ok {
		t.Error("run.json hashes test.json: it was read")
	}
	for i, l := range readLog(t, out) {
		if l.LabelLoss == nil || !(*l.LabelLoss > 0) {
			t.Errorf("%s line %d has no label loss: %+v", FileLog, i+1, l)
		}
	}
}

// A run whose validation accuracy peaks early: the validation rows are the
// training rows with their labels flipped, so the better the model learns
// them, the worse it scores there. Early stopping ends the run, and the
// adapter written is the best step's checkpoint, byte for byte.
func TestLoadBestAndEarlyStopping(t *testing.T) {
	recs, err := amazonAlpaca()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	train, flipped := recs[:32], make([]task.Record, 32)
	for i, r := range train {
		r.Output = fmt.Sprint(1 - int(r.Output[0]-'0'))
		flipped[i] = r
	}
	trainPath, valPath := filepath.Join(dir, "train.json"), filepath.Join(dir, "flipped.json")
	if err := writeAlpaca(trainPath, train); err != nil {
		t.Fatal(err)
	}
	if err := writeAlpaca(valPath, flipped); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.Data, cfg.TrainFile, cfg.EvalFile = "", trainPath, valPath
	cfg.ModulesToSave, cfg.LR, cfg.MaxSteps = List{"embed_tokens"}, 3e-3, 40
	cfg.EvalEvery, cfg.EarlyStoppingPatience, cfg.MetricForBest, cfg.SaveTotalLimit = 4, 3, MetricEvalAccuracy, 1
	var progress bytes.Buffer
	res, err := Train(cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	var accs []string
	for _, l := range res.Log {
		if l.Split == "eval" {
			accs = append(accs, fmt.Sprintf("%d:%.3f", l.Step, *l.Accuracy))
		}
	}
	t.Logf("eval accuracy by step: %v", accs)
	if res.Best == nil || res.Steps >= cfg.MaxSteps || res.Best.Step >= res.Steps || res.Best.Step == 0 {
		t.Fatalf("best %+v after %d steps: want an early best and an early stop before step %d\n%s", res.Best, res.Steps, cfg.MaxSteps, progress.String())
	}
	if !strings.Contains(progress.String(), "early stopping at step") {
		t.Errorf("no early-stopping note:\n%s", progress.String())
	}
	best := res.Best.Step
	if res.Eval == nil || res.Eval.Step != best || res.Best.Value != res.Eval.Accuracy || res.Best.Metric != MetricEvalAccuracy {
		t.Fatalf("result eval %+v, best %+v: want the best step's evaluation", res.Eval, res.Best)
	}

	// The adapter is the best step's checkpoint, byte for byte; the limit of 1 kept it beside the newest.
	ck := filepath.Join(checkpointDir(out, best), ckptAdapterDir)
	for _, f := range []string{llm.AdapterWeightsFile, llm.AdapterConfigFile} {
		a, err1 := os.ReadFile(filepath.Join(out, DirAdapter, f))
		b, err2 := os.ReadFile(filepath.Join(ck, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Fatalf("adapter %s differs from the step-%d checkpoint's (%v, %v)", f, best, err1, err2)
		}
	}
	_, steps, err := checkpoints(out)
	if err != nil || !reflect.DeepEqual(steps, []int{best, res.Steps}) {
		t.Errorf("checkpoints at steps %v (%v), want the best %d and the last %d", steps, err, best, res.Steps)
	}

	// sentitune.json and run.json name the step and metric.
	meta, err := task.ReadMeta(filepath.Join(out, DirAdapter))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Best == nil || *meta.Best != *res.Best {
		t.Errorf("sentitune.json best %+v, want %+v", meta.Best, res.Best)
	}
	var rec struct {
		Results results `json:"results"`
	}
	readJSON(t, filepath.Join(out, FileRun), &rec)
	if rec.Results.Best == nil || *rec.Results.Best != *res.Best || rec.Results.Steps != res.Steps {
		t.Errorf("run.json results %+v, want best %+v", rec.Results, res.Best)
	}

	// Killed after early stopping's checkpoint, before its outputs: resuming trains no further
	// and writes the same adapter.
	before, err := os.ReadFile(filepath.Join(out, DirAdapter, llm.AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileRun, DirAdapter} {
		if err := os.RemoveAll(filepath.Join(out, f)); err != nil {
			t.Fatal(err)
		}
	}
	resumed := cfg
	resumed.Resume = true
	res2, err := Train(resumed, nil)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(filepath.Join(out, DirAdapter, llm.AdapterWeightsFile))
	if err != nil || res2.Steps != res.Steps || res2.Best == nil || *res2.Best != *res.Best || !bytes.Equal(before, after) {
		t.Errorf("resumed: %d steps (want %d), best %+v, same adapter %v (%v)", res2.Steps, res.Steps, res2.Best, bytes.Equal(before, after), err)
	}

	// The label loss is the two-way cross-entropy predict's probabilities give.
	sc, err := predict.NewScorer(predict.ScorerConfig{ModelDir: fix.model, AdapterDir: filepath.Join(out, DirAdapter), Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	texts := make([]string, len(flipped))
	for i, r := range flipped {
		texts[i] = r.Input
	}
	scores, err := sc.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	var ce float64
	correct := 0
	for i, r := range flipped {
		p := scores[i].Prob
		if r.Output == "0" {
			p = 1 - p
		}
		ce -= math.Log(p)
		if fmt.Sprint(scores[i].Pred) == r.Output {
			correct++
		}
	}
	ce /= float64(len(flipped))
	if math.Abs(ce-res.Eval.LabelLoss) > 1e-4*max(1, ce) || float64(correct)/float64(len(flipped)) != res.Eval.Accuracy {
		t.Errorf("label loss %.6f and accuracy %.4f, predict's probabilities give %.6f and %.4f",
			res.Eval.LabelLoss, res.Eval.Accuracy, ce, float64(correct)/float64(len(flipped)))
	}
}

func TestValidateSelectionOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"val-ratio", func(c *Config) { c.ValRatio = 0.7 }, "val-ratio must be in [0, 0.5]"},
		{"patience without evaluations", func(c *Config) { c.EarlyStoppingPatience = 2 }, "set eval-every"},
		{"negative patience", func(c *Config) { c.EarlyStoppingPatience = -1 }, "early-stopping-patience must be >= 0"},
		{"metric", func(c *Config) { c.MetricForBest = "f1" }, "metric-for-best must be one of eval_loss, eval_accuracy, eval_label_loss"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "out")
			c.set(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	cfg := testConfig(t, "out")
	cfg.EarlyStoppingPatience, cfg.EvalEvery, cfg.MetricForBest = 2, 10, MetricEvalLabelLoss
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// The training label loss (two lm_head rows at each label position) equals the
// two-way cross-entropy read off the full-vocabulary logits.
func TestLabelTally(t *testing.T) {
	for _, c := range []struct{ l0, l1 float64 }{{0, 0}, {2, -1}, {-800, 900}, {30, 31}} {
		for label := 0; label <= 1; label++ {
			want := -([]float64{c.l0, c.l1}[label] - math.Max(c.l0, c.l1) - math.Log(math.Exp(c.l0-math.Max(c.l0, c.l1))+math.Exp(c.l1-math.Max(c.l0, c.l1))))
			if got := labelCrossEntropy([]float32{float32(c.l0), float32(c.l1)}, label); math.Abs(got-want) > 1e-9*max(1, want) {
				t.Errorf("labelCrossEntropy(%v, %v, %d) = %v, want %v", c.l0, c.l1, label, got, want)
			}
		}
	}
	model, exs, _, opt := benchSetup(t, 8, nil)
	defer model.Close()
	defer opt.Close()
	zero, one, err := task.LabelTokenIDs(mustTokenizer(t))
	if err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	batch, rows, pos, _ := answerPositions(exs)
	h, err := model.HiddenAt(s, batch, rows, pos, false)
	if err != nil {
		t.Fatal(err)
	}
	fast := &labelTally{ids: []int{zero, one}}
	if err := fast.add(s, model, h, exs); err != nil {
		t.Fatal(err)
	}
	hidden, err := model.HiddenAt(s, batch, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := allLogitsAt(s, model, hidden, batch.MaxLen(), rows, pos)
	if err != nil {
		t.Fatal(err)
	}
	full := &labelTally{ids: []int{zero, one}}
	if err := full.addLogits(s, model, logits, exs); err != nil {
		t.Fatal(err)
	}
	v, err := s.ToDType(logits, torch.Float32).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	V, want, row := len(v)/len(rows), 0.0, 0
	for _, e := range exs {
		want += labelCrossEntropy([]float32{v[row*V+zero], v[row*V+one]}, e.label)
		row += e.answerLen()
	}
	want /= float64(len(exs))
	for name, tl := range map[string]*labelTally{"two lm_head rows": fast, "full logits": full} {
		got, err := tl.mean(nil)
		if err != nil || tl.rows != len(exs) || math.Abs(got-want) > 1e-5*max(1, want) {
			t.Errorf("%s: label loss %v over %d rows (%v), want %v over %d", name, got, tl.rows, err, want, len(exs))
		}
	}
	// A training step tallies every row it trains on.
	step := &labelTally{ids: []int{zero, one}}
	if _, err := trainMicroBatch(model, exs, 16, false, nil, step); err != nil || step.rows != len(exs) || !(step.sum > 0) {
		t.Fatalf("training step tallied %d rows, sum %v (%v)", step.rows, step.sum, err)
	}
}

// loss.png/.svg show the label-token losses beside the full ones, and the
// evaluation accuracy in a panel of its own.
func TestLossPlotPanels(t *testing.T) {
	dir := t.TempDir()
	f := func(v float64) *float64 { return &v }
	var lines []LogLine
	for step := 1; step <= 20; step++ {
		lines = append(lines, LogLine{Step: step, Split: "train", Loss: 3 / float64(step), LabelLoss: f(0.7 / float64(step))})
		if step%5 == 0 {
			lines = append(lines, LogLine{Step: step, Split: "eval", Loss: 3.5 / float64(step), LabelLoss: f(0.8 / float64(step)), Accuracy: f(0.5 + float64(step)/50)})
		}
	}
	if err := writeLossPlot(dir, lines); err != nil {
		t.Fatal(err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, FilePlotSVG))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"eval accuracy", "train (label tokens 0/1)", "eval (label tokens 0/1)", "train (answer tokens, full vocabulary)"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("loss.svg has no %q", want)
		}
	}
	f2, err := os.Open(filepath.Join(dir, FilePlotPNG))
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	img, err := png.Decode(f2)
	if err != nil || img.Bounds().Dy() <= img.Bounds().Dx()*3/4 {
		t.Fatalf("loss.png: %v, bounds %v: want two panels stacked", err, img.Bounds())
	}
	// Without evaluations: the loss panel alone.
	if err := writeLossPlot(dir, lines[:4]); err != nil {
		t.Fatal(err)
	}
	if svg, _ = os.ReadFile(filepath.Join(dir, FilePlotSVG)); bytes.Contains(svg, []byte("eval accuracy")) {
		t.Error("an accuracy panel without evaluations")
	}
}
