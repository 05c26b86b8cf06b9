package task

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	want := Meta{
		Instruction:    InstructionEN,
		System:         "You are a helpful assistant.",
		LabelTokenIDs:  map[string]int{"0": 15, "1": 16},
		ChatTemplate:   "chatml",
		Template:       "qwen2.5.jinja",
		MaxLen:         384,
		TruncationSide: TruncationRight,
		Best:           &BestCheckpoint{Step: 40, Metric: "eval_loss", Value: 0.25},
		BaseModel:      "/models/qwen",
		Base:           BaseShape{ModelType: "qwen2", HiddenSize: 64, NumHiddenLayers: 2, VocabSize: 500},
		Extra:          map[string]any{"epochs": 3.0},
	}
	data, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "}\n") || !strings.Contains(string(data), `"template": "qwen2.5.jinja"`) {
		t.Fatalf("encoded:\n%s", data)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MetaFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("read back %+v, want %+v", *got, want)
	}
	// The model's own template is the empty name, and is left out of the file.
	want.Template = ""
	if data, _ := want.Encode(); strings.Contains(string(data), `"template"`) {
		t.Fatalf("an empty template is written:\n%s", data)
	}
}

// A sentitune.json from before max_len, truncation_side and template were fields still reads:
// its max length comes from extra, the rest stays empty.
func TestReadMetaOldFile(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/sentitune-v0.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MetaFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.MaxLen != 256 || m.TruncationSide != "" || m.Template != "" || m.Instruction != InstructionEN ||
		m.LabelTokenIDs["1"] != 16 || m.Base.HiddenSize != 896 || m.ChatTemplate != "chatml" {
		t.Fatalf("old file read as %+v", *m)
	}
	if !m.FitsBase(m.Base) || m.FitsBase(BaseShape{ModelType: "qwen2", HiddenSize: 64, NumHiddenLayers: 2, VocabSize: 500}) {
		t.Fatal("FitsBase: want true for its own shape only")
	}
	// A file without a recorded shape fits any base.
	if !(&Meta{}).FitsBase(m.Base) {
		t.Fatal("FitsBase: a meta without base_shape must fit any model")
	}
}

func TestReadMetaErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadMeta(dir); err == nil || !strings.Contains(err.Error(), "has no sentitune.json") {
		t.Fatalf("missing file: %v", err)
	}
	if m, err := ReadOptionalMeta(dir); m != nil || err != nil {
		t.Fatalf("ReadOptionalMeta of a PEFT-only folder = %v, %v; want nil, nil", m, err)
	}
	path := filepath.Join(dir, MetaFile)
	if err := os.WriteFile(path, []byte(`{"max_len": "long"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, read := range []func(string) (*Meta, error){ReadMeta, ReadOptionalMeta} {
		if _, err := read(dir); err == nil || !strings.Contains(err.Error(), path) {
			t.Fatalf("bad file: %v, want an error naming %s", err, path)
		}
	}
}

func TestNewMeta(t *testing.T) {
	tok := bundledTok(t)
	ids, err := Binary.TokenIDs(tok)
	if err != nil {
		t.Fatal(err)
	}
	m := Binary.NewMeta(Record{Instruction: "Rate it.", Input: "Great", Output: "1"}, tok, ids, 64)
	want := Meta{Instruction: "Rate it.", System: tok.Chat().DefaultSystem(), LabelTokenIDs: map[string]int{"0": 15, "1": 16},
		ChatTemplate: "model", TemplateSHA256: tok.Chat().Template().SHA256(), MaxLen: 64, TruncationSide: TruncationRight}
	if !reflect.DeepEqual(m, want) || m.System == "" || len(m.TemplateSHA256) != 64 {
		t.Fatalf("NewMeta = %+v, want %+v", m, want)
	}
	// --template is recorded so that scoring renders with it again.
	qwen3, err := tok.WithTemplate("qwen3")
	if err != nil {
		t.Fatal(err)
	}
	if m := Binary.NewMeta(Record{Instruction: "Rate it."}, qwen3, ids, 64); m.Template != "qwen3" || m.ChatTemplate != "qwen3" || m.TemplateSHA256 == want.TemplateSHA256 {
		t.Fatalf("with --template qwen3: %+v", m)
	}
	// A template that writes today's date records the day it rendered.
	dated := filepath.Join(t.TempDir(), "dated.jinja")
	os.WriteFile(dated, []byte("{{ strftime_now('%Y') }}{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}"), 0o644)
	datedTok, err := tok.WithTemplate(dated)
	if err != nil {
		t.Fatal(err)
	}
	if m := Binary.NewMeta(Record{Instruction: "Rate it."}, datedTok, ids, 64); m.TemplateDate != datedTok.Chat().Template().Now().Format(TemplateDateLayout) || len(m.TemplateDate) != 10 || want.TemplateDate != "" {
		t.Fatalf("dated template: template_date %q", m.TemplateDate)
	}
	if m := Binary.NewMeta(Record{Instruction: "Rate it.", System: "Be brief."}, tok, ids, 64); m.System != "Be brief." {
		t.Fatalf("a record's own system prompt: got %q", m.System)
	}
}

func TestScoringPrompt(t *testing.T) {
	m := &Meta{Instruction: "Rate it.", System: "Be brief.", MaxLen: 96, TruncationSide: TruncationRight}
	cases := []struct {
		name    string
		meta    *Meta
		flags   PromptSpec
		maxLen  int
		want    PromptSpec
		wantLen int
		err     string
	}{
		{"no contract, no flags", nil, PromptSpec{}, 0, PromptSpec{Instruction: InstructionEN}, 512, ""},
		{"no contract, flags", nil, PromptSpec{Instruction: "Classify.", System: "S."}, 64, PromptSpec{Instruction: "Classify.", System: "S."}, 64, ""},
		{"contract", m, PromptSpec{}, 0, PromptSpec{Instruction: "Rate it.", System: "Be brief."}, 96, ""},
		{"contract repeated by flags, longer max length", m, PromptSpec{Instruction: "Rate it.", System: "Be brief."}, 200, PromptSpec{Instruction: "Rate it.", System: "Be brief."}, 200, ""},
		{"contract without max length", &Meta{Instruction: "Rate it."}, PromptSpec{}, 0, PromptSpec{Instruction: "Rate it."}, 512, ""},
		{"other instruction", m, PromptSpec{Instruction: "Classify."}, 0, PromptSpec{}, 0, `--instruction differs from the instruction it was trained with ("Rate it.")`},
		{"other system prompt", m, PromptSpec{System: "S."}, 0, PromptSpec{}, 0, "--system differs"},
		{"other cut", &Meta{Instruction: "Rate it.", TruncationSide: "left"}, PromptSpec{}, 0, PromptSpec{}, 0, `on the "left" side`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, n, err := c.meta.ScoringPrompt(c.flags, c.maxLen, 512)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || spec != c.want || n != c.wantLen {
				t.Fatalf("= %+v, %d, %v; want %+v, %d", spec, n, err, c.want, c.wantLen)
			}
		})
	}
}

// ReadMetaFor refuses an adapter recorded for another base shape before any weight is read, and
// passes a PEFT folder without sentitune.json and a file without a recorded shape.
func TestReadMetaFor(t *testing.T) {
	qwen := BaseShape{ModelType: "qwen2", HiddenSize: 64, NumHiddenLayers: 2, VocabSize: 500}
	llama := BaseShape{ModelType: "llama", HiddenSize: 48, NumHiddenLayers: 2, VocabSize: 300}
	dir := t.TempDir()
	if m, err := ReadMetaFor(dir, qwen); m != nil || err != nil {
		t.Fatalf("folder without %s: %v, %v; want nil, nil", MetaFile, m, err)
	}
	write := func(m Meta) {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, MetaFile), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(Meta{Instruction: "x", Base: llama})
	_, err := ReadMetaFor(dir, qwen)
	for _, want := range []string{dir, "is for another model shape", "trained on a llama model (hidden 48, 2 layers, vocab 300)", "this is a qwen2 model (hidden 64"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("another shape: error %v does not say %q", err, want)
		}
	}
	if m, err := ReadMetaFor(dir, llama); err != nil || m.Instruction != "x" {
		t.Errorf("its own shape: %v, %v", m, err)
	}
	write(Meta{Instruction: "y"})
	if m, err := ReadMetaFor(dir, qwen); err != nil || m.Instruction != "y" {
		t.Errorf("no recorded shape: %v, %v", m, err)
	}
}

func TestMetaLabelSet(t *testing.T) {
	tok := bundledTok(t)
	ids, err := Stars3.TokenIDs(tok)
	if err != nil {
		t.Fatal(err)
	}
	m := Stars3.NewMeta(Record{Instruction: "Rate it."}, tok, ids, 64)
	if m.Labels != "negative=0,neutral=1,positive=2" {
		t.Fatalf("NewMeta labels = %q", m.Labels)
	}
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, MetaFile), data, 0o644)
	read, err := ReadMeta(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ls, err := read.LabelSet(); err != nil || !reflect.DeepEqual(ls, Stars3) {
		t.Fatalf("LabelSet = %v, %v; want %v", ls, err, Stars3)
	}
	// A binary file names no set and reads back as Binary.
	if ls, err := (&Meta{}).LabelSet(); err != nil || !ls.IsBinary() {
		t.Fatalf("binary LabelSet = %v, %v", ls, err)
	}
	if _, err := (&Meta{Labels: "only=0"}).LabelSet(); err == nil || !strings.Contains(err.Error(), MetaFile) {
		t.Fatalf("a bad label set: %v", err)
	}
}
