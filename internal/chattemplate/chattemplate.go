// Package chattemplate renders a model's own Jinja chat template (the
// chat_template of tokenizer_config.json, or chat_template.jinja) exactly as
// transformers' apply_chat_template does, and splits a single-turn prompt
// around the user's text so that callers can tokenize it piecewise.
//
// Engine: github.com/ardanlabs/jinja v1.8.0. It is written for Hugging Face chat
// templates (the Python string/dict methods they call: strip, split, startswith,
// get, items; namespace, loop.*, slicing, tojson, raise_exception,
// strftime_now), has no dependencies and compiles once for concurrent renders.
// github.com/nikolalohinski/gonja/v2 (the other Go Jinja on the proxy) is a
// general Jinja2 port: it brings logrus, json-iterator, pkg/errors and
// golang.org/x/exp into the build and offers none of the chat-template helpers
// itself. Newer ardanlabs/jinja releases need a newer Go than the project's.
// Every template in templates/ is checked byte for byte against
// @huggingface/jinja (testdata/golden, scripts/chattemplate-goldens.mjs).
package chattemplate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Template is a compiled chat template with the special tokens it may write.
// It is safe for concurrent use.
type Template struct {
	name     string
	source   string
	bos, eos string
	compiled *jinja.Template
	// now is strftime_now's clock (Llama-3.2 writes today's date); tests fix it.
	now func() time.Time
}

// Parse compiles a template's source. name says where it came from (a built-in
// name, "model" or a file path); bos and eos are the model's bos_token and
// eos_token, which templates may write.
func Parse(name, source, bos, eos string) (*Template, error) {
	if strings.TrimSpace(source) == "" {
		return nil, fmt.Errorf("chat template %s is empty", name)
	}
	normalized, err := applyWhitespaceControl(source)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, err)
	}
	compiled, err := jinja.Compile(normalized)
	if err != nil {
		return nil, fmt.Errorf("chat template %s: %w", name, err)
	}
	return &Template{name: name, source: source, bos: bos, eos: eos, compiled: compiled, now: time.Now}, nil
}

// Name is where the template came from: a built-in name, "model" for the
// model folder's own template, or the file it was read from.
func (t *Template) Name() string { return t.name }

// Source is the template's Jinja text.
func (t *Template) Source() string { return t.source }

// SHA256 is the hex SHA-256 of Source: sentitune.json records it so that
// scoring can tell it renders prompts as training did.
func (t *Template) SHA256() string {
	sum := sha256.Sum256([]byte(t.source))
	return hex.EncodeToString(sum[:])
}

// EOS is the model's eos_token as the template sees it ("" when none).
func (t *Template) EOS() string { return t.eos }

// ReadsClock reports whether the template calls strftime_now (Llama-3.2's
// "Today Date"), so that its prompts depend on the day they are rendered.
func (t *Template) ReadsClock() bool { return strings.Contains(t.source, "strftime_now") }

// Now is the time strftime_now reports.
func (t *Template) Now() time.Time { return t.now() }

// WithClock returns a copy whose strftime_now reads now instead of the wall clock.
func (t *Template) WithClock(now func() time.Time) *Template {
	c := *t
	c.now = now
	return &c
}

// Render renders a conversation, with transformers' variables: messages,
// add_generation_prompt, bos_token, eos_token, and enable_thinking=false so
// Qwen3 writes its empty think block and the answer comes right after it.
func (t *Template) Render(messages []Message, addGenerationPrompt bool) (string, error) {
	msgs := make([]jinja.Value, len(messages))
	for i, m := range messages {
		d := jinja.NewDict()
		d.AsDict().Set("role", jinja.NewString(m.Role)) // role first, as Python's dict literal orders it
		d.AsDict().Set("content", jinja.NewString(m.Content))
		msgs[i] = d
	}
	out, err := t.compiled.RenderValues(map[string]jinja.Value{
		"messages":              jinja.NewList(msgs),
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		"enable_thinking":       jinja.NewBool(false),
		"bos_token":             jinja.NewString(t.bos),
		"eos_token":             jinja.NewString(t.eos),
		"strftime_now":          jinja.NewCallable("strftime_now", t.strftimeNow),
	})
	if err != nil {
		return "", fmt.Errorf("render chat template %s: %w", t.name, err)
	}
	return out, nil
}

func (t *Template) strftimeNow(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) != 1 || !args[0].IsString() {
		return jinja.Undefined(), fmt.Errorf("strftime_now: want one format string")
	}
	return jinja.NewString(strftime(t.now(), args[0].AsString())), nil
}
