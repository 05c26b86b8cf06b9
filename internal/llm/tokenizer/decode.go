package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// textDecoder is one step of tokenizer.json's "decoder" for SentencePiece-style
// vocabularies: it rewrites the list of token strings (Hugging Face's decode_chain).
type textDecoder interface {
	decodeChain(tokens []string) []string
}

type replaceDecoder struct{ old, new string }

func (r replaceDecoder) decodeChain(tokens []string) []string {
	for i, t := range tokens {
		tokens[i] = strings.ReplaceAll(t, r.old, r.new)
	}
	return tokens
}

// byteFallbackDecoder turns runs of "<0xNN>" tokens into the text their bytes
// spell; bytes that are not valid UTF-8 become one U+FFFD each, as Hugging Face does.
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			out = append(out, strings.Repeat("\uFFFD", len(run)))
		}
		run = run[:0]
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// byteToken reads a byte-fallback token "<0xNN>".
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(t[3])
	lo, ok2 := hexDigit(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

type fuseDecoder struct{}

func (fuseDecoder) decodeChain(tokens []string) []string { return []string{strings.Join(tokens, "")} }

// stripDecoder removes up to start leading and stop trailing copies of one character from each token.
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decodeChain(tokens []string) []string {
	for i, t := range tokens {
		for k := 0; k < d.start; k++ {
			r, w := utf8.DecodeRuneInString(t)
			if w == 0 || r != d.content {
				break
			}
			t = t[w:]
		}
		for k := 0; k < d.stop; k++ {
			r, w := utf8.DecodeLastRuneInString(t)
			if w == 0 || r != d.content {
				break
			}
			t = t[:len(t)-w]
		}
		tokens[i] = t
	}
	return tokens
}

// metaspaceDecoder turns "▁" back into spaces, except in the first token, where
// Hugging Face drops every "▁" (one was prepended; transformers.js drops only
// one space, which differs for text that starts with a run of spaces).
type metaspaceDecoder struct {
	replacement string
	prepended   bool
}

func (d metaspaceDecoder) decodeChain(tokens []string) []string {
	for i, t := range tokens {
		if i == 0 && d.prepended {
			tokens[i] = strings.ReplaceAll(t, d.replacement, "")
		} else {
			tokens[i] = strings.ReplaceAll(t, d.replacement, " ")
		}
	}
	return tokens
}

type decoderSequence []textDecoder

func (seq decoderSequence) decodeChain(tokens []string) []string {
	for _, d := range seq {
		tokens = d.decodeChain(tokens)
	}
	return tokens
}

// textDecoderOf builds the decoder of a vocabulary that is not byte-level.
func textDecoderOf(c *component) (textDecoder, error) {
	if c == nil {
		return decoderSequence(nil), nil
	}
	switch c.Type {
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil || *c.Pattern.String == "" {
			return nil, errors.New(`decoder "Replace" is supported with a non-empty String pattern only`)
		}
		return replaceDecoder{*c.Pattern.String, c.Content}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		r, w := utf8.DecodeRuneInString(c.Content)
		if w == 0 || w != len(c.Content) {
			return nil, fmt.Errorf("decoder Strip content %q is not one character", c.Content)
		}
		return stripDecoder{content: r, start: c.Start, stop: c.Stop}, nil
	case "Metaspace":
		m, err := metaspaceOf(c)
		if err != nil {
			return nil, fmt.Errorf("decoder %w", err)
		}
		return metaspaceDecoder{replacement: m.replacement, prepended: m.scheme != "never"}, nil
	case "Sequence":
		var seq decoderSequence
		for _, sub := range c.Decoders {
			d, err := textDecoderOf(sub)
			if err != nil {
				return nil, err
			}
			seq = append(seq, d)
		}
		return seq, nil
	case "ByteLevel":
		return nil, errors.New(`decoder "ByteLevel" needs a ByteLevel pre-tokenizer`)
	}
	return nil, fmt.Errorf("decoder %q is not supported (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)", c.Type)
}
