package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/chattemplate"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

// MetaFile is sentitune's own file in an adapter folder (and in a merged model folder).
const MetaFile = "sentitune.json"

// Meta is sentitune.json: the task contract an adapter was trained under (prompt, template,
// label tokens, length and cut), which scoring must repeat, and the shape of its base model.
// Encode and ReadMeta are the only writer and reader of the file.
type Meta struct {
	Instruction string `json:"instruction"`
	System      string `json:"system"`
	// LabelTokenIDs maps each label's answer ("0", "1") to the id of its first token.
	LabelTokenIDs map[string]int `json:"label_token_ids"`
	// Labels is the label set in ParseLabels form ("negative=0,neutral=1,positive=2"); "" = Binary.
	Labels string `json:"labels,omitempty"`
	// Aspects, for aspect sentiment, are the aspects each review is asked about (with Labels =
	// AspectLabels); then Instruction is a template whose {aspect} names one (RenderAspect).
	Aspects      []string `json:"aspects,omitempty"`
	ChatTemplate string   `json:"chat_template"` // chat template name, e.g. "chatml" or "llama3"
	// Template is the chat template training rendered prompts with (a name or a file); "" = the model's own.
	Template string `json:"template,omitempty"`
	// TemplateSHA256 is the SHA-256 of the template's Jinja text, so scoring can tell it is the same.
	TemplateSHA256 string `json:"template_sha256,omitempty"`
	// TemplateDate is the day (YYYY-MM-DD) a template that writes today's date (Llama-3.2) rendered; scoring renders it again.
	TemplateDate string `json:"template_date,omitempty"`
	// MaxLen is the prompt + answer tokens training cut each example to; scoring cuts the same way.
	MaxLen int `json:"max_len,omitempty"`
	// QuantizationBit is the bits the frozen base's projections were quantized to in training (4, 8; 0: none):
	// merge folds the adapter into that dequantized base, the one it was trained against.
	QuantizationBit int `json:"quantization_bit,omitempty"`
	// TruncationSide is the end of a long review that training cut (TruncationRight).
	TruncationSide string `json:"truncation_side,omitempty"`
	// Best is the evaluation that chose these weights, when training kept its best checkpoint.
	Best      *BestCheckpoint `json:"best,omitempty"`
	BaseModel string          `json:"base_model"` // base model path or name; the adapter writer fills in the model folder
	Base      BaseShape       `json:"base_shape"` // filled in by the adapter writer
	Extra     map[string]any  `json:"extra,omitempty"`
}

// BestCheckpoint says which evaluated step an adapter's weights come from and why.
type BestCheckpoint struct {
	Step   int     `json:"step"`
	Metric string  `json:"metric"` // eval_loss | eval_accuracy | eval_label_loss
	Value  float64 `json:"value"`
}

// BaseShape summarises a base model, enough to tell a mismatched adapter early.
type BaseShape struct {
	ModelType       string `json:"model_type"`
	HiddenSize      int    `json:"hidden_size"`
	NumHiddenLayers int    `json:"num_hidden_layers"`
	VocabSize       int    `json:"vocab_size"`
}

func (b BaseShape) String() string {
	return fmt.Sprintf("%s model (hidden %d, %d layers, vocab %d)", b.ModelType, b.HiddenSize, b.NumHiddenLayers, b.VocabSize)
}

// FitsBase reports whether the adapter may be used on a model of shape have: files written
// before the shape was recorded fit any.
func (m *Meta) FitsBase(have BaseShape) bool {
	return m.Base.HiddenSize == 0 || m.Base == have
}

// ReadMetaFor is ReadOptionalMeta of an adapter folder dir, refused when it records a base
// model of another shape than have (checked before any weight is read).
func ReadMetaFor(dir string, have BaseShape) (*Meta, error) {
	meta, err := ReadOptionalMeta(dir)
	if err != nil || meta == nil {
		return nil, err
	}
	if !meta.FitsBase(have) {
		return nil, fmt.Errorf("adapter %s is for another model shape: it was trained on a %v, this is a %v", dir, meta.Base, have)
	}
	return meta, nil
}

// LabelSet is the label set the adapter was trained with: Binary when the file names none.
func (m *Meta) LabelSet() (Labels, error) {
	if m.Labels == "" {
		return Binary, nil
	}
	ls, err := ParseLabels(m.Labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MetaFile, err)
	}
	return ls, nil
}

// Encode returns the file's bytes: indented JSON and a final newline.
func (m Meta) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", MetaFile, err)
	}
	return append(b, '\n'), nil
}

// ReadMeta reads dir/sentitune.json; it is an error if there is none.
func ReadMeta(dir string) (*Meta, error) {
	path := filepath.Join(dir, MetaFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("adapter %s has no %s (it was not made by sentitune)", dir, MetaFile)
		}
		return nil, fmt.Errorf("read adapter metadata: %w", err)
	}
	var meta Meta
	if err := json.Unmarshal(data, &meta); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if v, ok := meta.Extra["max_len"].(float64); ok && v > 0 && meta.MaxLen == 0 { // written before max_len was a field
		meta.MaxLen = int(v)
	}
	return &meta, nil
}

// ReadOptionalMeta is ReadMeta, with nil and no error when dir has no sentitune.json
// (a PEFT adapter from elsewhere, e.g. LLaMA-Factory).
func ReadOptionalMeta(dir string) (*Meta, error) {
	if _, err := os.Stat(filepath.Join(dir, MetaFile)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return ReadMeta(dir)
}

// NewMeta is the contract a run training on records like rec leaves for scoring: their prompt
// (the template's default system prompt spelt out), template, answer token ids (ids, in class
// order), max length and cut. The adapter writer fills in the base model.
func (ls Labels) NewMeta(rec Record, tok *tokenizer.Tokenizer, ids []int, maxLen int) Meta {
	system := rec.System
	if system == "" {
		system = tok.Chat().DefaultSystem() // the same prompt, spelt out
	}
	byAnswer := make(map[string]int, len(ls))
	for i, l := range ls {
		byAnswer[l.Answer] = ids[i]
	}
	return Meta{
		Instruction:    rec.Instruction,
		System:         system,
		LabelTokenIDs:  byAnswer,
		Labels:         ls.metaLabels(),
		ChatTemplate:   tok.Chat().Name(),
		Template:       templateSpec(tok.Chat().Name()),
		TemplateSHA256: tok.Chat().Template().SHA256(),
		TemplateDate:   templateDate(tok),
		MaxLen:         maxLen,
		TruncationSide: TruncationRight,
	}
}

// metaLabels is ls as sentitune.json's labels: "" for Binary, so binary files stay as they were.
func (ls Labels) metaLabels() string {
	if ls.IsBinary() {
		return ""
	}
	return ls.String()
}

// TemplateDateLayout is how sentitune.json writes template_date.
const TemplateDateLayout = "2006-01-02"

// templateDate is the day tok's template renders, when its prompts depend on it.
func templateDate(tok *tokenizer.Tokenizer) string {
	if tmpl := tok.Chat().Template(); tmpl.ReadsClock() {
		return tmpl.Now().Format(TemplateDateLayout)
	}
	return ""
}

// templateSpec is the --template value that selects the template named name again.
func templateSpec(name string) string {
	if name == chattemplate.Own {
		return ""
	}
	return name
}
