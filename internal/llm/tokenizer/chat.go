package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sentitune/sentitune/internal/chattemplate"
)

// Chat renders a single-turn prompt (optional system turn, one user turn, the
// assistant generation prompt) with the model's own Jinja chat template, or
// the one --template names, and encodes it.
//
// A LLaMA-Factory alpaca record becomes the user turn instruction + "\n" + input
// (just instruction when input is empty); callers build that string.
type Chat struct {
	tok           *Tokenizer
	tmpl          *chattemplate.Template
	defaultSystem string
	answer        chattemplate.Answer
	answerEnd     string // Answer.Tail up to and including its first added token; "" when it has none
	eot           string
	eotID         int

	mu    sync.Mutex
	turns map[string]*turn // by system prompt
}

// turn is a rendered prompt split around the user's text, with the ids of its
// fixed ends: head is Before up to its last added token, tail After from its first.
type turn struct {
	chattemplate.Turn
	headLen, tailAt  int
	headIDs, tailIDs []int
}

// newChat builds the chat of the model's own template; without one it falls
// back on ChatML or Llama-3 when the tokenizer has their tokens (nil otherwise).
func newChat(t *Tokenizer, source, bos string) (*Chat, error) {
	eos := t.tokenText(t.eos)
	tmpl, err := chattemplate.Resolve("", source, bos, eos)
	if err != nil {
		return nil, err
	}
	if tmpl == nil {
		switch {
		case t.hasAdded("<|im_start|>"):
			tmpl, err = chattemplate.Named("chatml", bos, eos)
		case t.hasAdded("<|start_header_id|>"):
			if bos == "" {
				bos = "<|begin_of_text|>"
			}
			tmpl, err = chattemplate.Named("llama3", bos, eos)
		default:
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	return chatOf(t, tmpl)
}

// WithTemplate returns a copy of t whose chat renders the template spec names:
// "" or "model" (the model's own), a built-in name (chattemplate.Names), or a
// .jinja file.
func (t *Tokenizer) WithTemplate(spec string) (*Tokenizer, error) {
	if spec == "" {
		return t, nil
	}
	own := ""
	if t.chat != nil && t.chat.tmpl.Name() == chattemplate.Own {
		own = t.chat.tmpl.Source()
	}
	tmpl, err := chattemplate.Resolve(spec, own, t.tokenText(t.bos), t.tokenText(t.eos))
	if err != nil {
		return nil, err
	}
	c := *t
	if c.chat, err = chatOf(&c, tmpl); err != nil {
		return nil, err
	}
	return &c, nil
}

func chatOf(t *Tokenizer, tmpl *chattemplate.Template) (*Chat, error) {
	// One date for every prompt of a run (Llama-3.2 writes today's), even past midnight.
	now := tmpl.Now()
	tmpl = tmpl.WithClock(func() time.Time { return now })
	c := &Chat{tok: t, tmpl: tmpl, turns: map[string]*turn{}}
	if _, err := c.turn(""); err != nil {
		return nil, err
	}
	var err error
	if c.answer, err = tmpl.Answer(); err != nil {
		return nil, err
	}
	start, end, tok := t.firstAdded(c.answer.Tail)
	switch {
	case tok != nil:
		c.answerEnd, c.eot = c.answer.Tail[:end], c.answer.Tail[start:end]
	case strings.TrimSpace(c.answer.Tail) != "":
		return nil, fmt.Errorf("chat template %s ends an answer with %q, which holds no token of tokenizer.json", tmpl.Name(), c.answer.Tail)
	case t.eos < 0:
		return nil, fmt.Errorf("chat template %s writes nothing after an answer, and the tokenizer has no eos_token to end it", tmpl.Name())
	default:
		c.eot = tmpl.EOS() // GLM-4: the next turn's token ends it
	}
	id, ok := t.added[c.eot]
	if !ok {
		return nil, fmt.Errorf("chat template %s: an answer ends with %q, which is not an added token of tokenizer.json", tmpl.Name(), c.eot)
	}
	c.eotID = id
	c.defaultSystem = tmpl.DefaultSystem()
	return c, nil
}

// WithTemplateDate returns a copy of t whose chat template's strftime_now
// reports day: scoring renders the date training rendered (sentitune.json's template_date).
func (t *Tokenizer) WithTemplateDate(day time.Time) (*Tokenizer, error) {
	if t.chat == nil {
		return t, nil
	}
	c := *t
	var err error
	if c.chat, err = chatOf(&c, t.chat.tmpl.WithClock(func() time.Time { return day })); err != nil {
		return nil, err
	}
	return &c, nil
}

// Name is where the template came from: "model" for the model's own, a
// built-in name ("chatml", "qwen3", "raw", ...) or a file.
func (c *Chat) Name() string { return c.tmpl.Name() }

// Template is the chat template itself.
func (c *Chat) Template() *chattemplate.Template { return c.tmpl }

// DefaultSystem is the system prompt the template writes when none is given:
// Qwen2.5's "You are Qwen, created by Alibaba Cloud. You are a helpful
// assistant.", Qwen2's "You are a helpful assistant.", "" for most others.
func (c *Chat) DefaultSystem() string { return c.defaultSystem }

// EndOfTurn is the token that ends an assistant answer: "<|im_end|>",
// "<|eot_id|>", or the eos_token when the template writes none (GLM-4).
func (c *Chat) EndOfTurn() string { return c.eot }

// EndOfTurnID is the id of EndOfTurn().
func (c *Chat) EndOfTurnID() int { return c.eotID }

// Prompt is the text of a conversation with an optional system turn ("" for
// none: the template writes its default) and one user turn, up to and
// including the assistant generation prompt.
func (c *Chat) Prompt(system, user string) (string, error) {
	p, err := c.turn(system)
	if err != nil {
		return "", err
	}
	return p.Text(user), nil
}

// EncodePrompt returns the ids of Prompt(system, user).
func (c *Chat) EncodePrompt(system, user string) ([]int, error) {
	p, err := c.checkedTurn(system, user)
	if err != nil {
		return nil, err
	}
	return p.encode(c.tok, user, false), nil
}

// EncodePromptPlain is EncodePrompt with special tokens inside the user text
// encoded as plain text (Tokenizer.EncodePlain); the template's own stay
// special. The text between the template's last added token before the user
// text and its first after is encoded as one piece, as Encode would.
func (c *Chat) EncodePromptPlain(system, user string) ([]int, error) {
	p, err := c.checkedTurn(system, user)
	if err != nil {
		return nil, err
	}
	return p.encode(c.tok, user, true), nil
}

// encode returns the ids of the prompt for user: the cached ids of the
// template's ends and the text between them, which starts the whole text only
// when head is empty (Metaspace's prepend_scheme "first" marks that start alone).
func (p *turn) encode(t *Tokenizer, user string, plain bool) []int {
	if p.Strip {
		user = chattemplate.PyStrip(user)
	}
	raw, normd := t.rawAdded, t.normAdded
	if plain {
		raw, normd = t.rawOrdinary, t.normOrdinary
	}
	ids := make([]int, 0, len(p.headIDs)+len(user)/3+len(p.tailIDs)+8)
	ids = append(ids, p.headIDs...)
	text, atStart := p.Before[p.headLen:]+user+p.After[:p.tailAt], p.headLen == 0
	for from := 0; ; {
		a, b, tok := raw.find(text, from)
		if tok == nil {
			ids = t.appendSegment(ids, text[from:], atStart && from == 0, normd)
			break
		}
		ids = t.appendSegment(ids, text[from:a], atStart && from == 0, normd)
		ids = append(ids, tok.ID)
		from = b
	}
	return append(ids, p.tailIDs...)
}

func (c *Chat) checkedTurn(system, user string) (*turn, error) {
	if !utf8.ValidString(user) {
		return nil, fmt.Errorf("encode prompt: user text is not valid UTF-8 (bad byte at offset %d)", invalidOffset(user))
	}
	if !utf8.ValidString(system) {
		return nil, fmt.Errorf("encode prompt: system prompt is not valid UTF-8 (bad byte at offset %d)", invalidOffset(system))
	}
	return c.turn(system)
}

// EncodeAnswer returns the ids of an assistant answer as the template writes
// it, up to and including the end of turn, e.g. "1" → [16, 151645] for Qwen.
// It is encoded on its own, as LLaMA-Factory encodes prompt and response
// separately. Templates that trim message content (Llama-3, Gemma) trim the answer.
func (c *Chat) EncodeAnswer(answer string) ([]int, error) {
	if c.answer.Strip {
		answer = chattemplate.PyStrip(answer)
	}
	ids, err := c.tok.Encode(c.answer.Lead + answer + c.answerEnd)
	if err != nil || c.answerEnd != "" {
		return ids, err
	}
	return append(ids, c.eotID), nil
}

const maxCachedTurns = 32

// turn renders the template for a system prompt once and keeps the split.
func (c *Chat) turn(system string) (*turn, error) {
	c.mu.Lock()
	p, ok := c.turns[system]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	rendered, err := c.tmpl.Turn(system)
	if err != nil {
		return nil, err
	}
	p = &turn{Turn: rendered, tailAt: len(rendered.After)}
	if _, end, tok := c.tok.lastAdded(rendered.Before); tok != nil {
		p.headLen = end
	}
	if start, _, tok := c.tok.firstAdded(rendered.After); tok != nil {
		p.tailAt = start
	}
	if p.headIDs, err = c.tok.Encode(rendered.Before[:p.headLen]); err != nil {
		return nil, fmt.Errorf("encode system turn: %w", err)
	}
	if p.tailIDs, err = c.tok.Encode(rendered.After[p.tailAt:]); err != nil {
		return nil, fmt.Errorf("encode generation prompt: %w", err)
	}
	c.mu.Lock()
	if len(c.turns) >= maxCachedTurns {
		clear(c.turns)
	}
	c.turns[system] = p
	c.mu.Unlock()
	return p, nil
}

// firstAdded finds the first added token in s (raw or normalized).
func (t *Tokenizer) firstAdded(s string) (start, end int, tok *addedToken) {
	start, end, tok = t.rawAdded.find(s, 0)
	if s2, e2, tok2 := t.normAdded.find(s, 0); tok2 != nil && (tok == nil || s2 < start) {
		start, end, tok = s2, e2, tok2
	}
	return start, end, tok
}

// lastAdded finds the last added token in s.
func (t *Tokenizer) lastAdded(s string) (start, end int, tok *addedToken) {
	for from := 0; ; {
		a, b, found := t.firstAdded(s[from:])
		if found == nil {
			return start, end, tok
		}
		start, end, tok = from+a, from+b, found
		from += b
		if b == 0 {
			return start, end, tok
		}
	}
}

func (t *Tokenizer) hasAdded(s string) bool { _, ok := t.added[s]; return ok }

// tokenText is the text of token id, "" for none (-1).
func (t *Tokenizer) tokenText(id int) string {
	if id < 0 || id >= len(t.idToken) {
		return ""
	}
	return t.idToken[id]
}
