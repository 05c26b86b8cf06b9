package llm_test

import (
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

// hiddenAll is the decoder's output at every position of the right-padded batch, [B, T, H].
func hiddenAll(s *torch.Scope, m *llm.Model, b llm.Batch, train bool) (*torch.Tensor, error) {
	h, err := m.HiddenAt(s, b, nil, nil, train)
	if err != nil {
		return nil, err
	}
	return s.Reshape(h, int64(len(b.IDs)), int64(b.MaxLen()), int64(m.Config().HiddenSize)), s.Err()
}

// logitsAt is the lm_head at (rows, pos) of a hiddenAll output: [N, V].
func logitsAt(s *torch.Scope, m *llm.Model, hidden *torch.Tensor, rows, pos []int) (*torch.Tensor, error) {
	return m.Logits(s, gatherRows(s, hidden, rows, pos))
}

// lastLogits is the logits at each row's last token, [B, V].
func lastLogits(s *torch.Scope, m *llm.Model, b llm.Batch) (*torch.Tensor, error) {
	rows, pos := b.LastPositions()
	h, err := m.HiddenAt(s, b, rows, pos, false)
	if err != nil {
		return nil, err
	}
	return m.Logits(s, h)
}
