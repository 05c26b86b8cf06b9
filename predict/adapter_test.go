package predict

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// makeAdapter trains nothing but writes a real adapter for modelDir: LoRA
// r=4 on every linear with random nonzero B (so it changes the outputs),
// saved by finetune.SaveAdapter with meta.
func makeAdapter(t testing.TB, modelDir string, meta task.Meta) string {
	t.Helper()
	m, err := llm.LoadModel(modelDir, llm.LoadOptions{Device: torch.CPU})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, 3); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	defer s.Close()
	if err := torch.ManualSeed(7); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.TrainableParams() {
		if p.IsLoRAB {
			if err := p.T.CopyFrom(s.Uniform(p.T.Shape(), -0.5, 0.5, torch.Float32, torch.CPU)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "adapter")
	if err := finetune.SaveAdapter(m, dir, meta); err != nil {
		t.Fatal(err)
	}
	return dir
}

func tinyMeta(t testing.TB, instruction string) task.Meta {
	sc := sharedScorer(t)
	return task.Meta{
		Instruction:   instruction,
		System:        sc.tok.Chat().DefaultSystem(),
		LabelTokenIDs: map[string]int{"0": sc.ids[0], "1": sc.ids[1]},
		ChatTemplate:  sc.tok.Chat().Name(),
	}
}

func TestAdapterPromptAndWeights(t *testing.T) {
	const instr = "Positive (1) or negative (0)?"
	ad := makeAdapter(t, tinyModel(t), tinyMeta(t, instr))
	tuned := newTinyScorer(t, ScorerConfig{AdapterDir: ad})
	if info := tuned.Info(); info.Instruction != instr || info.Adapter != ad {
		t.Fatalf("info %+v: the adapter's instruction was not used", info)
	}
	// The bare model with the same prompt: the adapter must change the logits.
	bare := newTinyScorer(t, ScorerConfig{Instruction: instr})
	texts, _ := amazonRows(t, 20)
	a, err := tuned.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bare.Score(texts)
	if err != nil {
		t.Fatal(err)
	}
	diff := 0.0
	for i := range a {
		diff = max(diff, math.Abs(a[i].Logit1-b[i].Logit1))
	}
	if diff < 1e-3 {
		t.Fatalf("adapter changed label logits by at most %g", diff)
	}
	// Same prompt tokens as the bare model given the adapter's instruction.
	x, _ := tuned.Encode(texts[0])
	y, _ := bare.Encode(texts[0])
	if len(x) != len(y) {
		t.Fatal("prompts differ")
	}
	for i := range x {
		if x[i] != y[i] {
			t.Fatal("prompts differ")
		}
	}
	// A contradicting --instruction is refused; the same one is fine.
	if _, err := NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: ad, Device: "cpu", Instruction: "Other?"}); err == nil || !strings.Contains(err.Error(), "trained with") {
		t.Fatalf("contradicting instruction: %v", err)
	}
}

func TestAdapterForAnotherBase(t *testing.T) {
	// A second, smaller random model (hidden 32, 1 layer) with the same tokenizer.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := llm.PresetConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HiddenSize, cfg.NumHiddenLayers, cfg.IntermediateSize, cfg.HeadDim = 32, 1, 64, 8
	if err := llm.WriteRandomModel(other, cfg, llm.RandomInit{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tinyModel(t), f))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(other, f), b)
	}
	ad := makeAdapter(t, other, tinyMeta(t, "Positive?"))

	_, err = NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: ad, Device: "cpu"})
	for _, want := range []string{"trained on another base model", "hidden 32, 1 layers", "hidden 64, 2 layers", other} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	// A PEFT adapter without sentitune.json: the weights' shapes tell.
	os.Remove(filepath.Join(ad, task.MetaFile))
	_, err = NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: ad, Device: "cpu"})
	if err == nil || !strings.Contains(err.Error(), "another model shape") {
		t.Errorf("PEFT adapter for another base: %v", err)
	}
}

