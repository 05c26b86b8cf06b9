package llm

import (
	"fmt"

	"github.com/sentitune/sentitune/internal/quant"
	"github.com/sentitune/sentitune/internal/torch"
)

// A frozen base quantized at load (--quantization-bit): each projection weight is kept as 4-bit
// NF4 (QLoRA's, with double quantization of its absmaxes) or 8-bit per-row absmax codes and
// dequantized into the compute dtype each time the projection runs, forward and (recomputed
// under --gradient-checkpointing) backward. Embeddings, lm_head and norms stay in the compute
// dtype, as in bitsandbytes/PEFT QLoRA.

// quantWeight is one projection's quantized weight [out, in].
type quantWeight struct {
	bits    int
	out, in int64
	dtype   torch.DType   // compute dtype the weight dequantizes into
	codes   *torch.Tensor // u8: NF4 codes two a byte (high nibble first), or int8 values + 128
	scales  *torch.Tensor // f32 [blocks, 1] NF4 absmax, or [out, 1] int8 row scales
	qabsmax *torch.Tensor // u8 [blocks2·256] double-quantized NF4 absmax (then scales is nil)
	absmax2 *torch.Tensor // f32 [blocks2, 1]
	offset  float64
	luts    *quantTables
	bytes   int64 // resident bytes of the tensors above
}

// quantTables are the lookup tables every NF4 weight of a model shares.
type quantTables struct {
	nf4Pairs *torch.Tensor // f32 [256, 2]: byte → (code of high nibble, code of low nibble)
	dynamic  *torch.Tensor // f32 [256, 1]: bitsandbytes' dynamic map
}

// ParseQuantizationBit reads --quantization-bit: 0 (none), 4 (NF4) or 8.
func ParseQuantizationBit(bits int) error {
	switch bits {
	case 0, 4, 8:
		return nil
	}
	return fmt.Errorf("quantization bit %d is not supported (want 4 or 8, or 0 for none)", bits)
}

// Quantization is the bits of the frozen base's projections (4 or 8), 0 when not quantized.
func (m *Model) Quantization() int { return m.quantBits }

// quantize replaces every projection weight by its quantized form.
func (m *Model) quantize(bits int) error {
	if err := ParseQuantizationBit(bits); err != nil || bits == 0 {
		return err
	}
	s := torch.NewScope()
	defer s.Close()
	luts := m.quantTables(s)
	for _, layer := range m.layers {
		for _, lin := range layer.linears() {
			q, err := m.quantizeWeight(s, lin, bits, luts)
			if err != nil {
				return fmt.Errorf("quantize %s to %d bits: %w", lin.Name, bits, err)
			}
			lin.Weight.Free()
			lin.Weight, lin.Quant = nil, q
		}
	}
	m.quantBits = bits
	return nil
}

// projectionWeights names every projection weight of the model when bits quantizes them, else none.
func (c *Config) projectionWeights(bits int) map[string]bool {
	out := map[string]bool{}
	if bits == 0 {
		return out
	}
	for i := 0; i < c.NumHiddenLayers; i++ {
		for _, module := range c.LinearModules() {
			out[LayerPrefix(i)+module+".weight"] = true
		}
	}
	return out
}

func (m *Model) quantTables(s *torch.Scope) *quantTables {
	pairs := make([]float32, 512)
	for b := range 256 {
		pairs[2*b], pairs[2*b+1] = quant.NF4Codes[b>>4], quant.NF4Codes[b&15]
	}
	return &quantTables{
		nf4Pairs: m.keep(s, s.ToDevice(s.FromFloat32(pairs, 256, 2), m.dev)),
		dynamic:  m.keep(s, s.ToDevice(s.FromFloat32(quant.DynamicMap[:], 256, 1), m.dev)),
	}
}

