package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Names of the chat templates this package renders.
const (
	TemplateChatML = "chatml" // Qwen1.5/2/2.5/3
	TemplateLlama3 = "llama3" // Llama-3, 3.1, 3.2, 3.3 Instruct
)

// Default system prompts written by the Qwen chat templates when the
// conversation has no system message.
const (
	qwen25System = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
	qwenSystem   = "You are a helpful assistant."
)

// llama31DateHeader is what Llama-3.1+ templates always write at the top of the
// system turn; "26 Jul 2024" is their date_string default (3.2's template uses
// today's date when strftime_now exists — we keep the fixed default so that
// prompts, and so training and scoring, do not change from day to day).
const llama31DateHeader = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

// Chat renders a single-turn prompt (optional system turn, one user turn, the
// assistant generation prompt) exactly as the model's Jinja chat_template does
// with add_generation_prompt=True, and encodes it.
//
// A LLaMA-Factory alpaca record becomes the user turn instruction + "\n" + input
// (just instruction when input is empty); callers build that string.
type Chat struct {
	tok           *Tokenizer
	name          string
	defaultSystem string
	eot           string
	eotID         int
	bos           string // Llama-3: "<|begin_of_text|>", written by the template
	dated         bool   // Llama-3.1+: the system turn is always written, with dates
	suffix        string
	suffixIDs     []int

	mu        sync.Mutex
	prefixIDs map[string][]int // by effective system prompt
}

