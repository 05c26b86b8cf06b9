package llm

import (
	"errors"
	"fmt"

	"github.com/sentitune/sentitune/internal/torch"
)

// HiddenPadded runs the decoder over equal-length rows padded anywhere (left or right), with
// mask[r][t] true for real tokens: positions are cumsum(mask)-1 and an additive -1e9 key mask is
// combined with the causal one, as transformers does. Real positions give the same output as the
// unpadded rows. Only tests need it: the engine pads on the right (HiddenAt).
func (m *Model) HiddenPadded(s *torch.Scope, ids [][]int, mask [][]bool, train bool) (*torch.Tensor, error) {
	if err := m.usable(); err != nil {
		return nil, err
	}
	B := len(ids)
	if B == 0 || len(ids[0]) == 0 {
		return nil, errors.New("forward: empty batch")
	}
	if len(mask) != B {
		return nil, fmt.Errorf("forward: %d rows of ids but %d rows of mask", B, len(mask))
	}
	T := len(ids[0])
	flat := make([]int64, B*T)
	pos := make([]int64, B*T)
	keyMask := make([]float32, B*T)
	maxPos := 0
	for r := range ids {
		if len(ids[r]) != T || len(mask[r]) != T {
			return nil, fmt.Errorf("forward: row %d has %d ids and %d mask values, want %d (pad rows to one length)",
				r, len(ids[r]), len(mask[r]), T)
		}
		n := 0
		for t, real := range mask[r] {
			id := ids[r][t]
			if !real {
				keyMask[r*T+t] = -1e9
				id = 0
			} else if id < 0 || id >= m.cfg.VocabSize {
				return nil, fmt.Errorf("forward: row %d position %d: token id %d outside the vocabulary [0, %d)", r, t, id, m.cfg.VocabSize)
			}
			flat[r*T+t] = int64(id)
			pos[r*T+t] = int64(max(n-1, 0))
			if real {
				pos[r*T+t] = int64(n)
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("forward: row %d has no real tokens", r)
		}
		maxPos = max(maxPos, n)
	}
	cos, sin, err := m.ropeTables(s, maxPos)
	if err != nil {
		return nil, err
	}
	hd := int64(m.cfg.HeadDim)
	posIdx := s.ToDevice(s.FromInt64(pos, int64(B*T)), m.dev)
	rope := ropeAt{cos: s.Reshape(s.IndexSelect(cos, 0, posIdx), int64(B), 1, int64(T), hd),
		sin: s.Reshape(s.IndexSelect(sin, 0, posIdx), int64(B), 1, int64(T), hd)}
	am := s.To(s.FromFloat32(keyMask, int64(B), 1, 1, int64(T)), m.dtype, m.dev)
	if wm := m.windowMask(s, T); wm != nil { // the window counts sequence indices, as transformers' masks do
		am = s.Add(am, wm)
	}
	q := &attnQueries{n: int64(T), rope: rope, mask: am, causal: true}
	return m.forward(s, flat, B, T, rope, q, q, train)
}
