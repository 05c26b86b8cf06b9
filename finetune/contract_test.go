package finetune

import (
	"path/filepath"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/predict"
)

// A run trained at --max-len 48 records it in sentitune.json, and predict
// scores its adapter at 48 unless told otherwise.
func TestAdapterCarriesMaxLen(t *testing.T) {
	// A short prompt, so that 48 tokens leave room for the review (Qwen's default system prompt alone takes 30).
	recs, err := amazonAlpaca()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[:16]
	for i := range recs {
		recs[i].Instruction, recs[i].System = "Positive (1) or negative (0)?", "Classify reviews."
	}
	train := filepath.Join(t.TempDir(), "train.json")
	if err := writeAlpaca(train, recs); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "run")
	cfg := testConfig(t, out)
	cfg.Data, cfg.TrainFile = "", train
	cfg.MaxLen, cfg.MaxSteps = 48, 2
	if _, err := Train(cfg, nil); err != nil {
		t.Fatal(err)
	}
	ad := filepath.Join(out, DirAdapter)
	meta, err := task.ReadMeta(ad)
	if err != nil {
		t.Fatal(err)
	}
	if meta.MaxLen != 48 || meta.TruncationSide != task.TruncationRight || meta.ChatTemplate == "" || meta.Instruction == "" ||
		len(meta.LabelTokenIDs) != 2 {
		t.Fatalf("sentitune.json %+v: want max_len 48, truncation side right, template, instruction, label ids", meta)
	}
	for _, c := range []struct{ flag, want int }{{0, 48}, {64, 64}} {
		sc, err := predict.NewScorer(predict.ScorerConfig{ModelDir: fix.model, AdapterDir: ad, Device: "cpu", MaxLen: c.flag})
		if err != nil {
			t.Fatal(err)
		}
		got := sc.Info().MaxLen
		sc.Close()
		if got != c.want {
			t.Errorf("predict --max-len %d: scores at %d, want %d", c.flag, got, c.want)
		}
	}
}
