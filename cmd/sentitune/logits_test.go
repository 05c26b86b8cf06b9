package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/llm/reference"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/internal/torch"
)

type logitsOutput struct {
	IDs    []int       `json:"ids"`
	Logits [][]float64 `json:"logits"`
}

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	err := app.Run(append([]string{"sentitune"}, args...))
	return out.String(), err
}

func logitsCLI(t *testing.T, args ...string) logitsOutput {
	t.Helper()
	out, err := runCLI(t, append([]string{"logits", "--device", "cpu"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var got logitsOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	return got
}

func maxAbsDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

func TestLogitsAndMergeCommands(t *testing.T) {
	root := t.TempDir()
	model := filepath.Join(root, "tiny")
	if err := llm.InitRandomModel(model, "tiny", 3, "f32"); err != nil {
		t.Fatal(err)
	}
	ids := []int{9707, 11, 1879, 0}

	t.Run("logits match the float64 reference", func(t *testing.T) {
		ref, err := reference.Load(model)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Forward(ids)
		if err != nil {
			t.Fatal(err)
		}
		last := logitsCLI(t, "--model", model, "--ids", "9707, 11,1879,0")
		if len(last.IDs) != 4 || len(last.Logits) != 1 || len(last.Logits[0]) != 151936 {
			t.Fatalf("ids %v, %d rows of %d logits; want 1 row of 151936", last.IDs, len(last.Logits), len(last.Logits[0]))
		}
		if d := maxAbsDiff(last.Logits[0], want[3]); d > 1e-4 {
			t.Errorf("last-position logits differ from the reference by %.3g", d)
		}
		all := logitsCLI(t, "--model", model, "--ids", "9707,11,1879,0", "--all-positions")
		if len(all.Logits) != 4 {
			t.Fatalf("%d rows with --all-positions, want 4", len(all.Logits))
		}
		for i := range ids {
			if d := maxAbsDiff(all.Logits[i], want[i]); d > 1e-4 {
				t.Errorf("position %d: logits differ from the reference by %.3g", i, d)
			}
		}
	})

	t.Run("merge equals base + adapter", func(t *testing.T) {
		adapter := filepath.Join(root, "adapter")
		m, err := llm.LoadModel(model, llm.LoadOptions{})
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
		if err := finetune.SaveAdapter(m, adapter, task.Meta{}); err != nil {
			t.Fatal(err)
		}
		m.Close()
		merged := filepath.Join(root, "merged")
		out, err := runCLI(t, "merge", "--model", model, "--adapter", adapter, "--out", merged)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, merged) {
			t.Errorf("merge output %q", out)
		}
		base := logitsCLI(t, "--model", model, "--ids", "9707,11,1879,0")
		withAdapter := logitsCLI(t, "--model", model, "--adapter", adapter, "--ids", "9707,11,1879,0")
		fromMerged := logitsCLI(t, "--model", merged, "--ids", "9707,11,1879,0")
		if d := maxAbsDiff(withAdapter.Logits[0], base.Logits[0]); d < 1e-3 {
			t.Fatalf("the adapter changed the logits by only %.3g", d)
		}
		if d := maxAbsDiff(fromMerged.Logits[0], withAdapter.Logits[0]); d > 1e-4 {
			t.Errorf("merged model logits differ from base + adapter by %.3g", d)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"logits", "--model", model, "--ids", "1,x"}, `item 2 ("x") is not a token id`},
			{[]string{"logits", "--model", model, "--ids", ","}, "no token ids"},
			{[]string{"logits", "--model", model, "--ids", "151936", "--device", "cpu"}, "outside the vocabulary"},
			{[]string{"logits", "--model", model, "--ids", "1", "--dtype", "i64"}, "not supported"},
			{[]string{"logits", "--model", root, "--ids", "1", "--device", "cpu"}, "no config.json"},
			{[]string{"merge", "--model", model, "--adapter", root, "--out", filepath.Join(root, "m2")}, "has no adapter_config.json"},
		} {
			if _, err := runCLI(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: error %v, want one mentioning %q", tc.args, err, tc.want)
			}
		}
	})
}
