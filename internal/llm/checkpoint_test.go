package llm_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// TestGradientCheckpointing: a checkpointed training step (layers forwarded under no-grad,
// recomputed in Backward) gives the uncheckpointed step's loss and trainable gradients to 1e-6
// relative in f32, with LoRA dropout on (the recomputation must draw the forward's masks) and
// off, with and without a trained embed_tokens copy. Two micro-batches per step check that the
// generator ends where the forward left it.
func TestGradientCheckpointing(t *testing.T) {
	batches := []struct {
		b         llm.Batch
		rows, pos []int
		tgt       []int64
	}{
		{llm.Batch{IDs: [][]int{{9707, 11, 1879, 0, 15, 151645}, {5, 6, 7, 16, 151645}}}, []int{0, 0, 1, 1}, []int{3, 4, 2, 3}, []int64{15, 151645, 16, 151645}},
		{llm.Batch{IDs: [][]int{{40, 41, 42, 43, 44, 45, 46, 16, 151645}}}, []int{0, 0}, []int{6, 7}, []int64{16, 151645}},
	}
	for _, dropout := range []float64{0, 0.3} {
		for _, save := range [][]string{nil, {"embed_tokens"}} {
			t.Run(fmt.Sprintf("dropout %g save %v", dropout, save), func(t *testing.T) {
				m := loadModel(t, presetModel(t, "small"), llm.LoadOptions{}) // 4 layers: three are recomputed
				if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Dropout: dropout, Targets: []string{"all"}, ModulesToSave: save}, 3); err != nil {
					t.Fatal(err)
				}
				randomizeAdapter(t, m, 4)
				step := func(checkpoint bool) ([]float64, [][]float64) {
					m.SetGradientCheckpointing(checkpoint)
					if err := torch.ManualSeed(11); err != nil {
						t.Fatal(err)
					}
					var losses []float64
					for _, mb := range batches {
						s := torch.NewScope()
						h, err := m.HiddenAt(s, mb.b, mb.rows, mb.pos, true)
						if err != nil {
							t.Fatal(err)
						}
						loss, err := m.AnswerLoss(s, h, mb.tgt, true)
						if err != nil {
							t.Fatal(err)
						}
						if err := m.Backward(s, loss); err != nil {
							t.Fatal(err)
						}
						lv, err := loss.Item()
						if err != nil {
							t.Fatal(err)
						}
						losses = append(losses, lv)
						s.Close()
					}
					s := torch.NewScope()
					defer s.Close()
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
					return losses, grads
				}
				wantLoss, wantGrads := step(false)
				gotLoss, gotGrads := step(true)
				_, againGrads := step(false)
				floor := 0.0 // two plain steps differ this much: CPU backward kernels vary in the last bits
				for i := range wantGrads {
					floor = max(floor, relL2(againGrads[i], wantGrads[i]))
				}
				for i := range wantLoss {
					if d := math.Abs(gotLoss[i]-wantLoss[i]) / wantLoss[i]; d > 1e-6 {
						t.Errorf("micro-batch %d: loss %.9g, uncheckpointed %.9g", i, gotLoss[i], wantLoss[i])
					}
				}
				// Per tensor to 1e-5: a small tensor's last bits move with the memory alignment BLAS
				// sees (two plain steps differed by up to 1e-6 in some runs); all together to 1e-6.
				worst, where := 0.0, ""
				var all, allWant []float64
				for i, p := range m.TrainableParams() {
					rel := relL2(gotGrads[i], wantGrads[i])
					if !(rel <= 1e-5) {
						t.Errorf("%s: gradient rel. L2 %.2g from the uncheckpointed step", p.Name, rel)
					}
					if rel > worst {
						worst, where = rel, p.Name
					}
					all, allWant = append(all, gotGrads[i]...), append(allWant, wantGrads[i]...)
				}
				if rel := relL2(all, allWant); !(rel <= 1e-6) {
					t.Errorf("all gradients: rel. L2 %.2g from the uncheckpointed step", rel)
				}
				t.Logf("%d gradients; largest rel. L2 difference %.2g (%s); two plain steps: %.2g", len(gotGrads), worst, where, floor)
				if dropout > 0 {
					// The masks matter: a step drawn from another seed gives other gradients.
					m.SetGradientCheckpointing(false)
					torch.ManualSeed(12)
					s := torch.NewScope()
					h, _ := m.HiddenAt(s, batches[0].b, batches[0].rows, batches[0].pos, true)
					loss, _ := m.AnswerLoss(s, h, batches[0].tgt, true)
					if lv, err := loss.Item(); err != nil || math.Abs(lv-wantLoss[0])/wantLoss[0] < 1e-4 {
						t.Errorf("another seed's dropout gives loss %.9g (%v), the same as %.9g: dropout draws nothing", lv, err, wantLoss[0])
					}
					s.Close()
				}
			})
		}
	}
}
