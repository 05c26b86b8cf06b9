package hub

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseModelID(t *testing.T) {
	for _, tc := range []struct {
		in, repo, rev string
		bad           bool
	}{
		{in: "Qwen/Qwen2.5-7B-Instruct", repo: "Qwen/Qwen2.5-7B-Instruct"},
		{in: "Qwen/Qwen2.5-7B-Instruct@v1.0", repo: "Qwen/Qwen2.5-7B-Instruct", rev: "v1.0"},
		{in: "org/name@refs/pr/1", repo: "org/name", rev: "refs/pr/1"},
		{in: "name-only", bad: true},
		{in: "a/b/c", bad: true},
		{in: "../x", bad: true},
		{in: "org/..", bad: true},
		{in: "/abs/path", bad: true},
		{in: "org/name@", bad: true},
		{in: "org/name@../../x", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			id, err := ParseModelID(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %q as %+v, want an error", tc.in, id)
				}
				return
			}
			if err != nil || id.Repo() != tc.repo || id.Revision != tc.rev {
				t.Fatalf("got %+v, %v; want %s @ %q", id, err, tc.repo, tc.rev)
			}
		})
	}
}

// hfCache lays out Qwen/Qwen2.5-0.5B as huggingface_hub does: main → commitA, tag v1 → commitB.
func hfCache(t *testing.T) Caches {
	root := t.TempDir()
	repo := filepath.Join(root, "hf", "models--Qwen--Qwen2.5-0.5B")
	writeFile(t, filepath.Join(repo, "refs", "main"), commitA)
	writeFile(t, filepath.Join(repo, "refs", "v1"), commitB+"\n")
	writeFile(t, filepath.Join(repo, "blobs", "cfgA"), `{"model_type":"qwen2"}`)
	for _, c := range []string{commitA, commitB} {
		snap := filepath.Join(repo, "snapshots", c)
		if err := os.MkdirAll(snap, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../blobs/cfgA", filepath.Join(snap, "config.json")); err != nil {
			t.Fatal(err)
		}
	}
	return Caches{HF: filepath.Join(root, "hf"), ModelScope: []string{filepath.Join(root, "ms")}}
}

func TestResolveHuggingFaceCache(t *testing.T) {
	c := hfCache(t)
	snap := func(commit string) string {
		return filepath.Join(c.HF, "models--Qwen--Qwen2.5-0.5B", "snapshots", commit)
	}
	for ref, want := range map[string]string{
		"Qwen/Qwen2.5-0.5B":            snap(commitA),
		"Qwen/Qwen2.5-0.5B@main":       snap(commitA),
		"Qwen/Qwen2.5-0.5B@v1":         snap(commitB),
		"Qwen/Qwen2.5-0.5B@" + commitB: snap(commitB),
	} {
		got, err := c.Resolve(ref)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %s, %v; want %s", ref, got, err, want)
		}
	}
	_, err := c.Resolve("Qwen/Qwen2.5-0.5B@v2")
	if err == nil || !strings.Contains(err.Error(), "no refs/v2") || !strings.Contains(err.Error(), commitA) {
		t.Fatalf("unknown revision: got %v, want it to name the missing ref and list the snapshots", err)
	}
}

func TestResolveModelScopeLayouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		rel  string // the model folder under the ModelScope root
	}{
		{"modelscope_hub 2026", "models/Qwen--Qwen2.5-0.5B/snapshots/master"},
		{"modelscope 1.2x-1.37", "models/Qwen/Qwen2___5-0___5B"},
		{"modelscope before 1.20", "Qwen/Qwen2___5-0___5B"},
		{"MODELSCOPE_CACHE/hub of some versions", "hub/Qwen/Qwen2___5-0___5B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			c := Caches{HF: filepath.Join(root, "hf"), ModelScope: []string{filepath.Join(root, "ms")}}
			want := filepath.Join(root, "ms", filepath.FromSlash(tc.rel))
			writeFile(t, filepath.Join(want, "config.json"), `{"model_type":"qwen2"}`)
			got, err := c.Resolve("Qwen/Qwen2.5-0.5B")
			if err != nil || got != want {
				t.Fatalf("got %s, %v; want %s", got, err, want)
			}
		})
	}
}

func TestResolveModelScopeRevision(t *testing.T) {
	root := t.TempDir()
	c := Caches{HF: filepath.Join(root, "hf"), ModelScope: []string{filepath.Join(root, "ms")}}
	dir := filepath.Join(root, "ms", "models", "Qwen", "Qwen2___5-0___5B")
	writeFile(t, filepath.Join(dir, "config.json"), `{"model_type":"qwen2"}`)
	if _, err := c.Resolve("Qwen/Qwen2.5-0.5B@v1.0"); err == nil || !strings.Contains(err.Error(), "records no revision") {
		t.Fatalf("a folder without .mv stood for @v1.0: %v", err)
	}
	writeFile(t, filepath.Join(dir, ".mv"), "Revision:v1.0,CreatedAt:1719830000")
	if got, err := c.Resolve("Qwen/Qwen2.5-0.5B@v1.0"); err != nil || got != dir {
		t.Fatalf("got %s, %v; want %s", got, err, dir)
	}
	if _, err := c.Resolve("Qwen/Qwen2.5-0.5B@v2.0"); err == nil || !strings.Contains(err.Error(), "holds revision v1.0") {
		t.Fatalf("@v2.0 against a v1.0 folder: %v", err)
	}
}

