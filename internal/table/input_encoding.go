package table

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encodings accepted in ReadOptions.Encoding.
var Encodings = []string{"auto", "utf-8", "gbk", "gb18030", "utf-16"}

// decoder turns raw input into UTF-8. In auto mode it passes ASCII through
// and settles the encoding at the first non-ASCII byte, so a GBK export
// whose first thousand rows are English is still detected, in constant memory.
type decoder struct {
	raw      *bufio.Reader
	out      io.Reader // set once the encoding is settled
	encoding string
}

const sniffWindow = 64 << 10

func newDecoder(r io.Reader, enc string) (*decoder, error) {
	d := &decoder{raw: bufio.NewReaderSize(r, sniffWindow)}
	bom, _ := d.raw.Peek(3)
	switch {
	case bytes.HasPrefix(bom, []byte{0xEF, 0xBB, 0xBF}):
		d.raw.Discard(3)
		if enc == "" || enc == "auto" {
			enc = "utf-8"
		}
	case bytes.HasPrefix(bom, []byte{0xFF, 0xFE}), bytes.HasPrefix(bom, []byte{0xFE, 0xFF}):
		if enc == "" || enc == "auto" || strings.HasPrefix(strings.ToLower(enc), "utf-16") {
			enc = "utf-16le"
			if bom[0] == 0xFE {
				enc = "utf-16be"
			}
			// the BOM-aware decoder removes the BOM itself
			d.out = transform.NewReader(d.raw, xunicode.BOMOverride(xunicode.UTF8.NewDecoder()))
			d.encoding = enc
			return d, nil
		}
	}
	switch strings.ToLower(enc) {
	case "", "auto":
	case "utf-8", "utf8":
		d.out, d.encoding = d.raw, "utf-8"
	case "gbk", "gb2312", "cp936", "gb18030":
		d.out, d.encoding = transform.NewReader(d.raw, simplifiedchinese.GB18030.NewDecoder()), "gbk"
	case "utf-16", "utf-16le", "utf16":
		d.out = transform.NewReader(d.raw, xunicode.UTF16(xunicode.LittleEndian, xunicode.UseBOM).NewDecoder())
		d.encoding = "utf-16le"
	case "utf-16be":
		d.out = transform.NewReader(d.raw, xunicode.UTF16(xunicode.BigEndian, xunicode.UseBOM).NewDecoder())
		d.encoding = "utf-16be"
	default:
		return nil, fmt.Errorf("unknown encoding %q (want one of %s)", enc, strings.Join(Encodings, ", "))
	}
	return d, nil
}

// name is the settled encoding; a file that was all ASCII reads as utf-8.
func (d *decoder) name() string {
	if d.encoding == "" {
		return "utf-8"
	}
	return d.encoding
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.out != nil {
		return d.out.Read(p)
	}
	buf, err := d.raw.Peek(sniffWindow)
	if err != nil && err != io.EOF {
		return 0, err
	}
	if len(buf) == 0 {
		return 0, io.EOF
	}
	i := 0
	for i < len(buf) && buf[i] < utf8.RuneSelf {
		i++
	}
	if i > 0 { // the ASCII prefix reads the same in every supported encoding
		n := copy(p, buf[:i])
		d.raw.Discard(n)
		return n, nil
	}
	if sniffGBK(buf, err == io.EOF) {
		d.out, d.encoding = transform.NewReader(d.raw, simplifiedchinese.GB18030.NewDecoder()), "gbk"
	} else {
		d.out, d.encoding = d.raw, "utf-8"
	}
	return d.out.Read(p)
}

// sniffGBK reports whether window (starting at a non-ASCII byte) is mostly
// not UTF-8 and decodes cleanly as GBK/GB18030 into mostly CJK text.
func sniffGBK(window []byte, atEOF bool) bool {
	if !atEOF { // drop a rune cut by the window's end
		for k := 1; k <= 3 && k <= len(window); k++ {
			if utf8.RuneStart(window[len(window)-k]) {
				if !utf8.FullRune(window[len(window)-k:]) {
					window = window[:len(window)-k]
				}
				break
			}
		}
	}
	if utf8.Valid(window) {
		return false
	}
	// UTF-8 with a few bad bytes stays UTF-8 (GBK rarely forms valid UTF-8)
	valid, invalid := 0, 0
	for i := 0; i < len(window); {
		r, size := utf8.DecodeRune(window[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			invalid++
		case size > 1:
			valid++
		}
		i += size
	}
	if valid >= invalid {
		return false
	}
	out, _, err := transform.Bytes(simplifiedchinese.GB18030.NewDecoder(), window)
	if err != nil {
		return false
	}
	bad, nonASCII, cjk := 0, 0, 0
	for _, r := range string(out) {
		switch {
		case r == utf8.RuneError:
			bad++
		case r >= utf8.RuneSelf:
			nonASCII++
			if unicode.Is(unicode.Han, r) || unicode.In(r, unicode.Punct) || (r >= 0xFF00 && r <= 0xFFEF) || (r >= 0x3000 && r <= 0x303F) {
				cjk++
			}
		}
	}
	// one stray error at a cut window end is tolerated
	return bad <= 1 && nonASCII > 0 && cjk*2 >= nonASCII
}
