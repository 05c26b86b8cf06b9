package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// preStage is what tokenizer.json's "pre_tokenizer" asks for, in the order it
// runs: Metaspace's rewrite of the segment, then the splitter.
type preStage struct {
	meta      *metaspace   // nil unless the pre-tokenizer is Metaspace
	split     preTokenizer // nil: the whole segment is one piece
	byteLevel bool         // a ByteLevel step: BPE runs on bytes spelled as GPT-2 characters
}

// preStageOf builds the stage from the "pre_tokenizer" entry (nil: none, as in Llama-2).
func preStageOf(c *component) (preStage, error) {
	if c == nil {
		return preStage{}, nil
	}
	switch c.Type {
	case "Metaspace":
		m, err := metaspaceOf(c)
		if err != nil {
			return preStage{}, err
		}
		st := preStage{meta: m}
		if c.Split == nil || *c.Split { // split defaults to true
			st.split = delimiterSplitter{find: literalFinder(m.replacement), behavior: "MergedWithNext"}
		}
		return st, nil
	case "Sequence":
		// Split+ByteLevel with a known pattern: the hand-written splitter alone.
		if len(c.PreTokenizers) == 2 && c.PreTokenizers[0].Type == "Split" && c.PreTokenizers[1].Type == "ByteLevel" &&
			isolatedRegex(c.PreTokenizers[0]) && !useRegex(c.PreTokenizers[1]) {
			if sp, err := newPreTokenizer(*c.PreTokenizers[0].Pattern.Regex); err == nil {
				if _, hand := sp.(regexSplitter); hand {
					return preStage{split: sp, byteLevel: true}, byteLevelCheck(c.PreTokenizers[1])
				}
			}
		}
		var st preStage
		for i, sub := range c.PreTokenizers {
			if st.byteLevel {
				return preStage{}, fmt.Errorf("pre_tokenizer %q after ByteLevel in a Sequence is not supported", sub.Type)
			}
			if sub.Type == "Metaspace" || sub.Type == "Sequence" {
				return preStage{}, fmt.Errorf("pre_tokenizer %q inside a Sequence is not supported", sub.Type)
			}
			part, err := preStageOf(sub)
			if err != nil {
				return preStage{}, fmt.Errorf("pre_tokenizer Sequence step %d: %w", i, err)
			}
			st.byteLevel = part.byteLevel
			st.split = chain(st.split, part.split)
		}
		return st, nil
	case "ByteLevel":
		if err := byteLevelCheck(c); err != nil {
			return preStage{}, err
		}
		st := preStage{byteLevel: true}
		if useRegex(c) { // GPT-2 style: the ByteLevel step splits with its own regex
			sp, err := newPreTokenizer(gpt2Pattern)
			if err != nil {
				return preStage{}, err
			}
			st.split = sp
		}
		return st, nil
	case "Split":
		sp, err := splitterOf(c)
		return preStage{split: sp}, err
	}
	return preStage{}, fmt.Errorf("pre_tokenizer %q is not supported (supported: Split, ByteLevel, Metaspace, Sequence)", c.Type)
}

func byteLevelCheck(c *component) error {
	if c.AddPrefixSpace != nil && *c.AddPrefixSpace {
		return errors.New("ByteLevel pre-tokenizer with add_prefix_space is not supported")
	}
	return nil
}

// useRegex reads ByteLevel's use_regex, which defaults to true.
func useRegex(c *component) bool { return c.UseRegex == nil || *c.UseRegex }

func isolatedRegex(c *component) bool {
	return c.Pattern != nil && c.Pattern.Regex != nil && c.Behavior == "Isolated" && !c.Invert
}

// chain applies b to each piece of a; either may be nil (no split).
func chain(a, b preTokenizer) preTokenizer {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return chainSplitter{a, b}
}

// splitterOf builds a Split pre-tokenizer.
func splitterOf(c *component) (preTokenizer, error) {
	if c.Pattern == nil || (c.Pattern.Regex == nil && c.Pattern.String == nil) {
		return nil, errors.New(`Split pre-tokenizer without a "Regex" or "String" pattern`)
	}
	if c.Invert {
		return nil, errors.New("Split pre-tokenizer with invert is not supported")
	}
	switch c.Behavior {
	case "Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous":
	default:
		return nil, fmt.Errorf("Split behavior %q is not supported", c.Behavior)
	}
	if c.Pattern.String != nil {
		if *c.Pattern.String == "" {
			return nil, errors.New("Split pre-tokenizer with an empty String pattern")
		}
		return delimiterSplitter{find: literalFinder(*c.Pattern.String), behavior: c.Behavior}, nil
	}
	if c.Behavior == "Isolated" {
		return newPreTokenizer(*c.Pattern.Regex)
	}
	re, err := regexp2.Compile(*c.Pattern.Regex, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("compile split pattern %q: %w", *c.Pattern.Regex, err)
	}
	return delimiterSplitter{find: regexFinder(re), behavior: c.Behavior}, nil
}

