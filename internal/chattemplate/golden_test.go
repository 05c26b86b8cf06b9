package chattemplate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goldenNow is the clock scripts/chattemplate-goldens.mjs gives @huggingface/jinja.
var goldenNow = time.Date(2026, 12, 2, 20, 19, 18, 0, time.UTC)

type goldenCase struct {
	Name   string  `json:"name"`
	Output *string `json:"output"`
	Error  string  `json:"error"`
}

type testCase struct {
	Name                string    `json:"name"`
	Messages            []Message `json:"messages"`
	AddGenerationPrompt bool      `json:"add_generation_prompt"`
}

type templateSource struct {
	Model  string `json:"model"`
	Source string `json:"source"`
	BOS    string `json:"bos_token"`
	EOS    string `json:"eos_token"`
	File   string `json:"file"` // relative to the package; default templates/NAME.jinja
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestGolden renders each model's template on each case and compares it byte
// for byte with @huggingface/jinja's rendering (scripts/chattemplate-goldens.mjs).
func TestGolden(t *testing.T) {
	var sources map[string]templateSource
	readJSON(t, "testdata/templates.json", &sources)
	var cases []testCase
	readJSON(t, "testdata/cases.json", &cases)
	if len(sources) < 10 || len(cases) < 8 {
		t.Fatalf("%d templates, %d cases: testdata is incomplete", len(sources), len(cases))
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			var golden struct {
				Renderer string       `json:"renderer"`
				Cases    []goldenCase `json:"cases"`
			}
			readJSON(t, filepath.Join("testdata", "golden", name+".json"), &golden)
			if len(golden.Cases) != len(cases) {
				t.Fatalf("golden has %d cases, cases.json %d: rerun scripts/chattemplate-goldens.mjs", len(golden.Cases), len(cases))
			}
			file := src.File
			if file == "" {
				file = filepath.Join("templates", name+".jinja")
			}
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := Parse(name, string(text), src.BOS, src.EOS)
			if err != nil {
				t.Fatal(err)
			}
			tmpl = tmpl.WithClock(func() time.Time { return goldenNow })
			for i, c := range cases {
				want := golden.Cases[i]
				got, err := tmpl.Render(c.Messages, c.AddGenerationPrompt)
				switch {
				case want.Output == nil && err == nil:
					t.Errorf("%s: rendered %q, %s raised %q", c.Name, got, golden.Renderer, want.Error)
				case want.Output == nil && !strings.Contains(err.Error(), want.Error):
					t.Errorf("%s: error %q does not say %q", c.Name, err, want.Error)
				case want.Output != nil && err != nil:
					t.Errorf("%s: %v", c.Name, err)
				case want.Output != nil && got != *want.Output:
					t.Errorf("%s:\n got %q\nwant %q", c.Name, got, *want.Output)
				}
			}
		})
	}
}
