package table

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// parquetReader reads rows of any schema. Every leaf column that is not
// repeated becomes a column (nested ones named "a.b"); values are rendered
// as text: byte arrays as strings, numbers in decimal, booleans as
// true/false, nulls as "". Repeated (list) columns are left out.
type parquetReader struct {
	rows   *parquet.Reader
	cols   []string
	leaf   []int // parquet leaf column index → our column, -1 when left out
	kinds  []parquet.Kind
	buf    []parquet.Row
	n, i   int
	row    int
	closer io.Closer
	path   string
	err    error
}

func openParquet(ra io.ReaderAt, size int64, path string, opts ReadOptions) (_ *parquetReader, err error) {
	defer func() { // parquet-go panics on some corrupt inputs
		if r := recover(); r != nil {
			err = fmt.Errorf("read %s: invalid parquet file: %v", path, r)
		}
	}()
	if opts.OnBytes != nil {
		ra = &countingReaderAt{ra: ra, on: opts.OnBytes}
	}
	f, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	schema := f.Schema()
	r := &parquetReader{rows: parquet.NewReader(f), path: path, buf: make([]parquet.Row, 64)}
	if c, ok := ra.(io.Closer); ok {
		r.closer = c
	}
	for _, p := range schema.Columns() {
		leaf, _ := schema.Lookup(p...)
		for len(r.leaf) <= leaf.ColumnIndex {
			r.leaf = append(r.leaf, -1)
			r.kinds = append(r.kinds, 0)
		}
		if leaf.MaxRepetitionLevel > 0 {
			continue
		}
		r.leaf[leaf.ColumnIndex] = len(r.cols)
		r.kinds[leaf.ColumnIndex] = leaf.Node.Type().Kind()
		r.cols = append(r.cols, strings.Join(p, "."))
	}
	if f.NumRows() == 0 {
		return nil, fmt.Errorf("read %s: %w", path, ErrEmptyFile)
	}
	return r, nil
}

type countingReaderAt struct {
	ra io.ReaderAt
	on func(int)
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.ra.ReadAt(p, off)
	if n > 0 {
		c.on(n)
	}
	return n, err
}

func (c *countingReaderAt) Close() error {
	if cl, ok := c.ra.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

func (r *parquetReader) Columns() []string { return r.cols }
func (r *parquetReader) Info() Source {
	return Source{Path: r.path, Format: FormatParquet, Encoding: "binary"}
}

func (r *parquetReader) Close() error {
	err := r.rows.Close()
	if r.closer != nil {
		if cerr := r.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func (r *parquetReader) Next() (Record, error) {
	if r.i == r.n {
		if r.err != nil {
			return Record{}, r.err
		}
		r.i = 0
		r.n, r.err = r.readBatch()
		if r.n == 0 {
			if r.err == nil {
				r.err = io.EOF
			}
			return Record{}, r.err
		}
	}
	row := r.buf[r.i]
	r.i++
	r.row++
	vals := make([]string, len(r.cols))
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(r.leaf) || r.leaf[c] < 0 || v.IsNull() {
			continue
		}
		vals[r.leaf[c]] = parquetText(v, r.kinds[c])
	}
	return Record{Row: r.row, Values: vals}, nil
}

// readBatch reads the next rows; parquet-go panics on some corrupt pages.
func (r *parquetReader) readBatch() (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			n, err = 0, fmt.Errorf("read %s row %d: invalid parquet data: %v", r.path, r.row+1, p)
		}
	}()
	n, err = r.rows.ReadRows(r.buf)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("read %s row %d: %w", r.path, r.row+n+1, err)
	}
	return n, err
}

func parquetText(v parquet.Value, kind parquet.Kind) string {
	switch kind {
	case parquet.Boolean:
		return strconv.FormatBool(v.Boolean())
	case parquet.Int32:
		return strconv.FormatInt(int64(v.Int32()), 10)
	case parquet.Int64:
		return strconv.FormatInt(v.Int64(), 10)
	case parquet.Float:
		return strconv.FormatFloat(float64(v.Float()), 'g', -1, 32)
	case parquet.Double:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case parquet.ByteArray, parquet.FixedLenByteArray:
		return string(v.ByteArray())
	default:
		return v.String()
	}
}
