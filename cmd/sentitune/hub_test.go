package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/data"
	"github.com/sentitune/sentitune/internal/hub/hubtest"
	"github.com/sentitune/sentitune/internal/llm/tokenizer"
	"github.com/sentitune/sentitune/internal/torch"
)

// isolateHubCaches points both hubs' caches at empty temporary folders.
func isolateHubCaches(t *testing.T) (hf, ms string) {
	root := t.TempDir()
	hf, ms = filepath.Join(root, "hf"), filepath.Join(root, "ms")
	t.Setenv("HF_HUB_CACHE", hf)
	t.Setenv("MODELSCOPE_CACHE", ms)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("MODELSCOPE_API_TOKEN", "")
	return hf, ms
}

func TestDownloadCommandThenModelByName(t *testing.T) {
	hf, _ := isolateHubCaches(t)
	bundled, err := tokenizer.BundledFiles()
	if err != nil {
		t.Fatal(err)
	}
	var files []hubtest.File
	for name, data := range bundled {
		files = append(files, hubtest.File{Path: name, Data: data, LFS: name == "tokenizer.json"})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	s := hubtest.New("Qwen", "Qwen2.5-0.5B-Instruct", "0123456789abcdef0123456789abcdef01234567", files)
	defer s.Close()
	s.Token = "hf_abc"
	t.Setenv("HF_ENDPOINT", s.Hub.URL)

	_, err = runApp(t, "", "download", "Qwen/Qwen2.5-0.5B-Instruct")
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}
	t.Setenv("HF_TOKEN", "hf_abc")
	out, err := runApp(t, "", "download", "Qwen/Qwen2.5-0.5B-Instruct", "--include", "tokenizer*")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(hf, "models--Qwen--Qwen2.5-0.5B-Instruct", "snapshots", s.Commit)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != want {
		t.Fatalf("download printed %q, want the snapshot folder %s last", out, want)
	}
	// --model by name finds what was downloaded.
	out, err = runApp(t, "", "tokenize", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--text", "Hello, world!")
	if err != nil || strings.TrimSpace(out) != `{"ids":[9707,11,1879,0]}` {
		t.Fatalf("tokenize --model by name: %q, %v", out, err)
	}
	_, err = runApp(t, "", "tokenize", "--model", "Qwen/Qwen2.5-7B-Instruct", "--text", "x")
	if err == nil || !strings.Contains(err.Error(), "models--Qwen--Qwen2.5-7B-Instruct") || !strings.Contains(err.Error(), "sentitune download") {
		t.Fatalf("a model in no cache: %v", err)
	}
}

func TestDownloadCommandUsage(t *testing.T) {
	isolateHubCaches(t)
	for _, args := range [][]string{
		{"download"},
		{"download", "not-a-name"},
		{"download", "a/b", "--hub", "github"},
		{"download", "a/b@v1", "--revision", "v2"},
	} {
		_, err := runApp(t, "", args...)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: %v, want a usage error (exit 2)", args, err)
		}
	}
}

func TestPredictModelByNameFromModelScopeCache(t *testing.T) {
	_, ms := isolateHubCaches(t)
	src := tinyPredictModel(t)
	dst := filepath.Join(ms, "models", "org", "tiny___1")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
	byName, err := runApp(t, "", "predict", "--model", "org/tiny.1", "--device", "cpu", "--text", "great phone")
	if err != nil {
		t.Fatal(err)
	}
	byDir, err := runApp(t, "", "predict", "--model", dst, "--device", "cpu", "--text", "great phone")
	if err != nil || byName != byDir {
		t.Fatalf("by name %q, by folder %q (%v)", byName, byDir, err)
	}
}

func TestVersion(t *testing.T) {
	out, err := runApp(t, "", "--version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sentitune " + moduleVersion() + "\n", "\ncommit ", "\ngo        go1.", "\nlibtorch  "} {
		if !strings.Contains(out, want) {
			t.Errorf("--version output lacks %q:\n%s", want, out)
		}
	}
	if err := torch.Load(); err == nil {
		v, _ := torch.Version()
		if !strings.Contains(out, "libtorch  "+v+" via "+torch.LibPath()) {
			t.Errorf("--version does not name libtorch %s at %s:\n%s", v, torch.LibPath(), out)
		}
	} else if !strings.Contains(out, "libtorch  not found: ") {
		t.Errorf("libtorch is missing (%v), --version does not say so:\n%s", err, out)
	}
}

func TestDownloadFlagsAfterTheName(t *testing.T) {
	isolateHubCaches(t)
	s := hubtest.New("org", "m", "0123456789abcdef0123456789abcdef01234567", []hubtest.File{
		{Path: "config.json", Data: []byte(`{"model_type":"qwen2"}`)},
		{Path: "notes.txt", Data: []byte("n")},
	})
	defer s.Close()
	out, err := runApp(t, "", "download", "org/m", "--endpoint", s.Hub.URL, "--hub", "modelscope", "--include", "*.txt", "--include=config.json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n") // progress, then the folder
	dir := lines[len(lines)-1]
	for _, name := range []string{"notes.txt", "config.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not downloaded into %s: %v", name, dir, err)
		}
	}
	if !strings.Contains(dir, filepath.Join("models", "org", "m")) {
		t.Errorf("downloaded into %s, not the ModelScope cache", dir)
	}
}

// TestFinetuneModelByName trains on a model found by name in the Hugging Face cache: the adapter
// records the name as PEFT does (base_model_name_or_path), not this machine's snapshot path, and
// predict by the same name scores with it.
func TestFinetuneModelByName(t *testing.T) {
	hf, _ := isolateHubCaches(t)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	repo := filepath.Join(hf, "models--org--tiny")
	if err := os.MkdirAll(filepath.Join(repo, "snapshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tinyPredictModel(t), filepath.Join(repo, "snapshots", commit)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "refs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "reviews.jsonl")
	lines := bytes.SplitAfter(data.AmazonJSONL(), []byte("\n"))
	if err := os.WriteFile(in, bytes.Join(lines[:60], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	prepDir, run := filepath.Join(dir, "prep"), filepath.Join(dir, "run")
	if _, err := runApp(t, "", "prep", "--input", in, "--test-ratio", "0.2", "--out", prepDir); err != nil {
		t.Fatal(err)
	}
	if _, err := runApp(t, "", "finetune", "--model", "org/tiny", "--data", prepDir, "--out", run, "--device", "cpu",
		"--max-steps", "1", "--batch-size", "4"); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(run, "adapter", "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), `"base_model_name_or_path": "org/tiny"`) {
		t.Errorf("adapter_config.json does not name its base org/tiny:\n%s", cfg)
	}
	out, err := runApp(t, "", "predict", "--model", "org/tiny", "--adapter", filepath.Join(run, "adapter"), "--device", "cpu", "--text", "great phone")
	if err != nil || len(strings.Fields(out)) != 2 {
		t.Fatalf("predict by name: %q, %v", out, err)
	}
}
