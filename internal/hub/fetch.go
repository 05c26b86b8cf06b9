package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sentitune/sentitune/internal/progress"
)

// checksum is what a downloaded file must hash to: sha256 (LFS files, ModelScope) or the git
// blob id (the Hub's ETag for files kept in git itself).
type checksum struct {
	kind string // "sha256" or "git-sha1"; "" = nothing to check against
	hex  string
}

// checksumOfETag reads an ETag as huggingface_hub does: 64 hex digits are the LFS file's
// sha256, 40 its git blob id.
func checksumOfETag(etag string) checksum {
	switch {
	case isHex(etag, 64):
		return checksum{"sha256", etag}
	case isHex(etag, 40):
		return checksum{"git-sha1", etag}
	}
	return checksum{}
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// verify hashes path and compares it with c.
func (c checksum) verify(path string) error {
	if c.kind == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var h hash.Hash
	if c.kind == "sha256" {
		h = sha256.New()
	} else {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", fi.Size())
	}
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, c.hex) {
		return fmt.Errorf("%s %s, the hub says %s", c.kind, got, c.hex)
	}
	return nil
}

// transfer is one file to bring down: from url into dst, through partial, resuming there.
type transfer struct {
	name    string // the file's path in the repository, for messages
	url     string
	partial string // dst's bytes so far; kept across runs for resume
	lock    string // flocked while the file is fetched, so two downloads never append to one partial file
	dst     string
	size    int64 // -1: unknown
	want    checksum
}

// fetcher downloads transfers over one HTTP client, authenticating to the hub's own host only.
type fetcher struct {
	client *http.Client
	auth   func(*http.Request) // adds the hub's credentials
	host   string              // the hub's host: credentials go there and nowhere else
	bar    *progress.Reporter
	errs   httpErrors
}

// getJSON lists a repository: GETs u and decodes the hub's JSON answer into v; what names the answer in errors.
func (f *fetcher) getJSON(ctx context.Context, u, repo, what string, v any) error {
	req, err := f.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("list %s: %w", repo, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return f.errs.of(resp, "list "+repo)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("list %s: the hub's answer is not a %s: %w", repo, what, err)
	}
	return nil
}

func (f *fetcher) newRequest(ctx context.Context, method, url string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "sentitune")
	req.Header.Set("Accept-Encoding", "identity") // the size and hash are of the bytes as stored
	if req.URL.Host == f.host && f.auth != nil {
		f.auth(req)
	}
	return req, nil
}

// fetch brings t.dst into place: resumes t.partial with a Range request, checks the size and
// checksum, and only then renames it to t.dst. A file that fails its checksum is removed.
func (f *fetcher) fetch(ctx context.Context, t transfer) error {
	if err := os.MkdirAll(filepath.Dir(t.partial), 0o755); err != nil {
		return err
	}
	_, statErr := os.Stat(t.dst)
	before := statErr == nil // a stale file the caller replaces, when it is there already
	release, err := lockFile(ctx, t.lock)
	if err != nil {
		return fmt.Errorf("download %s: %w", t.name, err)
	}
	defer release()
	if _, err := os.Stat(t.dst); err == nil && !before {
		return nil // the download that held the lock finished it
	}
	for attempt := 0; ; attempt++ {
		restart, err := f.resume(ctx, t)
		if err != nil {
			return err
		}
		if !restart {
			break
		}
		if attempt > 0 {
			return fmt.Errorf("download %s: the server does not serve the byte range asked for", t.name)
		}
		if err := os.Remove(t.partial); err != nil {
			return err
		}
	}
	if t.size >= 0 {
		if fi, err := os.Stat(t.partial); err != nil {
			return err
		} else if fi.Size() != t.size {
			return fmt.Errorf("download %s: got %d bytes, the hub says %d (kept %s to resume)", t.name, fi.Size(), t.size, t.partial)
		}
	}
	if err := t.want.verify(t.partial); err != nil {
		os.Remove(t.partial)
		return fmt.Errorf("download %s: checksum mismatch: %v; removed the download, nothing was put in the cache", t.name, err)
	}
	if err := os.MkdirAll(filepath.Dir(t.dst), 0o755); err != nil {
		return err
	}
	return os.Rename(t.partial, t.dst)
}

// resume appends the rest of t to t.partial; restart reports that the partial file cannot be
// continued (the server answered 416 to its range) and must be fetched from the start.
func (f *fetcher) resume(ctx context.Context, t transfer) (restart bool, err error) {
	var have int64
	if fi, err := os.Stat(t.partial); err == nil {
		have = fi.Size()
	}
	if t.size >= 0 && have == t.size {
		return false, nil // complete, but not yet checked and moved in
	}
	if t.size >= 0 && have > t.size {
		return true, nil
	}
	req, err := f.newRequest(ctx, http.MethodGet, t.url)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("download %s: %w", t.name, err)
	}
	defer resp.Body.Close()
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start := contentRangeStart(resp.Header.Get("Content-Range")); start != have {
			return false, fmt.Errorf("download %s: asked for bytes from %d, the server sent from %d", t.name, have, start)
		}
	case resp.StatusCode == http.StatusOK:
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC // the server ignored the range: start over
		f.bar.Add(-have)
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		f.bar.Add(-have)
		return true, nil
	default:
		return false, f.errs.of(resp, t.name)
	}
	out, err := os.OpenFile(t.partial, flags, 0o644)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(out, &countingReader{r: resp.Body, bar: f.bar})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, fmt.Errorf("download %s: %w (kept %s to resume)", t.name, err, t.partial)
	}
	return false, nil
}

// lockFile takes an exclusive flock on path, as huggingface_hub's filelock does on the same file,
// so a sentitune and a Python download of one file wait for each other; the kernel drops the lock
// of a process that dies. It waits while another holds it (until ctx ends).
func lockFile(ctx context.Context, path string) (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o664)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another download (lock %s): %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// contentRangeStart reads the first byte of "bytes 100-199/200"; -1 when it cannot.
func contentRangeStart(h string) int64 {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return -1
	}
	start, _, _ := strings.Cut(rest, "-")
	n, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

type countingReader struct {
	r   io.Reader
	bar *progress.Reporter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.bar.Add(int64(n))
	return n, err
}

// httpErrors turns a hub's error status into a message that says what to do.
type httpErrors struct {
	hub       string // "Hugging Face Hub at https://huggingface.co"
	repo      string
	revision  string
	tokenEnv  string // the variable that holds a token for this hub
	haveToken bool
}

func (e httpErrors) of(resp *http.Response, what string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	detail := strings.TrimSpace(string(body))
	if detail != "" {
		detail = " (" + detail + ")"
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if e.haveToken {
			return fmt.Errorf("%s: %s answered 401 Unauthorized%s: %s does not let this %s read %s", what, e.hub, detail, e.hub, e.tokenEnv, e.repo)
		}
		return fmt.Errorf("%s: %s answered 401 Unauthorized%s: %s is private or gated, or does not exist; set %s to an access token that may read it",
			what, e.hub, detail, e.repo, e.tokenEnv)
	case http.StatusForbidden:
		return fmt.Errorf("%s: %s answered 403 Forbidden%s: accept %s's license on its page with the account of %s", what, e.hub, detail, e.repo, e.tokenEnv)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %s answered 404 Not Found%s: no %s at revision %s", what, e.hub, detail, e.repo, e.revision)
	}
	return fmt.Errorf("%s: %s answered %s%s", what, e.hub, resp.Status, detail)
}

var errNoFiles = errors.New("no file matches")
