package predict

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

var tinyOnce struct {
	sync.Once
	dir string
	err error
}

// tinyModel writes one random tiny Qwen2 model (hidden 64, 2 layers, the
// real Qwen vocabulary) per test binary.
func tinyModel(t testing.TB) string {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			tinyOnce.err = err
			return
		}
		tinyOnce.dir = filepath.Join(dir, "tiny")
		tinyOnce.err = llm.InitRandomModel(tinyOnce.dir, "tiny", 1, "f32")
	})
	if tinyOnce.err != nil {
		t.Fatal(tinyOnce.err)
	}
	return tinyOnce.dir
}

func newTinyScorer(t testing.TB, cfg ScorerConfig) *Scorer {
	t.Helper()
	if cfg.ModelDir == "" {
		cfg.ModelDir = tinyModel(t)
	}
	if cfg.Device == "" {
		cfg.Device = "cpu"
	}
	sc, err := NewScorer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sc.Close)
	return sc
}

// A batch of N rows gives each row what scoring it alone gives.
func TestScoreBatchEqualsOneByOne(t *testing.T) {
	sc := newTinyScorer(t, ScorerConfig{BatchSize: 8})
	texts, _ := amazonRows(t, 40)
	texts = append(texts, strings.Repeat("A very long review that goes on and on. ", 30))
	batched, st, err := sc.ScoreStats(texts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Batches != 6 || st.Rows != int64(len(texts)) {
		t.Fatalf("stats %+v", st)
	}
	worst := 0.0
	for i, text := range texts {
		ids, err := sc.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		alone, _, err := sc.ScoreIDs([][]int{ids})
		if err != nil {
			t.Fatal(err)
		}
		a, b := alone[0], batched[i]
		d := max(math.Abs(a.Prob-b.Prob), math.Abs(a.Logit1-b.Logit1), math.Abs(a.Logit0-b.Logit0))
		worst = max(worst, d)
		if d > 1e-5 || a.Pred != b.Pred {
			t.Errorf("text %d: batched %+v, alone %+v", i, b, a)
		}
	}
	t.Logf("largest batched vs alone difference: %.2g", worst)
}

func TestProbMonotoneInMargin(t *testing.T) {
	sc := newTinyScorer(t, ScorerConfig{})
	texts, _ := amazonRows(t, 60)
	scores, err := sc.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(scores, func(i, j int) bool { return scores[i].Logit1-scores[i].Logit0 < scores[j].Logit1-scores[j].Logit0 })
	for i, s := range scores {
		m := s.Logit1 - s.Logit0
		if want := 1 / (1 + math.Exp(-m)); math.Abs(s.Prob-want) > 1e-12 {
			t.Fatalf("prob %v for margin %v, want sigmoid %v", s.Prob, m, want)
		}
		if i > 0 && s.Prob < scores[i-1].Prob {
			t.Fatalf("prob not monotone: margin %v → %v, previous %v", m, s.Prob, scores[i-1].Prob)
		}
		if s.Pred != b2i(s.Prob >= 0.5) {
			t.Fatalf("pred %d for prob %v", s.Pred, s.Prob)
		}
	}
	// Also the softmax over the two label logits, far from zero too.
	for _, m := range []float64{-1000, -40, -1e-9, 0, 1e-9, 40, 1000} {
		s := sc.scoreOf(m, 0)
		e1, e0 := math.Exp(m-max(m, 0)), math.Exp(-max(m, 0))
		if math.IsNaN(s.Prob) || math.Abs(s.Prob-e1/(e1+e0)) > 1e-15 {
			t.Errorf("margin %v: prob %v, want %v", m, s.Prob, e1/(e1+e0))
		}
	}
}

func TestThreshold(t *testing.T) {
	sc := newTinyScorer(t, ScorerConfig{})
	texts, _ := amazonRows(t, 30)
	scores, err := sc.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	probs := make([]float64, len(scores))
	for i, s := range scores {
		probs[i] = s.Prob
	}
	sort.Float64s(probs)
	median := probs[len(probs)/2]
	st := newTinyScorer(t, ScorerConfig{Threshold: median})
	again, err := st.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	pos := 0
	for i, s := range again {
		if s.Prob != scores[i].Prob || s.Pred != b2i(s.Prob >= median) {
			t.Fatalf("text %d: %+v with threshold %v", i, s, median)
		}
		pos += s.Pred
	}
	if pos != len(texts)-len(texts)/2 {
		t.Fatalf("%d positive with the median as threshold", pos)
	}
}

// noDigitInstruction keeps the label tokens out of prompts, so that changing
// their embeddings (labelModel) changes no hidden state.
const noDigitInstruction = "Is the sentiment of the following product review positive or negative?"

var labelOnce struct {
	sync.Once
	dir string
	err error
}

// labelModel returns the tiny model with the embedding rows of "0" and "1"
// (tied, so also the lm_head rows) set as a tuned head would set them:
// both far along the mean final hidden state, so the two label tokens
// outrank the rest of the vocabulary, and apart along the direction that
// separates positive from negative reviews. Prompts without digits see the
// same hidden states as in the random model.
func labelModel(t testing.TB) string {
	t.Helper()
	labelOnce.Do(func() { labelOnce.dir, labelOnce.err = makeLabelModel(t) })
	if labelOnce.err != nil {
		t.Fatal(labelOnce.err)
	}
	return labelOnce.dir
}

func makeLabelModel(t testing.TB) (string, error) {
	src := tinyModel(t)
	sc, err := NewScorer(ScorerConfig{ModelDir: src, Device: "cpu", Instruction: noDigitInstruction})
	if err != nil {
		return "", err
	}
	defer sc.Close()
	texts, labels := digitFreeRows(t, 200)
	H := 64
	var hs [][]float64
	for lo := 0; lo < len(texts); lo += 32 {
		var ids [][]int
		for _, text := range texts[lo:min(lo+32, len(texts))] {
			row, err := sc.Encode(text)
			if err != nil {
				return "", err
			}
			ids = append(ids, row)
		}
		err := sc.withModel(func(m *llm.Model) error {
			s := torch.NewScope()
			defer s.Close()
			b := llm.Batch{IDs: ids}
			h, err := m.HiddenAt(s, b, nil, nil, false) // [B·T, H]
			if err != nil {
				return err
			}
			T := b.MaxLen()
			v, err := h.Float32s()
			if err != nil {
				return err
			}
			for r, row := range ids {
				base := (r*T + len(row) - 1) * H
				x := make([]float64, H)
				for k := range x {
					x[k] = float64(v[base+k])
				}
				hs = append(hs, x)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	mean, pos, neg := make([]float64, H), make([]float64, H), make([]float64, H)
	np := 0
	for i, h := range hs {
		for k := range h {
			mean[k] += h[k] / float64(len(hs))
			if labels[i] == 1 {
				pos[k] += h[k]
			} else {
				neg[k] += h[k]
			}
		}
		np += labels[i]
	}
	dir := make([]float64, H)
	for k := range dir {
		dir[k] = pos[k]/float64(np) - neg[k]/float64(len(hs)-np)
	}
	mhat := unit(mean)
	d := dot(dir, mhat)
	for k := range dir {
		dir[k] -= d * mhat[k]
	}
	dir = unit(dir)
	// Spread of the hidden states along dir, and the scale of the other logits.
	spread := 0.0
	for _, h := range hs {
		spread += math.Abs(dot(h, dir)) / float64(len(hs))
	}

	w, err := llm.OpenWeights(src)
	if err != nil {
		return "", err
	}
	defer w.Close()
	var tensors []llm.TensorData
	for _, name := range w.Names() {
		ti, _ := w.Get(name)
		data := append([]byte(nil), ti.Data...)
		if name == llm.EmbedTokensWeight {
			e, err := ti.Float32s()
			if err != nil {
				return "", err
			}
			maxNorm := 0.0
			for v := 0; v < len(e)/H; v++ {
				n := 0.0
				for k := 0; k < H; k++ {
					n += float64(e[v*H+k]) * float64(e[v*H+k])
				}
				maxNorm = max(maxNorm, math.Sqrt(n))
			}
			// Label logits ≈ 20·maxNorm·|mean| ± a margin of a few units.
			a, c := 20*maxNorm, 3/spread
			for k := 0; k < H; k++ {
				e[sc.ids[1]*H+k] = float32(a*mhat[k] + c*dir[k])
				e[sc.ids[0]*H+k] = float32(a*mhat[k] - c*dir[k])
			}
			if data, err = llm.FromFloat32(ti.DType, e); err != nil {
				return "", err
			}
		}
		tensors = append(tensors, llm.TensorData{Name: name, DType: ti.DType, Shape: ti.Shape, Data: data})
	}
	out, err := osMkdirTemp()
	if err != nil {
		return "", err
	}
	out = filepath.Join(out, "label")
	if err := os.Mkdir(out, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() == llm.SafetensorsFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(out, e.Name()), b, 0o644); err != nil {
			return "", err
		}
	}
	return out, llm.WriteSafetensors(filepath.Join(out, llm.SafetensorsFile), tensors, map[string]string{"format": "pt"})
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func unit(a []float64) []float64 {
	n := math.Sqrt(dot(a, a))
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / n
	}
	return out
}

// digitFreeRows returns up to n bundled reviews without the characters 0 and
// 1, with their labels.
func digitFreeRows(t testing.TB, n int) ([]string, []int) {
	texts, labels := amazonRows(t, 1000)
	var ts []string
	var ls []int
	for i, text := range texts {
		if strings.TrimSpace(text) == "" || strings.ContainsAny(text, "01") {
			continue
		}
		ts = append(ts, text)
		ls = append(ls, labels[i])
		if len(ts) == n {
			break
		}
	}
	return ts, ls
}

// Scoring reads the two label logits where generation takes the argmax over
// the whole vocabulary. Whenever the first generated token is a label token
// the two must agree exactly; on a model whose label tokens dominate (as
// after tuning) that is nearly every row. (On the random model they never
// dominate: generation answers something else, which is why this runs on
// labelModel; the tuned-adapter check belongs to finetune's integration.)
func TestScoreAgreesWithGenerate(t *testing.T) {
	texts, labels := digitFreeRows(t, 200)
	for _, c := range []struct {
		name         string
		model        string
		minAgreement float64
	}{
		{"label-dominant model", labelModel(t), 0.99},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := newTinyScorer(t, ScorerConfig{ModelDir: c.model, Instruction: noDigitInstruction, BatchSize: 32})
			scores, err := sc.Score(texts)
			if err != nil {
				t.Fatal(err)
			}
			gens, err := sc.Generate(texts, 3)
			if err != nil {
				t.Fatal(err)
			}
			agree, answered, firstIsLabel, correct := 0, 0, 0, 0
			for i, g := range gens {
				ids, err := sc.tok.Encode(g.Text)
				if err != nil {
					t.Fatal(err)
				}
				if len(ids) > 0 && (ids[0] == sc.ids[0] || ids[0] == sc.ids[1]) {
					firstIsLabel++
					if want := b2i(ids[0] == sc.ids[1]); scores[i].Pred != want {
						t.Errorf("text %d: generation starts with %q, scoring says %d (prob %v)", i, g.Text, scores[i].Pred, scores[i].Prob)
					}
				}
				if g.Pred != NoAnswer {
					answered++
				}
				if g.Pred == scores[i].Pred {
					agree++
				}
				if scores[i].Pred == labels[i] {
					correct++
				}
			}
			rate := float64(agree) / float64(len(texts))
			t.Logf("%d rows: first token a label %d, answered %d, agreement %.3f; scoring accuracy vs labels %.3f",
				len(texts), firstIsLabel, answered, rate, float64(correct)/float64(len(texts)))
			if rate < c.minAgreement {
				t.Fatalf("scoring and generation agree on %.3f of rows, want ≥ %.2f", rate, c.minAgreement)
			}
			npos := 0
			for _, s := range scores {
				npos += s.Pred
			}
			if npos == 0 || npos == len(scores) {
				t.Fatalf("all %d rows predicted %d: agreement says nothing", len(scores), scores[0].Pred)
			}
		})
	}
}

func TestParseAnswer(t *testing.T) {
	for text, want := range map[string]int{"1": 1, "0": 0, " 1\n": 1, "The answer is 0.": 0, "10": 1, "positive": NoAnswer, "": NoAnswer} {
		if got := parseAnswer(task.Binary, text); got != want {
			t.Errorf("%q: %d, want %d", text, got, want)
		}
	}
}

func TestScorerBadInput(t *testing.T) {
	sc := newTinyScorer(t, ScorerConfig{})
	if _, err := sc.Score([]string{"fine", " <p></p> "}); err == nil || !strings.Contains(err.Error(), "text 2: empty text") {
		t.Errorf("empty text: %v", err)
	}
	for _, c := range []struct {
		cfg  ScorerConfig
		want string
	}{
		{ScorerConfig{}, "no model folder"},
		{ScorerConfig{ModelDir: filepath.Join(t.TempDir(), "nope")}, "nope"},
		{ScorerConfig{ModelDir: tinyModel(t), Threshold: 1.5}, "threshold"},
		{ScorerConfig{ModelDir: tinyModel(t), MaxLen: 10}, "max length 10 is too small"},
	} {
		sc, err := NewScorer(c.cfg)
		if err == nil {
			sc.Close()
			if c.want == "max length 10 is too small" { // found at the first encode
				_, err = sc.Score([]string{"hello"})
			}
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.cfg, err, c.want)
		}
	}
}

// Long reviews are cut as training cut them: prompt + answer ≤ MaxLen.
func TestScoreTruncatesLikeTraining(t *testing.T) {
	sc := newTinyScorer(t, ScorerConfig{MaxLen: 64})
	ids, err := sc.Encode(strings.Repeat("word ", 500))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids)+sc.answerLen > 64 || len(ids)+sc.answerLen < 60 {
		t.Fatalf("%d prompt ids + %d answer ids for max length 64", len(ids), sc.answerLen)
	}
	want, err := task.BuildPrompt(sc.tok, sc.spec, strings.TrimSpace(strings.Repeat("word ", 500)), 64, sc.answerLen)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Fatal("Encode differs from task.BuildPrompt on the cleaned text")
	}
}

// Score is safe for concurrent callers and gives each the rows it would get alone.
func TestScoreConcurrentCallers(t *testing.T) {
	sc := sharedScorer(t)
	texts, _ := amazonRows(t, 48)
	want, err := sc.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := texts[g*8 : g*8+8]
			got, err := sc.Score(part)
			if err != nil {
				errs <- err
				return
			}
			for i := range got {
				if math.Abs(got[i].Prob-want[g*8+i].Prob) > 1e-5 {
					errs <- fmt.Errorf("caller %d row %d: prob %v, want %v", g, i, got[i].Prob, want[g*8+i].Prob)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
