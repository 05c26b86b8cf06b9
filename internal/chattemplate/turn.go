package chattemplate

import (
	"fmt"
	"strings"
	"unicode"
)

// Markers rendered in place of the texts a turn is split around; the
// templates copy message content verbatim or stripped, never look inside it.
const (
	userMarker   = "\u2983sentitune-user\u2984"
	answerMarker = "\u2983sentitune-answer\u2984"
	systemMarker = "\u2983sentitune-system\u2984"
)

// Turn is the single-turn prompt a template renders (optional system message,
// one user message, the assistant generation prompt), split around the user's
// text: the prompt for user text u is Before + u + After (u stripped first
// when Strip).
type Turn struct {
	Before, After string
	Strip         bool // the template strips the user's text (Jinja's trim, Python's strip)
}

// Text is the prompt for the user text u.
func (p Turn) Text(u string) string {
	if p.Strip {
		u = PyStrip(u)
	}
	return p.Before + u + p.After
}

// Turn renders the prompt for a system message (none when "") and one user
// message, with the generation prompt. DeepSeek-R1's templates open a think
// block they never close; it is closed here (empty), so that the answer comes
// right after "<think>\n\n</think>\n\n" as Qwen3 writes it with enable_thinking=false.
func (t *Template) Turn(system string) (Turn, error) {
	var msgs []Message
	if system != "" {
		msgs = append(msgs, Message{"system", system})
	}
	user := func(u string) []Message { return append(msgs[:len(msgs):len(msgs)], Message{"user", u}) }
	out, err := t.Render(user(userMarker), true)
	if err != nil {
		return Turn{}, err
	}
	before, after, ok := splitOnce(out, userMarker)
	if !ok {
		return Turn{}, fmt.Errorf("chat template %s does not write the user's message exactly once", t.name)
	}
	p := Turn{Before: before, After: after}
	if p.Strip, err = t.strips(user, true, out, userMarker); err != nil {
		return Turn{}, err
	}
	// A text with quotes, markup and emoji must render as the split says.
	const sample = "It's <b>\"fine\"</b> 👍\n"
	got, err := t.Render(user(sample), true)
	if err != nil {
		return Turn{}, err
	}
	if got != p.Text(sample) {
		return Turn{}, fmt.Errorf("chat template %s changes the user's message: %q renders as %q", t.name, sample, got)
	}
	if strings.HasSuffix(p.After, "<think>\n") {
		p.After += "\n</think>\n\n"
	}
	return p, nil
}

// strips tells whether the template writes a message stripped of surrounding
// white space; other changes to the message are an error.
func (t *Template) strips(msgs func(string) []Message, generate bool, plain, marker string) (bool, error) {
	const pad = " \n"
	padded, err := t.Render(msgs(pad+marker+pad), generate)
	if err != nil {
		return false, err
	}
	switch padded {
	case strings.Replace(plain, marker, pad+marker+pad, 1):
		return false, nil
	case plain:
		return true, nil
	}
	return false, fmt.Errorf("chat template %s changes the white space around a message in a way sentitune cannot follow", t.name)
}

// Answer is how the template writes an assistant answer a after the prompt:
// Lead + a + Tail, a stripped first when Strip. Tail starts with the token that
// ends the turn ("<|im_end|>\n") or is "" when the template writes none (then
// the model's eos_token ends it).
type Answer struct {
	Lead, Tail string
	Strip      bool
}

// Answer renders a one-turn conversation with an answer and returns how the
// answer is written: Mistral's template writes " " + answer + eos_token.
func (t *Template) Answer() (Answer, error) {
	conv := func(a string) []Message { return []Message{{"user", userMarker}, {"assistant", a}} }
	out, err := t.Render(conv(answerMarker), false)
	if err != nil {
		return Answer{}, err
	}
	before, tail, ok := splitOnce(out, answerMarker)
	if !ok {
		return Answer{}, fmt.Errorf("chat template %s does not write the assistant's answer exactly once", t.name)
	}
	a := Answer{Tail: tail}
	a.Lead = before[len(strings.TrimRight(before, " ")):]
	if a.Strip, err = t.strips(conv, false, out, answerMarker); err != nil {
		return Answer{}, err
	}
	return a, nil
}

// DefaultSystem is the system prompt the template writes when the conversation
// has none (Qwen2.5: "You are Qwen, created by Alibaba Cloud. You are a helpful
// assistant."), or "" when passing it explicitly would not give the same prompt.
func (t *Template) DefaultSystem() string {
	none, err := t.Turn("")
	if err != nil {
		return ""
	}
	marked, err := t.Turn(systemMarker)
	if err != nil {
		return ""
	}
	head, tail, ok := splitOnce(marked.Before, systemMarker)
	if !ok || len(none.Before) < len(head)+len(tail) ||
		!strings.HasPrefix(none.Before, head) || !strings.HasSuffix(none.Before, tail) {
		return ""
	}
	system := none.Before[len(head) : len(none.Before)-len(tail)]
	if system == "" {
		return ""
	}
	if same, err := t.Turn(system); err != nil || same != none {
		return ""
	}
	return system
}

func splitOnce(s, sep string) (before, after string, ok bool) {
	if strings.Count(s, sep) != 1 {
		return "", "", false
	}
	before, after, _ = strings.Cut(s, sep)
	return before, after, true
}

// PyStrip is Jinja's trim filter: Python's str.strip(), whose white space is
// Unicode White_Space plus the separators U+001C..U+001F.
func PyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
	})
}
