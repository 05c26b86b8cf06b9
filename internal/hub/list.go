package hub

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Cached is one model a cache holds, as --model names it.
type Cached struct {
	ID  string `json:"id"`  // ORG/NAME[@REVISION]
	Hub string `json:"hub"` // huggingface or modelscope: the cache --model ID resolves to
	Dir string `json:"dir"` // the folder --model ID resolves to
	Err string `json:"error,omitempty"`
}

// Hub names in Cached.
const (
	HubHuggingFace = "huggingface"
	HubModelScope  = "modelscope"
)

// List names every model the caches hold, each as the ORG/NAME[@REVISION] that Resolve turns
// into the folder listed (the Hugging Face cache first, as Resolve looks), sorted by name. A
// folder sentitune refuses (CheckFolder) is listed with why.
func (c Caches) List() []Cached {
	ids := map[string]ModelID{}
	for _, id := range c.hfIDs() {
		ids[id.String()] = id
	}
	for _, id := range c.msIDs() {
		ids[id.String()] = id
	}
	out := []Cached{}
	for name, id := range ids {
		m := Cached{ID: name, Hub: HubHuggingFace}
		if m.Dir, _ = c.findHF(id); m.Dir == "" {
			m.Hub = HubModelScope
			if m.Dir, _ = c.findModelScope(id); m.Dir == "" {
				continue // a ref without its snapshot, an empty folder: nothing to load
			}
		}
		if err := CheckFolder(m.Dir); err != nil {
			m.Err = err.Error()
		}
		out = append(out, m)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// hfIDs reads the Hugging Face cache's repo folders (models--ORG--NAME): each ref is a revision
// (main the default), and a snapshot no ref points at is named by its commit.
func (c Caches) hfIDs() []ModelID {
	var out []ModelID
	for _, repo := range subdirs(c.HF) {
		org, name, ok := strings.Cut(strings.TrimPrefix(repo, "models--"), "--")
		if !strings.HasPrefix(repo, "models--") || !ok {
			continue
		}
		dir := filepath.Join(c.HF, repo)
		pointed := map[string]bool{}
		filepath.WalkDir(filepath.Join(dir, "refs"), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(p)
			pointed[strings.TrimSpace(string(b))] = true
			rev, _ := filepath.Rel(filepath.Join(dir, "refs"), p)
			out = append(out, hfID(org, name, filepath.ToSlash(rev)))
			return nil
		})
		for _, commit := range subdirs(filepath.Join(dir, "snapshots")) {
			if !pointed[commit] {
				out = append(out, hfID(org, name, commit))
			}
		}
	}
	return validIDs(out)
}

func hfID(org, name, rev string) ModelID {
	if rev == hfDefaultRevision {
		rev = ""
	}
	return ModelID{Org: org, Name: name, Revision: rev}
}

// msIDs reads the ModelScope layouts msCandidates looks in: ROOT/models/ORG--NAME/snapshots/REV
// and ROOT[/hub][/models]/ORG/NAME (dots kept as "___"), the latter only with a config.json.
func (c Caches) msIDs() []ModelID {
	var out []ModelID
	for _, root := range c.ModelScope {
		for _, repo := range subdirs(filepath.Join(root, "models")) {
			if org, name, ok := strings.Cut(repo, "--"); ok {
				for _, rev := range subdirs(filepath.Join(root, "models", repo, "snapshots")) {
					if rev == msDefaultRevision {
						rev = ""
					}
					out = append(out, ModelID{Org: org, Name: name, Revision: rev})
				}
			}
		}
		for _, parent := range []string{root, filepath.Join(root, "hub"), filepath.Join(root, "models"), filepath.Join(root, "hub", "models")} {
			for _, org := range subdirs(parent) {
				for _, name := range subdirs(filepath.Join(parent, org)) {
					if _, err := os.Stat(filepath.Join(parent, org, name, "config.json")); err == nil {
						out = append(out, ModelID{Org: org, Name: strings.ReplaceAll(name, "___", ".")})
					}
				}
			}
		}
	}
	return validIDs(out)
}

// validIDs keeps the ids ParseModelID accepts, so every listed name works as --model.
func validIDs(ids []ModelID) []ModelID {
	var out []ModelID
	for _, id := range ids {
		if _, err := ParseModelID(id.String()); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// subdirs names the folders (or links to folders) in dir that do not start with '.'.
func subdirs(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && isDir(filepath.Join(dir, e.Name())) {
			out = append(out, e.Name())
		}
	}
	return out
}
