package predict

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/chattemplate"
)

// TestAdapterTemplate: scoring renders prompts with the template the adapter
// recorded, and refuses another one.
func TestAdapterTemplate(t *testing.T) {
	qwen3, err := chattemplate.Named("qwen3", "", "")
	if err != nil {
		t.Fatal(err)
	}
	meta := tinyMeta(t, "Positive (1) or negative (0)?")
	meta.ChatTemplate, meta.Template, meta.TemplateSHA256 = "qwen3", "qwen3", qwen3.SHA256()
	ad := makeAdapter(t, tinyModel(t), meta)

	sc := newTinyScorer(t, ScorerConfig{AdapterDir: ad})
	if name := sc.tok.Chat().Name(); name != "qwen3" {
		t.Fatalf("scored with the %s template, want the adapter's qwen3", name)
	}
	ids, err := sc.Encode("Great value.")
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := sc.tok.Decode(ids); !strings.HasSuffix(text, "<|im_start|>assistant\n<think>\n\n</think>\n\n") {
		t.Fatalf("prompt %q does not end in Qwen3's empty think block", text)
	}
	// The model's own template (Qwen2.5's) is not the one training used.
	_, err = NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: ad, Device: "cpu", Template: "model"})
	if err == nil || !strings.Contains(err.Error(), "trained with another chat template (qwen3") {
		t.Fatalf("--template model over a qwen3 adapter: %v", err)
	}
	if _, err := NewScorer(ScorerConfig{ModelDir: tinyModel(t), Device: "cpu", Template: "nosuch"}); err == nil || !strings.Contains(err.Error(), `--template: unknown chat template "nosuch"`) {
		t.Fatalf("unknown --template: %v", err)
	}
}

// TestAdapterTemplateDate: a template that writes today's date (Llama-3.2) is
// scored with the day training rendered, which sentitune.json records.
func TestAdapterTemplateDate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dated.jinja")
	src := "{{ 'Today Date: ' + strftime_now('%d %b %Y') + '\\n' }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := chattemplate.Parse(file, src, "", "")
	if err != nil {
		t.Fatal(err)
	}
	meta := tinyMeta(t, "Positive (1) or negative (0)?")
	meta.ChatTemplate, meta.Template, meta.TemplateSHA256, meta.TemplateDate = file, file, tmpl.SHA256(), "2020-01-02"
	sc := newTinyScorer(t, ScorerConfig{AdapterDir: makeAdapter(t, tinyModel(t), meta)})
	ids, err := sc.Encode("Great value.")
	if err != nil {
		t.Fatal(err)
	}
	if text, _ := sc.tok.Decode(ids); !strings.HasPrefix(text, "Today Date: 02 Jan 2020\n<|im_start|>") {
		t.Fatalf("prompt %q is not dated as training was", text)
	}
}
