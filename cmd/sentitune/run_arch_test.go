package main

import (
	"errors"
	"strings"
	"testing"
)

// run --arch picks the demo model's architecture; a bad one, or one given with --model, is a usage
// error before any stage runs.
func TestRunArch(t *testing.T) {
	cfg, err := parseRunConfig(t, "--arch", "qwen3")
	if err != nil || cfg.DemoArch != "qwen3" {
		t.Fatalf("--arch qwen3: arch %q, error %v", cfg.DemoArch, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--arch", "baichuan"}, `unknown architecture "baichuan"`},
		{[]string{"--model", "models/x", "--arch", "mistral"}, "do not apply with a model"},
	} {
		_, err := parseRunConfig(t, tc.args...)
		var ee exitError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("%v: error %v (%T), want a usage error with %q", tc.args, err, err, tc.want)
		}
	}
}
