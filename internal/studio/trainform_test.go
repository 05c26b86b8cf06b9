package studio

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTrainFormOptions: the form's defaults are finetune's, so an untouched form adds no flags;
// the new groups carry quantization, checkpointing, labels and the template; a value a select
// does not offer is refused.
func TestTrainFormOptions(t *testing.T) {
	s := newTestServer(t, Config{})
	w := do(s, "GET", "/api/train/options", "localhost", nil, nil)
	var opts []trainOption
	if err := json.Unmarshal(w.Body.Bytes(), &opts); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	byFlag := map[string]trainOption{}
	form := map[string]string{}
	for _, o := range opts {
		byFlag[o.Flag] = o
		form[o.Flag] = o.Default
	}
	for flag, want := range map[string]string{"lr": "0.0001", "lora-target": "all", "epochs": "3", "quantization-bit": "0",
		"gradient-checkpointing": "auto", "template": "", "labels": "", "label-map": "", "load-best": "true", "seed": "42"} {
		if byFlag[flag].Default != want {
			t.Errorf("%s defaults to %q, want finetune's %q", flag, byFlag[flag].Default, want)
		}
	}
	if g := byFlag["quantization-bit"]; g.Group != "model" || strings.Join(g.Choices, ",") != "0,4,8" {
		t.Errorf("quantization-bit: %+v", g)
	}
	if g := byFlag["template"]; len(g.Choices) < 5 || g.Choices[0] != "" {
		t.Errorf("template choices %v: want the model's own first, then the built-ins", g.Choices)
	}
	args, y, err := FinetuneArgs("models/m", "data/d", "runs/r", false, form)
	if err != nil || commandLine(args) != "sentitune finetune --model models/m --data data/d --out runs/r" ||
		y != "model: models/m\ndata: data/d\nout: runs/r\n" {
		t.Errorf("untouched form: %q %q %v", commandLine(args), y, err)
	}
	form["quantization-bit"], form["gradient-checkpointing"], form["template"], form["labels"] = "4", "on", "qwen", "negative=0,neutral=1,positive=2"
	args, y, err = FinetuneArgs("Qwen/Qwen2.5-0.5B", "data/d", "runs/r", false, form)
	want := "sentitune finetune --model Qwen/Qwen2.5-0.5B --data data/d --out runs/r --template qwen --quantization-bit 4 " +
		"--labels 'negative=0,neutral=1,positive=2' --gradient-checkpointing on"
	if err != nil || commandLine(args) != want || !strings.Contains(y, "quantization-bit: 4\n") || !strings.Contains(y, "labels: negative=0,neutral=1,positive=2\n") {
		t.Errorf("command %q\nwant    %q\nyaml %s (%v)", commandLine(args), want, y, err)
	}
	form["quantization-bit"] = "3"
	if _, _, err := FinetuneArgs("m", "d", "r", false, form); err == nil || !strings.Contains(err.Error(), "quantization-bit") {
		t.Errorf("quantization-bit 3: %v", err)
	}
}
