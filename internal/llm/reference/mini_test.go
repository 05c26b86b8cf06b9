package reference

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/internal/llm"
)

// writeRandomModel writes config.json and model.safetensors for a config the engine may not load:
// matrices and biases ~ N(0, Std²), norms 1 + N(0, NormJitter²) as they act (gemma stores w - 1).
// Each tensor draws from its own PCG stream keyed by (seed, name), so the files are reproducible.
func writeRandomModel(dir string, config map[string]any, init llm.RandomInit) error {
	config["torch_dtype"] = map[string]string{"F32": "float32", "BF16": "bfloat16", "F16": "float16"}[init.DType]
	cj, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return err
	}
	a, err := ParseArch(cj)
	if err != nil {
		return err
	}
	var tensors []llm.TensorData
	for _, name := range a.Names() {
		shape := a.Shapes()[name]
		h := fnv.New64a()
		h.Write([]byte(name))
		rng := rand.New(rand.NewPCG(init.Seed, h.Sum64()))
		n := 1
		s := make([]int64, len(shape))
		for i, d := range shape {
			n *= d
			s[i] = int64(d)
		}
		vals := make([]float32, n)
		for i := range vals {
			if strings.HasSuffix(name, "norm.weight") {
				vals[i] = float32(1 - a.NormOffset + init.NormJitter*rng.NormFloat64())
			} else {
				vals[i] = float32(init.Std * rng.NormFloat64())
			}
		}
		data, err := llm.FromFloat32(init.DType, vals)
		if err != nil {
			return err
		}
		tensors = append(tensors, llm.TensorData{Name: name, DType: init.DType, Shape: s, Data: data})
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(cj, '\n'), 0o644); err != nil {
		return err
	}
	return llm.WriteSafetensors(filepath.Join(dir, llm.SafetensorsFile), tensors, map[string]string{"format": "pt"})
}
