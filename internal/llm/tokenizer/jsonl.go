package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxLineBytes bounds one JSONL record (a very long review is still far below).
const maxLineBytes = 64 << 20

// EncodeJSONL reads JSON objects with a "text" field, one per line, and writes
// {"ids":[...]} lines with encode(text), in order. Blank lines are skipped.
// It returns the number of records written; a record with a missing, non-string
// or empty text is an error naming its line.
func EncodeJSONL(r io.Reader, w io.Writer, encode func(string) ([]int, error)) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	bw := bufio.NewWriter(w)
	n, line := 0, 0
	var out []byte
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		var rec struct {
			Text *json.RawMessage `json:"text"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return n, fmt.Errorf("line %d: %w", line, err)
		}
		if rec.Text == nil {
			return n, fmt.Errorf(`line %d: no "text" field`, line)
		}
		var text string
		if err := json.Unmarshal(*rec.Text, &text); err != nil {
			return n, fmt.Errorf(`line %d: "text" is not a string`, line)
		}
		if text == "" {
			return n, fmt.Errorf("line %d: empty text", line)
		}
		ids, err := encode(text)
		if err != nil {
			return n, fmt.Errorf("line %d: %w", line, err)
		}
		out = AppendIDsJSON(out[:0], ids)
		out = append(out, '\n')
		if _, err := bw.Write(out); err != nil {
			return n, err
		}
		n++
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return n, fmt.Errorf("line %d: longer than %d bytes", line+1, maxLineBytes)
		}
		return n, fmt.Errorf("after line %d: %w", line, err)
	}
	return n, bw.Flush()
}

// AppendIDsJSON appends {"ids":[...]} to dst.
func AppendIDsJSON(dst []byte, ids []int) []byte {
	dst = append(dst, `{"ids":[`...)
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(id), 10)
	}
	return append(dst, "]}"...)
}
