package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// A tokenizer.json holds ~150k vocab entries and ~150k merges; encoding/json
// takes most of a second on them (reflection per entry). These two readers do
// the same job several times faster and fall back to encoding/json for any
// string with escapes or invalid UTF-8, so the result is the same.

type jsonScanner struct {
	b   []byte
	pos int
}

func (s *jsonScanner) ws() {
	for s.pos < len(s.b) {
		switch s.b[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", s.pos, fmt.Sprintf(format, args...))
}

// next skips white space and returns the next byte without consuming it (0 at the end).
func (s *jsonScanner) next() byte {
	s.ws()
	if s.pos >= len(s.b) {
		return 0
	}
	return s.b[s.pos]
}

func (s *jsonScanner) expect(c byte) error {
	if s.next() != c {
		return s.errorf("expected %q", c)
	}
	s.pos++
	return nil
}

func (s *jsonScanner) str() (string, error) {
	if err := s.expect('"'); err != nil {
		return "", err
	}
	start := s.pos
	plain := true
	for s.pos < len(s.b) {
		c := s.b[s.pos]
		switch {
		case c == '"':
			raw := s.b[start:s.pos]
			s.pos++
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			var out string
			if err := json.Unmarshal(s.b[start-1:s.pos], &out); err != nil {
				return "", fmt.Errorf("offset %d: %w", start, err)
			}
			return out, nil
		case c == '\\':
			plain = false
			s.pos += 2
		case c < 0x20:
			return "", s.errorf("control character in string")
		default:
			s.pos++
		}
	}
	return "", errors.New("unexpected end of JSON input")
}

func (s *jsonScanner) int() (int, error) {
	s.ws()
	start := s.pos
	for s.pos < len(s.b) && (s.b[s.pos] == '-' || (s.b[s.pos] >= '0' && s.b[s.pos] <= '9')) {
		s.pos++
	}
	n, err := strconv.Atoi(string(s.b[start:s.pos]))
	if err != nil {
		return 0, s.errorf("expected an integer id")
	}
	return n, nil
}

// list calls item for each element of a JSON array.
func (s *jsonScanner) list(item func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.next() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := item(); err != nil {
			return err
		}
		switch s.next() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected , or ]")
		}
	}
}

func (s *jsonScanner) end() error {
	if s.next() != 0 {
		return s.errorf("unexpected data after the value")
	}
	return nil
}

// parseVocab reads {"token": id, ...}.
func parseVocab(b []byte) (map[string]int, error) {
	s := &jsonScanner{b: b}
	if s.next() != '{' {
		return nil, s.errorf("vocab is not an object of token → id")
	}
	s.pos++
	m := make(map[string]int, len(b)/16)
	if s.next() == '}' {
		s.pos++
		return m, s.end()
	}
	for {
		k, err := s.str()
		if err != nil {
			return nil, err
		}
		if err := s.expect(':'); err != nil {
			return nil, err
		}
		v, err := s.int()
		if err != nil {
			return nil, err
		}
		m[k] = v
		switch s.next() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return m, s.end()
		default:
			return nil, s.errorf("expected , or }")
		}
	}
}

// parseMerges reads both forms Hugging Face writes: ["a b", ...] (older files)
// and [["a", "b"], ...] (newer ones).
func parseMerges(b []byte) ([][2]string, error) {
	s := &jsonScanner{b: b}
	if c := s.next(); c == 0 || (c == 'n' && string(b[s.pos:]) == "null") {
		return nil, nil
	}
	pairs := make([][2]string, 0, len(b)/16)
	err := s.list(func() error {
		switch s.next() {
		case '"':
			l, err := s.str()
			if err != nil {
				return err
			}
			a, c, ok := cut(l)
			if !ok {
				return fmt.Errorf("merge %d %q is not two tokens separated by one space", len(pairs), l)
			}
			pairs = append(pairs, [2]string{a, c})
		case '[':
			var p [2]string
			n := 0
			err := s.list(func() error {
				t, err := s.str()
				if n < 2 {
					p[n] = t
				}
				n++
				return err
			})
			if err != nil {
				return err
			}
			if n != 2 {
				return fmt.Errorf("merge %d has %d tokens, want 2", len(pairs), n)
			}
			pairs = append(pairs, p)
		default:
			return s.errorf("a merge is neither \"a b\" nor [\"a\", \"b\"]")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	return pairs, s.end()
}

// cut splits "a b" at its only space.
func cut(l string) (string, string, bool) {
	k := -1
	for i := 0; i < len(l); i++ {
		if l[i] == ' ' {
			if k >= 0 {
				return "", "", false
			}
			k = i
		}
	}
	if k < 0 {
		return "", "", false
	}
	return l[:k], l[k+1:], true
}