// newChat recognises the template family; it returns nil for other families.
func newChat(t *Tokenizer, template, bos string) (*Chat, error) {
	hasTok := func(s string) bool { _, ok := t.added[s]; return ok }
	c := &Chat{tok: t, prefixIDs: map[string][]int{}}
	var need []string
	switch {
	case strings.Contains(template, "<|im_start|>"), template == "" && hasTok("<|im_start|>"):
		c.name, c.eot = TemplateChatML, "<|im_end|>"
		c.suffix = "<|im_end|>\n<|im_start|>assistant\n"
		switch {
		case strings.Contains(template, qwen25System):
			c.defaultSystem = qwen25System
		case template == "" || strings.Contains(template, qwenSystem):
			c.defaultSystem = qwenSystem
		}
		need = []string{"<|im_start|>", "<|im_end|>"}
	case strings.Contains(template, "<|start_header_id|>"), template == "" && hasTok("<|start_header_id|>"):
		c.name, c.eot = TemplateLlama3, "<|eot_id|>"
		c.suffix = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
		c.bos = bos
		if c.bos == "" {
			c.bos = "<|begin_of_text|>"
		}
		c.dated = strings.Contains(template, "Cutting Knowledge Date")
		need = []string{c.bos, "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}
	default:
		return nil, nil
	}
	for _, s := range need {
		if !hasTok(s) {
			return nil, fmt.Errorf("the %s chat template needs the special token %q, which tokenizer.json lacks", c.name, s)
		}
	}
	c.eotID = t.added[c.eot]
	var err error
	if c.suffixIDs, err = t.Encode(c.suffix); err != nil {
		return nil, err
	}
	if _, err := c.prefix(""); err != nil {
		return nil, err
	}
	return c, nil
}

// Name is "chatml" or "llama3".
func (c *Chat) Name() string { return c.name }

// DefaultSystem is the system prompt the template writes when none is given:
// Qwen2.5's "You are Qwen, created by Alibaba Cloud. You are a helpful
// assistant.", Qwen1.5/2's "You are a helpful assistant.", "" for Qwen3 and Llama-3.
func (c *Chat) DefaultSystem() string { return c.defaultSystem }

// EndOfTurn is the token that ends an assistant answer: "<|im_end|>" or "<|eot_id|>".
func (c *Chat) EndOfTurn() string { return c.eot }

// EndOfTurnID is the id of EndOfTurn().
func (c *Chat) EndOfTurnID() int { return c.eotID }

// Prompt is the text of a conversation with an optional system turn and one
// user turn, up to and including the assistant generation prompt. system ""
// means DefaultSystem(); when that is "" too, no system turn is written
// (except by Llama-3.1+ templates, which always write one).
func (c *Chat) Prompt(system, user string) string {
	return c.prefixText(system) + c.middle(user) + c.suffix
}

// EncodePrompt returns the ids of Prompt(system, user). The fixed parts of the
// template are encoded once and cached; only the user text is tokenized (with
// the template text between the special tokens around it, so the result is
// identical to Encode(Prompt(system, user))).
func (c *Chat) EncodePrompt(system, user string) ([]int, error) {
	return c.encodePrompt(system, user, c.tok.Encode)
}

// EncodePromptPlain is EncodePrompt with special tokens inside the user text
// encoded as plain text (Tokenizer.EncodePlain); the template's own stay special.
func (c *Chat) EncodePromptPlain(system, user string) ([]int, error) {
	return c.encodePrompt(system, user, c.tok.EncodePlain)
}

func (c *Chat) encodePrompt(system, user string, encode func(string) ([]int, error)) ([]int, error) {
	if !utf8.ValidString(user) {
		return nil, fmt.Errorf("encode prompt: user text is not valid UTF-8 (bad byte at offset %d)", invalidOffset(user))
	}
	if !utf8.ValidString(system) {
		return nil, fmt.Errorf("encode prompt: system prompt is not valid UTF-8 (bad byte at offset %d)", invalidOffset(system))
	}
	pre, err := c.prefix(system)
	if err != nil {
		return nil, err
	}
	mid := c.middle(user)
	ids := make([]int, 0, len(pre)+len(mid)/3+len(c.suffixIDs)+4)
	ids = append(ids, pre...)
	midIDs, err := encode(mid)
	if err != nil {
		return nil, fmt.Errorf("encode user turn: %w", err)
	}
	ids = append(ids, midIDs...)
	return append(ids, c.suffixIDs...), nil
}

// EncodeAnswer returns the ids of an assistant answer followed by the end of
// turn, e.g. "1" → [16, 151645] for Qwen. It is encoded on its own, as
// LLaMA-Factory encodes prompt and response separately. Llama-3 templates trim
// message content, so the answer is trimmed there.
func (c *Chat) EncodeAnswer(answer string) ([]int, error) {
	if c.name == TemplateLlama3 {
		answer = pyStrip(answer)
	}
	return c.tok.Encode(answer + c.eot)
}

// prefixText ends with a special token, so its ids do not depend on what follows.
func (c *Chat) prefixText(system string) string {
	if system == "" {
		system = c.defaultSystem
	}
	var b strings.Builder
	switch c.name {
	case TemplateChatML:
		if system != "" {
			b.WriteString("<|im_start|>system\n" + system + "<|im_end|>\n")
		}
		b.WriteString("<|im_start|>")
	case TemplateLlama3:
		b.WriteString(c.bos)
		if c.dated || system != "" {
			b.WriteString("<|start_header_id|>system<|end_header_id|>\n\n")
			if c.dated {
				b.WriteString(llama31DateHeader)
			}
			b.WriteString(pyStrip(system) + "<|eot_id|>")
		}
		b.WriteString("<|start_header_id|>user<|end_header_id|>")
	}
	return b.String()
}

// middle is the user turn's text between the special tokens around it.
func (c *Chat) middle(user string) string {
	if c.name == TemplateLlama3 {
		return "\n\n" + pyStrip(user)
	}
	return "user\n" + user
}

const maxCachedPrefixes = 32

func (c *Chat) prefix(system string) ([]int, error) {
	c.mu.Lock()
	ids, ok := c.prefixIDs[system]
	c.mu.Unlock()
	if ok {
		return ids, nil
	}
	ids, err := c.tok.Encode(c.prefixText(system))
	if err != nil {
		return nil, fmt.Errorf("encode system turn: %w", err)
	}
	c.mu.Lock()
	if len(c.prefixIDs) >= maxCachedPrefixes {
		clear(c.prefixIDs)
	}
	c.prefixIDs[system] = ids
	c.mu.Unlock()
	return ids, nil
}

// pyStrip is Jinja's trim filter: Python's str.strip(), whose white space is
// Unicode White_Space plus the separators U+001C..U+001F.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1C && r <= 0x1F)
	})
}
