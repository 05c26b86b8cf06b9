package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/chattemplate"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/task"
)

// An adapter trained with --template X merges into a folder whose own chat template is X, so the
// merged model is prompted as training prompted it (in transformers too), and scores as base + adapter.
func TestMergeWritesTrainedTemplate(t *testing.T) {
	root := t.TempDir()
	model := filepath.Join(root, "tiny")
	if err := llm.InitRandomModel(model, "tiny", 3, "f32"); err != nil {
		t.Fatal(err)
	}
	train := filepath.Join(root, "train.json")
	var recs []string
	for i, r := range []string{"Great phone", "Broke in a day", "Love it", "Awful battery"} {
		recs = append(recs, `{"instruction": "Rate it.", "input": "`+r+`", "output": "`+[]string{"1", "0"}[i%2]+`"}`)
	}
	if err := os.WriteFile(train, []byte("["+strings.Join(recs, ",\n")+"]"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(root, "run")
	if _, err := runCLI(t, "finetune", "--model", model, "--train", train, "--template", "chatml", "--max-steps", "1",
		"--batch-size", "4", "--val-ratio", "0", "--out", run); err != nil {
		t.Fatal(err)
	}
	adapter := filepath.Join(run, "adapter")
	chatml, err := chattemplate.Named("chatml", "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}

	merged := filepath.Join(root, "merged")
	if _, err := runCLI(t, "merge", "--model", model, "--adapter", adapter, "--out", merged); err != nil {
		t.Fatal(err)
	}
	if got := folderTemplate(t, merged); got != chatml.Source() {
		t.Errorf("merged tokenizer_config.json chat_template is not chatml's:\n%.200s", got)
	}
	tok, err := tokenizer.Load(merged)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := task.ReadMeta(merged)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Template != "" || meta.TemplateSHA256 != tok.Chat().Template().SHA256() {
		t.Errorf("merged sentitune.json: template %q sha256 %.12s; the folder's own template has sha256 %.12s",
			meta.Template, meta.TemplateSHA256, tok.Chat().Template().SHA256())
	}
	fromAdapter, err := runCLI(t, "predict", "--model", model, "--adapter", adapter, "--text", "Great phone")
	if err != nil {
		t.Fatal(err)
	}
	fromMerged, err := runCLI(t, "predict", "--model", merged, "--text", "Great phone")
	if err != nil || fromMerged != fromAdapter {
		t.Errorf("merged model scores %q (%v), base + adapter %q", fromMerged, err, fromAdapter)
	}

	// A PEFT adapter trained elsewhere (LLaMA-Factory: no sentitune.json) takes the template it was trained with.
	peft := filepath.Join(root, "peft")
	if err := os.CopyFS(peft, os.DirFS(adapter)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(peft, task.MetaFile)); err != nil {
		t.Fatal(err)
	}
	lf := filepath.Join(root, "merged-lf")
	if _, err := runCLI(t, "merge", "--model", model, "--adapter", peft, "--template", "qwen", "--out", lf); err != nil {
		t.Fatal(err)
	}
	qwen, err := chattemplate.Named("qwen", "", "<|im_end|>")
	if err != nil {
		t.Fatal(err)
	}
	if got := folderTemplate(t, lf); got != qwen.Source() {
		t.Errorf("merge --template qwen: chat_template is not qwen's:\n%.200s", got)
	}

	// Another template than training's would prompt the merged model differently: refused.
	_, err = runCLI(t, "merge", "--model", model, "--adapter", adapter, "--template", "qwen", "--out", filepath.Join(root, "m3"))
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "is not the template adapter "+adapter+" was trained with (chatml") {
		t.Errorf("merge with another --template: %v (exit %d)", err, exitCode(err))
	}
	if _, err := os.Stat(filepath.Join(root, "m3")); err == nil {
		t.Errorf("a refused merge wrote its folder")
	}
}

// folderTemplate is the chat_template of dir's tokenizer_config.json.
func folderTemplate(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ChatTemplate string `json:"chat_template"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.ChatTemplate
}
