package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/internal/llm/tokenizer"
)

func TestTokenizeCommand(t *testing.T) {
	model := t.TempDir()
	files, err := tokenizer.BundledFiles()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(model, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte("{\"text\":\"Hello, world!\"}\n{\"text\":\"1\",\"label\":1}\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\":\"ok\"}\n{\"text\":\"\"}\n"), 0o644)
	qwenPrefix := "151644,8948,198,2610,525,1207,16948,11,3465,553,54364,14817,13,1446,525,264,10950,17847,13,151645,198,151644,872,198,"

	tests := []struct {
		name     string
		cfg      tokenizeConfig
		want     string // stdout, or the --out file
		wantErr  string
		wantCode int
	}{
		{"text", tokenizeConfig{Model: model, Text: "Hello, world!", HasText: true}, "{\"ids\":[9707,11,1879,0]}\n", "", 0},
		{"jsonl chat to file", tokenizeConfig{Model: model, JSONL: in, Chat: true, Out: filepath.Join(dir, "out.jsonl")},
			"{\"ids\":[" + qwenPrefix + "9707,11,1879,0,151645,198,151644,77091,198]}\n" +
				"{\"ids\":[" + qwenPrefix + "16,151645,198,151644,77091,198]}\n", "", 0},
		{"empty line", tokenizeConfig{Model: model, JSONL: bad, Out: filepath.Join(dir, "bad-out.jsonl")}, "", "line 2: empty text", 0},
		{"empty text", tokenizeConfig{Model: model, HasText: true}, "", "--text: empty text", 0},
		{"both inputs", tokenizeConfig{Model: model, JSONL: in, Text: "x", HasText: true}, "", "exactly one of --jsonl or --text", 2},
		{"no model", tokenizeConfig{Model: dir, Text: "x", HasText: true}, "", "tokenizer.json not found", 0},
		{"raw template", tokenizeConfig{Model: model, Text: "Hello, world!", HasText: true, Chat: true, Template: "raw"}, "{\"ids\":[9707,11,1879,0]}\n", "", 0},
		{"qwen3 template", tokenizeConfig{Model: model, Text: "1", HasText: true, Chat: true, Template: "qwen3"},
			"{\"ids\":[151644,872,198,16,151645,198,151644,77091,198,151667,271,151668,271]}\n", "", 0},
		{"unknown template", tokenizeConfig{Model: model, Text: "x", HasText: true, Chat: true, Template: "nope"}, "", `--template: unknown chat template "nope"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := runTokenize(tt.cfg, &stdout, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				var ee exitError
				if tt.wantCode != 0 && (!errors.As(err, &ee) || ee.code != tt.wantCode) {
					t.Errorf("error %v: want exit code %d", err, tt.wantCode)
				}
				if tt.cfg.Out != "" {
					if _, err := os.Stat(tt.cfg.Out); !os.IsNotExist(err) {
						t.Errorf("a failed run left %s behind", tt.cfg.Out)
					}
					if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) > 0 {
						t.Errorf("temporary files left: %v", left)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := stdout.String()
			if tt.cfg.Out != "" {
				b, err := os.ReadFile(tt.cfg.Out)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if got != tt.want {
				t.Errorf("output\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