func (m *Model) quantizeWeight(s *torch.Scope, lin *linear, bits int, luts *quantTables) (*quantWeight, error) {
	shape := lin.Weight.Shape()
	w, err := s.ToDType(lin.Weight, torch.Float32).Float32s()
	if err != nil {
		return nil, err
	}
	q := &quantWeight{bits: bits, out: shape[0], in: shape[1], dtype: m.dtype, luts: luts}
	toDev := func(t *torch.Tensor) *torch.Tensor { return m.keep(s, s.ToDevice(t, m.dev)) }
	if bits == 8 {
		r, err := quant.QuantizeInt8Rows(w, int(q.out), int(q.in))
		if err != nil {
			return nil, err
		}
		offsetCodes := make([]byte, len(r.Q))
		for i, v := range r.Q {
			offsetCodes[i] = byte(int(v) + 128)
		}
		q.codes = toDev(s.FromBytes(offsetCodes, torch.Uint8, []int64{q.out, q.in}, torch.CPU))
		q.scales = toDev(s.FromFloat32(r.Scale, q.out, 1))
		q.bytes = int64(r.Bytes())
		return q, s.Err()
	}
	n := quant.QuantizeNF4(w, true)
	blocks := int64(n.Blocks())
	packed := make([]byte, blocks*quant.NF4BlockSize/2) // whole blocks, so the codes reshape to [blocks, 64]
	copy(packed, n.Packed)
	q.codes = toDev(s.FromBytes(packed, torch.Uint8, []int64{int64(len(packed))}, torch.CPU))
	blocks2 := int64(len(n.Absmax2))
	qabsmax := make([]byte, blocks2*quant.AbsmaxBlockSize)
	copy(qabsmax, n.QAbsmax)
	q.qabsmax = toDev(s.FromBytes(qabsmax, torch.Uint8, []int64{int64(len(qabsmax))}, torch.CPU))
	q.absmax2 = toDev(s.FromFloat32(n.Absmax2, blocks2, 1))
	q.offset = float64(n.Offset)
	q.bytes = int64(n.Bytes())
	return q, s.Err()
}

// dequantize returns the weight [out, in] in the compute dtype (no grad: the base is frozen).
func (q *quantWeight) dequantize(s *torch.Scope) *torch.Tensor {
	if q.bits == 8 {
		w := s.AddScalar(s.ToDType(q.codes, torch.Float32), -128)
		return s.ToDType(s.Mul(w, q.scales), q.dtype)
	}
	nblocks := q.codes.Size(0) * 2 / quant.NF4BlockSize
	absmax := s.Embedding(q.luts.dynamic, s.ToDType(q.qabsmax, torch.Int64)) // [blocks2·256, 1]
	absmax = s.Reshape(absmax, q.absmax2.Size(0), quant.AbsmaxBlockSize)     // [blocks2, 256]
	absmax = s.Reshape(s.Mul(absmax, q.absmax2), -1, 1)                      // [blocks2·256, 1]
	absmax = s.AddScalar(s.Narrow(absmax, 0, 0, nblocks), q.offset)          // [blocks, 1]
	vals := s.Embedding(q.luts.nf4Pairs, s.ToDType(q.codes, torch.Int64))    // [blocks·32, 2]
	w := s.Mul(s.Reshape(vals, nblocks, quant.NF4BlockSize), absmax)         // [blocks, 64]
	w = s.Reshape(s.Narrow(s.Reshape(w, -1), 0, 0, q.out*q.in), q.out, q.in)
	return s.ToDType(w, q.dtype)
}

// WeightBytes is the resident size of the base model's weights: its projections (quantized or
// not) and the rest (embeddings, an untied lm_head, norms, biases). Adapters are not counted.
func (m *Model) WeightBytes() (projections, rest int64) {
	size := func(t *torch.Tensor) int64 {
		if t == nil {
			return 0
		}
		return t.Numel() * int64(t.DType().Size())
	}
	for _, layer := range m.layers {
		for _, lin := range layer.linears() {
			if lin.Quant != nil {
				projections += lin.Quant.bytes
			} else {
				projections += size(lin.Weight)
			}
			rest += size(lin.Bias)
		}
		for _, w := range m.cfg.layerWeights() {
			if !w.Linear {
				rest += size(*w.norm(layer))
			}
		}
	}
	rest += size(m.embed) + size(m.norm)
	if m.lmHead != m.embed {
		rest += size(m.lmHead)
	}
	return projections, rest
}
