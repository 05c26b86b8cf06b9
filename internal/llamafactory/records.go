package llamafactory

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/table"
	"github.com/sentitune/sentitune/internal/task"
)

// row is one record of a dataset file: its fields by name, as text.
type row map[string]string

// records reads ds's file through its columns mapping, the first maxSamples rows (0: all), as
// LLaMA-Factory's Alpaca converter does: the user turn is prompt + "\n" + query, the system
// prompt only from a mapped system column.
func (ds Dataset) records(maxSamples int) ([]task.Record, error) {
	rows, err := readRows(ds.File)
	if err != nil {
		return nil, fmt.Errorf("dataset %q: %w", ds.Name, err)
	}
	if maxSamples > 0 && len(rows) > maxSamples {
		rows = rows[:maxSamples]
	}
	recs := make([]task.Record, 0, len(rows))
	for i, r := range rows {
		rec, err := ds.record(r)
		if err != nil {
			return nil, fmt.Errorf("dataset %q: %s record %d: %w", ds.Name, ds.File, i+1, err)
		}
		if rec.ID == "" {
			rec.ID = fmt.Sprintf("%s:%d", ds.Name, i+1)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// record is one row in Alpaca form; a mapped column the row lacks is an error, as in LLaMA-Factory.
func (ds Dataset) record(r row) (task.Record, error) {
	get := func(role string) (string, error) {
		col := ds.columns[role]
		if col == "" {
			return "", nil
		}
		v, ok := r[col]
		if !ok {
			return "", fmt.Errorf("no %q field (columns maps %s to it)", col, role)
		}
		return v, nil
	}
	var rec task.Record
	var err error
	for _, f := range []struct {
		role string
		to   *string
	}{{"prompt", &rec.Instruction}, {"query", &rec.Input}, {"response", &rec.Output}, {"system", &rec.System}} {
		if *f.to, err = get(f.role); err != nil {
			return rec, err
		}
	}
	if h, err := get("history"); err != nil {
		return rec, err
	} else if h != "" && h != "[]" {
		return rec, errors.New("a history (earlier turns): sentitune trains single-turn records")
	}
	rec.ID = r["id"]
	return rec, nil
}

// readRows reads every record of a json, jsonl, csv, tsv or parquet file as text fields.
func readRows(path string) ([]row, error) {
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".json" || ext == ".jsonl" {
		return readJSONRows(path)
	}
	rd, err := table.Open(path, table.FormatAuto, table.ReadOptions{})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var rows []row
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		r := row{}
		for i, c := range rd.Columns() {
			r[c] = rec.Get(i)
		}
		rows = append(rows, r)
	}
}

// readJSONRows reads a JSON array or JSON Lines file of objects, every key of each (a key that
// only later records have is kept, as datasets' json loader keeps it).
func readJSONRows(path string) ([]row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(b)))
	array := len(bytes.TrimSpace(b)) > 0 && bytes.TrimSpace(b)[0] == '['
	if array {
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	var rows []row
	for dec.More() {
		var obj map[string]json.RawMessage
		if err := dec.Decode(&obj); err != nil {
			return nil, fmt.Errorf("read %s record %d: %w", path, len(rows)+1, err)
		}
		r := make(row, len(obj))
		for k, v := range obj {
			r[k] = jsonText(v)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// jsonText is a JSON value as text: a string as it is, null as "", anything else as written.
func jsonText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	if t := string(bytes.TrimSpace(v)); t != "null" {
		return t
	}
	return ""
}

// TrainingFile is one Alpaca file holding the named datasets of dir's registry, concatenated in
// order (LLaMA-Factory's mix_strategy concat), each read through its own columns mapping and cut to
// maxSamples (0: all). A single dataset that already is such a file is returned as it is; otherwise
// the records are written to dir/.sentitune/ (or the user cache when dir is read-only), named by
// their content, and note ("a,b: N records … into PATH") says so.
func TrainingFile(dir string, names []string, maxSamples int) (path, note string, err error) {
	ds, err := Resolve(dir, names)
	if err != nil {
		return "", "", err
	}
	var all []task.Record
	counts := make([]string, len(ds))
	for i, d := range ds {
		recs, err := d.records(maxSamples)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", filepath.Join(dir, InfoFile), err)
		}
		all = append(all, recs...)
		counts[i] = fmt.Sprintf("%s %d", d.Name, len(recs))
	}
	if len(ds) == 1 && readsAsIs(ds[0].File, all) {
		return ds[0].File, "", nil
	}
	body, err := encodeRecords(all)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(body)
	name := unsafeName.ReplaceAllString(strings.Join(names, "+"), "_") + "-" + hex.EncodeToString(sum[:])[:12] + ".jsonl"
	path, err = writeOnce(dir, name, body)
	if err != nil {
		return "", "", err
	}
	return path, fmt.Sprintf("%s: %d records (%s), each read through its own columns, concatenated in order into %s",
		strings.Join(names, ","), len(all), strings.Join(counts, " + "), path), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.+-]`)

// readsAsIs reports whether finetune reading file itself (task.ReadRecords) sees recs.
func readsAsIs(file string, recs []task.Record) bool {
	direct, err := task.ReadRecords(file)
	if err != nil || len(direct) != len(recs) {
		return false
	}
	for i, d := range direct {
		r := recs[i]
		if d.Instruction != r.Instruction || d.Input != r.Input || d.Output != r.Output || d.System != r.System {
			return false
		}
	}
	return true
}

func encodeRecords(recs []task.Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// writeOnce writes body as dir/.sentitune/name unless that file is there already (its name is
// its content's hash, so ranks of one run share it); a read-only dir falls back to the user cache.
func writeOnce(dir, name string, body []byte) (string, error) {
	var firstErr error
	dirs := []string{filepath.Join(dir, ".sentitune")}
	if c, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(c, "sentitune", "llamafactory"))
	}
	for _, d := range dirs {
		path := filepath.Join(d, name)
		if st, err := os.Stat(path); err == nil && st.Size() == int64(len(body)) {
			return path, nil
		}
		err := os.MkdirAll(d, 0o755)
		if err == nil {
			err = atomicfile.WriteFile(path, body)
		}
		if err == nil {
			return path, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("write the joined datasets: %w", err)
		}
	}
	return "", firstErr
}
