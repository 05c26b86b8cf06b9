package prep

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/internal/task"
)

// outFile is one file of a run's output.
type outFile struct {
	name  string
	write func(io.Writer) error
}

// writeAtomically writes files into a temporary folder beside dir, then
// moves them in: a new dir is renamed into place whole; into an existing
// dir each file is renamed (atomic per file) and stale outputs of an earlier
// run (names in ours that this run did not write) are removed. Until the
// moves, dir is untouched; on error the temporary folder is removed.
func writeAtomically(dir string, files []outFile, ours []string) (err error) {
	if dir, err = atomicfile.Target(filepath.Clean(dir)); err != nil { // a symlinked --out stays a link
		return err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	written := map[string]bool{}
	for _, f := range files {
		if err := writeFile(filepath.Join(tmp, f.name), f.write); err != nil {
			return err
		}
		written[f.name] = true
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.Rename(tmp, dir)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return &fs.PathError{Op: "write", Path: dir, Err: errors.New("not a folder")}
	}
	for _, f := range files {
		if err := os.Rename(filepath.Join(tmp, f.name), filepath.Join(dir, f.name)); err != nil {
			return err
		}
	}
	for _, name := range ours {
		if !written[name] {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return os.RemoveAll(tmp)
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	if err := write(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeAlpacaArray writes a JSON array with one Alpaca record per line,
// without HTML escaping, so files stay readable and diff well.
func writeAlpacaArray(w io.Writer, recs []example, instruction, system string) error {
	if len(recs) == 0 {
		_, err := io.WriteString(w, "[]\n")
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return err
	}
	for i, e := range recs {
		buf.Reset()
		buf.WriteString("  ")
		if err := enc.Encode(task.Record{Instruction: instruction, Input: e.text, Output: task.Binary[e.label].Answer, System: system, ID: e.id}); err != nil {
			return err
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
		if i < len(recs)-1 {
			b = append(b, ',')
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "]\n")
	return err
}

// datasetEntry is one dataset in LLaMA-Factory's dataset_info.json.
type datasetEntry struct {
	FileName   string            `json:"file_name"`
	Formatting string            `json:"formatting"`
	Columns    map[string]string `json:"columns"`
}

// writeDatasetInfo names each split file as "<name>_<split>".
func writeDatasetInfo(w io.Writer, name string, splits map[string]*SplitStats, system bool) error {
	info := map[string]datasetEntry{}
	for split, ss := range splits {
		cols := map[string]string{"prompt": "instruction", "query": "input", "response": "output"}
		if system {
			cols["system"] = "system"
		}
		info[name+"_"+split] = datasetEntry{FileName: ss.File, Formatting: "alpaca", Columns: cols}
	}
	return writeJSON(w, info)
}

// writeJSON writes v indented, without HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
