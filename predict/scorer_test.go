package predict

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

var tinyOnce struct {
	sync.Once
	dir string
	err error
}

// tinyModel writes one random tiny Qwen2 model per test binary.
func tinyModel(t testing.TB) string {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			tinyOnce.err = err
			return
		}
		tinyOnce.dir = filepath.Join(dir, "tiny")
		tinyOnce.err = llm.InitRandomModel(tinyOnce.dir, "tiny", 1, "f32")
	})
	if tinyOnce.err != nil {
		t.Fatal(tinyOnce.err)
	}
	return tinyOnce.dir
}

func TestScorerSmoke(t *testing.T) {
	sc, err := NewScorer(ScorerConfig{ModelDir: tinyModel(t), Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	s, err := sc.Score([]string{"great product, works well", "terrible. broke after a day and support never answered"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
}
