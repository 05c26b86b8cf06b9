package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/torch"
)

// Merge folds the attached adapter into the base weights, W' = W + scaling·B·A (computed in f32,
// stored in the model dtype, always as new tensors: the old ones may be read-only mapped file
// memory), replaces embed_tokens/lm_head by their modules_to_save copies, and drops the adapter.
// A tied model whose embed_tokens or lm_head was saved separately becomes untied.
func (m *Model) Merge() error {
	if err := m.usable(); err != nil {
		return err
	}
	if m.lora == nil {
		return errors.New("merge: the model has no adapter attached")
	}
	return torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		merged := map[*linear]*torch.Tensor{}
		for _, layer := range m.layers {
			for _, lin := range layer.linears() {
				if a := lin.LoRA; a != nil {
					w := s.Add(s.ToDType(lin.baseWeight(s), torch.Float32), s.MulScalar(s.Matmul(a.B, a.A), a.Scaling))
					merged[lin] = s.ToDType(w, m.dtype)
				}
			}
		}
		var embed, head *torch.Tensor
		if m.embedTrain != nil {
			embed = s.Detach(s.ToDType(m.embedTrain, m.dtype))
		}
		if m.lmHeadTrain != nil {
			head = s.Detach(s.ToDType(m.lmHeadTrain, m.dtype))
		}
		if err := s.Err(); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		for lin, w := range merged {
			lin.Weight.Free()
			lin.Weight, lin.Quant = m.keep(s, w), nil
		}
		oldEmbed, oldHead := m.embed, m.lmHead
		if embed != nil {
			m.embed = m.keep(s, embed)
		}
		if head != nil {
			m.lmHead = m.keep(s, head)
		}
		for _, old := range []*torch.Tensor{oldEmbed, oldHead} {
			if old != m.embed && old != m.lmHead {
				old.Free()
			}
		}
		if m.cfg.TieWordEmbeddings && m.embed != m.lmHead {
			c := *m.cfg
			c.TieWordEmbeddings = false
			m.cfg = &c
		}
		m.detach()
		return nil
	})
}

// MergeToFolder writes base model + adapter as a full Hugging Face model folder at outDir: the
// same dtype and sharding scheme (model.safetensors, or the same shard files and an index),
// merged weights computed tensor by tensor (memory stays around one tensor), and every other file
// of the model folder (tokenizer, generation config) copied. Stale weight formats (.bin, .pt,
// .gguf) are not copied. When modules_to_save break a tied embedding, lm_head.weight is written
// and config.json says tie_word_embeddings false. The extra files (name → bytes: the adapter's
// sentitune.json, so predict can use the merged folder alone) are written beside them. outDir
// must not exist or be empty.
func MergeToFolder(modelDir, adapterDir, outDir string, extra map[string][]byte) error {
	return MergeToFolderQuantized(modelDir, adapterDir, outDir, extra, 0)
}

// MergeToFolderQuantized is MergeToFolder onto the base an adapter trained with --quantization-bit
// bits saw: each projection quantized and dequantized as LoadModel holds it (bits 0: as stored).
func MergeToFolderQuantized(modelDir, adapterDir, outDir string, extra map[string][]byte, bits int) error {
	if err := ParseQuantizationBit(bits); err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := torch.Load(); err != nil {
		return err
	}
	cfg, err := LoadConfig(modelDir)
	if err != nil {
		return err
	}
	w, err := OpenWeights(modelDir)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	defer w.Close()
	if err := CheckWeights(cfg, w); err != nil {
		return fmt.Errorf("merge: model %s: %w", modelDir, err)
	}
	af, err := readAdapter(adapterDir, cfg)
	if err != nil {
		return err
	}
	defer af.w.Close()

	untie := cfg.TieWordEmbeddings && (af.embed != nil || af.lmHead != nil)
	quantized := quantizedNames{bits: bits, names: cfg.projectionWeights(bits)}
	files := map[string][]TensorData{}
	fileOf := func(name string) string {
		if f := w.File(name); f != "" {
			return f
		}
		return SafetensorsFile
	}
	names := w.Names()
	if untie && !contains(names, LMHeadWeight) {
		names = append(names, LMHeadWeight)
	}
	for _, name := range names {
		td, err := mergedTensor(name, w, af, untie, quantized)
		if err != nil {
			return err
		}
		f := fileOf(name)
		if name == LMHeadWeight && w.File(name) == "" {
			f = fileOf(EmbedTokensWeight) // a new lm_head goes beside the embeddings
		}
		files[f] = append(files[f], td)
	}

	configJSON, err := os.ReadFile(filepath.Join(modelDir, ConfigFile))
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if untie {
		if configJSON, err = setConfigKey(configJSON, "tie_word_embeddings", false); err != nil {
			return fmt.Errorf("merge: %s: %w", ConfigFile, err)
		}
	}
	return writeDirAtomic(outDir, nil, func(tmp string) error {
		if err := writeWeightFiles(tmp, files, w.Metadata()); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, ConfigFile), configJSON); err != nil {
			return err
		}
		if err := copyModelFiles(modelDir, tmp); err != nil {
			return err
		}
		return writeExtraFiles(tmp, extra)
	})
}

