package tokenizer

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites one segment of text (the text between two added tokens)
// before it is pre-tokenized, as tokenizer.json's "normalizer" says.
type normalizer interface {
	normalize(s string) string
}

// unicodeForm is one of the four Unicode normalization forms.
type unicodeForm struct{ form norm.Form }

func (u unicodeForm) normalize(s string) string { return u.form.String(s) }

// prepend adds a prefix to non-empty text (Llama-2 and Mistral-v0.1 prepend "▁").
type prepend struct{ prefix string }

func (p prepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

// replaceString replaces every occurrence of a literal string.
type replaceString struct{ old, new string }

func (r replaceString) normalize(s string) string { return strings.ReplaceAll(s, r.old, r.new) }

type lowercase struct{}

func (lowercase) normalize(s string) string { return strings.ToLower(s) }

type normalizerSequence []normalizer

func (seq normalizerSequence) normalize(s string) string {
	for _, n := range seq {
		s = n.normalize(s)
	}
	return s
}

// normalizerOf builds a normalizer from its tokenizer.json entry; nil means none.
func normalizerOf(c *component) (normalizer, error) {
	if c == nil {
		return nil, nil
	}
	switch c.Type {
	case "NFC":
		return unicodeForm{norm.NFC}, nil
	case "NFD":
		return unicodeForm{norm.NFD}, nil
	case "NFKC":
		return unicodeForm{norm.NFKC}, nil
	case "NFKD":
		return unicodeForm{norm.NFKD}, nil
	case "Lowercase":
		return lowercase{}, nil
	case "Prepend":
		if c.Prepend == "" {
			return nil, errors.New(`normalizer "Prepend" has no "prepend" string`)
		}
		return prepend{c.Prepend}, nil
	case "Replace":
		if c.Pattern == nil || c.Pattern.String == nil || *c.Pattern.String == "" {
			return nil, errors.New(`normalizer "Replace" is supported with a non-empty String pattern only`)
		}
		return replaceString{*c.Pattern.String, c.Content}, nil
	case "Sequence":
		var seq normalizerSequence
		for _, sub := range c.Normalizers {
			n, err := normalizerOf(sub)
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		switch len(seq) {
		case 0:
			return nil, nil
		case 1:
			return seq[0], nil
		}
		return seq, nil
	}
	return nil, fmt.Errorf("normalizer %q is not supported (supported: NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Sequence)", c.Type)
}
