package chattemplate

import (
	"errors"
	"fmt"
	"strings"
)

// Whitespace control, done here rather than by the engine: ardanlabs/jinja
// v1.8.0 applies a tag's "-" (and trim_blocks/lstrip_blocks) to the nearest
// text segment even when another tag stands between them, so
// "<|user|>\n{{ content }}{%- elif %}" loses its "\n" (GLM-4's template).
// applyWhitespaceControl trims each text as Jinja2 does with transformers'
// settings (trim_blocks=True, lstrip_blocks=True) and writes it back as a
// string expression, so the engine has no text left to trim.

// piece is a text run or a tag of a template's source.
type piece struct {
	text             string // the text, or the tag's inner source without its delimiters and markers
	open, close      string // "{%", "%}" etc.; "" for text
	trimLeft         bool   // {%- : strip all white space before the tag
	trimRight        bool   // -%} : strip all white space after the tag
	keepLeadingSpace bool   // {%+ : no lstrip_blocks for this tag
}

func (p piece) isText() bool  { return p.open == "" }
func (p piece) isBlock() bool { return p.open == "{%" || p.open == "{#" } // lstrip/trim_blocks apply to these

// splitTemplate cuts source into texts and tags, skipping quoted strings inside tags.
func splitTemplate(source string) ([]piece, error) {
	var out []piece
	i, textStart := 0, 0
	for i+1 < len(source) {
		if source[i] != '{' || (source[i+1] != '{' && source[i+1] != '%' && source[i+1] != '#') {
			i++
			continue
		}
		if i > textStart {
			out = append(out, piece{text: source[textStart:i]})
		}
		p := piece{open: source[i : i+2]}
		p.close = map[string]string{"{{": "}}", "{%": "%}", "{#": "#}"}[p.open]
		j := i + 2
		if j < len(source) && (source[j] == '-' || source[j] == '+') {
			p.trimLeft, p.keepLeadingSpace = source[j] == '-', source[j] == '+'
			j++
		}
		end, err := tagEnd(source, j, p)
		if err != nil {
			return nil, err
		}
		inner := source[j:end]
		if strings.HasSuffix(inner, "-") {
			p.trimRight, inner = true, inner[:len(inner)-1]
		} else if strings.HasSuffix(inner, "+") && p.open != "{{" {
			inner = inner[:len(inner)-1]
		}
		p.text = inner
		if p.open == "{%" && strings.TrimSpace(inner) == "raw" {
			return nil, errors.New("{% raw %} blocks are not supported")
		}
		out = append(out, p)
		i = end + 2
		textStart = i
	}
	if textStart < len(source) {
		out = append(out, piece{text: source[textStart:]})
	}
	return out, nil
}

// tagEnd returns the index of the closer of the tag whose content starts at j.
func tagEnd(source string, j int, p piece) (int, error) {
	for k := j; k+1 < len(source); k++ {
		c := source[k]
		if p.open != "{#" && (c == '\'' || c == '"') {
			for k++; k < len(source) && source[k] != c; k++ {
				if source[k] == '\\' {
					k++
				}
			}
			continue
		}
		if source[k:k+2] == p.close {
			return k, nil
		}
	}
	line := 1 + strings.Count(source[:j], "\n")
	return 0, fmt.Errorf("line %d: %s without %s", line, p.open, p.close)
}

// applyWhitespaceControl returns source with every text trimmed as Jinja2 does
// and written as a '...' expression, tags without their - and + markers, and
// no comments.
func applyWhitespaceControl(source string) (string, error) {
	pieces, err := splitTemplate(source)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for i, p := range pieces {
		if !p.isText() {
			if p.open != "{#" {
				b.WriteString(p.open + p.text + p.close)
			}
			continue
		}
		var prev, next *piece
		if i > 0 {
			prev = &pieces[i-1]
		}
		if i+1 < len(pieces) {
			next = &pieces[i+1]
		}
		if text := trimText(p.text, prev, next); text != "" {
			b.WriteString("{{ '" + quote(text) + "' }}")
		}
	}
	return b.String(), nil
}

// trimText cuts a text between the tags prev and next (nil at either end of the template).
func trimText(text string, prev, next *piece) string {
	start, end := 0, len(text)
	switch {
	case prev != nil && prev.trimRight:
		start = len(text) - len(strings.TrimLeft(text, pyWhitespace))
	case prev != nil && prev.isBlock() && strings.HasPrefix(text, "\n"):
		start = 1 // trim_blocks
	case prev != nil && prev.isBlock() && strings.HasPrefix(text, "\r\n"):
		start = 2
	}
	switch {
	case next != nil && next.trimLeft:
		end = len(strings.TrimRight(text, pyWhitespace))
	case next != nil && next.isBlock() && !next.keepLeadingSpace:
		// lstrip_blocks: only blanks between the line's start and the tag.
		lineStart := strings.LastIndexByte(text, '\n') + 1
		atLineStart := lineStart > 0 || prev == nil
		if atLineStart && strings.Trim(text[lineStart:], " \t\r\f\v") == "" {
			end = lineStart
		}
	}
	if start >= end {
		return ""
	}
	return text[start:end]
}

// pyWhitespace is what Jinja2's "-" markers strip (Python's \s on ASCII).
const pyWhitespace = " \t\n\r\f\v"

// quote escapes text for a single-quoted Jinja string.
func quote(text string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\t", `\t`).Replace(text)
}
