package main

import (
	"strings"
	"testing"
)

// TestTemplateFlag: --template reaches the config of each command that renders prompts.
func TestTemplateFlag(t *testing.T) {
	ft, err := parseOptions(t, finetuneCommand(), finetuneOptionTable(), "--template", "qwen3")
	if err != nil || ft.Template != "qwen3" {
		t.Errorf("finetune: %q, %v", ft.Template, err)
	}
	pr, err := parseOptions(t, predictCommand(), predictOptionTable(), "--template", "raw")
	if err != nil || pr.Scorer.Template != "raw" {
		t.Errorf("predict: %q, %v", pr.Scorer.Template, err)
	}
	ev, err := parseOptions(t, evalCommand(), evalOptionTable(), "--template", "my.jinja")
	if err != nil || ev.Scorer.Template != "my.jinja" {
		t.Errorf("eval: %q, %v", ev.Scorer.Template, err)
	}
	sv, err := parseOptions(t, serveCommand(), serveOptionTable(), "--template", "gemma")
	if err != nil || sv.Scorer.Template != "gemma" {
		t.Errorf("serve: %q, %v", sv.Scorer.Template, err)
	}
	rn, err := parseOptions(t, runCommand(), runOptionTable(), "--template", "chatml")
	if err != nil || rn.Finetune.Template != "chatml" {
		t.Errorf("run: %q, %v", rn.Finetune.Template, err)
	}
	for _, name := range []string{"chatml", "llama3", "qwen3", "mistral", "gemma", "glm4", "deepseek-r1", "raw"} {
		if !strings.Contains(templateUsage, name) {
			t.Errorf("--template's usage does not name %s", name)
		}
	}
}
