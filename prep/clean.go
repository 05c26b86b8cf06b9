package prep

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// CleanResult says which cleaning rules changed a text.
type CleanResult struct {
	InvalidUTF8  bool `json:"invalid_utf8"`  // invalid byte sequences replaced by U+FFFD (the row is kept)
	HTMLTags     bool `json:"html_tags"`     // known HTML tags or comments removed
	Entities     bool `json:"html_entities"` // entities such as &amp; &#39; &nbsp; decoded
	ControlChars bool `json:"control_chars"` // control and invisible format characters removed
	Whitespace   bool `json:"whitespace"`    // whitespace runs collapsed to one space, ends trimmed
	Normalized   bool `json:"nfc"`           // Unicode NFC normalisation changed the text
}

// Changed reports whether any rule applied.
func (c CleanResult) Changed() bool {
	return c.InvalidUTF8 || c.HTMLTags || c.Entities || c.ControlChars || c.Whitespace || c.Normalized
}

// CleanText prepares review text for a prompt, in this order:
//  1. invalid UTF-8: each run of bad bytes becomes U+FFFD (repaired, not rejected);
//  2. HTML: comments and tags with known HTML names are removed (block tags
//     such as <br />, <p>, <div>, <li> become a space); text like "<3" or
//     "a < b" is left alone;
//  3. HTML entities are decoded (&amp; &lt; &#39; &nbsp; …), then tags are
//     stripped once more for double-escaped exports (&lt;br /&gt;);
//  4. control characters and invisible format characters (zero-width space,
//     BOM, soft hyphen, bidi marks; not the zero-width joiners of emoji) are
//     removed;
//  5. every whitespace run (newlines, tabs, NBSP, ideographic space) becomes
//     one space; leading and trailing whitespace is trimmed;
//  6. the result is NFC-normalised.
func CleanText(s string) (string, CleanResult) {
	var res CleanResult
	if plainASCII(s) {
		return s, res
	}
	if !utf8.ValidString(s) {
		s, res.InvalidUTF8 = strings.ToValidUTF8(s, "\uFFFD"), true
	}
	if strings.IndexByte(s, '<') >= 0 {
		if t := stripTags(s); t != s {
			s, res.HTMLTags = t, true
		}
	}
	if strings.IndexByte(s, '&') >= 0 {
		if t := html.UnescapeString(s); t != s {
			s, res.Entities = t, true
			if strings.IndexByte(s, '<') >= 0 {
				if t := stripTags(s); t != s {
					s, res.HTMLTags = t, true
				}
			}
		}
	}
	s, res.ControlChars, res.Whitespace = squeeze(s)
	if !norm.NFC.IsNormalString(s) {
		s, res.Normalized = norm.NFC.String(s), true
	}
	return s, res
}

// plainASCII reports text that no rule would change: printable ASCII with
// single inner spaces and no '<' or '&'.
func plainASCII(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '<' || c == '&' {
			return false
		}
		if c == ' ' && prevSpace {
			return false
		}
		prevSpace = c == ' '
	}
	return true
}

// squeeze removes control/format characters and collapses whitespace,
// copying runs of ordinary characters in one go.
func squeeze(s string) (out string, control, space bool) {
	b := make([]byte, 0, len(s))
	pendingSpace := false
	run := -1 // start of the current run of kept characters
	for i := 0; i < len(s); {
		c := s[i]
		size := 1
		var isSpace, drop bool
		if c < utf8.RuneSelf {
			if c > ' ' && c != 0x7f { // ordinary ASCII: the common case
				if run < 0 {
					if pendingSpace && len(b) > 0 {
						b = append(b, ' ')
					}
					pendingSpace, run = false, i
				}
				i++
				continue
			}
			isSpace = c == ' ' || (c >= '\t' && c <= '\r')
			drop = !isSpace
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			isSpace = unicode.IsSpace(r) || r == '\u2028' || r == '\u2029'
			drop = !isSpace && invisible(r)
			if !isSpace && !drop {
				if run < 0 {
					if pendingSpace && len(b) > 0 {
						b = append(b, ' ')
					}
					pendingSpace, run = false, i
				}
				i += size
				continue
			}
		}
		if run >= 0 {
			b = append(b, s[run:i]...)
			run = -1
		}
		if isSpace {
			if c != ' ' || pendingSpace || len(b) == 0 {
				space = true
			}
			pendingSpace = true
		} else {
			control = true
		}
		i += size
	}
	if run >= 0 {
		b = append(b, s[run:]...)
	}
	if pendingSpace && len(b) > 0 {
		space = true // trailing whitespace trimmed
	}
	return string(b), control, space
}

// invisible reports control characters and format characters that carry no
// text; the zero-width (non-)joiners are kept for emoji and Indic scripts.
func invisible(r rune) bool {
	if r == '\u200c' || r == '\u200d' {
		return false
	}
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// htmlTags maps known tag names to whether they separate words (block tags).
var htmlTags = map[string]bool{
	"br": true, "p": true, "div": true, "li": true, "ul": true, "ol": true, "tr": true, "td": true,
	"th": true, "table": true, "tbody": true, "thead": true, "hr": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "dd": true,
	"dt": true, "dl": true, "section": true, "article": true, "header": true, "footer": true,
	"a": false, "b": false, "i": false, "u": false, "s": false, "em": false, "strong": false,
	"span": false, "font": false, "small": false, "big": false, "sub": false, "sup": false,
	"strike": false, "tt": false, "code": false, "img": false, "center": false, "mark": false,
	"abbr": false, "cite": false, "q": false, "del": false, "ins": false, "label": false, "wbr": false,
}

// stripTags removes HTML comments and tags with known names.
func stripTags(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			break
		}
		i += j
		end, block := tagEnd(s[i:])
		if end == 0 {
			i++
			continue
		}
		b.WriteString(s[last:i])
		if block {
			b.WriteByte(' ')
		}
		i += end
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// tagEnd returns the length of the tag or comment at the start of s (0 when
// there is none) and whether it separates words.
func tagEnd(s string) (int, bool) {
	if strings.HasPrefix(s, "<!--") {
		if k := strings.Index(s[4:], "-->"); k >= 0 {
			return 4 + k + 3, true
		}
		return 0, false
	}
	p := 1
	if p < len(s) && s[p] == '/' {
		p++
	}
	start := p
	for p < len(s) && p-start < 12 && (isASCIILetter(s[p]) || (p > start && s[p] >= '0' && s[p] <= '9')) {
		p++
	}
	block, known := htmlTags[strings.ToLower(s[start:p])]
	if !known || p >= len(s) {
		return 0, false
	}
	switch s[p] {
	case '>', '/', ' ', '\t', '\n', '\r':
	default:
		return 0, false
	}
	for k := p; k < len(s) && k < 1024; k++ {
		switch s[k] {
		case '>':
			return k + 1, block
		case '<':
			return 0, false
		}
	}
	return 0, false
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
