package tokenizer

import (
	"slices"
	"testing"
)

// TestChatOnModelTokenizers renders each built-in template with the tokenizer
// of a model that uses it: the prompt's ids are those of its text, the plain
// encoding (special tokens in the review kept as text) agrees on reviews with
// none, and the answer ends with the template's end of turn.
func TestChatOnModelTokenizers(t *testing.T) {
	tests := []struct {
		model, config, template, eot, answer string
	}{
		{"qwen3", `{"eos_token": "<|im_end|>"}`, "qwen3", "<|im_end|>", "1<|im_end|>"},
		{"llama3_1", `{"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}`, "llama3", "<|eot_id|>", "1<|eot_id|>"},
		{"gemma3", `{"bos_token": "<bos>", "eos_token": "<end_of_turn>"}`, "gemma", "<end_of_turn>", "1<end_of_turn>"},
		{"deepseek_v3", `{"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}`, "deepseek-r1", "<｜end▁of▁sentence｜>", "1<｜end▁of▁sentence｜>"},
		{"mistral-v0.1", `{"bos_token": "<s>", "eos_token": "</s>"}`, "mistral", "</s>", " 1</s>"},
		{"mistral-metaspace", `{"bos_token": "<s>", "eos_token": "</s>"}`, "mistral", "</s>", " 1</s>"},
	}
	reviews := []string{"Great value, would buy again.", "  质量很好，五星好评！ ", "Loved it 😍🔥\n\nten/10", "ok"}
	for _, tt := range tests {
		t.Run(tt.model+"/"+tt.template, func(t *testing.T) {
			base, err := New(modelTokenizerJSON(t, tt.model), []byte(tt.config))
			if err != nil {
				t.Fatal(err)
			}
			tok, err := base.WithTemplate(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			c := tok.Chat()
			if c.Name() != tt.template || c.EndOfTurn() != tt.eot {
				t.Fatalf("chat %s ends turns with %q", c.Name(), c.EndOfTurn())
			}
			for i, review := range reviews {
				system := ""
				if i%2 == 1 && tt.template != "gemma" {
					system = "Answer 1 or 0."
				}
				prompt, err := c.Prompt(system, review)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := tok.Encode(prompt)
				ids, err := c.EncodePrompt(system, review)
				if err != nil || !slices.Equal(ids, want) {
					t.Errorf("EncodePrompt(%q) = %v, %v; Encode(Prompt) = %v", review, ids, err, want)
				}
				plain, err := c.EncodePromptPlain(system, review)
				if err != nil || !slices.Equal(plain, want) {
					t.Errorf("EncodePromptPlain(%q)\n got %v\nwant %v", review, plain, want)
				}
			}
			got, err := c.EncodeAnswer("1")
			want, _ := tok.Encode(tt.answer)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("EncodeAnswer(1) = %v, %v; want the ids of %q, %v", got, err, tt.answer, want)
			}
		})
	}
}
