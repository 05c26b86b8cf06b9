package table

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// object is one JSON object with its keys in file order and its values as
// text: strings as is, numbers as written, true/false, null as "", nested
// arrays and objects as compact JSON.
type object struct {
	keys, vals []string
	line       int
}

// objectSource yields objects; a *RowError is recoverable, other errors are final.
type objectSource interface {
	next() (object, error)
}

// objectReader turns objects into records. Its columns are the union of the
// keys of the first peekObjects objects (in order of appearance); later keys
// are ignored.
type objectReader struct {
	src    objectSource
	cols   []string
	index  map[string]int
	queue  []queued
	row    int
	closer io.Closer
	info   func() Source
}

type queued struct {
	obj object
	err error
}

const peekObjects = 32

func newObjectReader(src objectSource, closer io.Closer, info func() Source) (*objectReader, error) {
	r := &objectReader{src: src, closer: closer, info: info, index: map[string]int{}}
	good, bad := 0, 0
	for good < peekObjects && bad < 1000 {
		obj, err := src.next()
		if err == io.EOF {
			break
		}
		var rowErr *RowError
		if err != nil && !errors.As(err, &rowErr) {
			return nil, err
		}
		r.queue = append(r.queue, queued{obj, err})
		if err != nil {
			bad++
			continue
		}
		good++
		for _, k := range obj.keys {
			if _, ok := r.index[k]; !ok {
				r.index[k] = len(r.cols)
				r.cols = append(r.cols, k)
			}
		}
	}
	if len(r.queue) == 0 {
		return nil, fmt.Errorf("read %s: %w", info().Path, ErrEmptyFile)
	}
	return r, nil
}

func (r *objectReader) Columns() []string { return r.cols }
func (r *objectReader) Info() Source      { return r.info() }

func (r *objectReader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

func (r *objectReader) Next() (Record, error) {
	var obj object
	var err error
	if len(r.queue) > 0 {
		obj, err = r.queue[0].obj, r.queue[0].err
		r.queue = r.queue[1:]
	} else {
		obj, err = r.src.next()
	}
	if err == io.EOF {
		return Record{}, io.EOF
	}
	var rowErr *RowError
	if errors.As(err, &rowErr) {
		r.row++
		rowErr.Row = r.row
		return Record{}, err
	}
	if err != nil {
		return Record{}, err
	}
	r.row++
	vals := make([]string, len(r.cols))
	for i, k := range obj.keys {
		if j, ok := r.index[k]; ok {
			vals[j] = obj.vals[i]
		}
	}
	return Record{Row: r.row, Line: obj.line, Values: vals}, nil
}

// jsonlSource reads one JSON object per line; blank lines are skipped.
type jsonlSource struct {
	lines lineReader
	path  string
}

func newJSONLReader(br *bufio.Reader, closer io.Closer, info func() Source, opts ReadOptions) (*objectReader, error) {
	return newObjectReader(&jsonlSource{lines: lineReader{br: br, max: opts.maxRecord()}, path: info().Path}, closer, info)
}

func (s *jsonlSource) next() (object, error) {
	for {
		l, err := s.lines.next()
		var long errLongLine
		if errors.As(err, &long) {
			return object{}, &RowError{Path: s.path, Line: l.n, Err: err}
		}
		if err == io.EOF {
			return object{}, io.EOF
		}
		if err != nil {
			return object{}, fmt.Errorf("read %s: %w", s.path, err)
		}
		if len(bytes.TrimSpace(l.b)) == 0 {
			continue
		}
		obj, err := parseObject(l.b)
		if err != nil {
			return object{}, &RowError{Path: s.path, Line: l.n, Err: err}
		}
		obj.line = l.n
		return obj, nil
	}
}

// jsonArraySource streams the elements of a top-level JSON array.
type jsonArraySource struct {
	dec     *json.Decoder
	path    string
	max     int
	started bool
	done    bool
	n       int
}

func newJSONArrayReader(br *bufio.Reader, closer io.Closer, info func() Source, opts ReadOptions) (*objectReader, error) {
	return newObjectReader(&jsonArraySource{dec: json.NewDecoder(br), path: info().Path, max: opts.maxRecord()}, closer, info)
}

func (s *jsonArraySource) next() (object, error) {
	if s.done {
		return object{}, io.EOF
	}
	if !s.started {
		s.started = true
		tok, err := s.dec.Token()
		if err == io.EOF {
			s.done = true
			return object{}, io.EOF
		}
		if err != nil {
			return object{}, fmt.Errorf("read %s: %w", s.path, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return object{}, fmt.Errorf("read %s: want a JSON array of objects, found %v", s.path, tok)
		}
	}
	if !s.dec.More() {
		if _, err := s.dec.Token(); err != nil { // the closing ]
			return object{}, fmt.Errorf("read %s at byte %d: %w", s.path, s.dec.InputOffset(), err)
		}
		s.done = true
		return object{}, io.EOF
	}
	s.n++
	var raw json.RawMessage
	if err := s.dec.Decode(&raw); err != nil {
		// a syntax error leaves the decoder lost: nothing after it can be read
		return object{}, fmt.Errorf("read %s element %d (byte %d): %w", s.path, s.n, s.dec.InputOffset(), err)
	}
	if len(raw) > s.max {
		return object{}, &RowError{Path: s.path, Err: fmt.Errorf("element longer than %d bytes", s.max)}
	}
	obj, err := parseObject(raw)
	if err != nil {
		return object{}, &RowError{Path: s.path, Err: err}
	}
	return obj, nil
}

var errNotObject = errors.New("not a JSON object")

// parseObject decodes one JSON object keeping key order.
func parseObject(data []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return object{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return object{}, errNotObject
	}
	var obj object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return object{}, fmt.Errorf("invalid JSON: %w", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return object{}, fmt.Errorf("invalid JSON: %w", err)
		}
		val, err := jsonText(raw)
		if err != nil {
			return object{}, fmt.Errorf("invalid JSON: %w", err)
		}
		obj.keys = append(obj.keys, key)
		obj.vals = append(obj.vals, val)
	}
	if _, err := dec.Token(); err != nil {
		return object{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return object{}, errors.New("invalid JSON: data after the object")
	}
	return obj, nil
}

// jsonText renders a JSON value as record text.
func jsonText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case 'n':
		return "", nil
	case '{', '[':
		var b bytes.Buffer
		err := json.Compact(&b, raw)
		return b.String(), err
	default: // numbers and true/false as written
		return string(raw), nil
	}
}