// A finder returns the byte spans of the non-empty, non-overlapping matches in s, in order.
type finder func(s string) [][2]int

func literalFinder(lit string) finder {
	return func(s string) [][2]int {
		var spans [][2]int
		for from := 0; ; {
			k := strings.Index(s[from:], lit)
			if k < 0 {
				return spans
			}
			spans = append(spans, [2]int{from + k, from + k + len(lit)})
			from += k + len(lit)
		}
	}
}

func regexFinder(re *regexp2.Regexp) finder {
	return func(s string) [][2]int {
		runes := []rune(s)
		offs := runeOffsets(s, len(runes))
		var spans [][2]int
		m, err := re.FindRunesMatch(runes)
		for err == nil && m != nil {
			if m.Length > 0 {
				spans = append(spans, [2]int{offs[m.Index], offs[m.Index+m.Length]})
			}
			m, err = re.FindNextMatch(m)
		}
		return spans
	}
}

// runeOffsets returns the byte offset of each rune index of s, plus len(s).
func runeOffsets(s string, n int) []int {
	offs := make([]int, 0, n+1)
	for i := range s {
		offs = append(offs, i)
	}
	return append(offs, len(s))
}

// delimiterSplitter is Hugging Face's Split with any behavior: what happens
// to each match (the delimiter) and the text between matches.
type delimiterSplitter struct {
	find     finder
	behavior string
}

func (d delimiterSplitter) split(s string, out []string) []string {
	spans := d.find(s)
	if d.behavior == "Contiguous" { // adjacent delimiters form one, then as Isolated
		spans = coalesce(spans)
	}
	emit := func(a, b int) {
		if b > a {
			out = append(out, s[a:b])
		}
	}
	prev := 0 // end of the last match (MergedWithNext: start of the open piece)
	for _, m := range spans {
		switch d.behavior {
		case "Removed":
			emit(prev, m[0])
		case "Isolated", "Contiguous":
			emit(prev, m[0])
			emit(m[0], m[1])
		case "MergedWithPrevious":
			emit(prev, m[1])
		case "MergedWithNext":
			emit(prev, m[0])
			prev = m[0]
			continue
		}
		prev = m[1]
	}
	emit(prev, len(s))
	return out
}

func coalesce(spans [][2]int) [][2]int {
	var out [][2]int
	for _, m := range spans {
		if n := len(out); n > 0 && out[n-1][1] == m[0] {
			out[n-1][1] = m[1]
			continue
		}
		out = append(out, m)
	}
	return out
}

// metaspace is the SentencePiece convention of Mistral v0.3, Yi and Llama
// tokenizers written with legacy=false: spaces become "▁", and one "▁" is
// prepended to the text (always, or to the first segment only).
type metaspace struct {
	replacement string
	scheme      string // "always", "first" or "never"
}

func metaspaceOf(c *component) (*metaspace, error) {
	if utf8.RuneCountInString(c.Replacement) != 1 {
		return nil, fmt.Errorf("Metaspace replacement %q is not one character", c.Replacement)
	}
	m := &metaspace{replacement: c.Replacement, scheme: c.PrependScheme}
	switch {
	case m.scheme == "" && c.AddPrefixSpace != nil && !*c.AddPrefixSpace:
		m.scheme = "never" // the format before prepend_scheme existed
	case m.scheme == "":
		m.scheme = "always"
	case m.scheme != "always" && m.scheme != "first" && m.scheme != "never":
		return nil, fmt.Errorf("Metaspace prepend_scheme %q is not always, first or never", m.scheme)
	}
	return m, nil
}

// rewrite replaces spaces and prepends the replacement; first says whether the
// segment starts the text (prepend_scheme "first").
func (m *metaspace) rewrite(s string, first bool) string {
	s = strings.ReplaceAll(s, " ", m.replacement)
	if (m.scheme == "always" || (m.scheme == "first" && first)) && !strings.HasPrefix(s, m.replacement) {
		s = m.replacement + s
	}
	return s
}
