package predict

import (
	"errors"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/prep"
)

// adapter is the LoRA adapter a scorer loads, with finetune's metadata.
// (Placeholder until llm.LoadAdapter lands.)
type adapter struct {
	dir string
}

func readAdapter(cfg ScorerConfig) (*adapter, error) {
	if cfg.AdapterDir == "" {
		return nil, nil
	}
	return nil, errors.New("predict: adapters are not supported yet")
}

// checkBase fails when the adapter was trained on a base model of another shape.
func (a *adapter) checkBase(modelDir string) error { return nil }

func (a *adapter) attach(m *llm.Model) error { return nil }

// promptOf returns the prompt and max length: the adapter's, else flags/defaults.
func promptOf(cfg ScorerConfig, a *adapter) (llm.PromptSpec, int, error) {
	spec := llm.PromptSpec{Instruction: cfg.Instruction, System: cfg.System}
	if spec.Instruction == "" {
		spec.Instruction = prep.DefaultInstruction("en")
	}
	return spec, cmpOr(cfg.MaxLen, DefaultMaxLen), nil
}

func labelIDsOf(tok *tokenizer.Tokenizer, a *adapter) (zero, one int, err error) {
	return llm.LabelTokenIDs(tok)
}
