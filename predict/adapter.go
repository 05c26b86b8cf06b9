package predict

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

// adapter is the LoRA adapter a scorer loads. meta is finetune's
// sentitune.json (prompt, label ids, base shape); nil for a plain PEFT
// adapter (e.g. from LLaMA-Factory), whose prompt then comes from flags.
type adapter struct {
	dir    string
	meta   *task.Meta
	merged bool // meta is a merged model folder's own sentitune.json: no weights to attach
}

func readAdapter(cfg ScorerConfig) (*adapter, error) {
	if cfg.AdapterDir == "" {
		return mergedMeta(cfg.ModelDir)
	}
	a := &adapter{dir: cfg.AdapterDir}
	st, err := os.Stat(a.dir)
	if err != nil {
		return nil, fmt.Errorf("predict: adapter: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("predict: adapter %s is not a folder", a.dir)
	}
	if _, err := os.Stat(filepath.Join(a.dir, llm.AdapterConfigFile)); err != nil {
		return nil, fmt.Errorf("predict: adapter %s has no %s (is it a LoRA adapter folder?)", a.dir, llm.AdapterConfigFile)
	}
	if a.meta, err = task.ReadOptionalMeta(a.dir); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	return a, nil
}

// mergedMeta reads the sentitune.json that `sentitune merge` copies into a
// merged model folder, so scoring it repeats training's prompt and length.
func mergedMeta(modelDir string) (*adapter, error) {
	meta, err := task.ReadOptionalMeta(modelDir)
	if err != nil {
		return nil, fmt.Errorf("predict: merged model: %w", err)
	}
	if meta == nil {
		return nil, nil
	}
	return &adapter{dir: modelDir, meta: meta, merged: true}, nil
}

// checkBase fails, before any weight is read, when the adapter was trained
// on a base model of another shape than modelDir's.
func (a *adapter) checkBase(modelDir string) error {
	if a == nil || a.meta == nil {
		return nil
	}
	cfg, err := llm.LoadConfig(modelDir)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	have := task.BaseShape{ModelType: cfg.ModelType, HiddenSize: cfg.HiddenSize, NumHiddenLayers: cfg.NumHiddenLayers, VocabSize: cfg.VocabSize}
	if !a.meta.FitsBase(have) {
		base := ""
		if a.meta.BaseModel != "" {
			base = " " + a.meta.BaseModel
		}
		return fmt.Errorf("predict: adapter %s was trained on another base model: a %v%s, but --model %s is a %v; pass the base model it was trained on",
			a.dir, a.meta.Base, base, modelDir, have)
	}
	return nil
}

func (a *adapter) attach(m *llm.Model) error {
	if a == nil || a.merged {
		return nil
	}
	if err := m.LoadAdapter(a.dir); err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	return nil
}

// promptOf returns the prompt and max length to score with: the adapter's contract
// (task.Meta.ScoringPrompt) against the flags.
func promptOf(cfg ScorerConfig, a *adapter) (task.PromptSpec, int, error) {
	var meta *task.Meta
	if a != nil {
		meta = a.meta
	}
	spec, maxLen, err := meta.ScoringPrompt(task.PromptSpec{Instruction: cfg.Instruction, System: cfg.System}, cfg.MaxLen, DefaultMaxLen)
	if err != nil {
		return spec, 0, fmt.Errorf("predict: adapter %s: %w", a.dir, err)
	}
	return spec, maxLen, nil
}

// labelsOf returns the adapter's label set (task.Binary without one) and its answer
// tokens' ids, in class order: the tokenizer's, which must match what the adapter was trained to emit.
func labelsOf(tok *tokenizer.Tokenizer, a *adapter) (task.Labels, []int, error) {
	ls := task.Binary
	if a != nil && a.meta != nil {
		var err error
		if ls, err = a.meta.LabelSet(); err != nil {
			return nil, nil, fmt.Errorf("adapter %s: %w", a.dir, err)
		}
	}
	ids, err := ls.TokenIDs(tok)
	if err != nil || a == nil || a.meta == nil {
		return ls, ids, err
	}
	m := a.meta
	// Files written before template_sha256 name the template's family only ("chatml"): the label ids below still check them.
	if m.TemplateSHA256 != "" && m.TemplateSHA256 != tok.Chat().Template().SHA256() {
		return nil, nil, fmt.Errorf("adapter %s was trained with another chat template (%s, sha256 %.12s) than this one (%s, sha256 %.12s): give --model its base model, or --template what training used",
			a.dir, m.ChatTemplate, m.TemplateSHA256, tok.Chat().Name(), tok.Chat().Template().SHA256())
	}
	trained, have, recorded, same := make([]string, len(ls)), make([]string, len(ls)), true, true
	for c, l := range ls {
		id, ok := m.LabelTokenIDs[l.Answer]
		recorded, same = recorded && ok, same && id == ids[c]
		trained[c], have[c] = fmt.Sprintf("%s→%d", l.Answer, id), fmt.Sprintf("%s→%d", l.Answer, ids[c])
	}
	if recorded && !same {
		return nil, nil, fmt.Errorf("adapter %s answers with token ids %s, the model's tokenizer has %s: is --model its base model?",
			a.dir, strings.Join(trained, ", "), strings.Join(have, ", "))
	}
	return ls, ids, nil
}

// templateOf is the chat template to score with: --template, else the one training used.
func templateOf(cfg ScorerConfig, a *adapter) string {
	if cfg.Template == "" && a != nil && a.meta != nil {
		return a.meta.Template
	}
	return cfg.Template
}

// withTrainingDate renders the date training rendered, for templates that write today's (Llama-3.2).
func withTrainingDate(tok *tokenizer.Tokenizer, a *adapter) (*tokenizer.Tokenizer, error) {
	if a == nil || a.meta == nil || a.meta.TemplateDate == "" {
		return tok, nil
	}
	day, err := time.Parse(task.TemplateDateLayout, a.meta.TemplateDate)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: template_date: %w", a.dir, err)
	}
	return tok.WithTemplateDate(day)
}
