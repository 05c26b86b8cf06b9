package llm_test

import (
	"math"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// TestHiddenAt: the last layer computed only at the asked positions gives
// Hidden's outputs there — several positions per row, rows asking for different
// counts, any order — for the tiny Qwen2, an untied GQA Llama with biases and
// rope scaling, a one-layer model, and bf16.
func TestHiddenAt(t *testing.T) {
	oneLayer := smallVocabQwen()
	oneLayer.NumHiddenLayers = 1
	cases := []struct {
		name  string
		dir   string
		dtype torch.DType
		tol   float64
	}{
		{"qwen2 tiny", presetModel(t, "tiny"), torch.Float32, 2e-6},
		{"llama gqa", customModel(t, llamaConfig(), 3, "F32"), torch.Float32, 2e-6},
		{"one layer", customModel(t, oneLayer, 4, "F32"), torch.Float32, 2e-6},
		{"qwen2 tiny bf16", presetModel(t, "tiny"), torch.BFloat16, 3e-2},
	}
	batch := llm.Batch{IDs: [][]int{{5, 299, 17, 0, 42, 42, 100}, {3, 250, 77}, {9, 8, 7, 6, 5, 4, 3, 2, 1}}}
	rows := []int{2, 0, 0, 1, 2, 0, 2}
	pos := []int{8, 6, 2, 0, 3, 0, 4}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := loadModel(t, c.dir, llm.LoadOptions{DType: c.dtype, ExplicitDType: true})
			err := torch.NoGrad(func() error {
				s := torch.NewScope()
				defer s.Close()
				full, err := hiddenAll(s, m, batch, false)
				if err != nil {
					return err
				}
				want := s.ToDType(gatherRows(s, full, rows, pos), torch.Float64)
				got, err := m.HiddenAt(s, batch, rows, pos, false)
				if err != nil {
					return err
				}
				if sh := got.Shape(); len(sh) != 2 || sh[0] != int64(len(rows)) || sh[1] != int64(m.Config().HiddenSize) {
					t.Fatalf("HiddenAt shape %v, want [%d %d]", sh, len(rows), m.Config().HiddenSize)
				}
				w, err := want.Float64s()
				if err != nil {
					return err
				}
				g, err := s.ToDType(got, torch.Float64).Float64s()
				if err != nil {
					return err
				}
				if rel := relL2(g, w); rel > c.tol {
					t.Errorf("HiddenAt vs Hidden at the same positions: rel. L2 %.2g (tolerance %.0g)", rel, c.tol)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		m := loadModel(t, presetModel(t, "tiny"), llm.LoadOptions{})
		s := torch.NewScope()
		defer s.Close()
		for _, c := range []struct {
			rows, pos []int
			want      string
		}{
			{[]int{0}, []int{3}, "not a token"}, // row 1 has 3 tokens: position 3 is padding
			{[]int{1}, []int{3}, "not a token"},
			{[]int{3}, []int{0}, "not a token"},
			{[]int{0, 1}, []int{0}, "2 rows but 1 positions"},
			{[]int{}, []int{}, "no positions"}, // nil, nil is every position
			{nil, []int{0}, "0 rows but 1 positions"},
		} {
			_, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{{1, 2, 3}, {4, 5, 6}}}, c.rows, c.pos, false)
			if len(c.rows) > 0 && c.rows[0] == 0 && c.pos[0] == 3 {
				_, err = m.HiddenAt(s, llm.Batch{IDs: [][]int{{1, 2, 3}, {4, 5, 6, 7}}}, c.rows, c.pos, false)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("rows %v positions %v: error %v, want %q", c.rows, c.pos, err, c.want)
			}
		}
	})
}

// TestAnswerLoss: HiddenAt + AnswerLoss (on the CPU one fused pass over the
// lm_head) gives the loss and every trainable gradient of the full-position forward + lm_head +
// CrossEntropy, with LoRA on all linears, with a trained embed_tokens copy, and
// with a trained lm_head copy (which takes the unfused loss).
func TestAnswerLoss(t *testing.T) {
	for _, save := range [][]string{nil, {"embed_tokens"}, {"lm_head"}} {
		m := loadModel(t, presetModel(t, "tiny"), llm.LoadOptions{})
		if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}, ModulesToSave: save}, 3); err != nil {
			t.Fatal(err)
		}
		randomizeAdapter(t, m, 4)
		batch := llm.Batch{IDs: [][]int{{9707, 11, 1879, 0, 15, 151645}, {5, 6, 7, 16, 151645}}}
		rows, pos := []int{0, 0, 1, 1}, []int{3, 4, 2, 3}
		tgt := []int64{15, 151645, 16, 151645}

		run := func(fused bool) (float64, [][]float64) {
			s := torch.NewScope()
			defer s.Close()
			var loss *torch.Tensor
			if fused {
				h, err := m.HiddenAt(s, batch, rows, pos, true)
				if err != nil {
					t.Fatal(err)
				}
				if loss, err = m.AnswerLoss(s, h, tgt, true); err != nil {
					t.Fatal(err)
				}
			} else {
				h, err := hiddenAll(s, m, batch, true)
				if err != nil {
					t.Fatal(err)
				}
				lg, err := logitsAt(s, m, h, rows, pos)
				if err != nil {
					t.Fatal(err)
				}
				loss = s.CrossEntropy(lg, s.FromInt64(tgt, 4), torch.IgnoreIndex, torch.ReduceSum)
			}
			s.Backward(loss)
			lv, err := loss.Item()
			if err != nil || s.Err() != nil {
				t.Fatal(err, s.Err())
			}
			var grads [][]float64
			for _, p := range m.TrainableParams() {
				g, err := s.Grad(p.T).Float64s()
				if err != nil {
					t.Fatalf("%s: %v", p.Name, err)
				}
				grads = append(grads, g)
				if err := p.T.ZeroGrad(); err != nil {
					t.Fatal(err)
				}
			}
			return lv, grads
		}
		wantLoss, wantGrads := run(false)
		gotLoss, gotGrads := run(true)
		if d := math.Abs(gotLoss-wantLoss) / wantLoss; d > 1e-5 {
			t.Errorf("modules_to_save %v: loss %.7g, full forward+lm_head+CrossEntropy %.7g", save, gotLoss, wantLoss)
		}
		for i, p := range m.TrainableParams() {
			if rel := relL2(gotGrads[i], wantGrads[i]); !(rel <= 1e-4) {
				t.Errorf("modules_to_save %v: %s gradient rel. L2 %.2g", save, p.Name, rel)
			}
		}
	}
}

func gatherRows(s *torch.Scope, hidden *torch.Tensor, rows, pos []int) *torch.Tensor {
	T := hidden.Size(1)
	idx := make([]int64, len(rows))
	for i := range rows {
		idx[i] = int64(rows[i])*T + int64(pos[i])
	}
	return s.IndexSelect(s.Reshape(hidden, hidden.Size(0)*T, hidden.Size(2)), 0, s.FromInt64(idx, int64(len(idx))))
}

// relL2 is ‖got − want‖ / ‖want‖ (NaN when want is all zeros).
func relL2(got, want []float64) float64 {
	num, den := 0.0, 0.0
	for i := range want {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}
