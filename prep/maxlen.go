package prep

import (
	"fmt"

	"github.com/sentitune/sentitune/internal/task"
)

// DefaultMaxLen is finetune's default --max-len: prompt + answer tokens per example.
const DefaultMaxLen = 512

// AnswerEncoder is an Encoder that knows how the model's answer turn is tokenized.
type AnswerEncoder interface {
	EncodeAnswer(answer string) ([]int, error)
}

// answerTokens is the number of answer tokens (label and end of turn) each example adds to
// its prompt; 1 when enc cannot tell.
func answerTokens(enc Encoder) (int, error) {
	ae, ok := enc.(AnswerEncoder)
	if !ok {
		return 1, nil
	}
	ids, err := ae.EncodeAnswer("1")
	if err != nil {
		return 0, fmt.Errorf("prep: encode the answer: %w", err)
	}
	return len(ids), nil
}

// noteMaxLen counts the rows of ss whose prompt and answer exceed maxLen (0: DefaultMaxLen),
// the rows finetune will cut; it needs the prompt lengths a tokenizer measured.
func (s *Stats) noteMaxLen(ss *SplitStats, maxLen int, enc Encoder) error {
	if ss.promptLens == nil {
		return nil
	}
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	answer, err := answerTokens(enc)
	if err != nil {
		return err
	}
	n := 0
	for _, p := range ss.promptLens {
		if p+answer > maxLen {
			n++
		}
	}
	ss.OverMaxLen = &n
	s.MaxLen, s.TruncationSide = maxLen, task.TruncationRight
	return nil
}
