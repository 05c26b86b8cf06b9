package chattemplate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func realTemplate(t *testing.T, name string) *Template {
	t.Helper()
	var sources map[string]templateSource
	readJSON(t, "testdata/templates.json", &sources)
	src, err := os.ReadFile(filepath.Join("templates", name+".jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := Parse(name, string(src), sources[name].BOS, sources[name].EOS)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl.WithClock(func() time.Time { return goldenNow })
}

// TestTurn checks the split prompt against the golden renderings, and what
// each template writes by default and around an answer.
func TestTurn(t *testing.T) {
	var cases []testCase
	readJSON(t, "testdata/cases.json", &cases)
	tests := []struct {
		name, defaultSystem string
		strip               bool
		lead, tail          string
	}{
		{"qwen2", "You are a helpful assistant.", false, "", "<|im_end|>\n"},
		{"qwen2.5", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.", false, "", "<|im_end|>\n"},
		{"qwen3", "", false, "", "<|im_end|>\n"},
		{"llama3", "", true, "", "<|eot_id|>"},
		{"llama3.1", "", true, "", "<|eot_id|>"},
		{"llama3.2", "", true, "", "<|eot_id|>"},
		{"gemma2", "", true, "", "<end_of_turn>\n"},
		{"gemma3", "", true, "", "<end_of_turn>\n"},
		{"deepseek-v3", "", false, "", "<｜end▁of▁sentence｜>"},
		{"deepseek-r1-distill-qwen", "", false, "", "<｜end▁of▁sentence｜>"},
		{"mistral-v0.3", "", false, " ", "</s>"}, // its answer is trimmed, its user text not
		{"glm4-0414", "", false, "", ""},
		{"yi-1.5", "", false, "", "<|im_end|>\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := realTemplate(t, tt.name)
			var golden struct{ Cases []goldenCase }
			readJSON(t, filepath.Join("testdata", "golden", tt.name+".json"), &golden)
			for i, c := range cases {
				want := golden.Cases[i]
				if !c.AddGenerationPrompt || want.Output == nil {
					continue
				}
				system := ""
				if c.Messages[0].Role == "system" {
					system = c.Messages[0].Content
				}
				turn, err := tmpl.Turn(system)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				if turn.Strip != tt.strip {
					t.Errorf("%s: Strip = %v", c.Name, turn.Strip)
				}
				got, wantText := turn.Text(c.Messages[len(c.Messages)-1].Content), *want.Output
				if strings.HasSuffix(wantText, "<think>\n") {
					wantText += "\n</think>\n\n" // the think block Turn closes
				}
				if got != wantText {
					t.Errorf("%s:\n got %q\nwant %q", c.Name, got, wantText)
				}
			}
			if got := tmpl.DefaultSystem(); got != tt.defaultSystem {
				t.Errorf("DefaultSystem = %q, want %q", got, tt.defaultSystem)
			}
			a, err := tmpl.Answer()
			if err != nil {
				t.Fatal(err)
			}
			if a.Lead != tt.lead || a.Tail != tt.tail || a.Strip != (tt.strip || tt.lead == " ") {
				t.Errorf("Answer = %+v, want lead %q tail %q strip %v", a, tt.lead, tt.tail, tt.strip)
			}
		})
	}
}

func TestTurnErrors(t *testing.T) {
	tests := []struct{ source, system, want string }{
		{"{{ 'no user text' }}", "", "does not write the user's message exactly once"},
		{"{% for m in messages %}{{ m.content }}{{ m.content }}{% endfor %}", "", "exactly once"},
		{"{% for m in messages %}{{ m.content | upper }}{% endfor %}", "", "does not write the user's message"},
		{"{% for m in messages %}{{ m.content.replace('\"', '') }}{% endfor %}", "", "changes the user's message"},
		{"{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}", "be brief", "System role not supported"},
	}
	for _, tt := range tests {
		tmpl, err := Parse("t", tt.source, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmpl.Turn(tt.system); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.source, err, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	own := "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
	file := filepath.Join(t.TempDir(), "mine.jinja")
	os.WriteFile(file, []byte("[{{ messages[-1].content }}]"), 0o644)
	tests := []struct {
		spec, own, name, text string
	}{
		{"", own, Own, "<user>hi"},
		{"model", own, Own, "<user>hi"},
		{"raw", own, Raw, "hi"},
		{"chatml", "", "chatml", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"},
		{"qwen3", "", "qwen3", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"},
		{"deepseek-r1", "", "deepseek-r1", "<s><｜User｜>hi<｜Assistant｜><think>\n\n</think>\n\n"},
		{file, own, file, "[hi]"},
	}
	for _, tt := range tests {
		tmpl, err := Resolve(tt.spec, tt.own, "<s>", "</s>")
		if err != nil {
			t.Fatalf("%q: %v", tt.spec, err)
		}
		turn, err := tmpl.Turn("")
		if err != nil {
			t.Fatalf("%q: %v", tt.spec, err)
		}
		if tmpl.Name() != tt.name || turn.Text("hi") != tt.text {
			t.Errorf("%q: %s %q, want %s %q", tt.spec, tmpl.Name(), turn.Text("hi"), tt.name, tt.text)
		}
	}
	for _, name := range Names() {
		if _, err := Named(name, "<s>", "</s>"); err != nil {
			t.Errorf("built-in %s: %v", name, err)
		}
	}
	if tmpl, err := Resolve("", "", "", ""); tmpl != nil || err != nil {
		t.Errorf("no template of its own: %v, %v", tmpl, err)
	}
	for spec, want := range map[string]string{"chatlm": `unknown chat template "chatlm" (built-in: chatml, deepseek-r1`, "/no/such.jinja": "no such file", "model": "no chat template of its own"} {
		if _, err := Resolve(spec, "", "", ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q) error %v, want %q", spec, err, want)
		}
	}
}
