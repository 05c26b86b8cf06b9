package llm

import (
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

// Forwarding names while callers move to internal/task, which now owns the prompt contract.
type PromptSpec = task.PromptSpec

func BuildPrompt(tok *tokenizer.Tokenizer, spec PromptSpec, input string, maxLen, answerLen int) ([]int, error) {
	return task.BuildPrompt(tok, spec, input, maxLen, answerLen)
}

func BuildPromptCut(tok *tokenizer.Tokenizer, spec PromptSpec, input string, maxLen, answerLen int) ([]int, bool, error) {
	return task.BuildPromptCut(tok, spec, input, maxLen, answerLen)
}

func LabelTokenIDs(tok *tokenizer.Tokenizer) (zero, one int, err error) {
	return task.LabelTokenIDs(tok)
}
