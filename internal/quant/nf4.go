// Package quant holds the weight quantizers of a frozen base: NF4 as QLoRA and bitsandbytes
// define it (blocks of 64, an absmax per block, optional double quantization of the absmaxes)
// and 8-bit weight-only per-output-channel absmax. Pure Go, so its goldens test anywhere.
package quant

import (
	"fmt"
	"math"
)

// NF4Codes are the 16 NormalFloat4 values of QLoRA (Dettmers et al. 2023, appendix E), as
// bitsandbytes lists them in get_4bit_type("nf4"), in code order 0..15.
var NF4Codes = [16]float32{
	-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
	-0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
	0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
	0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
}

// NF4BlockSize is bitsandbytes' default blocksize for quantize_4bit (and QLoRA's).
const NF4BlockSize = 64

// AbsmaxBlockSize is the blocksize bitsandbytes' double quantization uses for the absmaxes.
const AbsmaxBlockSize = 256

// nf4Midpoints are the decision thresholds between neighbouring codes, the float constants of
// bitsandbytes' dQuantizeNF4 (csrc/kernels.cu): midpoints of the codes rounded in double, so
// some differ by an ulp from float32 arithmetic on NF4Codes. A value above threshold i maps to a
// code above i.
var nf4Midpoints = [15]float32{
	-0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544,
	-0.23460740596055984, -0.13791173323988914, -0.045525018125772476, 0.03979014977812767,
	0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
	0.5016634166240692, 0.6427869200706482, 0.8614784181118011,
}

// nf4Code is the index of the NF4 value nearest x (x in [-1, 1]); a tie goes to the lower code,
// as dQuantizeNF4's strict comparisons do.
func nf4Code(x float32) byte {
	var c byte
	for c < 15 && x > nf4Midpoints[c] {
		c++
	}
	return c
}

// NF4 is a tensor of N values quantized to NF4: two codes a byte, the first value in the high
// nibble (bitsandbytes' packing), one scale per block of 64. With double quantization the scales
// are themselves stored as 8-bit codes (QAbsmax, blocks of 256 with Absmax2 and Offset) and
// Absmax is nil.
type NF4 struct {
	N      int
	Packed []byte    // ceil(N/2) bytes
	Absmax []float32 // one per block of 64, when not double quantized
	// Double quantization (bitsandbytes compress_statistics): absmax - Offset in blocks of 256,
	// each an absmax Absmax2 and 8-bit dynamic-map codes QAbsmax.
	QAbsmax []byte
	Absmax2 []float32
	Offset  float32
}

// Blocks is the number of blocks of 64.
func (q *NF4) Blocks() int { return (q.N + NF4BlockSize - 1) / NF4BlockSize }

// Bytes is the resident size of the quantized tensor: codes plus scales.
func (q *NF4) Bytes() int {
	return len(q.Packed) + 4*len(q.Absmax) + len(q.QAbsmax) + 4*len(q.Absmax2) + 4
}

// QuantizeNF4 quantizes w as bitsandbytes.functional.quantize_4bit(w, blocksize=64,
// quant_type="nf4", compress_statistics=double) does: per block of 64 the absmax, each value
// scaled by 1/absmax and mapped to the nearest code; a short last block is padded with zeros.
func QuantizeNF4(w []float32, double bool) *NF4 {
	q := &NF4{N: len(w), Packed: make([]byte, (len(w)+1)/2)}
	absmax := make([]float32, q.Blocks())
	for b := range absmax {
		block := w[b*NF4BlockSize : min((b+1)*NF4BlockSize, len(w))]
		absmax[b] = absMax(block)
		inv := float32(0)
		if absmax[b] != 0 {
			inv = 1 / absmax[b]
		}
		for j, x := range block {
			i := b*NF4BlockSize + j
			c := nf4Code(x * inv)
			if i%2 == 0 {
				q.Packed[i/2] = c << 4
			} else {
				q.Packed[i/2] |= c
			}
		}
	}
	if len(w)%2 == 1 {
		q.Packed[len(q.Packed)-1] |= nf4Code(0) // the zero padding's code
	}
	if !double {
		q.Absmax = absmax
		return q
	}
	q.Offset = mean(absmax)
	shifted := make([]float32, len(absmax))
	for i, a := range absmax {
		shifted[i] = a - q.Offset
	}
	q.QAbsmax, q.Absmax2 = quantizeBlockwise(shifted, AbsmaxBlockSize)
	return q
}

// Scales are the per-block absmaxes, dequantized when double quantized.
func (q *NF4) Scales() []float32 {
	if q.QAbsmax == nil {
		return q.Absmax
	}
	out := dequantizeBlockwise(q.QAbsmax, q.Absmax2, AbsmaxBlockSize)
	for i := range out {
		out[i] += q.Offset
	}
	return out
}

// Dequantize returns the N values code·absmax (bitsandbytes dequantize_4bit).
func (q *NF4) Dequantize() []float32 {
	scales := q.Scales()
	out := make([]float32, q.N)
	for i := range out {
		c := q.Packed[i/2] >> 4
		if i%2 == 1 {
			c = q.Packed[i/2] & 0x0f
		}
		out[i] = NF4Codes[c] * scales[i/NF4BlockSize]
	}
	return out
}

// Check reports an inconsistent NF4 (sizes that do not match N).
func (q *NF4) Check() error {
	if len(q.Packed) != (q.N+1)/2 {
		return fmt.Errorf("nf4: %d packed bytes for %d values", len(q.Packed), q.N)
	}
	if q.QAbsmax == nil && len(q.Absmax) != q.Blocks() {
		return fmt.Errorf("nf4: %d absmax for %d blocks", len(q.Absmax), q.Blocks())
	}
	if q.QAbsmax != nil && (len(q.QAbsmax) != q.Blocks() || len(q.Absmax2) != (q.Blocks()+AbsmaxBlockSize-1)/AbsmaxBlockSize) {
		return fmt.Errorf("nf4: %d quantized absmax and %d second-level scales for %d blocks", len(q.QAbsmax), len(q.Absmax2), q.Blocks())
	}
	return nil
}

func absMax(xs []float32) float32 {
	var m float32
	for _, x := range xs {
		m = max(m, float32(math.Abs(float64(x))))
	}
	return m
}

// mean is absmax.mean() (double quantization's offset), summed in float64 and rounded once.
func mean(xs []float32) float32 {
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return float32(s / float64(len(xs)))
}
