package tokenizer

import (
	"testing"

	"github.com/sentitune/sentitune/internal/chattemplate"
)

// BenchmarkChatPrompt times one prompt per review with the bundled Qwen2.5
// template: rendering the Jinja template whole each time, the cached split
// (Prompt), and the encodings predict and finetune use.
func BenchmarkChatPrompt(b *testing.B) {
	reviews := reviewCorpus(b, 1<<20)
	c := bundledTok(b).Chat()
	const system = "You are a sentiment classifier."
	for _, r := range reviews { // warm the word cache, as a long run is
		c.EncodePrompt(system, r)
	}
	b.Run("render", func(b *testing.B) {
		for i := range b.N {
			msgs := []chattemplate.Message{{Role: "system", Content: system}, {Role: "user", Content: reviews[i%len(reviews)]}}
			if _, err := c.Template().Render(msgs, true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Prompt", func(b *testing.B) {
		for i := range b.N {
			if _, err := c.Prompt(system, reviews[i%len(reviews)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodePrompt", func(b *testing.B) {
		for i := range b.N {
			if _, err := c.EncodePrompt(system, reviews[i%len(reviews)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("EncodePromptPlain", func(b *testing.B) {
		for i := range b.N {
			if _, err := c.EncodePromptPlain(system, reviews[i%len(reviews)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
