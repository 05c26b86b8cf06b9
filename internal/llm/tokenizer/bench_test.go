package tokenizer

import (
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dlclark/regexp2"
)

// reviewCorpus builds ~size bytes of review-like text: reviews of 1-5 Amazon
// sentences in a fixed pseudo-random order.
func reviewCorpus(b *testing.B, size int) []string {
	b.Helper()
	var sents []string
	for _, c := range readEncodeGolden(b) {
		if c.Kind == "amazon" {
			sents = append(sents, c.Text)
		}
	}
	rng := rand.New(rand.NewPCG(3, 5))
	var reviews []string
	total := 0
	for total < size {
		n := 1 + rng.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = sents[rng.IntN(len(sents))]
		}
		r := strings.Join(parts, " ")
		reviews = append(reviews, r)
		total += len(r)
	}
	return reviews
}

// BenchmarkEncode encodes 10 MB of reviews one review per call (the word
// cache is warm after the first pass, as in a long training or serving run).
func BenchmarkEncode(b *testing.B) {
	tok := bundledTok(b)
	reviews := reviewCorpus(b, 10<<20)
	bytes := 0
	for _, r := range reviews {
		bytes += len(r)
	}
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	tokens := 0
	for b.Loop() {
		for _, r := range reviews {
			ids, err := tok.Encode(r)
			if err != nil {
				b.Fatal(err)
			}
			tokens += len(ids)
		}
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkEncodeParallel is BenchmarkEncode from GOMAXPROCS goroutines
// sharing one Tokenizer.
func BenchmarkEncodeParallel(b *testing.B) {
	tok := bundledTok(b)
	reviews := reviewCorpus(b, 1<<20)
	b.ResetTimer()
	var tokens int64
	b.RunParallel(func(pb *testing.PB) {
		n, i := 0, 0
		for pb.Next() {
			ids, _ := tok.Encode(reviews[i%len(reviews)])
			n += len(ids)
			i++
		}
		addInt64(&tokens, int64(n))
	})
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkSplit compares the hand-written Qwen2 splitter with the regexp2
// engine running the same pattern, on 1 MB of reviews.
func BenchmarkSplit(b *testing.B) {
	text := strings.Join(reviewCorpus(b, 1<<20), "\n")
	for _, tc := range []struct {
		name string
		sp   preTokenizer
	}{
		{"hand", regexSplitter{maxDigits: 1}},
		{"regexp2", regexp2Splitter{re: regexp2.MustCompile(qwen2Pattern, regexp2.None)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			var out []string
			for b.Loop() {
				out = tc.sp.split(text, out[:0])
			}
		})
	}
}

func addInt64(p *int64, v int64) { atomic.AddInt64(p, v) }

// BenchmarkLoad builds the Qwen tokenizer from tokenizer.json bytes already in memory.
func BenchmarkLoad(b *testing.B) {
	files, err := BundledFiles()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := New(files["tokenizer.json"], files["tokenizer_config.json"]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeSentencePiece is BenchmarkEncode for SentencePiece-style
// tokenizers on 1 MB of reviews: Mistral-7B-v0.1's (Prepend/Replace, byte
// fallback, the word cache per review) and Gemma-3's (Replace only: a whole
// review is one BPE piece, longer than the cache takes).
func BenchmarkEncodeSentencePiece(b *testing.B) {
	reviews := reviewCorpus(b, 1<<20)
	bytes := 0
	for _, r := range reviews {
		bytes += len(r)
	}
	for _, name := range []string{"mistral-v0.1", "gemma3"} {
		b.Run(name, func(b *testing.B) {
			tok := modelTok(b, name)
			b.SetBytes(int64(bytes))
			b.ResetTimer()
			tokens := 0
			for b.Loop() {
				for _, r := range reviews {
					ids, err := tok.Encode(r)
					if err != nil {
						b.Fatal(err)
					}
					tokens += len(ids)
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
