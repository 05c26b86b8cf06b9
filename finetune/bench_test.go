package finetune

import (
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/torch"
)

// BenchmarkTrainStep times one optimizer step (forward, backward, clip, AdamW)
// of the tiny model on a batch of 16 Amazon prompts, with the lm_head applied at
// the answer positions only and, for comparison, at every position (T×V logits).
// Reports tokens/s (prompt + answer tokens, no padding).
//
//	go test ./finetune -run '^$' -bench TrainStep -benchtime 20x
func BenchmarkTrainStep(b *testing.B) {
	for _, v := range []struct {
		name string
		full bool
	}{{"answer-only", false}, {"full-logits", true}} {
		b.Run(v.name, func(b *testing.B) {
			model, batch, params, opt := benchSetup(b, 16, nil)
			defer model.Close()
			defer opt.Close()
			tokens, answers := 0, 0
			for _, e := range batch {
				tokens += len(e.ids)
				answers += e.answerLen()
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := opt.ZeroGrad(); err != nil {
					b.Fatal(err)
				}
				if _, err := trainMicroBatch(model, batch, answers, v.full, nil, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := torch.ClipGradNorm(params, 1); err != nil {
					b.Fatal(err)
				}
				if err := opt.Step(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(tokens*b.N)/b.Elapsed().Seconds(), "tokens/s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "steps/s")
		})
	}
}

// benchSetup loads the tiny model with a LoRA adapter (plus modulesToSave) and
// encodes the first n training examples.
func benchSetup(b testing.TB, n int, modulesToSave []string) (*llm.Model, []example, []*torch.Tensor, *torch.AdamW) {
	b.Helper()
	tok, err := tokenizer.Load(fix.model)
	if err != nil {
		b.Fatal(err)
	}
	exs, _, err := readExamples(tok, fix.train, 512)
	if err != nil {
		b.Fatal(err)
	}
	model, err := llm.LoadModel(fix.model, llm.LoadOptions{Device: torch.CPU})
	if err != nil {
		b.Fatal(err)
	}
	cfg := Defaults()
	cfg.ModulesToSave = modulesToSave
	if err := model.AddLoRA(loraConfig(cfg), 1); err != nil {
		b.Fatal(err)
	}
	np := model.TrainableParams()
	opt, err := newOptimizer(cfg, np)
	if err != nil {
		b.Fatal(err)
	}
	params := make([]*torch.Tensor, len(np))
	for i, p := range np {
		params[i] = p.T
	}
	return model, exs[:n], params, opt
}
