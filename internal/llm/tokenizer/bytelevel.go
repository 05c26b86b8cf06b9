package tokenizer

import "unicode/utf8"

// byteToRune is GPT-2's bytes_to_unicode table: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in order. Vocab strings are written
// in these characters ("Ġ" is the space byte).
var byteToRune = func() (t [256]rune) {
	n := rune(0)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			t[b] = rune(b)
		} else {
			t[b] = 256 + n
			n++
		}
	}
	return t
}()

var runeToByte = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	for b, r := range byteToRune {
		m[r] = byte(b)
	}
	return m
}()

// byteLevelString maps raw bytes to their byte-level characters (the vocab form).
func byteLevelString(b string) string {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); i++ {
		out = append(out, byteToRune[b[i]])
	}
	return string(out)
}

// byteLevelDecode maps a vocab token back to raw bytes. Characters outside the
// table are kept as their UTF-8, as Hugging Face's ByteLevel decoder does.
func byteLevelDecode(tok string) []byte {
	out := make([]byte, 0, len(tok))
	for _, r := range tok {
		if b, ok := runeToByte[r]; ok {
			out = append(out, b)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}

// appendLossyUTF8 appends b to dst, replacing each maximal ill-formed subpart
// with U+FFFD — the "substitution of maximal subparts" practice that Rust's
// String::from_utf8_lossy (Hugging Face's decoder) and Python's errors="replace" follow.
func appendLossyUTF8(dst []byte, b []byte) []byte {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r != utf8.RuneError || n > 1 {
			dst = append(dst, b[:n]...)
			b = b[n:]
			continue
		}
		dst = utf8.AppendRune(dst, utf8.RuneError)
		b = b[maximalSubpart(b):]
	}
	return dst
}

// maximalSubpart returns how many bytes at the start of b (an ill-formed
// sequence) form the longest prefix of some well-formed sequence, at least 1.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 1; k <= need && k < len(b); k++ {
		if k == 1 {
			if b[k] < lo || b[k] > hi {
				break
			}
		} else if b[k] < 0x80 || b[k] > 0xBF {
			break
		}
		n++
	}
	return n
}
