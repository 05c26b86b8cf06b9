package predict

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// The scoring contract: an adapter trained at max_len 48 scores at 48 (its
// adapter folder, or the merged model folder carrying its sentitune.json), an
// explicit max length overrides it, and an unknown truncation side is refused.
func TestScoringContractMaxLen(t *testing.T) {
	const instr = "Positive (1) or negative (0)?"
	meta := tinyMeta(t, instr)
	meta.MaxLen, meta.TruncationSide = 48, task.TruncationRight
	ad := makeAdapter(t, tinyModel(t), meta)
	long := strings.Repeat("The battery lasts all day and the screen is bright. ", 60)

	// A merged folder as `sentitune merge` leaves it: the model's files and the adapter's sentitune.json.
	merged := filepath.Join(t.TempDir(), "merged")
	if err := os.Mkdir(merged, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(tinyModel(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join(tinyModel(t), e.Name()), filepath.Join(merged, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(ad, task.MetaFile))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(merged, task.MetaFile), b)

	for _, c := range []struct {
		name string
		cfg  ScorerConfig
		want int
	}{
		{"adapter", ScorerConfig{AdapterDir: ad}, 48},
		{"explicit max length wins", ScorerConfig{AdapterDir: ad, MaxLen: 96}, 96},
		{"merged model folder", ScorerConfig{ModelDir: merged}, 48},
		{"bare model", ScorerConfig{}, DefaultMaxLen},
	} {
		t.Run(c.name, func(t *testing.T) {
			sc := newTinyScorer(t, c.cfg)
			if got := sc.Info().MaxLen; got != c.want {
				t.Fatalf("scores at max length %d, want %d", got, c.want)
			}
			ids, err := sc.Encode(long)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(ids) + sc.answerLen; n > c.want || n < c.want-8 {
				t.Fatalf("a long review encodes to %d prompt + %d answer tokens, want just under %d", len(ids), sc.answerLen, c.want)
			}
			if c.cfg.ModelDir == merged && sc.Info().Instruction != instr {
				t.Fatalf("merged folder scored with instruction %q, want the adapter's", sc.Info().Instruction)
			}
		})
	}

	t.Run("other truncation side", func(t *testing.T) {
		left := meta
		left.TruncationSide = "left"
		_, err := NewScorer(ScorerConfig{ModelDir: tinyModel(t), AdapterDir: makeAdapter(t, tinyModel(t), left), Device: "cpu"})
		if err == nil || !strings.Contains(err.Error(), `"left" side`) {
			t.Fatalf("err = %v", err)
		}
	})
}
