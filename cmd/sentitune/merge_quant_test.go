package main

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

// An adapter trained on a 4-bit base merges onto that base dequantized, with a warning saying the
// merged weights are not the original ones: the merged folder's logits are the quantized base +
// adapter's. --quantization-bit 0 merges onto the original weights, warning that this is not the
// model trained.
func TestMergeQuantizedBaseWarns(t *testing.T) {
	root := t.TempDir()
	model, adapter := filepath.Join(root, "tiny"), filepath.Join(root, "adapter")
	if err := llm.InitRandomModel(model, "tiny", 3, "f32"); err != nil {
		t.Fatal(err)
	}
	m, err := llm.LoadModel(model, llm.LoadOptions{QuantizationBit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddLoRA(llm.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"all"}}, 1); err != nil {
		t.Fatal(err)
	}
	s := torch.NewScope()
	for _, p := range m.TrainableParams() {
		if p.IsLoRAB {
			if err := p.T.CopyFrom(s.Full(p.T.Shape(), 0.05, torch.Float32, torch.CPU)); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.Close()
	if err := finetune.SaveAdapter(m, adapter, task.Meta{QuantizationBit: 4}); err != nil {
		t.Fatal(err)
	}
	trained := lastLogits(t, m)
	m.Close()

	merge := func(out string, extra ...string) (stderr string) {
		app := newApp()
		var o, e bytes.Buffer
		app.Writer, app.ErrWriter = &o, &e
		args := append([]string{"sentitune", "merge", "--model", model, "--adapter", adapter, "--out", out}, extra...)
		if err := app.Run(args); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return e.String()
	}
	loadLast := func(dir string) []float32 {
		mm, err := llm.LoadModel(dir, llm.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer mm.Close()
		return lastLogits(t, mm)
	}
	warn := merge(filepath.Join(root, "merged"))
	for _, want := range []string{"warning", "trained against the base quantized to 4-bit NF4", "dequantized plus the LoRA update, not the original weights"} {
		if !strings.Contains(warn, want) {
			t.Errorf("merge of a 4-bit adapter: stderr %q lacks %q", warn, want)
		}
	}
	if d := maxAbsDiff32(loadLast(filepath.Join(root, "merged")), trained); d > 1e-4 {
		t.Errorf("merged logits differ from the 4-bit base + adapter by %.3g", d)
	}

	warn = merge(filepath.Join(root, "merged-original"), "--quantization-bit", "0")
	if !strings.Contains(warn, "merged onto the original weights") || !strings.Contains(warn, "not exactly the one trained") {
		t.Errorf("--quantization-bit 0: stderr %q lacks the warning", warn)
	}
	if d := maxAbsDiff32(loadLast(filepath.Join(root, "merged-original")), trained); d < 1e-3 {
		t.Errorf("merged onto the original weights, logits within %.3g of the 4-bit model's: the base was not the original", d)
	}
}

// lastLogits is the model's next-token logits after a fixed 4-token prompt.
func lastLogits(t *testing.T, m *llm.Model) []float32 {
	t.Helper()
	var out []float32
	err := torch.NoGrad(func() error {
		s := torch.NewScope()
		defer s.Close()
		h, err := m.HiddenAt(s, llm.Batch{IDs: [][]int{{9707, 11, 1879, 0}}}, []int{0}, []int{3}, false)
		if err != nil {
			return err
		}
		l, err := m.Logits(s, h)
		if err != nil {
			return err
		}
		out, err = l.Float32s()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maxAbsDiff32(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
