package task

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

// TruncationRight names BuildPrompt's cut: a long review loses its end, its start
// is kept. sentitune.json records it so scoring can refuse another convention.
const TruncationRight = "right"

// PromptSpec is what turns a review into the model's input: the task
// instruction and the system prompt ("" means the chat template's default).
type PromptSpec struct {
	Instruction string
	System      string
	// PlainText encodes special tokens inside the review ("<|im_end|>") as the
	// text they are, so a review cannot close its turn (serve's default).
	PlainText bool
}

// UserTurn is the user message of an Alpaca record as LLaMA-Factory renders
// it: instruction + "\n" + input (just input when there is no instruction).
func (p PromptSpec) UserTurn(input string) string {
	if p.Instruction == "" {
		return input
	}
	return p.Instruction + "\n" + input
}

// BuildPrompt returns the token ids of the chat prompt for one review, up to and
// including the assistant generation prompt. It is the one place finetune and
// predict turn a review into model input, so training and scoring see the same ids.
//
// When maxLen > 0 and the prompt plus answerLen answer tokens would exceed
// maxLen, the review's tokens are cut from the end (never the template, never the
// answer) so that len(ids)+answerLen <= maxLen. It is an error if the template and
// answer alone do not fit.
func BuildPrompt(tok *tokenizer.Tokenizer, spec PromptSpec, input string, maxLen, answerLen int) ([]int, error) {
	ids, _, err := BuildPromptCut(tok, spec, input, maxLen, answerLen)
	return ids, err
}

// BuildPromptCut is BuildPrompt that also says whether the review was cut to fit maxLen
// (from its end: TruncationRight).
func BuildPromptCut(tok *tokenizer.Tokenizer, spec PromptSpec, input string, maxLen, answerLen int) (ids []int, cut bool, err error) {
	if tok == nil || tok.Chat() == nil {
		return nil, false, errors.New("build prompt: the tokenizer has no chat template (the model has none: give --template)")
	}
	if strings.TrimSpace(input) == "" {
		return nil, false, errors.New("build prompt: empty review text")
	}
	chat := tok.Chat()
	encodePrompt, encode := chat.EncodePrompt, tok.Encode
	if spec.PlainText {
		encodePrompt, encode = chat.EncodePromptPlain, tok.EncodePlain
	}
	ids, err = encodePrompt(spec.System, spec.UserTurn(input))
	if err != nil {
		return nil, false, fmt.Errorf("build prompt: %w", err)
	}
	if maxLen <= 0 || len(ids)+answerLen <= maxLen {
		return ids, false, nil
	}

	// Too long: keep the first k tokens of the review. The overhead of the
	// template is len(ids) - len(review ids) (exact unless tokens merge across the
	// review's boundary, which the loop below corrects).
	inIDs, err := encode(input)
	if err != nil {
		return nil, false, fmt.Errorf("build prompt: %w", err)
	}
	overhead := len(ids) - len(inIDs)
	k := maxLen - answerLen - overhead
	nfc := norm.NFC.String(input)
	for k > 0 {
		text, err := tok.Decode(inIDs[:k])
		if err != nil {
			return nil, false, fmt.Errorf("build prompt: %w", err)
		}
		// A cut inside a multi-token character decodes to U+FFFD, not a prefix of
		// the review: step back to the last whole character.
		if !strings.HasPrefix(nfc, text) {
			k--
			continue
		}
		ids, err = encodePrompt(spec.System, spec.UserTurn(text))
		if err != nil {
			return nil, false, fmt.Errorf("build prompt: %w", err)
		}
		over := len(ids) + answerLen - maxLen
		if over <= 0 {
			return ids, true, nil
		}
		k -= over
	}
	return nil, false, fmt.Errorf("build prompt: max length %d is too small: the chat template and instruction take %d tokens and the answer %d",
		maxLen, overhead, answerLen)
}
