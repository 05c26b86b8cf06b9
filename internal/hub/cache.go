package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Default branches of the two hubs.
const (
	hfDefaultRevision = "main"
	msDefaultRevision = "master"
)

// commitHash matches a full git commit id, which the Hugging Face cache uses as snapshot name.
var commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// Caches are the cache folders models are looked up in and downloaded to.
type Caches struct {
	HF         string   // huggingface_hub's hub cache: models--ORG--NAME/{refs,snapshots,blobs}
	ModelScope []string // modelscope cache roots, newest SDK's first; downloads go to the first
}

// CachesFromEnv reads the folders the Python SDKs use: HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE,
// else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub (~/.cache/huggingface/hub); and
// MODELSCOPE_CACHE, else ~/.cache/modelscope/hub (modelscope ≤ 1.37) and ~/.cache/modelscope
// (modelscope_hub, 2026).
func CachesFromEnv() Caches {
	home, _ := os.UserHomeDir()
	xdg := cmpOr(os.Getenv("XDG_CACHE_HOME"), filepath.Join(home, ".cache"))
	hfHome := cmpOr(os.Getenv("HF_HOME"), filepath.Join(xdg, "huggingface"))
	c := Caches{HF: cmpOr(os.Getenv("HF_HUB_CACHE"), os.Getenv("HUGGINGFACE_HUB_CACHE"), filepath.Join(hfHome, "hub"))}
	if ms := os.Getenv("MODELSCOPE_CACHE"); ms != "" {
		c.ModelScope = []string{ms}
	} else {
		c.ModelScope = []string{filepath.Join(home, ".cache", "modelscope", "hub"), filepath.Join(home, ".cache", "modelscope")}
	}
	return c
}

func cmpOr(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// HFRepoDir is where huggingface_hub keeps a model: HF/models--ORG--NAME.
func (c Caches) HFRepoDir(id ModelID) string {
	return filepath.Join(c.HF, "models--"+id.Org+"--"+id.Name)
}

// findHF returns the snapshot folder of id in the Hugging Face cache, or "" and what it found
// instead. A revision is a branch or tag name (refs/REV holds its commit) or a commit hash.
func (c Caches) findHF(id ModelID) (string, string) {
	repo := c.HFRepoDir(id)
	if !isDir(repo) {
		return "", repo + ": no such folder"
	}
	rev := id.revisionOr(hfDefaultRevision)
	commit := rev
	if b, err := os.ReadFile(filepath.Join(repo, "refs", filepath.FromSlash(rev))); err == nil {
		commit = strings.TrimSpace(string(b))
	} else if !commitHash.MatchString(rev) {
		return "", fmt.Sprintf("%s: no refs/%s (snapshots: %s)", repo, rev, listDir(filepath.Join(repo, "snapshots")))
	}
	snap := filepath.Join(repo, "snapshots", commit)
	if !isDir(snap) {
		return "", fmt.Sprintf("%s: revision %s is commit %s, which has no snapshot (snapshots: %s)",
			repo, rev, commit, listDir(filepath.Join(repo, "snapshots")))
	}
	return snap, ""
}

// msSafeName is the folder name modelscope ≤ 1.37 gives NAME: its dots as "___".
func msSafeName(name string) string { return strings.ReplaceAll(name, ".", "___") }

// msCandidates lists, in the order they are tried, the folders the modelscope SDKs have kept
// ORG/NAME in: modelscope_hub (2026) ROOT/models/ORG--NAME/snapshots/REV; modelscope 1.2x–1.37
// ROOT/models/ORG/NAME___ (and a symlink with the dots); older ROOT/ORG/NAME___ and, with
// MODELSCOPE_CACHE set, ROOT/hub/... .
func (c Caches) msCandidates(id ModelID) []string {
	rev := id.revisionOr(msDefaultRevision)
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p = filepath.Clean(p); !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, root := range c.ModelScope {
		add(filepath.Join(root, "models", id.Org+"--"+id.Name, "snapshots", filepath.FromSlash(rev)))
	}
	for _, root := range c.ModelScope {
		for _, name := range []string{msSafeName(id.Name), id.Name} {
			add(filepath.Join(root, "models", id.Org, name))
			add(filepath.Join(root, "hub", "models", id.Org, name))
			add(filepath.Join(root, id.Org, name))
			add(filepath.Join(root, "hub", id.Org, name))
		}
	}
	return out
}

// MSDownloadDir is where sentitune downloads ORG/NAME from ModelScope: the modelscope 1.2x–1.37
// layout, which that SDK and modelscope_hub both read.
func (c Caches) MSDownloadDir(id ModelID) string {
	return filepath.Join(c.ModelScope[0], "models", id.Org, msSafeName(id.Name))
}

// findModelScope returns the first non-empty candidate folder of id that holds the revision
// asked for, or "" and why each existing candidate was passed over.
func (c Caches) findModelScope(id ModelID) (string, []string) {
	var why []string
	for _, dir := range c.msCandidates(id) {
		if !isDir(dir) || isEmptyDir(dir) {
			continue
		}
		if strings.Contains(dir, string(filepath.Separator)+"snapshots"+string(filepath.Separator)) {
			return dir, nil // the revision is the folder's name
		}
		if id.Revision == "" {
			return dir, nil
		}
		switch got := msCachedRevision(dir); got {
		case id.Revision:
			return dir, nil
		case "":
			why = append(why, dir+": records no revision (no .mv file), so it cannot stand for @"+id.Revision)
		default:
			why = append(why, dir+": holds revision "+got)
		}
	}
	return "", why
}

// msCachedRevision reads the revision modelscope recorded in a model folder's .mv file
// ("Revision:v1.0.2,CreatedAt:1719830000"), or "".
func msCachedRevision(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, ".mv"))
	if err != nil {
		return ""
	}
	for _, field := range strings.Split(strings.TrimSpace(string(b)), ",") {
		if v, ok := strings.CutPrefix(field, "Revision:"); ok {
			return v
		}
	}
	return ""
}

