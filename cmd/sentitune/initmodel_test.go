package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm"
)

func TestInitModelCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tiny")
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"sentitune", "init-model", "--preset", "tiny", "--seed", "5", "--out", dir}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wrote tiny Qwen2 model") || !strings.Contains(out.String(), dir) {
		t.Errorf("output %q", out.String())
	}
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	cases := []struct {
		args []string
		want string
		code int // 2: a usage error, refused before anything is written
	}{
		{[]string{"--preset", "medium", "--out", filepath.Join(t.TempDir(), "m")}, `unknown model preset "medium"`, 2},
		{[]string{"--dtype", "f8", "--out", filepath.Join(t.TempDir(), "m")}, `init-model: --dtype: unsupported dtype "f8" (want f32, bf16 or f16)`, 2},
		{[]string{"--out", dir}, "--out " + dir + " exists and is not empty", 2},
		{[]string{"--logit-scale", "-1", "--out", filepath.Join(t.TempDir(), "m")}, "--logit-scale -1", 2},
		{[]string{"--logit-scale", "NaN", "--out", filepath.Join(t.TempDir(), "m")}, "--logit-scale NaN", 2},
		{[]string{"--preset", "tiny"}, "--out DIR is required", 2},
		{[]string{"--arch", "baichuan", "--out", filepath.Join(t.TempDir(), "m")}, `--arch: unknown architecture "baichuan"`, 2},
	}
	for _, tc := range cases {
		err := newApp().Run(append([]string{"sentitune", "init-model"}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitCode(err) != tc.code {
			t.Errorf("%v: got %v (exit %d), want %q (exit %d)", tc.args, err, exitCode(err), tc.want, tc.code)
		}
	}
}

// TestInitModelArch: --arch writes that architecture's config.json, which the model loader reads.
func TestInitModelArch(t *testing.T) {
	for _, arch := range llm.ArchPresets {
		dir := filepath.Join(t.TempDir(), arch)
		var out bytes.Buffer
		app := newApp()
		app.Writer = &out
		if err := app.Run([]string{"sentitune", "init-model", "--arch", arch, "--out", dir}); err != nil {
			t.Fatal(err)
		}
		cfg, err := llm.LoadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(cfg.ModelType, arch) || !strings.Contains(out.String(), "wrote tiny "+strings.TrimSuffix(cfg.Architectures[0], "ForCausalLM")) {
			t.Errorf("--arch %s: model_type %q, output %q", arch, cfg.ModelType, out.String())
		}
	}
}

// TestInitModelLogitScale: --logit-scale reaches the file as the final norm's weight, L/(hidden · 0.02).
func TestInitModelLogitScale(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fit")
	if err := newApp().Run([]string{"sentitune", "init-model", "--logit-scale", "20", "--seed", "5", "--out", dir}); err != nil {
		t.Fatal(err)
	}
	w, err := llm.OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ti, ok := w.Get(llm.FinalNormWeight)
	if !ok {
		t.Fatalf("no %s", llm.FinalNormWeight)
	}
	vals, err := ti.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vals {
		if v != 15.625 {
			t.Fatalf("%s[%d] = %g, want 20/(64 · 0.02) = 15.625", llm.FinalNormWeight, i, v)
		}
	}
}
