package llamafactory

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// InfoFile is LLaMA-Factory's dataset registry in a dataset folder.
const InfoFile = "dataset_info.json"

// Dataset is one entry of dataset_info.json that sentitune can read.
type Dataset struct {
	Name    string
	File    string            // the file it points to, joined with the folder
	columns map[string]string // Alpaca role (prompt, query, response, system, history) → field name
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
	NumSamples *int              `json:"num_samples"`
}

// alpacaColumns is LLaMA-Factory's column mapping for Alpaca records without a columns entry:
// no system column (a record's system field is read only when columns names it).
var alpacaColumns = map[string]string{"prompt": "instruction", "query": "input", "response": "output"}

// alpacaRoles are the columns entries sentitune reads; refusedRoles are LLaMA-Factory's others, with why.
var (
	alpacaRoles  = []string{"prompt", "query", "response", "system", "history"}
	refusedRoles = map[string]string{
		"tools": "tool calls", "images": "images", "videos": "videos", "audios": "audio",
		"chosen": "preference pairs", "rejected": "preference pairs", "kto_tag": "KTO labels",
	}
)

// mapping is the entry's columns as LLaMA-Factory reads them: a columns entry replaces the
// defaults, so a role it leaves out is not read.
func (e entry) mapping() map[string]string {
	if e.Columns == nil {
		return alpacaColumns
	}
	m := map[string]string{}
	for _, role := range alpacaRoles {
		if col := e.Columns[role]; col != "" {
			m[role] = col
		}
	}
	return m
}

// Resolve looks names up in dir's dataset_info.json and returns the file each points to.
// Entries sentitune cannot train on (hub datasets, sharegpt, ranking, renamed columns) are
// errors naming the entry and what to do.
func Resolve(dir string, names []string) ([]Dataset, error) {
	if dir == "ONLINE" || strings.HasPrefix(dir, "REMOTE:") {
		return nil, fmt.Errorf("dataset_dir %s: datasets on a hub are not downloaded; download the files and register them in a local %s", dir, InfoFile)
	}
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
		out = append(out, Dataset{Name: name, File: file, columns: e.mapping()})
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
	case e.NumSamples != nil:
		return fmt.Errorf("num_samples %d: LLaMA-Factory draws them at random; cut the file to the rows to train on", *e.NumSamples)
	}
	for _, role := range slices.Sorted(maps.Keys(e.Columns)) {
		if what, ok := refusedRoles[role]; ok && e.Columns[role] != "" {
			return fmt.Errorf("columns: %s is %q: sentitune trains on review text, not %s", role, e.Columns[role], what)
		}
	}
	if e.mapping()["response"] == "" {
		return errors.New("columns names no response: the answer to train on")
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
