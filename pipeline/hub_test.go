package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunResolvesModelFirst: a model name found in no cache stops the run before any stage writes,
// with the places it looked.
func TestRunResolvesModelFirst(t *testing.T) {
	root := t.TempDir()
	t.Setenv("HF_HUB_CACHE", filepath.Join(root, "hf"))
	t.Setenv("MODELSCOPE_CACHE", filepath.Join(root, "ms"))
	out := filepath.Join(root, "out")
	_, err := Run(Config{Model: "Qwen/Qwen2.5-7B-Instruct", Out: out}, nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "hf", "models--Qwen--Qwen2.5-7B-Instruct")) ||
		!strings.Contains(err.Error(), "sentitune download Qwen/Qwen2.5-7B-Instruct") {
		t.Fatalf("got %v, want the Hugging Face cache folder it looked in and the download command", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the run made its output folder for a model it could not find")
	}
}
