package hub

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/hub/hubtest"
)

const testCommit = "0123456789abcdef0123456789abcdef01234567"

// testRepo is a small model repository: an LFS weight file, small git files, and files the
// default selection leaves out.
func testRepo() []hubtest.File {
	weights := bytes.Repeat([]byte("0123456789abcdef"), 64*1024) // 1 MiB
	return []hubtest.File{
		{Path: "model.safetensors", Data: weights, LFS: true},
		{Path: "config.json", Data: []byte(`{"model_type":"qwen2"}`)},
		{Path: "tokenizer.json", Data: []byte(`{"model":{}}`)},
		{Path: "README.md", Data: []byte("# readme")},
		{Path: "onnx/model.onnx", Data: []byte("onnx"), LFS: true},
		{Path: "consolidated.safetensors", Data: []byte("the same weights in Mistral's own layout"), LFS: true},
	}
}

func testCaches(t *testing.T) *Caches {
	root := t.TempDir()
	return &Caches{HF: filepath.Join(root, "hf"), ModelScope: []string{filepath.Join(root, "ms")}}
}

func hfOptions(s *hubtest.Server, c *Caches) DownloadOptions {
	return DownloadOptions{Endpoint: s.Hub.URL, Caches: c, Token: "-"}
}

func TestDownloadHuggingFaceLayout(t *testing.T) {
	s := hubtest.New("Qwen", "Qwen2.5-0.5B", testCommit, testRepo())
	defer s.Close()
	s.Token = "hf_secret"
	c := testCaches(t)
	o := hfOptions(s, c)
	o.Token = "hf_secret"
	var bar bytes.Buffer
	o.Progress = &bar
	dir, err := Download(context.Background(), "Qwen/Qwen2.5-0.5B", o)
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(c.HF, "models--Qwen--Qwen2.5-0.5B")
	if want := filepath.Join(repo, "snapshots", testCommit); dir != want {
		t.Fatalf("downloaded into %s, want %s", dir, want)
	}
	if ref, _ := os.ReadFile(filepath.Join(repo, "refs", "main")); string(ref) != testCommit {
		t.Errorf("refs/main = %q", ref)
	}
	for _, f := range testRepo() {
		path := filepath.Join(dir, filepath.FromSlash(f.Path))
		if f.Path == "README.md" || f.Path == "onnx/model.onnx" || f.Path == "consolidated.safetensors" {
			if _, err := os.Lstat(path); err == nil {
				t.Errorf("%s was downloaded, but is not a file sentitune reads", f.Path)
			}
			continue
		}
		link, err := os.Readlink(path)
		if err != nil {
			t.Fatalf("%s: %v (want a symlink into blobs/)", f.Path, err)
		}
		etag := hubtest.GitBlobID(f.Data)
		if f.LFS {
			etag = hubtest.SHA256(f.Data)
		}
		if want := filepath.Join("..", "..", "blobs", etag); link != want {
			t.Errorf("%s → %s, want %s (huggingface_hub's relative link to the blob named by its ETag)", f.Path, link, want)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, f.Data) {
			t.Errorf("%s: content differs", f.Path)
		}
	}
	// Credentials go to the hub, never to the CDN the LFS bytes come from.
	cdnHost := strings.TrimPrefix(s.CDN.URL, "http://")
	sawCDN := false
	for _, r := range s.Requests() {
		switch {
		case r.Host == cdnHost:
			sawCDN = true
			if r.Auth != "" {
				t.Errorf("%s %s on the CDN carried %q", r.Method, r.Path, r.Auth)
			}
		case r.Auth != "Bearer hf_secret":
			t.Errorf("%s %s on the hub carried %q, want the bearer token", r.Method, r.Path, r.Auth)
		}
	}
	if !sawCDN {
		t.Error("the LFS file was not fetched from the CDN the hub redirected to")
	}
	if !strings.Contains(bar.String(), "download Qwen/Qwen2.5-0.5B") {
		t.Errorf("no progress shown: %q", bar.String())
	}
	// What was downloaded is what --model finds by name.
	if got, err := c.Resolve("Qwen/Qwen2.5-0.5B"); err != nil || got != dir {
		t.Fatalf("Resolve after download: %s, %v", got, err)
	}
	// A second download fetches nothing.
	before := len(s.Requests())
	if _, err := Download(context.Background(), "Qwen/Qwen2.5-0.5B", o); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Requests()[before:] {
		if r.Method == "GET" && !strings.HasPrefix(r.Path, "/api/") {
			t.Errorf("second download fetched %s again", r.Path)
		}
	}
}

