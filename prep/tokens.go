package prep

import (
	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

// PromptEncoder is an Encoder that also knows the model's chat template;
// prompt token lengths then count the whole prompt the model sees.
type PromptEncoder interface {
	Encoder
	EncodePrompt(system, user string) ([]int, error)
}

// modelTokenizer adapts the pure-Go tokenizer of a model folder.
type modelTokenizer struct{ t *tokenizer.Tokenizer }

func (m modelTokenizer) Encode(s string) ([]int, error) { return m.t.Encode(s) }

// EncodePrompt renders the chat template (system turn, user turn, assistant
// generation prompt) when the model has one.
func (m modelTokenizer) EncodePrompt(system, user string) ([]int, error) {
	if c := m.t.Chat(); c != nil {
		return c.EncodePrompt(system, user)
	}
	return m.t.Encode(user)
}

// loadTokenizer loads the tokenizer of a model folder.
func loadTokenizer(model string) (Encoder, error) {
	dir, err := hub.ResolveModel(model) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return nil, err
	}
	t, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	return modelTokenizer{t}, nil
}

// EncodeAnswer tokenizes the assistant's answer turn (label and end of turn) as training
// appends it to the prompt.
func (m modelTokenizer) EncodeAnswer(answer string) ([]int, error) {
	if c := m.t.Chat(); c != nil {
		return c.EncodeAnswer(answer)
	}
	return m.t.Encode(answer)
}
