package hub

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/progress"
)

// Hub names.
const (
	HuggingFace = "hf"
	ModelScope  = "modelscope"
)

// Default endpoints, when neither Options.Endpoint nor the SDKs' variables name one.
const (
	DefaultHFEndpoint = "https://huggingface.co"
	DefaultMSEndpoint = "https://www.modelscope.cn"
)

// DownloadOptions say what to download from where; zero values take the environment's settings.
type DownloadOptions struct {
	Hub      string    // HuggingFace (default) or ModelScope
	Endpoint string    // "": HF_ENDPOINT, or MODELSCOPE_ENDPOINT / MODELSCOPE_DOMAIN, or the public hub
	Token    string    // "": HF_TOKEN (HUGGING_FACE_HUB_TOKEN), or MODELSCOPE_API_TOKEN
	Include  []string  // globs over the repository's paths; nil: safetensors, config and tokenizer files
	Caches   *Caches   // nil: CachesFromEnv
	Progress io.Writer // nil: no progress shown
	Mode     progress.Mode
	Client   *http.Client // nil: one with a connect timeout and no overall one
}

// Download fetches ORG/NAME[@REVISION] into the cache the hub's own SDK writes, resuming partial
// files and checking every file's size and checksum before it is put in place, and returns the
// model folder (what Resolve finds for the same name afterwards).
func Download(ctx context.Context, ref string, o DownloadOptions) (string, error) {
	id, err := ParseModelID(ref)
	if err != nil {
		return "", err
	}
	c := CachesFromEnv()
	if o.Caches != nil {
		c = *o.Caches
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute}}
	}
	var bar *progress.Reporter
	report := func(files int, total, have int64) {
		if o.Progress != nil && files > 0 {
			bar = progress.New(o.Progress, progress.Options{Name: "download " + id.Repo(), Bytes: true, Total: total, Start: have, Mode: o.Mode})
			bar.Event("%d files, %s to fetch (%s already here)", files, progress.FormatBytes(total-have), progress.FormatBytes(have))
		}
	}
	var dir string
	switch o.Hub {
	case "", HuggingFace:
		h := hfHub{endpoint: endpointOf(o.Endpoint, os.Getenv("HF_ENDPOINT"), DefaultHFEndpoint),
			token: cmpOr(o.Token, os.Getenv("HF_TOKEN"), os.Getenv("HUGGING_FACE_HUB_TOKEN"))}
		f, err := newFetcher(client, h.endpoint, h.auth, httpErrors{hub: h.name(), repo: id.Repo(),
			revision: id.revisionOr(hfDefaultRevision), tokenEnv: "HF_TOKEN", haveToken: h.token != ""})
		if err != nil {
			return "", err
		}
		dir, err = downloadHF(ctx, h, f, c, id, o.Include, func(files int, total, have int64) { report(files, total, have); f.bar = bar })
		bar.Finish()
		if err != nil {
			return "", err
		}
	case ModelScope:
		def := DefaultMSEndpoint
		if d := os.Getenv("MODELSCOPE_DOMAIN"); d != "" {
			def = "https://" + d
		}
		m := msHub{endpoint: endpointOf(o.Endpoint, os.Getenv("MODELSCOPE_ENDPOINT"), def),
			token: cmpOr(o.Token, os.Getenv("MODELSCOPE_API_TOKEN"))}
		f, err := newFetcher(client, m.endpoint, m.auth, httpErrors{hub: m.name(), repo: id.Repo(),
			revision: id.revisionOr(msDefaultRevision), tokenEnv: "MODELSCOPE_API_TOKEN", haveToken: m.token != ""})
		if err != nil {
			return "", err
		}
		dir, err = downloadModelScope(ctx, m, f, c, id, o.Include, func(files int, total, have int64) { report(files, total, have); f.bar = bar })
		bar.Finish()
		if err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("--hub %q: want %s or %s", o.Hub, HuggingFace, ModelScope)
	}
	return dir, CheckFolder(dir)
}

func endpointOf(s ...string) string { return strings.TrimRight(cmpOr(s...), "/") }

func newFetcher(client *http.Client, endpoint string, auth func(*http.Request), errs httpErrors) (*fetcher, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("hub endpoint %q is not an http(s) URL", endpoint)
	}
	return &fetcher{client: client, auth: auth, host: u.Host, errs: errs}, nil
}
