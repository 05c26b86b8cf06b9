package chattemplate

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// templates holds real models' published chat templates (sources in testdata/templates.json).
//
//go:embed templates/*.jinja
var templates embed.FS

// Own is the name of a model folder's own template.
const Own = "model"

// Raw is the --template name for base models: the messages' texts one after
// another, no markup (the system prompt, if any, then "\n\n").
const Raw = "raw"

const rawSource = "{% for message in messages %}{% if not loop.first %}{{ '\\n\\n' }}{% endif %}{{ message['content'] }}{% endfor %}"

// builtin maps each --template name to the model whose template it is.
var builtin = map[string]string{
	"chatml":      "qwen2",   // <|im_start|>, "You are a helpful assistant." by default
	"qwen":        "qwen2.5", // ChatML, "You are Qwen, created by Alibaba Cloud. ..." by default (LLaMA-Factory's qwen)
	"deepseek3":   "deepseek-v3",
	"llama3":      "llama3",
	"qwen3":       "qwen3",
	"mistral":     "mistral-v0.3",
	"gemma":       "gemma3",
	"glm4":        "glm4-0414",
	"deepseek-r1": "deepseek-r1-distill-qwen",
	"lf-default":  "llamafactory-default", // LLaMA-Factory's template: default ("Human: …<eos>\nAssistant:"), no model's own
}

// Names lists the built-in template names, raw included.
func Names() []string {
	names := []string{Raw}
	for n := range builtin {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Named returns a built-in template for a model with the given bos_token and eos_token.
func Named(name, bos, eos string) (*Template, error) {
	if name == Raw {
		return Parse(Raw, rawSource, bos, eos)
	}
	model, ok := builtin[name]
	if !ok {
		return nil, fmt.Errorf("unknown chat template %q (built-in: %s; or a .jinja file)", name, strings.Join(Names(), ", "))
	}
	src, err := fs.ReadFile(templates, "templates/"+model+".jinja")
	if err != nil {
		return nil, err
	}
	return Parse(name, string(src), bos, eos)
}

// Resolve returns the template --template spec names for a model: "" is the
// model's own (own, from its tokenizer_config.json or chat_template.jinja;
// nil when it has none), a built-in name, or a path to a Jinja file.
func Resolve(spec, own, bos, eos string) (*Template, error) {
	switch {
	case spec == "" && own == "":
		return nil, nil
	case spec == "" || spec == Own:
		if own == "" {
			return nil, errors.New("the model has no chat template of its own")
		}
		return Parse(Own, own, bos, eos)
	case spec == Raw || builtin[spec] != "":
		return Named(spec, bos, eos)
	case strings.ContainsRune(spec, filepath.Separator) || strings.HasSuffix(spec, ".jinja"):
		src, err := os.ReadFile(spec)
		if err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
		return Parse(spec, string(src), bos, eos)
	}
	return Named(spec, bos, eos) // unknown: its error lists the names
}
