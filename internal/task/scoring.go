package task

import "fmt"

// ScoringPrompt is the prompt and max length to score with under this contract, given the ones
// asked for (flags; maxLen 0 = not asked, then the contract's, else defaultMaxLen). Without a
// contract (nil: a bare model, or a PEFT adapter from elsewhere) the flags hold, with the default
// instruction if they give none. A prompt that contradicts training's is an error, since it would
// quietly give other probabilities; the max length is the one setting that may differ (to read
// more of long reviews than training did).
func (m *Meta) ScoringPrompt(flags PromptSpec, maxLen, defaultMaxLen int) (PromptSpec, int, error) {
	if m == nil {
		if flags.Instruction == "" {
			flags.Instruction = DefaultInstruction("en")
		}
		return flags, cmpOr(maxLen, defaultMaxLen), nil
	}
	if flags.Instruction != "" && flags.Instruction != m.Instruction {
		return flags, 0, fmt.Errorf("--instruction differs from the instruction it was trained with (%q): scoring must use the training prompt; leave --instruction out", m.Instruction)
	}
	if flags.System != "" && flags.System != m.System {
		return flags, 0, fmt.Errorf("--system differs from the system prompt it was trained with (%q); leave --system out", m.System)
	}
	if m.TruncationSide != "" && m.TruncationSide != TruncationRight {
		return flags, 0, fmt.Errorf("it was trained cutting long reviews on the %q side; sentitune scores cutting on the %q side only", m.TruncationSide, TruncationRight)
	}
	spec := PromptSpec{Instruction: m.Instruction, System: m.System, PlainText: flags.PlainText}
	return spec, cmpOr(maxLen, m.MaxLen, defaultMaxLen), nil
}

// cmpOr is cmp.Or for lengths: the first positive value.
func cmpOr(vals ...int) int {
	for _, v := range vals {
		if v > 0 {
			return v
		}
	}
	return 0
}
