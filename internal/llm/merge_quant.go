package llm

import (
	"fmt"

	"github.com/sentitune/sentitune/internal/quant"
	"github.com/sentitune/sentitune/internal/torch"
)

// quantizedNames are the weights a merge writes as quantized and dequantized at bits.
type quantizedNames struct {
	bits  int
	names map[string]bool
}

// of is the bits weight name goes through, 0 when it is written as stored.
func (q quantizedNames) of(name string) int {
	if q.names[name] {
		return q.bits
	}
	return 0
}

// roundTrip is w [out, in] (f32, CPU) quantized to bits and dequantized, as LoadModel's quantize
// holds it and the forward sees it (quant's NF4 with double quantization, or int8 rows); w for 0.
func roundTrip(s *torch.Scope, w *torch.Tensor, bits int) *torch.Tensor {
	if bits == 0 || s.Err() != nil {
		return w
	}
	shape := w.Shape()
	vals, err := w.Float32s()
	if err != nil {
		s.Fail(err)
		return w
	}
	var deq []float32
	if bits == 8 {
		q, err := quant.QuantizeInt8Rows(vals, int(shape[0]), int(shape[1]))
		if err != nil {
			s.Fail(err)
			return w
		}
		deq = q.Dequantize()
	} else {
		deq = quant.QuantizeNF4(vals, true).Dequantize()[:len(vals)]
	}
	return s.FromFloat32(deq, shape...)
}

// dequantizedBytes is weight W quantized to bits and dequantized, in W's dtype.
func dequantizedBytes(W TensorInfo, bits int) ([]byte, error) {
	s := torch.NewScope()
	defer s.Close()
	w, _ := tensorFromInfo(s, W, torch.Float32, torch.CPU)
	w = roundTrip(s, w, bits)
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("merge %s: %w", W.Name, err)
	}
	return w.Bytes(safetensorsDTypes[W.DType])
}
