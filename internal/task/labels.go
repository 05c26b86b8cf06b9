// Package task is the contract between prep, finetune, predict, eval and serve: the labels and
// the answers that stand for them, the prompt a review becomes (instruction, system prompt,
// template, max length and truncation), how an Alpaca record is read and its answer parsed, and
// sentitune.json, which carries the contract from training to scoring.
//
// It needs no libtorch, so prep and eval can use it and still build anywhere.
package task

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

// Label is one class: the answer the model is trained to give for it.
type Label struct {
	Answer string // the assistant's whole reply, e.g. "1"
	Name   string // for people, e.g. "positive"
}

// Labels is a task's label set; a label's index is its class, the value a prediction holds.
type Labels []Label

// Binary is sentitune's task: 0 = negative, 1 = positive, answered "0" and "1".
var Binary = Labels{{Answer: "0", Name: "negative"}, {Answer: "1", Name: "positive"}}

// Answers lists the answers in class order.
func (ls Labels) Answers() []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Answer
	}
	return out
}

// ParseAnswer returns the class whose answer output is, ignoring surrounding white space. It
// is the one reader of a record's answer (an Alpaca record's output).
func (ls Labels) ParseAnswer(output string) (int, error) {
	s := strings.TrimSpace(output)
	for i, l := range ls {
		if s == l.Answer {
			return i, nil
		}
	}
	return -1, fmt.Errorf("output %q is not a label (want %s)", output, strings.Join(ls.Answers(), " or "))
}

// TokenIDs returns, in class order, the id of the first token of each answer as the chat
// template encodes it: the tokens whose next-token logits classify a review.
func (ls Labels) TokenIDs(tok *tokenizer.Tokenizer) ([]int, error) {
	if tok == nil || tok.Chat() == nil {
		return nil, errors.New("label token ids: the tokenizer has no chat template (the model has none: give --template)")
	}
	ids := make([]int, len(ls))
	seen := map[int]string{}
	for i, l := range ls {
		enc, err := tok.Chat().EncodeAnswer(l.Answer)
		if err != nil {
			return nil, fmt.Errorf("label token ids: encode answer %q: %w", l.Answer, err)
		}
		if len(enc) == 0 {
			return nil, fmt.Errorf("label token ids: answer %q encodes to no tokens", l.Answer)
		}
		if other, ok := seen[enc[0]]; ok {
			return nil, fmt.Errorf("label token ids: answers %q and %q start with the same token %d", other, l.Answer, enc[0])
		}
		ids[i], seen[enc[0]] = enc[0], l.Answer
	}
	return ids, nil
}

// LabelTokenIDs returns the ids of the first token of the answers "0" and "1" (Binary.TokenIDs).
func LabelTokenIDs(tok *tokenizer.Tokenizer) (zero, one int, err error) {
	ids, err := Binary.TokenIDs(tok)
	if err != nil {
		return 0, 0, err
	}
	return ids[0], ids[1], nil
}

// FindAnswer returns the class whose answer comes first in a generated reply ("The answer is 1."),
// the longest at the same place; ok is false when no answer occurs. Generation is judged this
// leniently, a record's answer (ParseAnswer) exactly.
func (ls Labels) FindAnswer(reply string) (class int, ok bool) {
	at, class := -1, -1
	for i, l := range ls {
		j := strings.Index(reply, l.Answer)
		if j < 0 || l.Answer == "" {
			continue
		}
		if at < 0 || j < at || (j == at && len(l.Answer) > len(ls[class].Answer)) {
			at, class = j, i
		}
	}
	return class, class >= 0
}