func TestDownloadInclude(t *testing.T) {
	s := hubtest.New("org", "m", testCommit, testRepo())
	defer s.Close()
	c := testCaches(t)
	o := hfOptions(s, c)
	o.Include = []string{"onnx/*", "README.md"}
	dir, err := Download(context.Background(), "org/m", o)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "onnx", "model.onnx")); string(got) != "onnx" {
		t.Errorf("onnx/model.onnx = %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "config.json")); err == nil {
		t.Error("config.json downloaded though --include left it out")
	}
	o.Include = []string{"*.gguf"}
	if _, err := Download(context.Background(), "org/m", o); err == nil || !strings.Contains(err.Error(), "no file matches *.gguf") {
		t.Errorf("an include matching nothing: %v", err)
	}
}

func TestDownloadResumes(t *testing.T) {
	s := hubtest.New("org", "m", testCommit, testRepo())
	defer s.Close()
	c := testCaches(t)
	const cut = 300_000
	s.CutNext("model.safetensors", cut)
	_, err := Download(context.Background(), "org/m", hfOptions(s, c))
	if err == nil {
		t.Fatal("a download whose connection dropped succeeded")
	}
	weights := testRepo()[0].Data
	partial := filepath.Join(c.HF, "models--org--m", "blobs", hubtest.SHA256(weights)+".incomplete")
	if fi, err := os.Stat(partial); err != nil || fi.Size() != cut {
		t.Fatalf("partial file after the cut: %v %v, want %d bytes kept (%v)", fi, err, cut, err)
	}
	dir, err := Download(context.Background(), "org/m", hfOptions(s, c))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors")); !bytes.Equal(got, weights) {
		t.Fatal("resumed file differs from the original")
	}
	ranged := false
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/lfs/") && r.Range == "bytes=300000-" {
			ranged = true
		}
	}
	if !ranged {
		t.Errorf("the second download did not ask for the rest (Range: bytes=300000-): %+v", s.Requests())
	}
	if _, err := os.Stat(partial); err == nil {
		t.Error("the .incomplete file is still there")
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	for _, file := range []string{"model.safetensors", "config.json"} { // sha256 of LFS, git blob id of the rest
		t.Run(file, func(t *testing.T) {
			s := hubtest.New("org", "m", testCommit, testRepo())
			defer s.Close()
			s.Corrupt(file)
			c := testCaches(t)
			_, err := Download(context.Background(), "org/m", hfOptions(s, c))
			if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), file) {
				t.Fatalf("got %v, want a checksum mismatch naming %s", err, file)
			}
			var left []string
			filepath.Walk(filepath.Join(c.HF, "models--org--m"), func(p string, fi os.FileInfo, err error) error {
				if err == nil && (strings.HasSuffix(p, ".incomplete") || filepath.Base(p) == file) {
					left = append(left, p)
				}
				return nil
			})
			for _, f := range testRepo() {
				if f.Path == file {
					etag := hubtest.GitBlobID(f.Data)
					if f.LFS {
						etag = hubtest.SHA256(f.Data)
					}
					if _, err := os.Stat(filepath.Join(c.HF, "models--org--m", "blobs", etag)); err == nil {
						left = append(left, "blobs/"+etag)
					}
				}
			}
			if len(left) > 0 {
				t.Fatalf("a file that failed its checksum left %v", left)
			}
		})
	}
}

func TestDownloadHTTPErrors(t *testing.T) {
	s := hubtest.New("org", "m", testCommit, testRepo())
	defer s.Close()
	s.Token = "right"
	c := testCaches(t)
	o := hfOptions(s, c)
	_, err := Download(context.Background(), "org/m", o) // Token "-": a wrong one
	if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("wrong token: %v", err)
	}
	o.Token = "right"
	_, err = Download(context.Background(), "org/other", o)
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || !strings.Contains(err.Error(), "org/other") {
		t.Errorf("unknown model: %v", err)
	}
	_, err = Download(context.Background(), "org/m@v9", o)
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "revision v9") {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.HF, "models--org--other")); err == nil {
		t.Error("a failed download left a cache folder")
	}
}

