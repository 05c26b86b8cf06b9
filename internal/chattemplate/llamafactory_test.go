package chattemplate

import "testing"

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