func TestResolveOrder(t *testing.T) {
	c := hfCache(t)
	// The same name in the ModelScope cache loses to the Hugging Face cache...
	writeFile(t, filepath.Join(c.ModelScope[0], "models", "Qwen", "Qwen2___5-0___5B", "config.json"), "{}")
	got, err := c.Resolve("Qwen/Qwen2.5-0.5B")
	if err != nil || !strings.Contains(got, "models--Qwen--Qwen2.5-0.5B") {
		t.Fatalf("got %s, %v; want the Hugging Face snapshot", got, err)
	}
	// ...and both lose to a folder of that name here.
	t.Chdir(t.TempDir())
	writeFile(t, filepath.Join("Qwen", "Qwen2.5-0.5B", "config.json"), "{}")
	if got, err := c.Resolve("Qwen/Qwen2.5-0.5B"); err != nil || got != "Qwen/Qwen2.5-0.5B" {
		t.Fatalf("got %s, %v; want the local folder", got, err)
	}
}

func TestResolveNotFoundSaysWhereItLooked(t *testing.T) {
	root := t.TempDir()
	c := Caches{HF: filepath.Join(root, "hf"), ModelScope: []string{filepath.Join(root, "ms")}}
	_, err := c.Resolve("Qwen/Qwen2.5-7B-Instruct")
	if err == nil {
		t.Fatal("resolved a model that is nowhere")
	}
	for _, want := range []string{
		filepath.Join(root, "hf", "models--Qwen--Qwen2.5-7B-Instruct"),
		filepath.Join(root, "ms", "models", "Qwen", "Qwen2___5-7B-Instruct"),
		"sentitune download Qwen/Qwen2.5-7B-Instruct",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
	if _, err := c.Resolve("no/such/dir"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing path: %v", err)
	}
	file := filepath.Join(root, "f")
	writeFile(t, file, "x")
	if _, err := c.Resolve(file); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("a file as model: %v", err)
	}
}

func TestCheckFolderRefusesPickles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.json"), `{"model_type":"qwen2"}`)
	writeFile(t, filepath.Join(dir, "pytorch_model-00001-of-00002.bin"), "pickle")
	writeFile(t, filepath.Join(dir, "pytorch_model-00002-of-00002.bin"), "pickle")
	writeFile(t, filepath.Join(dir, "training_args.bin"), "pickle")
	err := CheckFolder(dir)
	if err == nil || !strings.Contains(err.Error(), "pytorch_model-00001-of-00002.bin") ||
		!strings.Contains(err.Error(), "safe_serialization=True") || strings.Contains(err.Error(), "training_args") {
		t.Fatalf("got %v; want a refusal naming the weight pickles with the conversion command", err)
	}
	writeFile(t, filepath.Join(dir, "model.safetensors"), "x")
	if err := CheckFolder(dir); err != nil {
		t.Fatalf("with safetensors beside the pickles: %v", err)
	}
	tokOnly := t.TempDir()
	writeFile(t, filepath.Join(tokOnly, "tokenizer.json"), "{}")
	if err := CheckFolder(tokOnly); err != nil {
		t.Fatalf("a tokenizer folder: %v", err)
	}
}

func TestCheckFolderRefusesBaichuan(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config.json"), `{"architectures":["BaichuanForCausalLM"],"model_type":"baichuan"}`)
	writeFile(t, filepath.Join(dir, "pytorch_model.bin"), "pickle")
	writeFile(t, filepath.Join(dir, "tokenizer.model"), "sp")
	err := CheckFolder(dir)
	if err == nil {
		t.Fatal("Baichuan accepted")
	}
	for _, want := range []string{"W_pack", "NormHead", "ALiBi", "tokenizer.json", "tokenizer.model", "pickle", "q_proj, k_proj, v_proj", "safetensors"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
	// Found by name in a cache, it is refused the same way.
	root := t.TempDir()
	c := Caches{HF: filepath.Join(root, "hf"), ModelScope: []string{filepath.Join(root, "ms")}}
	ms := filepath.Join(root, "ms", "models", "baichuan-inc", "Baichuan2-7B-Chat")
	writeFile(t, filepath.Join(ms, "config.json"), `{"model_type":"baichuan"}`)
	if _, err := c.Resolve("baichuan-inc/Baichuan2-7B-Chat"); err == nil || !strings.Contains(err.Error(), "W_pack") {
		t.Fatalf("Resolve: %v", err)
	}
}

func TestCachesFromEnv(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "")
	t.Setenv("MODELSCOPE_CACHE", "")
	c := CachesFromEnv()
	if c.HF != "/home/u/.cache/huggingface/hub" || c.ModelScope[0] != "/home/u/.cache/modelscope/hub" {
		t.Fatalf("defaults: %+v", c)
	}
	t.Setenv("HF_HOME", "/data/hf")
	if c := CachesFromEnv(); c.HF != "/data/hf/hub" {
		t.Fatalf("HF_HOME: %s", c.HF)
	}
	t.Setenv("HF_HUB_CACHE", "/fast/hub")
	t.Setenv("MODELSCOPE_CACHE", "/data/ms")
	if c := CachesFromEnv(); c.HF != "/fast/hub" || len(c.ModelScope) != 1 || c.ModelScope[0] != "/data/ms" {
		t.Fatalf("HF_HUB_CACHE, MODELSCOPE_CACHE: %+v", c)
	}
}
