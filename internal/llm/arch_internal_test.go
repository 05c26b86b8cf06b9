package llm

import (
	"math"
	"sort"
	"testing"

	"github.com/sentitune/sentitune/internal/torch"
)

// TestEmbedScale: gemma's √hidden as the model dtype holds it (transformers' comment: √3072 is 55.5
// in bf16).
func TestEmbedScale(t *testing.T) {
	c := &Config{HiddenSize: 3072, ArchOptions: ArchOptions{EmbedScale: true}}
	for _, tc := range []struct {
		dtype torch.DType
		want  float64
	}{
		{torch.BFloat16, 55.5},
		{torch.Float16, 55.4375},
		{torch.Float32, float64(float32(math.Sqrt(3072)))},
	} {
		if got := c.embedScale(tc.dtype); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.dtype, got, tc.want)
		}
	}
	if got := (&Config{HiddenSize: 3072}).embedScale(torch.BFloat16); got != 1 {
		t.Errorf("no embedding scale: %v", got)
	}
}

// TestGLM4Perm: the rotated pairs (2i, 2i+1) land on (i, head_dim/2 + i), and every dim once.
func TestGLM4Perm(t *testing.T) {
	c := &Config{HeadDim: 12, ArchOptions: ArchOptions{RotaryDim: 6}}
	perm := c.glm4Perm()
	for i := 0; i < 3; i++ {
		if perm[i] != int64(2*i) || perm[6+i] != int64(2*i+1) {
			t.Fatalf("perm %v: pair %d not at (%d, %d)", perm, i, i, 6+i)
		}
	}
	sorted := append([]int64(nil), perm...)
	sort.Slice(sorted, func(a, b int) bool { return sorted[a] < sorted[b] })
	for i, v := range sorted {
		if v != int64(i) {
			t.Fatalf("perm %v is not a permutation", perm)
		}
	}
	cos, sin := make([]float32, 12), make([]float32, 12)
	c.ropeRow(cos, sin, 2, []float64{1, 0.1, 0.01})
	for _, j := range []int{3, 4, 5, 9, 10, 11} { // pass-through dims: cos 1, sin 0
		if cos[j] != 1 || sin[j] != 0 {
			t.Errorf("dim %d: cos %v sin %v", j, cos[j], sin[j])
		}
	}
	if cos[7] != float32(math.Cos(0.2)) || sin[1] != float32(math.Sin(0.2)) {
		t.Errorf("rotated dims: cos %v sin %v", cos, sin)
	}
}
