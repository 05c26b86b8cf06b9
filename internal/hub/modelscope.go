package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// msFile is one file of a ModelScope listing (GET /api/v1/models/ORG/NAME/repo/files).
type msFile struct {
	Name   string `json:"Name"`
	Path   string `json:"Path"`
	Type   string `json:"Type"` // "blob" or "tree"
	Size   int64  `json:"Size"`
	SHA256 string `json:"Sha256"`
}

type msListing struct {
	Code    int    `json:"Code"`
	Message string `json:"Message"`
	Data    struct {
		Files []msFile `json:"Files"`
	} `json:"Data"`
}

// msHub speaks ModelScope's file API the way the modelscope SDK does.
type msHub struct {
	endpoint string
	token    string
}

func (m msHub) name() string { return "ModelScope at " + m.endpoint }

// auth sends the access token as the SDK does: as the session cookie.
func (m msHub) auth(req *http.Request) {
	if m.token != "" {
		req.AddCookie(&http.Cookie{Name: "m_session_id", Value: m.token})
	}
}

func (m msHub) list(ctx context.Context, f *fetcher, id ModelID, rev string) ([]msFile, error) {
	u := fmt.Sprintf("%s/api/v1/models/%s/%s/repo/files?Revision=%s&Recursive=True", m.endpoint, id.Org, id.Name, url.QueryEscape(rev))
	var l msListing
	if err := f.getJSON(ctx, u, id.Repo(), "file listing", &l); err != nil {
		return nil, err
	}
	if l.Code != 0 && l.Code != http.StatusOK {
		return nil, fmt.Errorf("list %s at revision %s: %s answered code %d: %s", id.Repo(), rev, m.name(), l.Code, l.Message)
	}
	var files []msFile
	for _, file := range l.Data.Files {
		if file.Type != "tree" && file.Path != ".gitignore" && file.Path != ".gitattributes" {
			files = append(files, file)
		}
	}
	return files, nil
}

func (m msHub) fileURL(id ModelID, rev, file string) string {
	return fmt.Sprintf("%s/api/v1/models/%s/%s/repo?Revision=%s&FilePath=%s", m.endpoint, id.Org, id.Name,
		url.QueryEscape(rev), url.QueryEscape(file))
}

// downloadModelScope fetches the chosen files of id into the folder modelscope 1.2x–1.37 keeps
// it in (MSDownloadDir), with partial files under its ._____temp folder, and records the
// revision in .mv as the SDK does. It does not write the SDK's pickled .msc index: the SDK then
// checks the files again on its next download, and sentitune needs no index.
func downloadModelScope(ctx context.Context, m msHub, f *fetcher, c Caches, id ModelID, include []string, report func(files int, total, have int64)) (string, error) {
	rev := id.revisionOr(msDefaultRevision)
	files, err := m.list(ctx, f, id, rev)
	if err != nil {
		return "", err
	}
	var names []string
	byName := map[string]msFile{}
	for _, file := range files {
		names = append(names, file.Path)
		byName[file.Path] = file
	}
	chosen, err := chooseFiles(id, names, include)
	if err != nil {
		return "", err
	}
	dir := c.MSDownloadDir(id)
	temp := filepath.Join(c.ModelScope[0], "models", "._____temp", id.Org, id.Name)
	var plans []transfer
	var total, have int64
	for _, name := range chosen {
		file := byName[name]
		partial := filepath.Join(temp, filepath.FromSlash(name))
		t := transfer{name: name, url: m.fileURL(id, rev, name), partial: partial, lock: partial + ".lock",
			dst: filepath.Join(dir, filepath.FromSlash(name)), size: file.Size}
		if isHex(strings.ToLower(file.SHA256), 64) {
			t.want = checksum{"sha256", strings.ToLower(file.SHA256)}
		}
		if fi, err := os.Stat(t.dst); err == nil && fi.Size() == t.size && t.want.verify(t.dst) == nil {
			continue
		}
		plans = append(plans, t)
		total += t.size
		if fi, err := os.Stat(t.partial); err == nil {
			have += fi.Size()
		}
	}
	report(len(plans), total, have)
	for _, t := range plans {
		if err := f.fetch(ctx, t); err != nil {
			return "", err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, ".mv"), []byte("Revision:"+rev)); err != nil {
		return "", err
	}
	if dotted := filepath.Join(filepath.Dir(dir), id.Name); dotted != dir {
		if _, err := os.Lstat(dotted); os.IsNotExist(err) {
			os.Symlink(filepath.Base(dir), dotted) // as the SDK does; a failure only loses the alias
		}
	}
	return dir, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data)
}
