package finetune

import (
	"path/filepath"
	"testing"

	"github.com/sentitune/sentitune/internal/task"
)

// An adapter trained on a 4-bit base says so in its sentitune.json, which merge reads to merge onto
// the dequantized base; one trained on the stored weights records nothing.
func TestAdapterRecordsQuantization(t *testing.T) {
	for _, bits := range []int{0, 4} {
		out := filepath.Join(t.TempDir(), "run")
		cfg := testConfig(t, out)
		cfg.MaxSteps, cfg.QuantizationBit = 1, bits
		if _, err := Train(cfg, nil); err != nil {
			t.Fatal(err)
		}
		meta, err := task.ReadMeta(filepath.Join(out, DirAdapter))
		if err != nil {
			t.Fatal(err)
		}
		if meta.QuantizationBit != bits {
			t.Errorf("--quantization-bit %d: sentitune.json quantization_bit %d", bits, meta.QuantizationBit)
		}
	}
}
