package prep

import "strconv"

// An Alpaca input (LLaMA-Factory's dataset) keeps each record's own instruction and system
// prompt, which may differ between records; --instruction and --system replace them.

// ownPrompt says which columns of an Alpaca input hold the prompt each record keeps (-1: none).
type ownPrompt struct{ instruction, system int }

// alpacaOwnPrompt finds them: only for an Alpaca input whose text is its input column, and only
// the fields --instruction/--system do not replace.
func alpacaOwnPrompt(cols []string, textIdx int, cfg Config) ownPrompt {
	p := ownPrompt{-1, -1}
	if !hasAlpacaColumns(cols) || cols[textIdx] != "input" {
		return p
	}
	if cfg.Instruction == "" {
		if i, err := FindColumn(cols, "instruction"); err == nil {
			p.instruction = i
		}
	}
	if cfg.System == "" {
		if i, err := FindColumn(cols, "system"); err == nil {
			p.system = i
		}
	}
	return p
}

// of is the record's own instruction and system prompt ("" where it keeps none).
func (p ownPrompt) of(rec Record) (instruction, system string) {
	if p.instruction >= 0 {
		instruction = rec.Get(p.instruction)
	}
	if p.system >= 0 {
		system = rec.Get(p.system)
	}
	return instruction, system
}

// keptInstruction is the instruction summary line when records kept their own: the one they
// share, or how many different ones there are ("" when none kept one).
func keptInstruction(exs []example) (string, bool) {
	seen := map[string]bool{}
	first := ""
	for _, e := range exs {
		if e.instruction != "" && !seen[e.instruction] {
			if len(seen) == 0 {
				first = e.instruction
			}
			seen[e.instruction] = true
		}
	}
	switch len(seen) {
	case 0:
		return "", false
	case 1:
		return first, true
	}
	return "each record's own from the Alpaca input (" + strconv.Itoa(len(seen)) + " different; the first: " + first + ")", true
}

// anySystem reports whether a record carries a system prompt of its own.
func anySystem(exs []example) bool {
	for _, e := range exs {
		if e.system != "" {
			return true
		}
	}
	return false
}

func orDefault(own, def string) string {
	if own != "" {
		return own
	}
	return def
}
