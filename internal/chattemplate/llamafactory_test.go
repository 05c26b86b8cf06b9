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

// lf-default writes LLaMA-Factory's default template: "System: …<eos>\n", "Human: …<eos>\nAssistant:"
// and the answer followed by <eos>\n, with the generation prompt part of the user turn.
func TestLlamaFactoryDefault(t *testing.T) {
	tmpl, err := Named("lf-default", "<s>", "</s>")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render([]Message{{"system", "Be brief."}, {"user", "Rate it.\nGreat phone"}, {"assistant", "1"}}, false)
	if want := "System: Be brief.</s>\nHuman: Rate it.\nGreat phone</s>\nAssistant:1</s>\n"; err != nil || got != want {
		t.Errorf("Render = %q, %v\nwant %q", got, err, want)
	}
	turn, err := tmpl.Turn("")
	if err != nil {
		t.Fatal(err)
	}
	if got := turn.Text("Great phone"); got != "Human: Great phone</s>\nAssistant:" {
		t.Errorf("prompt without a system message = %q", got)
	}
	ans, err := tmpl.Answer()
	if err != nil || ans.Tail != "</s>\n" {
		t.Errorf("answer tail = %q, %v; want the eos token and a newline", ans.Tail, err)
	}
	if s := tmpl.DefaultSystem(); s != "" {
		t.Errorf("default system prompt %q, want none", s)
	}
}
