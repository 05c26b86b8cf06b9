package table

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// lineReader yields physical lines ("\n" or "\r\n" terminated) as owned
// copies, numbering them from 1.
type lineReader struct {
	br  *bufio.Reader
	n   int
	max int
}

type numberedLine struct {
	b []byte
	n int
}

// errLongLine reports a line over the record limit; the line was skipped.
type errLongLine struct{ max int }

func (e errLongLine) Error() string { return fmt.Sprintf("line longer than %d bytes", e.max) }

func (l *lineReader) next() (numberedLine, error) {
	var line []byte
	got, tooLong := 0, false
	for {
		chunk, err := l.br.ReadSlice('\n')
		got += len(chunk)
		if !tooLong {
			if len(line)+len(chunk) > l.max+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && got == 0 {
			return numberedLine{}, io.EOF
		}
		if err != nil && err != io.EOF {
			return numberedLine{}, err
		}
		l.n++
		if tooLong {
			return numberedLine{n: l.n}, errLongLine{l.max}
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if line == nil {
			line = []byte{}
		}
		return numberedLine{b: line, n: l.n}, nil
	}
}

// csvReader parses RFC 4180 CSV (and TSV with the same quoting rules):
// quoted fields may hold delimiters, doubled quotes and newlines. A bad
// record (a quote never closed, text after a closing quote, a bare quote in
// an unquoted field, a wrong field count) is reported as a *RowError
// naming its first line; parsing resumes at the line after it, so one bad
// quote costs one line, not the rest of the file. TSV allows bare quotes
// inside unquoted fields, since many TSV writers never quote.
type csvReader struct {
	lines   lineReader
	pending []numberedLine // lines to parse again after a bad record
	delim   byte
	cols    []string
	row     int
	max     int
	closer  io.Closer
	info    func() Source
}

func newCSVReader(br *bufio.Reader, closer io.Closer, info func() Source, format string, opts ReadOptions) (*csvReader, error) {
	c := &csvReader{lines: lineReader{br: br, max: opts.maxRecord()}, max: opts.maxRecord(), closer: closer, info: info}
	path := info().Path
	switch {
	case opts.Delimiter != 0:
		if opts.Delimiter > 127 || opts.Delimiter == '"' || opts.Delimiter == '\n' || opts.Delimiter == '\r' {
			return nil, fmt.Errorf("read %s: unsupported delimiter %q", path, opts.Delimiter)
		}
		c.delim = byte(opts.Delimiter)
	case format == FormatTSV:
		c.delim = '\t'
	default:
		c.delim = sniffDelimiter(br)
	}
	header, _, err := c.readRecord()
	if err == io.EOF {
		return nil, fmt.Errorf("read %s: %w", path, ErrEmptyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s header: %w", path, err)
	}
	c.cols = make([]string, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == "" {
			h = fmt.Sprintf("column_%d", i+1)
		}
		c.cols[i] = h
	}
	return c, nil
}

// sniffDelimiter picks the most frequent of ',', ';' (spreadsheet exports
// in many European locales) and tab in the header line; ',' on a tie.
func sniffDelimiter(br *bufio.Reader) byte {
	head, _ := br.Peek(br.Buffered())
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	best, n := byte(','), bytes.Count(head, []byte{','})
	for _, d := range []byte{';', '\t'} {
		if k := bytes.Count(head, []byte{d}); k > n {
			best, n = d, k
		}
	}
	return best
}

func (c *csvReader) Columns() []string { return c.cols }
func (c *csvReader) Info() Source      { return c.info() }

func (c *csvReader) Close() error {
	if c.closer != nil {
		return c.closer.Close()
	}
	return nil
}

func (c *csvReader) Next() (Record, error) {
	fields, line, err := c.readRecord()
	if err == io.EOF {
		return Record{}, io.EOF
	}
	var rowErr *RowError
	if errors.As(err, &rowErr) {
		c.row++
		rowErr.Row = c.row
		return Record{}, err
	}
	if err != nil {
		return Record{}, fmt.Errorf("read %s: %w", c.info().Path, err)
	}
	c.row++
	rec := Record{Row: c.row, Line: line, Values: fields}
	if len(fields) != len(c.cols) {
		return Record{}, &RowError{Path: c.info().Path, Row: c.row, Line: line,
			Err: fmt.Errorf("%d fields, header has %d", len(fields), len(c.cols))}
	}
	return rec, nil
}

func (c *csvReader) nextLine() (numberedLine, error) {
	if len(c.pending) > 0 {
		l := c.pending[0]
		c.pending = c.pending[1:]
		return l, nil
	}
	return c.lines.next()
}

// readRecord parses one record, skipping blank lines before it.
func (c *csvReader) readRecord() (fields []string, start int, err error) {
	var l numberedLine
	for {
		l, err = c.nextLine()
		var long errLongLine
		if errors.As(err, &long) {
			return nil, l.n, &RowError{Path: c.info().Path, Line: l.n, Err: err}
		}
		if err != nil {
			return nil, 0, err
		}
		if len(l.b) > 0 {
			break
		}
	}
	start = l.n
	raw := []numberedLine{l}
	bad := func(format string, args ...any) ([]string, int, error) {
		err := fmt.Errorf(format, args...)
		if last := raw[len(raw)-1].n; last != start {
			err = fmt.Errorf("%w (record from line %d to %d)", err, start, last)
		}
		// resume at the record's second line: only its first line is lost
		c.pending = append(raw[1:len(raw):len(raw)], c.pending...)
		return nil, start, &RowError{Path: c.info().Path, Line: start, Err: err}
	}
	line, pos, size := l.b, 0, len(l.b)
	var field []byte
	for {
		p := pos
		for p < len(line) && line[p] == ' ' && c.delim != ' ' {
			p++
		}
		if p < len(line) && line[p] == '"' {
			pos, field = p+1, field[:0]
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					field = append(field, line[pos:]...)
					field = append(field, '\n')
					nl, err := c.nextLine()
					var long errLongLine
					switch {
					case err == io.EOF || errors.As(err, &long):
						return bad("field %d: quoted field never closed", len(fields)+1)
					case err != nil:
						return nil, 0, err
					}
					raw = append(raw, nl)
					if size += len(nl.b); size > c.max {
						return bad("field %d: quoted field never closed within %d bytes", len(fields)+1, c.max)
					}
					line, pos = nl.b, 0
					continue
				}
				field = append(field, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					field = append(field, '"')
					pos++
					continue
				}
				break
			}
			for pos < len(line) && line[pos] == ' ' && c.delim != ' ' {
				pos++
			}
			fields = append(fields, string(field))
			if pos == len(line) {
				return fields, start, nil
			}
			if line[pos] != c.delim {
				return bad("field %d: unexpected %q after closing quote", len(fields), line[pos])
			}
		} else {
			end := len(line)
			if i := bytes.IndexByte(line[pos:], c.delim); i >= 0 {
				end = pos + i
			}
			f := line[pos:end]
			if c.delim != '\t' && bytes.IndexByte(f, '"') >= 0 { // TSV is often unquoted: allow it there
				return bad("field %d: bare quote in unquoted field", len(fields)+1)
			}
			fields = append(fields, string(f))
			if end == len(line) {
				return fields, start, nil
			}
			pos = end
		}
		pos++ // past the delimiter
		if pos == len(line) {
			return append(fields, ""), start, nil
		}
	}
}