func TestAdapterBadFolders(t *testing.T) {
	dir := t.TempDir()
	good := makeAdapter(t, tinyModel(t), tinyMeta(t, "Positive?"))
	meta, err := os.ReadFile(filepath.Join(good, task.MetaFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(meta, &m); err != nil {
		t.Fatal(err)
	}
	m["label_token_ids"] = map[string]int{"0": 100, "1": 101}
	badIDs := filepath.Join(dir, "ids")
	os.Mkdir(badIDs, 0o755)
	for _, f := range []string{llm.AdapterConfigFile, llm.AdapterWeightsFile} {
		b, _ := os.ReadFile(filepath.Join(good, f))
		writeFile(t, filepath.Join(badIDs, f), b)
	}
	b, _ := json.Marshal(m)
	writeFile(t, filepath.Join(badIDs, task.MetaFile), b)
	for _, c := range []struct {
		dir, want string
	}{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "no adapter_config.json"},
		{writeFile(t, filepath.Join(dir, "file"), nil), "not a folder"},
		{badIDs, "answers with token ids 0→100"},
	} {
		_, err := NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: c.dir, Device: "cpu"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.dir, err, c.want)
		}
	}
}

// fullVocabLogits is the plain way to the label logits: Logits over the
// whole vocabulary at the last position, then pick the two label columns.
func fullVocabLogits(t *testing.T, sc *Scorer, rows [][]int) [][2]float64 {
	t.Helper()
	var out [][2]float64
	err := sc.withModel(func(m *llm.Model) error {
		s := torch.NewScope()
		defer s.Close()
		b := llm.Batch{IDs: rows}
		lr, lp := b.LastPositions()
		h, err := m.HiddenAt(s, b, lr, lp, false)
		if err != nil {
			return err
		}
		last, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		v, err := s.ToDType(last, torch.Float32).Float32s()
		if err != nil {
			return err
		}
		V := len(v) / len(rows)
		for r := range rows {
			out = append(out, [2]float64{float64(v[r*V+sc.ids[0]]), float64(v[r*V+sc.ids[1]])})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The two-row label head gives the logits the full lm_head gives, with and
// without an adapter that trains its own lm_head copy, in f32 and bf16.
func TestLabelHeadMatchesFullLogits(t *testing.T) {
	model := tinyModel(t)
	withHead := func() string {
		m, err := llm.LoadModel(model, llm.LoadOptions{Device: torch.CPU})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := m.AddLoRA(llm.LoRAConfig{R: 2, Alpha: 4, Targets: []string{"q_proj"}, ModulesToSave: []string{"lm_head"}}, 1); err != nil {
			t.Fatal(err)
		}
		s := torch.NewScope()
		defer s.Close()
		for _, p := range m.TrainableParams() {
			if strings.Contains(p.Name, "lm_head") {
				if err := p.T.CopyFrom(s.Uniform(p.T.Shape(), -0.2, 0.2, torch.Float32, torch.CPU)); err != nil {
					t.Fatal(err)
				}
			}
		}
		dir := filepath.Join(t.TempDir(), "head-adapter")
		if err := finetune.SaveAdapter(m, dir, tinyMeta(t, "Positive?")); err != nil {
			t.Fatal(err)
		}
		return dir
	}()
	texts, _ := amazonRows(t, 12)
	for _, c := range []struct {
		name string
		cfg  ScorerConfig
		tol  float64
	}{
		{"f32", ScorerConfig{}, 1e-5},
		{"f32 adapter with lm_head", ScorerConfig{AdapterDir: withHead}, 1e-5},
		{"bf16", ScorerConfig{DType: "bf16"}, 0.05},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := newTinyScorer(t, c.cfg)
			var rows [][]int
			for _, text := range texts {
				ids, err := sc.Encode(text)
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, ids)
			}
			got, _, err := sc.ScoreIDs(rows)
			if err != nil {
				t.Fatal(err)
			}
			want := fullVocabLogits(t, sc, rows)
			for r := range rows {
				d := max(math.Abs(got[r].Logit0-want[r][0]), math.Abs(got[r].Logit1-want[r][1]))
				if d > c.tol*max(1, math.Abs(want[r][0])) {
					t.Errorf("row %d: label logits %v/%v, full vocabulary %v", r, got[r].Logit0, got[r].Logit1, want[r])
				}
			}
		})
	}
}
