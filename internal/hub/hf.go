package hub

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// hfFile is one file of a Hugging Face Hub listing (GET /api/models/ORG/NAME/revision/REV?blobs=true).
type hfFile struct {
	Name   string `json:"rfilename"`
	Size   int64  `json:"size"`
	BlobID string `json:"blobId"` // the git blob id; the file's ETag when it is not in LFS
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

type hfListing struct {
	SHA      string   `json:"sha"` // the commit the revision points at
	Siblings []hfFile `json:"siblings"`
}

// hfHub speaks the Hugging Face Hub's file API the way huggingface_hub does.
type hfHub struct {
	endpoint string
	token    string
}

func (h hfHub) name() string { return "Hugging Face Hub at " + h.endpoint }

func (h hfHub) auth(req *http.Request) {
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
}

// list reads the repository's files at a revision, with their sizes and hashes.
func (h hfHub) list(ctx context.Context, f *fetcher, id ModelID, rev string) (*hfListing, error) {
	u := fmt.Sprintf("%s/api/models/%s/%s/revision/%s?blobs=true", h.endpoint, id.Org, id.Name, url.PathEscape(rev))
	var l hfListing
	if err := f.getJSON(ctx, u, id.Repo(), "model listing", &l); err != nil {
		return nil, err
	}
	if !commitHash.MatchString(l.SHA) {
		return nil, fmt.Errorf("list %s: the hub named no commit for revision %s (sha %q)", id.Repo(), rev, l.SHA)
	}
	return &l, nil
}

// hfMeta is what a HEAD on /ORG/NAME/resolve/COMMIT/FILE tells: the blob's ETag (its cache
// name), the commit, the size, and where the bytes are (a CDN for LFS files).
type hfMeta struct {
	etag, commit, location string
	size                   int64
}

// head asks for a file's metadata, following only relative redirects (renamed repositories), as
// huggingface_hub does: an absolute one points at the storage the bytes come from.
func (h hfHub) head(ctx context.Context, f *fetcher, id ModelID, commit, file string) (hfMeta, error) {
	u := h.resolveURL(id, commit, file)
	for hops := 0; ; hops++ {
		req, err := f.newRequest(ctx, http.MethodHead, u)
		if err != nil {
			return hfMeta{}, err
		}
		resp, err := noRedirect(f.client).Do(req)
		if err != nil {
			return hfMeta{}, fmt.Errorf("%s: %w", file, err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			next, err := req.URL.Parse(loc)
			if err != nil {
				return hfMeta{}, fmt.Errorf("%s: bad redirect %q: %w", file, loc, err)
			}
			if !strings.Contains(loc, "://") && hops < 5 {
				u = next.String()
				continue
			}
			loc = next.String()
		} else if resp.StatusCode != http.StatusOK {
			return hfMeta{}, f.errs.of(resp, file)
		} else {
			loc = u
		}
		m := hfMeta{commit: resp.Header.Get("X-Repo-Commit"), location: loc, size: -1}
		m.etag = normalizeETag(cmpOr(resp.Header.Get("X-Linked-Etag"), resp.Header.Get("ETag")))
		sizeHeader := resp.Header.Get("X-Linked-Size")
		if sizeHeader == "" && resp.StatusCode == http.StatusOK {
			sizeHeader = resp.Header.Get("Content-Length")
		}
		if n, err := strconv.ParseInt(sizeHeader, 10, 64); err == nil {
			m.size = n
		}
		if m.etag == "" || strings.ContainsAny(m.etag, `/\`) || m.etag == "." || m.etag == ".." {
			return hfMeta{}, fmt.Errorf("%s: the hub sent no usable ETag (%q), which names the file in the cache", file, m.etag)
		}
		return m, nil
	}
}

func (h hfHub) resolveURL(id ModelID, rev, file string) string {
	parts := strings.Split(file, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("%s/%s/%s/resolve/%s/%s", h.endpoint, id.Org, id.Name, url.PathEscape(rev), strings.Join(parts, "/"))
}

// normalizeETag strips W/ and the quotes, as huggingface_hub's _normalize_etag does.
func normalizeETag(etag string) string {
	return strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
}

func noRedirect(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

// hfPlan is a file to download into the Hugging Face cache: its blob and its snapshot link.
type hfPlan struct {
	file hfFile
	meta hfMeta
}

// downloadHF fetches the chosen files of id into huggingface_hub's layout: blobs/ETAG, a
// relative symlink snapshots/COMMIT/FILE → ../../blobs/ETAG, and refs/REV holding COMMIT.
func downloadHF(ctx context.Context, h hfHub, f *fetcher, c Caches, id ModelID, include []string, report func(files int, total, have int64)) (string, error) {
	rev := id.revisionOr(hfDefaultRevision)
	l, err := h.list(ctx, f, id, rev)
	if err != nil {
		return "", err
	}
	var names []string
	byName := map[string]hfFile{}
	for _, s := range l.Siblings {
		names = append(names, s.Name)
		byName[s.Name] = s
	}
	chosen, err := chooseFiles(id, names, include)
	if err != nil {
		return "", err
	}
	repo := c.HFRepoDir(id)
	var plans []hfPlan
	var total, have int64
	fetches := 0
	for _, name := range chosen {
		m, err := h.head(ctx, f, id, l.SHA, name)
		if err != nil {
			return "", err
		}
		if m.commit != "" && m.commit != l.SHA {
			return "", fmt.Errorf("%s: the hub listed commit %s but serves the file from %s", name, l.SHA, m.commit)
		}
		file := byName[name]
		if m.size < 0 {
			m.size = file.Size
		}
		plans = append(plans, hfPlan{file: file, meta: m})
		blob := filepath.Join(repo, "blobs", m.etag)
		if _, err := os.Stat(blob); err == nil {
			continue
		}
		fetches++
		total += m.size
		if fi, err := os.Stat(blob + ".incomplete"); err == nil {
			have += fi.Size()
		}
	}
	report(fetches, total, have)
	snap := filepath.Join(repo, "snapshots", l.SHA)
	for _, p := range plans {
		blob := filepath.Join(repo, "blobs", p.meta.etag)
		if _, err := os.Stat(blob); err != nil {
			t := transfer{name: p.file.Name, url: p.meta.location, partial: blob + ".incomplete", dst: blob, size: p.meta.size, want: hfChecksum(p),
				lock: filepath.Join(c.HF, ".locks", filepath.Base(repo), p.meta.etag+".lock")} // where huggingface_hub locks it
			if err := f.fetch(ctx, t); err != nil {
				return "", err
			}
		}
		if err := linkSnapshot(snap, p.file.Name, blob); err != nil {
			return "", err
		}
	}
	if rev != l.SHA {
		ref := filepath.Join(repo, "refs", filepath.FromSlash(rev))
		if err := writeFileAtomic(ref, []byte(l.SHA)); err != nil {
			return "", err
		}
	}
	return snap, nil
}

// hfChecksum is what a blob must hash to: the listing's LFS sha256, else what the ETag says.
func hfChecksum(p hfPlan) checksum {
	if p.file.LFS != nil && isHex(p.file.LFS.SHA256, 64) {
		return checksum{"sha256", p.file.LFS.SHA256}
	}
	return checksumOfETag(p.meta.etag)
}

// linkSnapshot points snap/name at blob with a relative symlink, as huggingface_hub does, so the
// cache can be moved whole.
func linkSnapshot(snap, name, blob string) error {
	link := filepath.Join(snap, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(link), blob)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(link); err == nil && cur == rel {
		return nil
	}
	tmp := link + ".tmp-link"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// chooseFiles picks the files to download: those matching include, or by default the
// safetensors weights, config and tokenizer files. A model published only as pickles is refused.
func chooseFiles(id ModelID, names, include []string) ([]string, error) {
	patterns := include
	if len(patterns) == 0 {
		patterns = defaultFiles
	}
	var chosen, pickles []string
	weights := false
	for _, n := range names {
		if matchAny(patterns, n) {
			chosen = append(chosen, n)
			weights = weights || strings.HasSuffix(n, ".safetensors")
		}
		if !strings.Contains(n, "/") && isPickleWeights(n) {
			pickles = append(pickles, n)
		}
	}
	if len(chosen) == 0 {
		return nil, fmt.Errorf("%s: %w %s among its %d files", id, errNoFiles, strings.Join(patterns, " "), len(names))
	}
	if len(include) == 0 && !weights && len(pickles) > 0 {
		return nil, fmt.Errorf("%s publishes its weights only as PyTorch pickles (%s), which sentitune never loads: unpickling runs any code "+
			"the file holds. Look for a revision with safetensors (the Hub's safetensors conversion opens a pull request: "+
			"ORG/NAME@refs/pr/N), or download the pickles (--include '*') and convert them with transformers' save_pretrained(OUT, safe_serialization=True)",
			id, strings.Join(pickles, ", "))
	}
	return chosen, nil
}

// defaultFiles are what sentitune reads from a model folder: transformers' weight names only, so a
// repository's other copies (Mistral's consolidated.safetensors) are not downloaded twice over.
var defaultFiles = []string{"model.safetensors", "model-*-of-*.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json",
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt",
	"tokenizer.model", "chat_template.jinja", "chat_template.json"}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}