// mergedTensor describes output tensor name: merged LoRA weights and modules_to_save copies are
// computed when written; everything else is the mapped input bytes.
func mergedTensor(name string, w *Weights, af *adapterFile, untie bool, quantized quantizedNames) (TensorData, error) {
	ti, ok := w.Get(name)
	if name == LMHeadWeight && untie {
		// A tied lm_head is the (original) embedding unless lm_head itself was saved.
		src, _ := w.Get(EmbedTokensWeight)
		if af.lmHead != nil {
			return convertedTensor(name, *af.lmHead, src.DType, src.Shape), nil
		}
		return TensorData{Name: name, DType: src.DType, Shape: src.Shape, Data: src.Data}, nil
	}
	if !ok {
		return TensorData{}, fmt.Errorf("merge: tensor %s missing", name)
	}
	switch {
	case name == EmbedTokensWeight && af.embed != nil:
		return convertedTensor(name, *af.embed, ti.DType, ti.Shape), nil
	case name == LMHeadWeight && af.lmHead != nil:
		return convertedTensor(name, *af.lmHead, ti.DType, ti.Shape), nil
	}
	if module, ok := strings.CutSuffix(name, ".weight"); ok {
		if p, ok := af.lora[module]; ok {
			if _, ok := safetensorsDTypes[ti.DType]; !ok {
				return TensorData{}, fmt.Errorf("merge: tensor %s has dtype %s", name, ti.DType)
			}
			scaling := af.cfg.Scaling()
			return TensorData{Name: name, DType: ti.DType, Shape: ti.Shape, Load: func() ([]byte, error) {
				return mergeLinear(ti, p, scaling, quantized.of(name))
			}}, nil
		}
	}
	if bits := quantized.of(name); bits != 0 {
		return TensorData{Name: name, DType: ti.DType, Shape: ti.Shape, Load: func() ([]byte, error) { return dequantizedBytes(ti, bits) }}, nil
	}
	return TensorData{Name: name, DType: ti.DType, Shape: ti.Shape, Data: ti.Data}, nil
}

// mergeLinear computes W + scaling·B·A in f32 (W as quantized to bits and dequantized, when not 0)
// and returns it in W's dtype.
func mergeLinear(W TensorInfo, p adapterTensor, scaling float64, bits int) ([]byte, error) {
	s := torch.NewScope()
	defer s.Close()
	w, _ := tensorFromInfo(s, W, torch.Float32, torch.CPU)
	w = roundTrip(s, w, bits)
	a, _ := tensorFromInfo(s, p.A, torch.Float32, torch.CPU)
	b, _ := tensorFromInfo(s, p.B, torch.Float32, torch.CPU)
	out := s.Add(w, s.MulScalar(s.Matmul(b, a), scaling))
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("merge %s: %w", W.Name, err)
	}
	return out.Bytes(safetensorsDTypes[W.DType])
}

// convertedTensor is src (a modules_to_save copy) written in the base model's dtype.
func convertedTensor(name string, src TensorInfo, dtype string, shape []int64) TensorData {
	return TensorData{Name: name, DType: dtype, Shape: shape, Load: func() ([]byte, error) {
		if src.DType == dtype {
			return src.Data, nil
		}
		s := torch.NewScope()
		defer s.Close()
		t, _ := tensorFromInfo(s, src, torch.Float32, torch.CPU)
		if err := s.Err(); err != nil {
			return nil, fmt.Errorf("convert %s: %w", name, err)
		}
		return t.Bytes(safetensorsDTypes[dtype])
	}}
}

// writeWeightFiles writes model.safetensors alone, or the shard files and an index.
func writeWeightFiles(dir string, files map[string][]TensorData, metadata map[string]string) error {
	if metadata == nil {
		metadata = map[string]string{"format": "pt"}
	}
	if len(files) == 1 {
		if tensors, ok := files[SafetensorsFile]; ok {
			return WriteSafetensors(filepath.Join(dir, SafetensorsFile), tensors, metadata)
		}
	}
	weightMap := map[string]string{}
	var total int64
	for _, f := range sortedKeys(files) {
		for _, t := range files[f] {
			size, err := t.byteSize()
			if err != nil {
				return err
			}
			total += size
			weightMap[t.Name] = f
		}
		if err := WriteSafetensors(filepath.Join(dir, f), files[f], map[string]string{"format": "pt"}); err != nil {
			return err
		}
	}
	return writeSafetensorsIndex(dir, total, weightMap)
}

// staleWeightExt are weight formats a merged folder must not carry over from the base.
var staleWeightExt = []string{".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".gguf", ".ckpt"}

// copyModelFiles copies the model folder's regular files except weights, the weight index and
// config.json (written separately).
func copyModelFiles(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || name == ConfigFile || name == SafetensorsIndexFile {
			continue
		}
		stale := false
		for _, ext := range staleWeightExt {
			stale = stale || strings.HasSuffix(name, ext)
		}
		if stale {
			continue
		}
		if err := copyFile(filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// setConfigKey sets one top-level key of a config.json, keeping every other key and number
// spelling (keys come out sorted, as transformers writes them).
func setConfigKey(data []byte, key string, value any) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	m[key] = value
	return marshalSortedJSON(m)
}

func contains(names []string, name string) bool {
	i := sort.SearchStrings(names, name)
	return i < len(names) && names[i] == name
}
