package quant

import (
	"fmt"
	"math"
)

// Int8Rows is a [rows, cols] matrix quantized weight-only per output channel (row): q =
// round(w·127/absmax_row), w ≈ q·absmax_row/127. Not bitsandbytes' LLM.int8 (no outlier
// decomposition, no int8 activations): the weight is dequantized before its matmul.
type Int8Rows struct {
	Rows, Cols int
	Q          []int8
	Scale      []float32 // absmax_row/127
}

// Bytes is the resident size: one byte a value plus a scale a row.
func (q *Int8Rows) Bytes() int { return len(q.Q) + 4*len(q.Scale) }

// QuantizeInt8Rows quantizes a row-major [rows, cols] matrix w.
func QuantizeInt8Rows(w []float32, rows, cols int) (*Int8Rows, error) {
	if rows*cols != len(w) {
		return nil, fmt.Errorf("int8: %d values are not %d×%d", len(w), rows, cols)
	}
	q := &Int8Rows{Rows: rows, Cols: cols, Q: make([]int8, len(w)), Scale: make([]float32, rows)}
	for r := 0; r < rows; r++ {
		row := w[r*cols : (r+1)*cols]
		q.Scale[r] = absMax(row) / 127
		if q.Scale[r] == 0 {
			continue
		}
		for j, x := range row {
			q.Q[r*cols+j] = int8(math.RoundToEven(float64(x / q.Scale[r])))
		}
	}
	return q, nil
}

// Dequantize returns q·scale row by row.
func (q *Int8Rows) Dequantize() []float32 {
	out := make([]float32, len(q.Q))
	for i, v := range q.Q {
		out[i] = float32(v) * q.Scale[i/q.Cols]
	}
	return out
}