func TestDownloadRefusesPickleOnlyModels(t *testing.T) {
	s := hubtest.New("baichuan-inc", "Baichuan2-7B-Chat", testCommit, []hubtest.File{
		{Path: "config.json", Data: []byte(`{"model_type":"baichuan"}`)},
		{Path: "pytorch_model.bin", Data: []byte("pickle"), LFS: true},
		{Path: "tokenizer.model", Data: []byte("sp"), LFS: true},
	})
	defer s.Close()
	c := testCaches(t)
	_, err := Download(context.Background(), "baichuan-inc/Baichuan2-7B-Chat", hfOptions(s, c))
	if err == nil || !strings.Contains(err.Error(), "only as PyTorch pickles (pytorch_model.bin)") {
		t.Fatalf("got %v", err)
	}
	for _, r := range s.Requests() {
		if r.Method == "GET" && !strings.HasPrefix(r.Path, "/api/") {
			t.Errorf("fetched %s of a refused model", r.Path)
		}
	}
}

func TestDownloadModelScope(t *testing.T) {
	s := hubtest.New("Qwen", "Qwen2.5-0.5B", testCommit, testRepo())
	defer s.Close()
	s.Token = "ms_secret"
	c := testCaches(t)
	o := DownloadOptions{Hub: ModelScope, Endpoint: s.Hub.URL, Caches: c, Token: "ms_secret"}
	s.CutNext("model.safetensors", 100_000)
	if _, err := Download(context.Background(), "Qwen/Qwen2.5-0.5B", o); err == nil {
		t.Fatal("a cut download succeeded")
	}
	dir, err := Download(context.Background(), "Qwen/Qwen2.5-0.5B", o)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(c.ModelScope[0], "models", "Qwen", "Qwen2___5-0___5B"); dir != want {
		t.Fatalf("downloaded into %s, want modelscope's %s", dir, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors")); !bytes.Equal(got, testRepo()[0].Data) {
		t.Fatal("resumed ModelScope file differs")
	}
	if mv, _ := os.ReadFile(filepath.Join(dir, ".mv")); string(mv) != "Revision:master" {
		t.Errorf(".mv = %q", mv)
	}
	if got, err := c.Resolve("Qwen/Qwen2.5-0.5B"); err != nil || got != dir {
		t.Fatalf("Resolve after download: %s, %v", got, err)
	}
	resumed := false
	for _, r := range s.Requests() {
		if r.Cookie != "ms_secret" {
			t.Errorf("%s %s without the token cookie", r.Method, r.Path)
		}
		resumed = resumed || r.Range == "bytes=100000-"
	}
	if !resumed {
		t.Error("the second download did not resume with a Range request")
	}
	s.Corrupt("config.json")
	os.Remove(filepath.Join(dir, "config.json"))
	if _, err := Download(context.Background(), "Qwen/Qwen2.5-0.5B", o); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("corrupt ModelScope file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		t.Fatal("the corrupt file was put in place")
	}
}

func TestDownloadWaitsForTheLock(t *testing.T) {
	s := hubtest.New("org", "m", testCommit, testRepo())
	defer s.Close()
	c := testCaches(t)
	lock := filepath.Join(c.HF, ".locks", "models--org--m", hubtest.SHA256(testRepo()[0].Data)+".lock")
	release, err := lockFile(context.Background(), lock) // another download of the weights, e.g. huggingface_hub's
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Download(context.Background(), "org/m", hfOptions(s, c))
		done <- err
	}()
	select {
	case err := <-done:
		release()
		t.Fatalf("the download did not wait for the lock: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the download did not go on once the lock was free")
	}
	ctx, cancel := context.WithCancel(context.Background())
	release, _ = lockFile(context.Background(), lock)
	defer release()
	os.Remove(filepath.Join(c.HF, "models--org--m", "blobs", hubtest.SHA256(testRepo()[0].Data)))
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := Download(ctx, "org/m", hfOptions(s, c)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting for the lock: %v", err)
	}
}

// TestDownloadModelScopeReplacesAStaleFile: a file in the cache that no longer matches the
// listing's sha256 is fetched again and replaced.
func TestDownloadModelScopeReplacesAStaleFile(t *testing.T) {
	s := hubtest.New("org", "m", testCommit, testRepo())
	defer s.Close()
	c := testCaches(t)
	o := DownloadOptions{Hub: ModelScope, Endpoint: s.Hub.URL, Caches: c}
	dir, err := Download(context.Background(), "org/m", o)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfg, []byte(`{"model_type":"llama"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Download(context.Background(), "org/m", o); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(cfg); string(got) != `{"model_type":"qwen2"}` {
		t.Fatalf("config.json = %s, want the hub's", got)
	}
}
