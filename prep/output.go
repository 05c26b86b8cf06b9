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

// writeAtomically writes files into dir through atomicfile.WriteDir (Merge): a new dir appears
// whole; into an existing dir each file is renamed (atomic per file) and stale outputs of an
// earlier run (names in ours that this run did not write) are then removed. Until the moves, dir
// is untouched; on error nothing of this run is left behind.
func writeAtomically(dir string, files []outFile, ours []string) error {
	written := map[string]bool{}
	err := atomicfile.WriteDir(dir, atomicfile.Merge, func(tmp string) error {
		for _, f := range files {
			if err := writeFile(filepath.Join(tmp, f.name), f.write); err != nil {
				return err
			}
			written[f.name] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	dir, err = atomicfile.Target(filepath.Clean(dir))
	if err != nil {
		return err
	}
	for _, name := range ours {
		if !written[name] {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
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
func writeAlpacaArray(w io.Writer, recs []example, labels task.Labels, instruction, system string) error {
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
		if err := enc.Encode(task.Record{Instruction: orDefault(e.instruction, instruction), Input: e.text, Output: labels[e.label].Answer, System: orDefault(e.system, system), ID: e.id, Aspect: e.aspect}); err != nil {
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
