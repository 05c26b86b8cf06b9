package llamafactory

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// InfoFile is LLaMA-Factory's dataset registry in a dataset folder.
const InfoFile = "dataset_info.json"

// Dataset is one entry of dataset_info.json that sentitune can read.
type Dataset struct {
	Name string
	File string // the file it points to, joined with the folder
}

// entry is a dataset_info.json record; only the fields that decide whether sentitune can read it.
type entry struct {
	FileName   string            `json:"file_name"`
	HFHubURL   string            `json:"hf_hub_url"`
	MSHubURL   string            `json:"ms_hub_url"`
	ScriptURL  string            `json:"script_url"`
	Formatting string            `json:"formatting"`
	Ranking    bool              `json:"ranking"`
	Columns    map[string]string `json:"columns"`
}

// alpacaColumns is LLaMA-Factory's default column mapping for Alpaca records, the one sentitune reads.
var alpacaColumns = map[string]string{"prompt": "instruction", "query": "input", "response": "output", "system": "system", "history": "history"}

// Resolve looks names up in dir's dataset_info.json and returns the file each points to.
// Entries sentitune cannot train on (hub datasets, sharegpt, ranking, renamed columns) are
// errors naming the entry and what to do.
func Resolve(dir string, names []string) ([]Dataset, error) {
	path := filepath.Join(dir, InfoFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dataset registry: %w", err)
	}
	var info map[string]entry
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := make([]Dataset, 0, len(names))
	for _, name := range names {
		e, ok := info[name]
		if !ok {
			return nil, fmt.Errorf("%s has no dataset %q (it has: %s)", path, name, strings.Join(sortedKeys(info), ", "))
		}
		if err := e.check(); err != nil {
			return nil, fmt.Errorf("%s: dataset %q: %w", path, name, err)
		}
		file := filepath.Join(dir, e.FileName)
		st, err := os.Stat(file)
		if err != nil {
			return nil, fmt.Errorf("%s: dataset %q: %w", path, name, err)
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%s: dataset %q: %s is a folder; name one json, jsonl, csv or parquet file", path, name, file)
		}
		out = append(out, Dataset{Name: name, File: file})
	}
	return out, nil
}

func (e entry) check() error {
	switch {
	case e.FileName == "" && (e.HFHubURL != "" || e.MSHubURL != ""):
		return fmt.Errorf("a hub dataset (%s); download its file and register it with file_name", e.HFHubURL+e.MSHubURL)
	case e.FileName == "":
		return fmt.Errorf("no file_name (script_url %q is not run)", e.ScriptURL)
	case e.Formatting != "" && e.Formatting != "alpaca":
		return fmt.Errorf("formatting %q: sentitune reads alpaca records (instruction, input, output, system)", e.Formatting)
	case e.Ranking:
		return fmt.Errorf("ranking: true (preference pairs) is not a classification dataset")
	}
	for col, name := range e.Columns {
		if want, ok := alpacaColumns[col]; !ok || want != name {
			return fmt.Errorf("columns: %s is %q; sentitune reads the Alpaca names (instruction, input, output, system) — rename the field in the file or prep it with --text-col/--label-col", col, name)
		}
	}
	return nil
}

func sortedKeys(m map[string]entry) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Describe lists dir's datasets as "name → file" (for messages pointing at them).
func Describe(dir string) (string, error) {
	path := filepath.Join(dir, InfoFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var info map[string]entry
	if err := json.Unmarshal(b, &info); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var parts []string
	for _, name := range sortedKeys(info) {
		parts = append(parts, name+" → "+cmpOr(info[name].FileName, info[name].HFHubURL+info[name].MSHubURL))
	}
	return strings.Join(parts, ", "), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
