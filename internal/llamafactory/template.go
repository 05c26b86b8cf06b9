package llamafactory

import (
	"fmt"
	"slices"
	"strings"
)

// lfTemplate is what one LLaMA-Factory template name is in sentitune, and how it differs from
// the model's own chat template when it does.
type lfTemplate struct {
	name string // sentitune's --template name
	note string // where LLaMA-Factory's prompt differs from the model's own template
}

// templates maps LLaMA-Factory's template: names to sentitune's --template names.
var templates = map[string]lfTemplate{
	"qwen": {"qwen", "LLaMA-Factory's qwen template always writes the system prompt \"You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\" " +
		"(Qwen2.5's own); Qwen1.5/Qwen2's own templates say \"You are a helpful assistant.\", so score an adapter trained with it with --template qwen"},
	"chatml":        {"chatml", "sentitune's chatml writes \"You are a helpful assistant.\" when a record has no system prompt; LLaMA-Factory's chatml writes none"},
	"qwen3":         {"qwen3", "rendered with enable_thinking=False (an empty think block before the answer)"},
	"qwen3_nothink": {"qwen3", "rendered with enable_thinking=False (an empty think block before the answer)"},
	"llama3":        {"llama3", "Llama-3's template: Llama-3.1/3.2's own add a \"Cutting Knowledge Date\" system header that LLaMA-Factory's llama3 does not, so score with --template llama3"},
	"mistral":       {"mistral", ""},
	"gemma":         {"gemma", ""},
	"gemma3":        {"gemma", ""},
	"glm4":          {"glm4", ""},
	"deepseek3":     {"deepseek3", ""},
	"deepseekr1":    {"deepseek-r1", ""},
	"empty": {"raw", "no markup, as LLaMA-Factory's empty; with a system prompt raw puts a blank line after it where empty puts nothing, " +
		"and sentitune ends a trained answer with the eos token (scoring reads the answer token alone)"},
	"default": {"lf-default", "LLaMA-Factory's own format, no model's: \"System: …<eos>\\nHuman: …<eos>\\nAssistant:\" (sentitune's lf-default)"},
}

// Template is sentitune's --template name for LLaMA-Factory's template: name, with a note where
// the two prompts differ; a template sentitune has no equivalent for is an error.
func Template(lf string) (name, note string, err error) {
	t, ok := templates[lf]
	if !ok || t.name == "" {
		return "", "", fmt.Errorf("template %q: no sentitune equivalent (LLaMA-Factory names it maps: %s); give the model's own template (omit template:) or a Jinja file", lf, strings.Join(TemplateNames(), ", "))
	}
	return t.name, t.note, nil
}

// TemplateNames lists the LLaMA-Factory template names that map to a sentitune template.
func TemplateNames() []string {
	var ns []string
	for n, t := range templates {
		if t.name != "" {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	return ns
}
