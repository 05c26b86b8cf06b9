package chattemplate

import "testing"

// LLaMA-Factory's qwen template writes Qwen2.5's system prompt when a record has none; --template
// qwen must too, so an adapter trained with it scores with the prompt it was trained on.
func TestQwenIsLlamaFactorysQwen(t *testing.T) {
	for name, want := range map[string]string{
		"qwen":   "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
		"chatml": "You are a helpful assistant.",
	} {
		tpl, err := Named(name, "", "<|im_end|>")
		if err != nil {
			t.Fatal(err)
		}
		if got := tpl.DefaultSystem(); got != want {
			t.Errorf("%s: default system %q, want %q", name, got, want)
		}
	}
	if _, err := Named("deepseek3", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"); err != nil {
		t.Error(err)
	}
}
