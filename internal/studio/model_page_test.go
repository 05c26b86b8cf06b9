package studio

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/hub"
	"github.com/sentitune/sentitune/internal/llm"
)

// hubCacheWith lays out a Hugging Face cache (the environment's, for this test) holding the small
// preset as Qwen/Small and returns its snapshot folder.
func hubCacheWith(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	t.Setenv("HF_HUB_CACHE", filepath.Join(root, "hf"))
	t.Setenv("MODELSCOPE_CACHE", filepath.Join(root, "ms"))
	commit := strings.Repeat("a", 40)
	repo := filepath.Join(root, "hf", "models--Qwen--Small")
	snap := filepath.Join(repo, "snapshots", commit)
	os.MkdirAll(snap, 0o755)
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644)
	mc, err := llm.PresetConfig("small")
	if err != nil {
		t.Fatal(err)
	}
	b, err := mc.HFJSON()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(snap, "config.json"), b, 0o644)
	os.WriteFile(filepath.Join(snap, "model.safetensors"), make([]byte, 4096), 0o644)
	return snap
}

// TestModelPageHubModels: the Model page lists the cached hub models through internal/hub, shows a
// chosen one's shape and parameter count, and the Train form takes it by name; names the cache
// does not hold, and paths, are refused.
func TestModelPageHubModels(t *testing.T) {
	snap := hubCacheWith(t)
	s := newTestServer(t, Config{})
	var listed []hub.Cached
	w := do(s, "GET", "/api/hub-models", "localhost", nil, nil)
	if err := json.Unmarshal(w.Body.Bytes(), &listed); err != nil || len(listed) != 1 || listed[0].ID != "Qwen/Small" || listed[0].Dir != snap {
		t.Fatalf("hub models: %d %s", w.Code, w.Body)
	}
	w = do(s, "GET", "/api/model?model=Qwen/Small", "localhost", nil, nil)
	var d modelDetails
	if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil || w.Code != 200 {
		t.Fatalf("model detail: %d %s", w.Code, w.Body)
	}
	mc, _ := llm.PresetConfig("small")
	if d.Parameters != mc.NumParameters() || d.Parameters == 0 || d.Layers != 4 || d.Hidden != 256 || d.WeightBytes != 4096 || d.DType != "float32" {
		t.Errorf("model detail %+v, want the small preset's %d parameters", d, mc.NumParameters())
	}
	for target, want := range map[string]int{"/api/model?model=Qwen/Absent": 404, "/api/model?model=../x": 400, "/api/model?model=" + snap: 400} {
		if w := do(s, "GET", target, "localhost", nil, nil); w.Code != want {
			t.Errorf("%s: %d, want %d: %s", target, w.Code, want, w.Body)
		}
	}
	body := `{"model":"Qwen/Small","data":"d","name":"r","options":{},"dry_run":true}`
	w = do(s, "POST", "/api/train", "localhost", strings.NewReader(body), map[string]string{csrfHeader: s.csrf, "Content-Type": "application/json"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "--model Qwen/Small --data data/d") {
		t.Errorf("train with a hub model: %d %s", w.Code, w.Body)
	}
	w = do(s, "POST", "/api/train", "localhost", strings.NewReader(strings.Replace(body, "Qwen/Small", "Qwen/Absent", 1)), map[string]string{csrfHeader: s.csrf, "Content-Type": "application/json"})
	if w.Code != 404 {
		t.Errorf("train with a model no cache holds: %d %s", w.Code, w.Body)
	}
}
