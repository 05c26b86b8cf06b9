package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

func TestCheapestBuckets(t *testing.T) {
	for _, c := range []struct {
		need []int
		k    int
		want []int
	}{
		{[]int{8, 8, 16, 64}, 1, []int{64}},
		{[]int{8, 8, 16, 64}, 2, []int{16, 64}},
		{[]int{8, 8, 16, 64}, 3, []int{8, 16, 64}},
		{[]int{8, 8, 16, 64}, 8, []int{8, 16, 64}},
		{[]int{24, 32, 32, 32, 40, 512}, 2, []int{40, 512}},
	} {
		if got := cheapestBuckets(c.need, c.k); !slices.Equal(got, c.want) {
			t.Errorf("cheapestBuckets(%v, %d) = %v, want %v", c.need, c.k, got, c.want)
		}
	}
}

// imdbLikeLengths tokenizes n reviews with IMDB's length distribution (log-normal, median 174 and
// mean 234 words, as bench/corpus.go draws them) made of the bundled real Amazon review sentences,
// through the training prompt at max length 512, and returns their token counts.
func imdbLikeLengths(t *testing.T, tok *tokenizer.Tokenizer, n int) []int {
	t.Helper()
	var words [][]string
	sc := bufio.NewScanner(bytes.NewReader(data.AmazonJSONL()))
	for sc.Scan() {
		var r struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(r.Text); len(f) > 0 {
			words = append(words, f)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	sigma := math.Sqrt(2 * math.Log(234.0/174.0))
	recs := make([]task.Record, n)
	for i := range recs {
		want := min(max(int(math.Round(math.Exp(math.Log(174)+sigma*rng.NormFloat64()))), 10), 2500)
		var review []string
		for len(review) < want {
			review = append(review, words[rng.IntN(len(words))]...)
		}
		recs[i] = task.Record{Instruction: task.DefaultInstruction("en"), Input: strings.Join(review[:want], " "), Output: fmt.Sprint(i % 2)}
	}
	path := filepath.Join(t.TempDir(), "imdb-like.json")
	if err := writeAlpaca(path, recs); err != nil {
		t.Fatal(err)
	}
	exs, _, err := readExamples(tok, path, 512)
	if err != nil {
		t.Fatal(err)
	}
	return lengthsOf(exs)
}

// On IMDB-like reviews (real sentences, IMDB's lengths, the real tokenizer, max length 512) the
// planner's at most 8 shapes pad at most 10 % of a step's positions, batch 16.
func TestPlanShapesIMDBLikePadding(t *testing.T) {
	tok, err := tokenizer.Load(fix.model)
	if err != nil {
		t.Fatal(err)
	}
	lengths := imdbLikeLengths(t, tok, 2000)
	plan, err := PlanShapes(lengths, 16, DefaultMaxShapes, 42)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Buckets) == 0 || len(plan.Buckets) > DefaultMaxShapes || plan.Rows != 16 {
		t.Fatalf("plan %+v: want 1..%d buckets of 16 rows", plan, DefaultMaxShapes)
	}
	for _, b := range plan.Buckets {
		if b%shapeQuantum != 0 {
			t.Errorf("bucket %d is not a multiple of %d", b, shapeQuantum)
		}
	}
	if last := plan.Buckets[len(plan.Buckets)-1]; last < slices.Max(lengths) {
		t.Errorf("largest bucket %d < longest example %d", last, slices.Max(lengths))
	}
	for epoch := range 3 { // the plan is made on epoch 0's batches; later epochs batch differently
		static, dynamic := plan.Padding(epochBatches(lengths, 16, 42, epoch), lengths)
		t.Logf("epoch %d: buckets %v: padding %.2f %% static, %.2f %% dynamic", epoch, plan.Buckets, 100*static, 100*dynamic)
		if static > 0.10 {
			t.Errorf("epoch %d: static-shape padding %.1f %% > 10 %%", epoch, 100*static)
		}
	}
}

// A static-shape micro-batch (rows padded to a longer bucket, two filler rows) gives the dynamic
// micro-batch's loss and gradients of every trainable tensor (LoRA and a trained embed_tokens
// copy) within 1e-6 relative in f32, through the answer-only loss and the full-logits one: the
// padding changes nothing the real rows see, and filler rows add nothing.
func TestStaticShapesSameLossAndGradients(t *testing.T) {
	tok, err := tokenizer.Load(fix.model)
	if err != nil {
		t.Fatal(err)
	}
	exs, _, err := readExamples(tok, fix.train, 512)
	if err != nil {
		t.Fatal(err)
	}
	exs = exs[:3]
	m, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}, ModulesToSave: []string{"embed_tokens"}}, 5); err != nil {
		t.Fatal(err)
	}
	params := m.TrainableParams()
	longest := slices.Max(lengthsOf(exs))
	plan := ShapePlan{Rows: 5, Buckets: []int{roundUp(longest+40, shapeQuantum)}}
	step := func(batch []example, fullLogits bool) (float64, [][]float32) {
		for _, p := range params {
			if err := p.T.ZeroGrad(); err != nil {
				t.Fatal(err)
			}
		}
		s := torch.NewScope()
		defer s.Close()
		loss, err := answerLoss(s, m, batch, fullLogits, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Backward(s, loss); err != nil {
			t.Fatal(err)
		}
		v, err := loss.Item()
		if err != nil {
			t.Fatal(err)
		}
		var grads [][]float32
		for _, p := range params {
			g, err := s.Grad(p.T).Float32s()
			if err != nil {
				t.Fatal(err)
			}
			grads = append(grads, g)
		}
		return v, grads
	}
	padded := plan.pad(exs)
	if len(padded) != 5 || !padded[4].filler || padded[0].padTo != plan.Buckets[0] {
		t.Fatalf("pad: %d rows, filler %v, padTo %d", len(padded), padded[len(padded)-1].filler, padded[0].padTo)
	}
	for _, full := range []bool{false, true} {
		dynLoss, dynGrads := step(exs, full)
		stLoss, stGrads := step(padded, full)
		if d := math.Abs(stLoss-dynLoss) / math.Abs(dynLoss); d > 1e-6 {
			t.Errorf("full logits %v: loss %v static vs %v dynamic (rel %.2g)", full, stLoss, dynLoss, d)
		}
		for i, p := range params {
			if d := relDiff(stGrads[i], dynGrads[i]); d > 1e-6 {
				t.Errorf("full logits %v: %s gradient rel. difference %.2g", full, p.Name, d)
			}
		}
		fillerLoss, fillerGrads := step(padded[3:], full) // the filler rows alone
		for i, p := range params {
			if n := norm(fillerGrads[i]); fillerLoss != 0 || n != 0 {
				t.Errorf("full logits %v: filler rows alone: loss %v, %s gradient norm %v; want 0", full, fillerLoss, p.Name, n)
			}
		}
	}
}

