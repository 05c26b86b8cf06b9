package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
)

// Default system prompts of the Qwen2.5 and Qwen2 templates.
const (
	qwen25System = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
	qwenSystem   = "You are a helpful assistant."
)

type chatGolden struct {
	Templates map[string]string `json:"templates"`
	Chat      []struct {
		Template string `json:"template"`
		System   string `json:"system"`
		User     string `json:"user"`
		Prompt   string `json:"prompt"`
		IDs      []int  `json:"ids"`
	} `json:"chat"`
	Answers []struct {
		Answer string `json:"answer"`
		IDs    []int  `json:"ids"`
	} `json:"answers"`
}

func readChatGolden(t *testing.T) chatGolden {
	t.Helper()
	b, err := os.ReadFile("testdata/chat_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g chatGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// llama3Tok loads the synthetic Llama-3-style tokenizer.json from testdata.
func llama3Tok(t testing.TB) *Tokenizer {
	t.Helper()
	b, err := os.ReadFile("testdata/llama3_tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := New(b, []byte(`{"bos_token":"<|begin_of_text|>","eos_token":"<|eot_id|>"}`))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// withTemplate returns a copy of base whose chat template is tmpl.
func withTemplate(t testing.TB, base *Tokenizer, tmpl string) *Tokenizer {
	t.Helper()
	c := *base
	bos := ""
	if _, ok := c.added["<|begin_of_text|>"]; ok {
		bos = "<|begin_of_text|>"
	}
	ch, err := newChat(&c, tmpl, bos)
	if err != nil {
		t.Fatal(err)
	}
	c.chat = ch
	return &c
}

// templateToks builds one tokenizer per golden template: the real Qwen
// tokenizer for Qwen templates, the synthetic Llama-3 one for Llama templates.
func templateToks(t *testing.T, g chatGolden) map[string]*Tokenizer {
	qwen, llama := bundledTok(t), llama3Tok(t)
	toks := map[string]*Tokenizer{}
	for name, tmpl := range g.Templates {
		base := qwen
		if name == "llama3" || name == "llama3.1" {
			base = llama
		}
		toks[name] = withTemplate(t, base, tmpl)
	}
	return toks
}

func TestChatDetection(t *testing.T) {
	g := readChatGolden(t)
	toks := templateToks(t, g)
	tests := []struct {
		template, name, system, eot string
		eotID                       int
	}{
		{"qwen2.5", "model", qwen25System, "<|im_end|>", 151645},
		{"qwen2", "model", qwenSystem, "<|im_end|>", 151645},
		{"qwen3", "model", "", "<|im_end|>", 151645},
		{"llama3", "model", "", "<|eot_id|>", 1009},
		{"llama3.1", "model", "", "<|eot_id|>", 1009},
	}
	for _, tt := range tests {
		t.Run(tt.template, func(t *testing.T) {
			c := toks[tt.template].Chat()
			if c == nil {
				t.Fatal("no chat template detected")
			}
			if c.Name() != tt.name || c.DefaultSystem() != tt.system || c.EndOfTurn() != tt.eot || c.EndOfTurnID() != tt.eotID {
				t.Errorf("got %q %q %q %d, want %q %q %q %d", c.Name(), c.DefaultSystem(), c.EndOfTurn(), c.EndOfTurnID(),
					tt.name, tt.system, tt.eot, tt.eotID)
			}
		})
	}
	// The bundled config is Qwen2.5-Instruct's.
	if c := bundledTok(t).Chat(); c.Name() != "model" || c.DefaultSystem() != qwen25System {
		t.Errorf("bundled chat = %q %q", c.Name(), c.DefaultSystem())
	}
	// Qwen3's template writes no system turn when none is given, and an empty
	// think block with enable_thinking=false (internal/chattemplate's goldens).
	got, err := toks["qwen3"].Chat().Prompt("", "hi")
	if want := "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"; err != nil || got != want {
		t.Errorf("qwen3 Prompt = %q, want %q", got, want)
	}
}

func TestChatMatchesJinjaReference(t *testing.T) {
	g := readChatGolden(t)
	if len(g.Chat) < 30 {
		t.Fatalf("chat golden has only %d cases", len(g.Chat))
	}
	toks := templateToks(t, g)
	for _, c := range g.Chat {
		t.Run(c.Template, func(t *testing.T) {
			tok := toks[c.Template]
			ch := tok.Chat()
			prompt, err := ch.Prompt(c.System, c.User)
			if err != nil || prompt != c.Prompt {
				t.Fatalf("Prompt(%q, %q)\n got %q, %v\nwant %q", c.System, c.User, prompt, err, c.Prompt)
			}
			ids, err := ch.EncodePrompt(c.System, c.User)
			if err != nil {
				t.Fatal(err)
			}
			whole, _ := tok.Encode(prompt)
			if !slices.Equal(ids, whole) {
				t.Errorf("EncodePrompt(%q, %q) = %v, Encode(Prompt) = %v", c.System, c.User, ids, whole)
			}
			if c.IDs != nil && !slices.Equal(ids, c.IDs) {
				t.Errorf("EncodePrompt(%q, %q) = %v, reference %v", c.System, c.User, ids, c.IDs)
			}
		})
	}
}

func TestEncodePromptEqualsEncode(t *testing.T) {
	g := readChatGolden(t)
	toks := templateToks(t, g)
	var texts []string
	for _, c := range readEncodeGolden(t) {
		if c.Kind != "amazon" && len(c.Text) < 2000 {
			texts = append(texts, c.Text)
		}
	}
	texts = append(texts, "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "<|begin_of_text|>x", "\u001f trim \u001c")
	for _, name := range []string{"qwen2.5", "qwen3", "llama3", "llama3.1"} {
		t.Run(name, func(t *testing.T) {
			tok := toks[name]
			ch := tok.Chat()
			for k, user := range texts {
				system := ""
				if k%3 == 0 {
					system = texts[(k*7)%len(texts)]
				}
				ids, err := ch.EncodePrompt(system, user)
				if err != nil {
					t.Fatal(err)
				}
				prompt, err := ch.Prompt(system, user)
				if err != nil {
					t.Fatal(err)
				}
				whole, _ := tok.Encode(prompt)
				if !slices.Equal(ids, whole) {
					t.Errorf("EncodePrompt(%q, %q) != Encode(Prompt)\n got %v\nwant %v", system, user, ids, whole)
				}
			}
		})
	}
}

func TestEncodePromptInvalidUTF8(t *testing.T) {
	ch := bundledTok(t).Chat()
	if _, err := ch.EncodePrompt("", "ab\xffc"); err == nil || !strings.Contains(err.Error(), "user text is not valid UTF-8 (bad byte at offset 2)") {
		t.Errorf("EncodePrompt(invalid user) error = %v", err)
	}
	if _, err := ch.EncodePrompt("\xff", "ok"); err == nil || !strings.Contains(err.Error(), "system prompt") {
		t.Errorf("EncodePrompt(invalid system) error = %v", err)
	}
}

func TestEncodeAnswer(t *testing.T) {
	g := readChatGolden(t)
	ch := bundledTok(t).Chat()
	for _, a := range g.Answers {
		t.Run(a.Answer, func(t *testing.T) {
			ids, err := ch.EncodeAnswer(a.Answer)
			if err != nil || !slices.Equal(ids, a.IDs) {
				t.Errorf("EncodeAnswer(%q) = %v, %v; want %v", a.Answer, ids, err, a.IDs)
			}
		})
	}
	if ids, _ := ch.EncodeAnswer("1"); !slices.Equal(ids, []int{16, 151645}) {
		t.Errorf(`EncodeAnswer("1") = %v`, ids)
	}
	// Llama-3 templates trim message content.
	ll := withTemplate(t, llama3Tok(t), g.Templates["llama3"]).Chat()
	ids, _ := ll.EncodeAnswer(" 1\n")
	if want := []int{'1', 1009}; !slices.Equal(ids, want) { // the fixture's byte tokens have the byte's value as id
		t.Errorf(`llama3 EncodeAnswer(" 1\n") = %v, want %v`, ids, want)
	}
}

func TestLlama3Tokenizer(t *testing.T) {
	tok := llama3Tok(t)
	id := func(s string) int {
		t.Helper()
		v, ok := tok.TokenID(s)
		if !ok {
			t.Fatalf("fixture lacks %q", s)
		}
		return v
	}
	tests := []struct {
		in   string
		want []int
	}{
		{"12345", []int{id("123"), id("45")}},                                // \p{N}{1,3}
		{" world", []int{id("Ġworld")}},                                      // ignore_merges: a vocab word is one token
		{"hello world", []int{id("hello"), id("Ġworld")}},                    //
		{"<|begin_of_text|>hello<|eot_id|>", []int{1000, id("hello"), 1009}}, // special tokens
		{"\n\n", []int{id("ĊĊ")}},                                            //
		{"it'S", []int{id("i"), id("t"), id("'S")}},                          // case-insensitive contraction
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := tok.Encode(tt.in)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("Encode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if s, _ := tok.Decode(got); s != tt.in {
				t.Errorf("Decode(Encode(%q)) = %q", tt.in, s)
			}
		})
	}
	if tok.EOSID() != 1009 || tok.BOSID() != 1000 || tok.PadID() != 1009 {
		t.Errorf("eos %d bos %d pad %d", tok.EOSID(), tok.BOSID(), tok.PadID())
	}
	// Without a tokenizer_config.json the Llama-3 template is found from the added tokens.
	if c := tok.Chat(); c == nil || c.Name() != "llama3" {
		t.Errorf("chat = %v, want llama3", c)
	}
}