// NotFoundError says a model is neither a folder nor in a cache, and where it was looked for.
type NotFoundError struct {
	Ref    string
	Looked []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("model %s: not a folder here and not in a hub cache; looked in:\n  %s\n"+
		"download it with: sentitune download %s (add --hub modelscope for ModelScope)",
		e.Ref, strings.Join(e.Looked, "\n  "), e.Ref)
}

// Resolve turns --model into a folder: ref itself when it is a folder, else ORG/NAME[@REVISION]
// from the Hugging Face cache, then the ModelScope cache. The folder is checked with CheckFolder.
func (c Caches) Resolve(ref string) (string, error) {
	if fi, err := os.Stat(ref); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("model %s is a file, not a model folder", ref)
		}
		return ref, CheckFolder(ref)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("model %s: %w", ref, err)
	}
	id, err := ParseModelID(ref)
	if err != nil {
		return "", fmt.Errorf("model folder %s does not exist (nor is it a hub name: %v)", ref, err)
	}
	looked := []string{"./" + ref + ": no such folder"}
	dir, why := c.findHF(id)
	if dir == "" {
		looked = append(looked, "Hugging Face cache "+why)
		var msWhy []string
		if dir, msWhy = c.findModelScope(id); dir == "" {
			looked = append(looked, msWhy...)
			looked = append(looked, "ModelScope cache: none of "+strings.Join(c.msCandidates(id), ", "))
			return "", &NotFoundError{Ref: ref, Looked: looked}
		}
	}
	return dir, CheckFolder(dir)
}

// ResolveModel resolves ref with the caches named by the environment (see CachesFromEnv).
// An empty ref stays empty: callers decide what no model means.
func ResolveModel(ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	return CachesFromEnv().Resolve(ref)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isEmptyDir(p string) bool {
	ents, err := os.ReadDir(p)
	return err == nil && len(ents) == 0
}

// listDir names a folder's entries for an error message.
func listDir(p string) string {
	ents, err := os.ReadDir(p)
	if err != nil || len(ents) == 0 {
		return "none"
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, ", ")
}
