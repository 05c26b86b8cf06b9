package main

import (
	"strings"
	"testing"
)

// finetune --dry-run prints the memory plan from --model alone (no data, no run folder, no
// training); options the plan cannot use exit 2, and so does --cuda-graphs on the CPU.
func TestFinetuneDryRunAndCUDAGraphs(t *testing.T) {
	model := "../../finetune/testdata/qwen2.5-7b-instruct"
	out, err := runCLI(t, "finetune", "--model", model, "--device", "cuda", "--batch-size", "16", "--max-len", "512",
		"--quantization-bit", "4", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"on cuda, bf16, micro-batch 16 × 512 tokens, quantization 4-bit, gradient checkpointing on",
		"weights: projections", "AdamW state", "activations (checkpointed)", "with gradient checkpointing off", "workspace", "runtime", "total (peak)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"finetune", "--model", model, "--dry-run", "--batch-size", "0"}, "batch-size must be at least 1"},
		{[]string{"finetune", "--dry-run"}, "no model folder (--model)"},
		{[]string{"finetune", "--model", model, "--data", "d", "--out", "o", "--device", "cpu", "--cuda-graphs"}, "--cuda-graphs needs a CUDA device"},
	} {
		_, err := runCLI(t, c.args...)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v (exit %d), want %q with exit 2", c.args, err, exitCode(err), c.want)
		}
	}
}
