package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is an entry of tokenizer.json's "added_tokens": matched in the
// text before any normalization or BPE, and encoded as its own id.
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	Lstrip     bool   `json:"lstrip"`
	Rstrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// addedMatcher finds added tokens leftmost-longest, as Hugging Face's
// AddedVocabulary (an Aho-Corasick automaton in LeftmostLongest mode) does.
type addedMatcher struct {
	first   [256]bool // bytes that can start a token
	only    int       // the one byte all tokens start with, or -1
	tokens  map[string]*addedToken
	lengths []int // distinct token lengths, longest first
}

func newAddedMatcher(toks []*addedToken) *addedMatcher {
	if len(toks) == 0 {
		return nil
	}
	m := &addedMatcher{tokens: make(map[string]*addedToken, len(toks))}
	seen := map[int]bool{}
	for _, t := range toks {
		if t.Content == "" {
			continue
		}
		m.first[t.Content[0]] = true
		m.tokens[t.Content] = t
		if !seen[len(t.Content)] {
			seen[len(t.Content)] = true
			m.lengths = append(m.lengths, len(t.Content))
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(m.lengths)))
	m.only = -1
	for b := range m.first {
		if m.first[b] {
			if m.only != -1 {
				m.only = -1
				break
			}
			m.only = b
		}
	}
	return m
}

// find returns the first added token in s at or after from: the span it
// consumes (including white space taken by lstrip/rstrip) and the token.
func (m *addedMatcher) find(s string, from int) (start, end int, tok *addedToken) {
	if m == nil {
		return -1, -1, nil
	}
	for i := from; i < len(s); i++ {
		if m.only >= 0 { // "<" for Qwen and Llama-3: let IndexByte skip ahead
			k := strings.IndexByte(s[i:], byte(m.only))
			if k < 0 {
				break
			}
			i += k
		} else if !m.first[s[i]] {
			continue
		}
		for _, l := range m.lengths {
			if i+l > len(s) {
				continue
			}
			t, ok := m.tokens[s[i:i+l]]
			if !ok {
				continue
			}
			if t.SingleWord && !wordBoundary(s, i, i+l) {
				continue
			}
			start, end = i, i+l
			if t.Lstrip {
				for start > from {
					r, w := utf8.DecodeLastRuneInString(s[from:start])
					if !unicode.IsSpace(r) {
						break
					}
					start -= w
				}
			}
			if t.Rstrip {
				for end < len(s) {
					r, w := utf8.DecodeRuneInString(s[end:])
					if !unicode.IsSpace(r) {
						break
					}
					end += w
				}
			}
			return start, end, t
		}
	}
	return -1, -1, nil
}

// wordBoundary reports whether s[i:j] is not glued to word characters.
func wordBoundary(s string, i, j int) bool {
	isWord := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	if i > 0 {
		if r, _ := utf8.DecodeLastRuneInString(s[:i]); isWord(r) {
			return false
		}
	}
	if j < len(s) {
		if r, _ := utf8.DecodeRuneInString(s[j:]); isWord(r) {
			return false
		}
	}
	return true
}
