package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

// mergeConfig is what merge needs.
type mergeConfig struct {
	Model    string
	Adapter  string
	Out      string
	Template string
	// QuantizationBit merges onto the base quantized to these bits and dequantized; -1: as the adapter was trained.
	QuantizationBit int
}

func mergeOptionTable() *options[mergeConfig] {
	o := newOptions(mergeConfig{QuantizationBit: -1})
	o.str("model", "base model folder `DIR`, or ORG/NAME[@REV] from a hub cache", func(c *mergeConfig) *string { return &c.Model })
	o.str("adapter", "LoRA adapter folder (e.g. RUNDIR/adapter)", func(c *mergeConfig) *string { return &c.Adapter })
	o.str("out", "output folder (must not exist or be empty)", func(c *mergeConfig) *string { return &c.Out })
	o.str("template", "chat template written into the merged folder: `NAME|FILE` as finetune's --template (default: the one the adapter was trained with, "+
		"from its sentitune.json; give it for a PEFT adapter trained elsewhere, e.g. LLaMA-Factory's qwen)", func(c *mergeConfig) *string { return &c.Template })
	o.integer("quantization-bit", "merge onto the base quantized to 4 (NF4) or 8 bits and dequantized, the weights a QLoRA adapter was trained against; 0: onto the original weights (default: as the adapter's sentitune.json records its training)", func(c *mergeConfig) *int { return &c.QuantizationBit })
	return o
}

func mergeCommand() *cli.Command {
	o := mergeOptionTable()
	return &cli.Command{
		Name:  "merge",
		Usage: "merge a LoRA adapter into its base model and write a full model folder",
		Description: "Writes base + adapter as a Hugging Face model folder (same dtype and sharding as the base,\n" +
			"tokenizer and generation files copied) that loads anywhere a Hugging Face model does. An adapter trained\n" +
			"with --template (or merged with --template) gets that template as the folder's chat_template, so the\n" +
			"merged model is prompted as training prompted it, in sentitune and in transformers alike.",
		Flags: o.flags(),
		Action: func(c *cli.Context) error {
			cfg, err := o.load(c)
			if err != nil {
				return err
			}
			for _, f := range []struct{ name, value string }{{"model", cfg.Model}, {"adapter", cfg.Adapter}, {"out", cfg.Out}} {
				if f.value == "" {
					return usageError("merge: --%s is required", f.name)
				}
			}
			if cfg.QuantizationBit, err = mergeQuantization(cfg, c.App.ErrWriter); err != nil { // merge_quant.go
				return err
			}
			return runMerge(cfg, c.App.Writer)
		},
	}
}

func runMerge(cfg mergeConfig, out io.Writer) error {
	model, err := hub.ResolveModel(cfg.Model) // ORG/NAME: its folder in a hub cache
	if err != nil {
		return err
	}
	extra, err := mergedFiles(model, cfg.Adapter, cfg.Template)
	if err != nil {
		return err
	}
	if err := llm.MergeToFolderQuantized(model, cfg.Adapter, cfg.Out, extra, max(cfg.QuantizationBit, 0)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "merged adapter %s into %s: wrote %s\n", cfg.Adapter, cfg.Model, cfg.Out)
	return err
}

// mergedFiles are the files merge writes over the base's: the adapter's sentitune.json, and the
// chat template training used as the folder's own (tokenizer_config.json, chat_template.jinja).
func mergedFiles(model, adapter, template string) (map[string][]byte, error) {
	cfg, err := llm.LoadConfig(model)
	if err != nil {
		return nil, err
	}
	meta, err := task.ReadMetaFor(adapter, task.BaseShape(cfg.Shape()))
	if err != nil {
		return nil, err
	}
	if template == "" && meta != nil {
		template = meta.Template
	}
	if template == "" { // the base's own template: sentitune.json as it is
		if meta == nil {
			return nil, nil
		}
		b, err := os.ReadFile(filepath.Join(adapter, task.MetaFile))
		if err != nil {
			return nil, fmt.Errorf("merge: %w", err)
		}
		return map[string][]byte{task.MetaFile: b}, nil
	}
	files, err := templateFiles(model, adapter, template, meta)
	if err != nil || meta == nil {
		return files, err
	}
	meta.Template = "" // the merged folder's own template is now the trained one (same SHA-256)
	if files[task.MetaFile], err = meta.Encode(); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return files, nil
}

// templateFiles writes template (a --template spec) as model's chat template, refusing one other
// than the adapter was trained with: its prompts would not be the trained ones.
func templateFiles(model, adapter, template string, meta *task.Meta) (map[string][]byte, error) {
	tok, err := tokenizer.Load(model)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	if tok, err = tok.WithTemplate(template); err != nil {
		return nil, usageError("merge: --template %s: %v", template, err)
	}
	tmpl := tok.Chat().Template()
	if meta != nil && meta.TemplateSHA256 != "" && meta.TemplateSHA256 != tmpl.SHA256() {
		return nil, usageError("merge: --template %s (sha256 %.12s) is not the template adapter %s was trained with (%s, sha256 %.12s); leave --template out to write that one",
			template, tmpl.SHA256(), adapter, meta.ChatTemplate, meta.TemplateSHA256)
	}
	files := map[string][]byte{}
	src := tmpl.Source()
	tc, err := os.ReadFile(filepath.Join(model, "tokenizer_config.json"))
	switch {
	case err == nil:
		if files["tokenizer_config.json"], err = withChatTemplate(tc, src); err != nil {
			return nil, fmt.Errorf("merge: %s/tokenizer_config.json: %w", model, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("merge: %w", err)
	}
	// transformers reads chat_template.jinja before tokenizer_config.json: write it where the base has one, or nowhere else to put it.
	if _, err := os.Stat(filepath.Join(model, "chat_template.jinja")); err == nil || files["tokenizer_config.json"] == nil {
		files["chat_template.jinja"] = []byte(src)
	}
	return files, nil
}

// withChatTemplate is a tokenizer_config.json with its chat_template set to src, every other key kept.
func withChatTemplate(config []byte, src string) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(src); err != nil {
		return nil, err
	}
	m["chat_template"] = bytes.TrimSpace(buf.Bytes())
	buf.Reset()
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
