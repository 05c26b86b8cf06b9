package llm_test

import (
	"math"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// TestAnswerLoss: the fused answer loss (one pass over the lm_head on the CPU)
// gives the loss and the LoRA gradients of LogitsAt + CrossEntropy, with and
// without a trainable lm_head copy (which takes the unfused path).
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
			h, err := m.Hidden(s, batch, true)
			if err != nil {
				t.Fatal(err)
			}
			var loss *torch.Tensor
			if fused {
				loss, err = m.AnswerLoss(s, h, rows, pos, tgt, true)
			} else {
				var lg *torch.Tensor
				lg, err = m.LogitsAt(s, h, rows, pos)
				loss = s.CrossEntropy(lg, s.FromInt64(tgt, 4), torch.IgnoreIndex, torch.ReduceSum)
			}
			if err != nil {
				t.Fatal(err)
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
			t.Errorf("modules_to_save %v: loss %.7g, LogitsAt+CrossEntropy %.7g", save, gotLoss, wantLoss)
		}
		for i, p := range m.TrainableParams() {
			num, den := 0.0, 0.0
			for j := range wantGrads[i] {
				num += (gotGrads[i][j] - wantGrads[i][j]) * (gotGrads[i][j] - wantGrads[i][j])
				den += wantGrads[i][j] * wantGrads[i][j]
			}
			if den == 0 || math.Sqrt(num/den) > 1e-4 {
				t.Errorf("modules_to_save %v: %s gradient rel. L2 %.2g (reference norm² %.3g)", save, p.Name, math.Sqrt(num/den), den)
			}
		}
	}
}
