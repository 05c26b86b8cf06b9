package tokenizer

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The two Split patterns this package recognises exactly (as stored in
// tokenizer.json, after JSON unescaping). They differ only in \p{N} vs \p{N}{1,3}.
const (
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// gpt2Pattern is what a ByteLevel pre-tokenizer with use_regex=true applies.
	gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	// The first two of DeepSeek-V3's three Split patterns: digit groups, and runs of CJK ideographs and kana.
	deepseekDigitsPattern = `\p{N}{1,3}`
	deepseekCJKPattern    = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"
)

// preTokenizer cuts normalized text into pieces (substrings of s, in order,
// covering s) that BPE encodes independently.
type preTokenizer interface {
	split(s string, out []string) []string
}

// newPreTokenizer picks the hand-written splitter for the Qwen2 and Llama-3
// patterns and falls back to a backtracking regex engine for any other.
func newPreTokenizer(pattern string) (preTokenizer, error) {
	switch pattern {
	case qwen2Pattern:
		return regexSplitter{maxDigits: 1}, nil
	case llama3Pattern:
		return regexSplitter{maxDigits: 3}, nil
	case deepseekDigitsPattern:
		return runSplitter{in: unicode.IsNumber, max: 3}, nil
	case deepseekCJKPattern:
		return runSplitter{in: isDeepSeekCJK}, nil
	}
	re, err := regexp2.Compile(pattern, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("compile split pattern %q: %w", pattern, err)
	}
	return regexp2Splitter{re: re}, nil
}

// Character classes the Qwen2/Llama-3 pattern distinguishes.
const (
	clsOther   uint8 = iota // [^\s\p{L}\p{N}]
	clsLetter               // \p{L}
	clsNumber               // \p{N}
	clsSpace                // \s except \r and \n
	clsNewline              // \r or \n
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for r := rune(0); r < utf8.RuneSelf; r++ {
		t[r] = classOfSlow(r)
	}
	return t
}()

// classOfSlow follows Oniguruma (the engine Hugging Face tokenizers uses):
// \s is the Unicode White_Space property, which is what unicode.IsSpace tests.
func classOfSlow(r rune) uint8 {
	switch {
	case r == '\r' || r == '\n':
		return clsNewline
	case unicode.IsSpace(r):
		return clsSpace
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	}
	return clsOther
}

func classOf(r rune) uint8 {
	if r < utf8.RuneSelf {
		return asciiClass[r]
	}
	return classOfSlow(r)
}

func runeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// regexSplitter is an exact hand translation of the Qwen2 (maxDigits 1) and
// Llama-3 (maxDigits 3) Split patterns with "Isolated" behaviour: at each
// position it takes the first alternative that matches, with the same
// backtracking outcome the regex engine reaches.
type regexSplitter struct{ maxDigits int }

func (sp regexSplitter) split(s string, out []string) []string {
	for i := 0; i < len(s); {
		end := sp.next(s, i)
		out = append(out, s[i:end])
		i = end
	}
	return out
}

// next returns the end of the piece that starts at i.
func (sp regexSplitter) next(s string, i int) int {
	n := len(s)
	r, w := runeAt(s, i)
	c := classOf(r)
	j := i + w
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r == '\'' && j < n {
		if k := contraction(s, j); k > 0 {
			return j + k
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c == clsLetter {
		return scanClass(s, j, clsLetter)
	}
	if (c == clsOther || c == clsSpace) && j < n {
		if r2, w2 := runeAt(s, j); classOf(r2) == clsLetter {
			return scanClass(s, j+w2, clsLetter)
		}
	}
	// \p{N} or \p{N}{1,3}
	if c == clsNumber {
		end := j
		for k := 1; k < sp.maxDigits && end < n; k++ {
			r2, w2 := runeAt(s, end)
			if classOf(r2) != clsNumber {
				break
			}
			end += w2
		}
		return end
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	if c == clsOther {
		return scanNewlines(s, scanClass(s, j, clsOther))
	}
	if r == ' ' && j < n {
		if r2, w2 := runeAt(s, j); classOf(r2) == clsOther {
			return scanNewlines(s, scanClass(s, j+w2, clsOther))
		}
	}
	// s[i] is white space: \s*[\r\n]+ | \s+(?!\S) | \s+
	lastNL, lastStart, k := -1, i, i
	for k < n {
		r2, w2 := runeAt(s, k)
		c2 := classOf(r2)
		if c2 != clsSpace && c2 != clsNewline {
			break
		}
		if c2 == clsNewline {
			lastNL = k + w2
		}
		lastStart = k
		k += w2
	}
	switch {
	case lastNL >= 0: // \s* backtracks to just before the last \r or \n of the run
		return lastNL
	case k == n: // (?!\S) holds at the end of the text
		return n
	case lastStart > i: // give back the last space so (?!\S) holds
		return lastStart
	}
	return k // a single space before a non-space: \s+
}

// contraction returns the length of s[j:] matched after an apostrophe by
// (?i:s|t|re|ve|m|ll|d), or 0. Case folding follows Unicode simple folding as
// Oniguruma does, so U+017F (long s) matches 's'.
func contraction(s string, j int) int {
	r, w := runeAt(s, j)
	switch foldContraction(r) {
	case 's', 't', 'm', 'd':
		return w
	case 'r', 'v':
		if j+w < len(s) {
			if r2, w2 := runeAt(s, j+w); foldContraction(r2) == 'e' {
				return w + w2
			}
		}
	case 'l':
		if j+w < len(s) {
			if r2, w2 := runeAt(s, j+w); foldContraction(r2) == 'l' {
				return w + w2
			}
		}
	}
	return 0
}

func foldContraction(r rune) rune {
	switch {
	case r >= 'A' && r <= 'Z':
		return r + ('a' - 'A')
	case r == 0x17F: // ſ folds to s
		return 's'
	}
	return r
}

func scanClass(s string, i int, cls uint8) int {
	for i < len(s) {
		r, w := runeAt(s, i)
		if classOf(r) != cls {
			break
		}
		i += w
	}
	return i
}

func scanNewlines(s string, i int) int {
	for i < len(s) && (s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// regexp2Splitter applies any other Split pattern with "Isolated" behaviour:
// matches and the gaps between them both become pieces.
type regexp2Splitter struct{ re *regexp2.Regexp }

func (sp regexp2Splitter) split(s string, out []string) []string {
	runes := []rune(s)
	// byte offset of each rune index, plus len(s)
	offs := make([]int, len(runes)+1)
	o := 0
	for k, r := range runes {
		offs[k] = o
		o += utf8.RuneLen(r)
	}
	offs[len(runes)] = len(s)
	prev := 0
	m, err := sp.re.FindRunesMatch(runes)
	for err == nil && m != nil {
		start, end := m.Index, m.Index+m.Length
		if end == start { // empty match: nothing to cut here
			m, err = sp.re.FindNextMatch(m)
			continue
		}
		if start > prev {
			out = append(out, s[offs[prev]:offs[start]])
		}
		out = append(out, s[offs[start]:offs[end]])
		prev = end
		m, err = sp.re.FindNextMatch(m)
	}
	if prev < len(runes) {
		out = append(out, s[offs[prev]:])
	}
	return out
}

// chainSplitter applies second to each piece of first.
type chainSplitter struct{ first, second preTokenizer }

func (c chainSplitter) split(s string, out []string) []string {
	for _, p := range c.first.split(s, nil) {
		out = c.second.split(p, out)
	}
	return out
}

// runSplitter is an Isolated Split whose pattern is one character class
// repeated: each run of class characters (cut every max characters when max
// > 0, as {1,max} matches greedily) and each gap between runs is a piece.
type runSplitter struct {
	in  func(rune) bool
	max int
}

func (sp runSplitter) split(s string, out []string) []string {
	start, inRun, n := 0, false, 0
	for i, r := range s {
		in := sp.in(r)
		switch {
		case in && (!inRun || (sp.max > 0 && n == sp.max)):
			if i > start {
				out = append(out, s[start:i])
			}
			start, n = i, 0
		case !in && inRun:
			out = append(out, s[start:i])
			start = i
		}
		inRun = in
		if in {
			n++
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func isDeepSeekCJK(r rune) bool {
	return (r >= 0x4e00 && r <= 0x9fa5) || (r >= 0x3040 && r <= 0x309f) || (r >= 0x30a0 && r <= 0x30ff)
}
