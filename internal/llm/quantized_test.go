package llm_test

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/quant"
)

// oddLlama has projections whose sizes are not multiples of 64 (k_proj 24×44 = 16.5 NF4 blocks),
// so the padded last block is exercised.
func oddLlama() *llm.Config {
	c := llamaConfig()
	c.HiddenSize, c.IntermediateSize = 44, 84
	return c
}

// dequantizedModel writes cfg's random model (seed) with every projection weight replaced by its
// quantized-then-dequantized values, computed by the quant package on the host.
func dequantizedModel(t *testing.T, cfg *llm.Config, seed uint64, bits int) string {
	t.Helper()
	tensors, err := llm.RandomWeights(cfg, llm.RandomInit{Seed: seed, Std: 0.08, NormJitter: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	projections := map[string]bool{}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		for _, m := range cfg.LinearModules() {
			projections[llm.LayerPrefix(i)+m+".weight"] = true
		}
	}
	for i, td := range tensors {
		if !projections[td.Name] {
			continue
		}
		w := make([]float32, len(td.Data)/4)
		for j := range w {
			w[j] = math.Float32frombits(binary.LittleEndian.Uint32(td.Data[4*j:]))
		}
		var dq []float32
		if bits == 4 {
			dq = quant.QuantizeNF4(w, true).Dequantize()
		} else {
			q, err := quant.QuantizeInt8Rows(w, int(td.Shape[0]), int(td.Shape[1]))
			if err != nil {
				t.Fatal(err)
			}
			dq = q.Dequantize()
		}
		data := make([]byte, len(td.Data))
		for j, v := range dq {
			binary.LittleEndian.PutUint32(data[4*j:], math.Float32bits(v))
		}
		tensors[i].Data = data
	}
	dir := t.TempDir()
	src := customModel(t, cfg, seed, "F32")
	cj, err := os.ReadFile(filepath.Join(src, llm.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, llm.ConfigFile), cj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := llm.WriteSafetensors(filepath.Join(dir, llm.SafetensorsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestQuantizedLogits: a model loaded with --quantization-bit 4 or 8 gives the logits of the
// same model whose projection weights are the dequantized values (dequantized by the quant
// package on the host, not by the engine's torch path), and not those of the original weights.
func TestQuantizedLogits(t *testing.T) {
	cfg := oddLlama()
	const seed = 11
	orig := customModel(t, cfg, seed, "F32")
	ids := []int{5, 299, 17, 0, 42, 42, 100, 3, 250, 77}
	plain := allLogits(t, loadModel(t, orig, llm.LoadOptions{}), ids)
	for _, bits := range []int{4, 8} {
		t.Run(map[int]string{4: "nf4", 8: "int8"}[bits], func(t *testing.T) {
			q := loadModel(t, orig, llm.LoadOptions{QuantizationBit: bits})
			if q.Quantization() != bits {
				t.Fatalf("Quantization() = %d, want %d", q.Quantization(), bits)
			}
			got := allLogits(t, q, ids)
			want := allLogits(t, loadModel(t, dequantizedModel(t, cfg, seed, bits), llm.LoadOptions{}), ids)
			if d := maxDiff(t, got, want); d > 1e-6*maxAbs(want) {
				t.Errorf("quantized model's logits differ from the dequantized model's by %g (largest logit %g)", d, maxAbs(want))
			}
			if d := maxDiff(t, got, plain); d < 1e-4*maxAbs(plain) {
				t.Errorf("quantized logits within %g of the full-precision model's: the weights were not quantized", d)
			}
		})
	}
	if _, err := llm.LoadModel(orig, llm.LoadOptions{QuantizationBit: 3}); err == nil || !strings.Contains(err.Error(), "quantization bit 3") {
		t.Errorf("--quantization-bit 3: got %v, want an error naming it", err)
	}
}
