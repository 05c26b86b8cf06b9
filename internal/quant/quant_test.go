package quant

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"testing"
)

type goldenCase struct {
	Name        string    `json:"name"`
	Double      bool      `json:"double"`
	Input       []float32 `json:"input"`
	Packed      string    `json:"packed"`
	Absmax      []float32 `json:"absmax"`
	QAbsmax     string    `json:"qabsmax"`
	Absmax2     []float32 `json:"absmax2"`
	Offset      float32   `json:"offset"`
	Dequantized []float32 `json:"dequantized"`
}

// TestNF4Golden holds QuantizeNF4 to blocks computed by scripts/quant_golden.py, a numpy
// implementation of bitsandbytes' quantize_4bit/dequantize_4bit (NF4, blocksize 64, with and
// without double quantization): codes, packing, scales and dequantized values bit for bit.
func TestNF4Golden(t *testing.T) {
	raw, err := os.ReadFile("testdata/nf4_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		DynamicMap []float32    `json:"dynamic_map"`
		Cases      []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	t.Run("dynamic map", func(t *testing.T) {
		for i, v := range golden.DynamicMap {
			if DynamicMap[i] != v {
				t.Fatalf("DynamicMap[%d] = %v, bitsandbytes' create_dynamic_map gives %v", i, DynamicMap[i], v)
			}
		}
	})
	for _, c := range golden.Cases {
		name := c.Name
		if c.Double {
			name += "/double"
		}
		t.Run(name, func(t *testing.T) {
			q := QuantizeNF4(c.Input, c.Double)
			if err := q.Check(); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(q.Packed); got != c.Packed {
				t.Errorf("packed codes differ at byte %d", firstDiff(got, c.Packed)/2)
			}
			if c.Double {
				if q.Offset != c.Offset {
					t.Errorf("offset %v, want %v", q.Offset, c.Offset)
				}
				if got := hex.EncodeToString(q.QAbsmax); got != c.QAbsmax {
					t.Errorf("quantized absmax differ at %d", firstDiff(got, c.QAbsmax)/2)
				}
				equalFloats(t, "absmax2", q.Absmax2, c.Absmax2)
			} else {
				equalFloats(t, "absmax", q.Absmax, c.Absmax)
			}
			equalFloats(t, "dequantized", q.Dequantize(), c.Dequantized)
		})
	}
}

// TestNF4Midpoints: each threshold lies between its two codes, within an ulp of their midpoint,
// and a value on it goes to the lower code.
func TestNF4Midpoints(t *testing.T) {
	for i, m := range nf4Midpoints {
		mid := (float64(NF4Codes[i]) + float64(NF4Codes[i+1])) / 2
		if math.Abs(float64(m)-mid) > 1e-7 || !(NF4Codes[i] < m && m < NF4Codes[i+1]) {
			t.Errorf("threshold %d = %v, midpoint of its codes %v", i, m, mid)
		}
		if nf4Code(m) != byte(i) || nf4Code(math.Nextafter32(m, 2)) != byte(i+1) {
			t.Errorf("threshold %d (%v): a tie must go to code %d and just above it to %d", i, m, i, i+1)
		}
	}
}

func TestInt8Rows(t *testing.T) {
	w := []float32{0.5, -1, 0.25, 0, 0, 0, 3, 1.5, -0.75}
	q, err := QuantizeInt8Rows(w, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []int8{64, -127, 32, 0, 0, 0, 127, 64, -32} // round(w·127/absmax), 63.5 → 64 (to even)
	for i := range want {
		if q.Q[i] != want[i] {
			t.Fatalf("Q = %v, want %v", q.Q, want)
		}
	}
	for i, x := range q.Dequantize() {
		if math.Abs(float64(x-w[i])) > float64(q.Scale[i/3])/2+1e-7 {
			t.Errorf("value %d: %v dequantizes to %v, more than half a step away", i, w[i], x)
		}
	}
	if _, err := QuantizeInt8Rows(w, 2, 3); err == nil {
		t.Error("a 9-value slice taken as 2×3: no error")
	}
	if q.Bytes() != 9+12 {
		t.Errorf("Bytes = %d, want 21", q.Bytes())
	}
}

func equalFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
