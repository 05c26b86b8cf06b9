package hub

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestList: every model in both caches is listed once, under the name Resolve turns into the
// folder listed; a folder sentitune refuses is listed with why.
func TestList(t *testing.T) {
	c := hfCache(t) // Qwen/Qwen2.5-0.5B: main → commitA, v1 → commitB
	orphan := strings.Repeat("c", 40)
	writeFile(t, filepath.Join(c.HF, "models--Qwen--Qwen2.5-0.5B", "snapshots", orphan, "config.json"), "{}")
	writeFile(t, filepath.Join(c.HF, "datasets--org--data", "refs", "main"), commitA) // not a model
	ms := c.ModelScope[0]
	writeFile(t, filepath.Join(ms, "models", "Qwen", "Qwen2___5-1___5B", "config.json"), "{}")
	writeFile(t, filepath.Join(ms, "models", "deepseek-ai--R1-Distill", "snapshots", "master", "config.json"), "{}")
	writeFile(t, filepath.Join(ms, "models", "org", "pickled", "config.json"), "{}")
	writeFile(t, filepath.Join(ms, "models", "org", "pickled", "pytorch_model.bin"), "x")
	writeFile(t, filepath.Join(ms, "models", "org", "no-config", "README.md"), "x") // not a model folder

	want := map[string]string{
		"Qwen/Qwen2.5-0.5B":           HubHuggingFace,
		"Qwen/Qwen2.5-0.5B@v1":        HubHuggingFace,
		"Qwen/Qwen2.5-0.5B@" + orphan: HubHuggingFace,
		"Qwen/Qwen2.5-1.5B":           HubModelScope,
		"deepseek-ai/R1-Distill":      HubModelScope,
		"org/pickled":                 HubModelScope,
	}
	got := c.List()
	if len(got) != len(want) {
		t.Fatalf("listed %+v, want %d models", got, len(want))
	}
	for i, m := range got {
		if i > 0 && got[i-1].ID >= m.ID {
			t.Errorf("not sorted by name: %s before %s", got[i-1].ID, m.ID)
		}
		if want[m.ID] != m.Hub {
			t.Errorf("%s in %q, want %q", m.ID, m.Hub, want[m.ID])
		}
		dir, err := c.Resolve(m.ID)
		if m.ID == "org/pickled" {
			if m.Err == "" || err == nil || !strings.Contains(m.Err, "pickles") {
				t.Errorf("pickle-only folder listed without its refusal: %+v", m)
			}
			continue
		}
		if err != nil || dir != m.Dir || m.Err != "" {
			t.Errorf("%s listed at %s (%s), Resolve gives %s, %v", m.ID, m.Dir, m.Err, dir, err)
		}
	}
	if got := (Caches{HF: filepath.Join(t.TempDir(), "none")}).List(); len(got) != 0 {
		t.Errorf("missing caches list %+v", got)
	}
}