func relDiff(a, b []float32) float64 {
	var d, n float64
	for i := range a {
		d += float64(a[i]-b[i]) * float64(a[i]-b[i])
		n += float64(b[i]) * float64(b[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

func norm(a []float32) float64 {
	var n float64
	for _, x := range a {
		n += float64(x) * float64(x)
	}
	return math.Sqrt(n)
}

// finetune with --static-shapes trains the run the dynamic step trains (no dropout, batches of 5
// rows, so the last batch of the 64-row epoch gets filler rows): the same losses and adapter, and
// it says its shapes and padding.
func TestStaticShapesRun(t *testing.T) {
	dir := t.TempDir()
	run := func(name string, static bool) (string, string) {
		out := filepath.Join(dir, name)
		cfg := testConfig(t, out)
		cfg.MaxSteps, cfg.BatchSize, cfg.LoRADropout, cfg.EvalEvery, cfg.StaticShapes = 14, 5, 0, 0, static
		var progress bytes.Buffer
		if _, err := Train(cfg, &progress); err != nil {
			t.Fatal(err)
		}
		return out, progress.String()
	}
	dynamic, _ := run("dynamic", false)
	static, progress := run("static", true)
	if !strings.Contains(progress, "static shapes: 5 rows × [") || !strings.Contains(progress, "padding") {
		t.Errorf("progress lacks the static shapes line:\n%s", progress)
	}
	sameRun(t, dynamic, static)
}
