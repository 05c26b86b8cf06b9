package llm_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/reference"
	"github.com/sentitune/sentitune/internal/torch"
)

// Model folders shared by the tests of this package, made once (the presets take a moment).
var (
	presetOnce = map[string]*sync.Once{"tiny": {}, "small": {}}
	presetDirs = map[string]string{}
	presetErrs = map[string]error{}
	presetRoot string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if presetRoot != "" {
		os.RemoveAll(presetRoot)
	}
	os.Exit(code)
}

// presetModel returns the folder of a random init-model preset (seed 7, f32). Tests must not
// modify it.
func presetModel(t *testing.T, preset string) string {
	t.Helper()
	presetOnce[preset].Do(func() {
		if presetRoot == "" {
			root, err := os.MkdirTemp("", "sentitune-llm-test-")
			if err != nil {
				presetErrs[preset] = err
				return
			}
			presetRoot = root
		}
		dir := filepath.Join(presetRoot, preset)
		presetErrs[preset] = llm.InitRandomModel(dir, preset, 7, "f32")
		presetDirs[preset] = dir
	})
	if err := presetErrs[preset]; err != nil {
		t.Fatal(err)
	}
	return presetDirs[preset]
}

// customModel writes a random model with cfg's shapes (norm weights jittered so that a decoder
// ignoring them is caught).
func customModel(t *testing.T, cfg *llm.Config, seed uint64, dtype string) string {
	t.Helper()
	dir := t.TempDir()
	if err := llm.WriteRandomModel(dir, cfg, llm.RandomInit{Seed: seed, DType: dtype, Std: 0.08, NormJitter: 0.2}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// llamaConfig is an untied Llama with biases everywhere, GQA 4/2, llama3 rope scaling.
func llamaConfig() *llm.Config {
	return &llm.Config{
		ModelType: "llama", HiddenSize: 48, IntermediateSize: 80, NumAttentionHeads: 4, NumKeyValueHeads: 2,
		NumHiddenLayers: 2, HeadDim: 12, RopeTheta: 5e5, RMSNormEps: 1e-5, VocabSize: 300,
		MaxPositionEmbeddings: 256, AttentionBias: true, OProjBias: true, MLPBias: true, HiddenAct: "silu",
		RopeScaling: &llm.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 16},
	}
}

// smallVocabQwen is the tiny Qwen2 preset (tied, GQA 4/2) with a 500-token vocabulary, for tests
// that handle whole embedding matrices.
func smallVocabQwen() *llm.Config {
	c, _ := llm.PresetConfig("tiny")
	c.VocabSize = 500
	return c
}

var smallIDs = []int{5, 499, 17, 0, 42, 42, 100, 3, 250, 77}

func loadModel(t *testing.T, dir string, opt llm.LoadOptions) *llm.Model {
	t.Helper()
	m, err := llm.LoadModel(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func loadReference(t *testing.T, dir string) *reference.Model {
	t.Helper()
	r, err := reference.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// allLogits runs one unpadded row and returns the logits at every position.
func allLogits(t *testing.T, m *llm.Model, ids []int) [][]float32 {
	t.Helper()
	var out [][]float32
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		h, err := hiddenAll(s, m, llm.Batch{IDs: [][]int{ids}}, false)
		if err != nil {
			return err
		}
		rows := make([]int, len(ids))
		pos := make([]int, len(ids))
		for i := range ids {
			pos[i] = i
		}
		l, err := logitsAt(s, m, h, rows, pos)
		if err != nil {
			return err
		}
		out, err = rowsOf(l)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rowsOf reads a 2-D tensor as float32 rows.
func rowsOf(t *torch.Tensor) ([][]float32, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	n, c := int(t.Size(0)), int(t.Size(1))
	out := make([][]float32, n)
	for i := range out {
		out[i] = v[i*c : (i+1)*c]
	}
	return out, nil
}

func refLogits(t *testing.T, r *reference.Model, ids []int) [][]float64 {
	t.Helper()
	l, err := r.Forward(ids)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// maxDiff is the largest |a−b| over two logit matrices of the same shape.
func maxDiff[A, B float32 | float64](t *testing.T, a [][]A, b [][]B) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rows vs %d rows", len(a), len(b))
	}
	var d float64
	for i := range a {
		if len(a[i]) != len(b[i]) {
			t.Fatalf("row %d: %d vs %d columns", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			d = math.Max(d, math.Abs(float64(a[i][j])-float64(b[i][j])))
		}
	}
	return d
}

func maxAbs[A float32 | float64](a [][]A) float64 {
	var m float64
	for _, r := range a {
		for _, v := range r {
			m = math.Max(m, math.Abs(float64(v)))
		}
	}
	return m
}

var testIDs = []int{151644, 872, 198, 9707, 11, 1879, 0, 151645, 198, 151644, 77091, 198}

func TestLogitsMatchReference(t *testing.T) {
	tiny := presetModel(t, "tiny")
	small := presetModel(t, "small")
	llama := customModel(t, llamaConfig(), 3, "F32")
	qwenCfg := smallVocabQwen()
	qwenCfg.TieWordEmbeddings = false
	qwenUntied := customModel(t, qwenCfg, 4, "F32")
	mini := filepath.Join("reference", "testdata", "mini-qwen2")
	miniLlama := filepath.Join("reference", "testdata", "mini-llama")
	small7 := []int{1, 17, 42, 5, 95, 0, 63, 2, 88, 31, 7}
	for _, tc := range []struct {
		name string
		dir  string
		ids  []int
	}{
		{"tiny preset", tiny, testIDs},
		{"small preset", small, testIDs},
		{"untied llama, biases, GQA, llama3 rope", llama, []int{5, 299, 17, 0, 42, 42, 100, 3, 250, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"untied qwen2, jittered norms", qwenUntied, smallIDs},
		{"mini-qwen2 (PyTorch golden)", mini, small7},
		{"mini-llama (head_dim 16 ≠ hidden/heads)", miniLlama, small7[:9]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadModel(t, tc.dir, llm.LoadOptions{})
			got := allLogits(t, m, tc.ids)
			want := refLogits(t, loadReference(t, tc.dir), tc.ids)
			d := maxDiff(t, got, want)
			t.Logf("max |logit| %.3g, max abs diff %.3g", maxAbs(want), d)
			if d > 1e-4 {
				t.Errorf("logits differ from the float64 reference by %.3g (> 1e-4)", d)
			}
		})
	}
}

func TestPaddedBatches(t *testing.T) {
	dir := customModel(t, llamaConfig(), 5, "F32")
	m := loadModel(t, dir, llm.LoadOptions{})
	rows := [][]int{{5, 6, 7, 8, 9, 10, 11}, {42}, {100, 200, 3, 4}}
	H := m.Config().HiddenSize
	// one-by-one hidden states of each row
	single := make([][]float32, len(rows))
	for i, r := range rows {
		err := torch.NoGrad(func() error {
			s := torch.NewScope()
			defer s.Close()
			h, err := hiddenAll(s, m, llm.Batch{IDs: [][]int{r}}, false)
			if err != nil {
				return err
			}
			single[i], err = h.Float32s()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	compare := func(t *testing.T, h *torch.Tensor, where func(row, tok int) int) {
		t.Helper()
		v, err := h.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		T := int(h.Size(1))
		var d float64
		for i, r := range rows {
			for j := range r {
				p := where(i, j)
				for k := 0; k < H; k++ {
					d = math.Max(d, math.Abs(float64(v[(i*T+p)*H+k]-single[i][j*H+k])))
				}
			}
		}
		t.Logf("max abs diff %.3g", d)
		if d > 1e-5 {
			t.Errorf("padded hidden states differ from unpadded ones by %.3g (> 1e-5)", d)
		}
	}
	t.Run("right padding (Hidden)", func(t *testing.T) {
		torch.NoGrad(func() error {
			s := torch.NewScope()
			defer s.Close()
			h, err := hiddenAll(s, m, llm.Batch{IDs: rows}, false)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Shape(); got[0] != 3 || got[1] != 7 || got[2] != int64(H) {
				t.Fatalf("hidden shape %v, want [3 7 %d]", got, H)
			}
			compare(t, h, func(_, j int) int { return j })
			return nil
		})
	})
	for _, side := range []string{"left", "right"} {
		t.Run(side+" padding (HiddenPadded)", func(t *testing.T) {
			const T = 9
			ids := make([][]int, len(rows))
			mask := make([][]bool, len(rows))
			off := make([]int, len(rows))
			for i, r := range rows {
				ids[i] = make([]int, T)
				mask[i] = make([]bool, T)
				if side == "left" {
					off[i] = T - len(r)
				}
				for j, id := range r {
					ids[i][off[i]+j] = id
					mask[i][off[i]+j] = true
				}
				for j := range ids[i] {
					if !mask[i][j] {
						ids[i][j] = 151 // pad id, any token
					}
				}
			}
			torch.NoGrad(func() error {
				s := torch.NewScope()
				defer s.Close()
				h, err := m.HiddenPadded(s, ids, mask, false)
				if err != nil {
					t.Fatal(err)
				}
				compare(t, h, func(i, j int) int { return off[i] + j })
				return nil
			})
		})
	}
	t.Run("last-token logits", func(t *testing.T) {
		torch.NoGrad(func() error {
			s := torch.NewScope()
			defer s.Close()
			l, err := lastLogits(s, m, llm.Batch{IDs: rows})
			if err != nil {
				t.Fatal(err)
			}
			got, err := rowsOf(l)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				want := allLogits(t, m, r)
				if d := maxDiff(t, [][]float32{got[i]}, [][]float32{want[len(r)-1]}); d > 1e-5 {
					t.Errorf("row %d: last logits differ by %.3g", i, d)
				}
			}
			return nil
		})
	})
}

func TestBF16WithinTolerance(t *testing.T) {
	dir := presetModel(t, "tiny")
	f32 := allLogits(t, loadModel(t, dir, llm.LoadOptions{}), testIDs)
	m := loadModel(t, dir, llm.LoadOptions{DType: torch.BFloat16})
	if m.DType() != torch.BFloat16 {
		t.Fatalf("dtype %v, want bf16", m.DType())
	}
	bf := allLogits(t, m, testIDs)
	d, scale := maxDiff(t, bf, f32), maxAbs(f32)
	t.Logf("max |logit| %.3g, bf16 vs f32 max abs diff %.3g", scale, d)
	// bf16 keeps 8 significant bits (relative step 2⁻⁸ ≈ 0.4%); through two layers and a
	// 64-wide lm_head the logits may move a few steps of their scale, not more.
	if d > 0.02*scale {
		t.Errorf("bf16 logits differ from f32 by %.3g, more than 2%% of the logit scale %.3g", d, scale)
	}
	if d == 0 {
		t.Error("bf16 logits equal f32 ones exactly: the model did not run in bf16")
	}
}

func TestLoadModelErrors(t *testing.T) {
	good := presetModel(t, "tiny")
	copyDir := func(t *testing.T) string {
		t.Helper()
		dir := t.TempDir()
		for _, f := range []string{"config.json", "model.safetensors"} {
			b, err := os.ReadFile(filepath.Join(good, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"truncated safetensors", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.safetensors", "truncated"}},
		{"unknown architecture", func(t *testing.T, dir string) {
			replaceInFile(t, filepath.Join(dir, "config.json"), `"model_type": "qwen2"`, `"model_type": "gpt2"`)
		}, []string{"unsupported architecture", "gpt2"}},
		{"missing tensors", func(t *testing.T, dir string) {
			w, err := llm.OpenWeights(good)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var keep []llm.TensorData
			for _, n := range w.Names() {
				if n == "model.layers.1.mlp.up_proj.weight" || n == "model.norm.weight" {
					continue
				}
				ti, _ := w.Get(n)
				keep = append(keep, llm.TensorData{Name: n, DType: ti.DType, Shape: ti.Shape, Data: ti.Data})
			}
			if err := llm.WriteSafetensors(filepath.Join(dir, "model.safetensors"), keep, nil); err != nil {
				t.Fatal(err)
			}
		}, []string{"2 missing tensor(s)", "model.layers.1.mlp.up_proj.weight", "model.norm.weight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t)
			tc.setup(t, dir)
			m, err := llm.LoadModel(dir, llm.LoadOptions{})
			if err == nil {
				m.Close()
				t.Fatal("LoadModel succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	t.Run("bad ids", func(t *testing.T) {
		m := loadModel(t, good, llm.LoadOptions{})
		s := torch.NewScope()
		defer s.Close()
		if _, err := hiddenAll(s, m, llm.Batch{IDs: [][]int{{1, 2}, {151936}}}, false); err == nil ||
			!strings.Contains(err.Error(), "row 1 position 0: token id 151936 outside the vocabulary") {
			t.Errorf("out-of-vocabulary id: error %v", err)
		}
		if _, err := hiddenAll(s, m, llm.Batch{IDs: [][]int{{1}, {}}}, false); err == nil {
			t.Error("empty row accepted")
		}
		if _, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{{1, 2}}}, []int{0}, []int{2}, false); err == nil ||
			!strings.Contains(err.Error(), "(row 0, position 2) is not a token of the batch") {
			t.Errorf("HiddenAt past the end: error %v", err)
		}
	})
}

func replaceInFile(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkForward is inference on the small preset: batch 8 × 128 tokens, last-token logits.
func BenchmarkForward(b *testing.B) {
	m, rows := benchSetup(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := torch.NoGrad(func() error {
			s := torch.NewScope()
			defer s.Close()
			_, err := lastLogits(s, m, llm.Batch{IDs: rows})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*8*128)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkTrainStep is forward + backward of LoRA r=8 on all linears of the small preset,
// batch 8 × 128, loss at one position per row (the answer-only logits).
func BenchmarkTrainStep(b *testing.B) {
	m, rows := benchSetup(b)
	if err := m.AddLoRA(llm.LoRAConfig{R: 8, Alpha: 16, Dropout: 0.05, Targets: []string{"all"}}, 1); err != nil {
		b.Fatal(err)
	}
	pos := make([]int, len(rows))
	rowIdx := make([]int, len(rows))
	targets := make([]int64, len(rows))
	for i := range rows {
		rowIdx[i], pos[i], targets[i] = i, len(rows[i])-1, 16
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := torch.NewScope()
		h, err := hiddenAll(s, m, llm.Batch{IDs: rows}, true)
		if err != nil {
			b.Fatal(err)
		}
		l, err := logitsAt(s, m, h, rowIdx, pos)
		if err != nil {
			b.Fatal(err)
		}
		s.Backward(s.CrossEntropy(l, s.FromInt64(targets, int64(len(targets))), torch.IgnoreIndex, torch.ReduceMean))
		if err := s.Err(); err != nil {
			b.Fatal(err)
		}
		for _, p := range m.TrainableParams() {
			p.T.ZeroGrad()
		}
		s.Close()
	}
	b.ReportMetric(float64(b.N*8*128)/b.Elapsed().Seconds(), "tokens/s")
}

func benchSetup(b *testing.B) (*llm.Model, [][]int) {
	b.Helper()
	dir := b.TempDir()
	if err := llm.InitRandomModel(filepath.Join(dir, "small"), "small", 7, "f32"); err != nil {
		b.Fatal(err)
	}
	m, err := llm.LoadModel(filepath.Join(dir, "small"), llm.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	rows := make([][]int, 8)
	for i := range rows {
		rows[i] = make([]int, 128)
		for j := range rows[i] {
			rows[i][j] = (i*7919 + j*104729) % 151643
		}
	}
	return m, rows
}
