package studio

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sentitune/sentitune/data"
)

// newTestServer is a studio on a fresh workspace whose jobs run exe (a stand-in for sentitune).
func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	if cfg.Workspace == "" {
		cfg.Workspace = filepath.Join(t.TempDir(), "ws")
	}
	if cfg.Exe == "" {
		cfg.Exe = "/bin/true"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// do sends one request as a browser on host would, with the CSRF token when csrf is set.
func do(s *Server, method, target, host string, body io.Reader, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, body)
	r.Host = host
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestHostNeedsTokenBeyondLoopback(t *testing.T) {
	open := newTestServer(t, Config{})
	withToken := newTestServer(t, Config{Token: "s3cret"})
	for _, tc := range []struct {
		name   string
		s      *Server
		host   string
		target string
		header map[string]string
		want   int
	}{
		{"localhost", open, "localhost:7860", "/", nil, 200},
		{"127.0.0.1", open, "127.0.0.1:7860", "/api/state", nil, 200},
		{"ipv6 loopback", open, "[::1]:7860", "/api/state", nil, 200},
		{"rebinding name", open, "evil.example:7860", "/api/state", nil, 403},
		{"lan address", open, "192.168.1.5:7860", "/", nil, 403},
		{"token server, no token", withToken, "192.168.1.5:7860", "/api/state", nil, 401},
		{"token server, wrong token", withToken, "192.168.1.5:7860", "/api/state?token=nope", nil, 401},
		{"token server, token in query", withToken, "192.168.1.5:7860", "/api/state?token=s3cret", nil, 200},
		{"token server, bearer", withToken, "192.168.1.5:7860", "/api/state", map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"token server, cookie", withToken, "192.168.1.5:7860", "/api/state", map[string]string{"Cookie": tokenCookie + "=s3cret"}, 200},
		{"token server, localhost without token", withToken, "localhost:7860", "/api/state", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(tc.s, "GET", tc.target, tc.host, nil, tc.header)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
}

func TestCheckAddr(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:7860", "", true}, {"localhost:0", "", true}, {"[::1]:7860", "", true},
		{"0.0.0.0:7860", "", false}, {":7860", "", false}, {"10.0.0.2:7860", "", false},
		{"0.0.0.0:7860", "tok", true}, {"no-port", "", false},
	} {
		if err := CheckAddr(tc.addr, tc.token); (err == nil) != tc.ok {
			t.Errorf("CheckAddr(%q, %q) = %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
		}
	}
}

func TestStateChangesNeedCSRF(t *testing.T) {
	s := newTestServer(t, Config{})
	body := `{"path":"uploads/x.csv","name":"d"}`
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no token", nil, 403},
		{"wrong token", map[string]string{csrfHeader: "0123"}, 403},
		{"other site", map[string]string{csrfHeader: s.csrf, "Origin": "http://evil.example"}, 403},
		{"right token", map[string]string{csrfHeader: s.csrf, "Origin": "http://localhost:7860"}, 404}, // past the guard: the file is missing
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := do(s, "POST", "/api/prep", "localhost:7860", strings.NewReader(body), tc.header)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
	if w := do(s, "DELETE", "/api/runs/r1", "localhost:7860", nil, nil); w.Code != 403 {
		t.Errorf("DELETE without CSRF token: %d, want 403", w.Code)
	}
	page := do(s, "GET", "/", "localhost:7860", nil, nil).Body.String()
	if !strings.Contains(page, s.csrf) {
		t.Error("the page does not carry the CSRF token")
	}
}

func TestPathsStayInWorkspace(t *testing.T) {
	s := newTestServer(t, Config{})
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.csv")
	os.WriteFile(secret, []byte("text,label\nsecret,1\n"), 0o644)
	up := filepath.Join(s.ws.Root(), dirUploads)
	os.MkdirAll(up, 0o755)
	os.WriteFile(filepath.Join(up, "ok.csv"), []byte("text,label\ngood,1\nbad,0\n"), 0o644)
	os.Symlink(secret, filepath.Join(up, "link.csv"))
	os.Symlink(outside, filepath.Join(up, "dirlink"))
	os.Symlink(filepath.Join(outside, "not-yet"), filepath.Join(up, "dangling"))
	os.Symlink(filepath.Join(up, "ok.csv"), filepath.Join(up, "inside-link.csv"))
	for _, tc := range []struct {
		path string
		want int
	}{
		{"uploads/ok.csv", 200},
		{"uploads/inside-link.csv", 200},
		{"../secret.csv", 400},
		{"uploads/../../secret.csv", 400},
		{secret, 400},
		{"/etc/passwd", 400},
		{"uploads/link.csv", 400},
		{"uploads/dirlink/secret.csv", 400},
		{"uploads/dangling", 400},
		{`uploads\..\..\x`, 400},
		{"", 400},
	} {
		for _, ep := range []string{"/api/inspect", "/api/file"} {
			w := do(s, "GET", ep+"?path="+url.QueryEscape(tc.path), "localhost", nil, nil)
			if w.Code != tc.want {
				t.Errorf("%s %q: status %d, want %d: %s", ep, tc.path, w.Code, tc.want, w.Body)
			}
			if strings.Contains(w.Body.String(), "secret,1") {
				t.Errorf("%s %q leaked the outside file", ep, tc.path)
			}
		}
	}
	for _, name := range []string{"..", "../x", ".studio", "a/b", ""} {
		w := do(s, "GET", "/api/data/"+url.PathEscape(name), "localhost", nil, nil)
		if w.Code != 400 && w.Code != 404 && w.Code != 301 && w.Code != 307 {
			t.Errorf("dataset %q: status %d", name, w.Code)
		}
	}
}

// multipartFile is a multipart body with one "file" part.
func multipartFile(t *testing.T, name string, content []byte) (*bytes.Buffer, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return &b, mw.FormDataContentType()
}

func TestUploadLimit(t *testing.T) {
	s := newTestServer(t, Config{MaxUpload: 4096})
	post := func(name string, content []byte) *httptest.ResponseRecorder {
		body, ct := multipartFile(t, name, content)
		return do(s, "POST", "/api/upload", "localhost", body, map[string]string{"Content-Type": ct, csrfHeader: s.csrf})
	}
	if w := post("big.csv", bytes.Repeat([]byte("a,1\n"), 2000)); w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload: status %d, want 413: %s", w.Code, w.Body)
	}
	if _, err := os.Stat(filepath.Join(s.ws.Root(), dirUploads, "big.csv")); err == nil {
		t.Error("an oversized upload left a file behind")
	}
	if w := post("../../escape.csv", []byte("text,label\na,1\n")); w.Code != 200 || !strings.Contains(w.Body.String(), `"uploads/escape.csv"`) {
		t.Errorf("a file name with ../ is stored under uploads/ by its base name: %d %s", w.Code, w.Body)
	}
	if w := post("small.csv", []byte("text,label\na,1\n")); w.Code != 200 {
		t.Errorf("small upload: %d %s", w.Code, w.Body)
	}
}

func TestInspectAmazonSample(t *testing.T) {
	s := newTestServer(t, Config{})
	body, ct := multipartFile(t, data.AmazonName, data.AmazonJSONL())
	if w := do(s, "POST", "/api/upload", "localhost", body, map[string]string{"Content-Type": ct, csrfHeader: s.csrf}); w.Code != 200 {
		t.Fatalf("upload: %d %s", w.Code, w.Body)
	}
	w := do(s, "GET", "/api/inspect?path=uploads/"+data.AmazonName, "localhost", nil, nil)
	var ins inspection
	if err := json.Unmarshal(w.Body.Bytes(), &ins); err != nil || w.Code != 200 {
		t.Fatalf("inspect: %d %s", w.Code, w.Body)
	}
	if ins.TextCol != "text" || ins.LabelCol != "label" || ins.Format != "jsonl" || ins.Rows != 1000 {
		t.Errorf("inspect: text %q label %q format %q rows %d", ins.TextCol, ins.LabelCol, ins.Format, ins.Rows)
	}
	if ins.Mapped["1"] != 500 || ins.Mapped["0"] != 500 {
		t.Errorf("classes %v, want 500 of each", ins.Mapped)
	}
	if len(ins.Preview) != 5 || ins.Preview[0]["instruction"] != ins.Prompt || ins.Prompt == "" {
		t.Errorf("preview %v with prompt %q", ins.Preview, ins.Prompt)
	}
	// a label map that skips one class changes the counts
	w = do(s, "GET", "/api/inspect?path=uploads/"+data.AmazonName+"&label_map="+url.QueryEscape("0=skip,1=1"), "localhost", nil, nil)
	json.Unmarshal(w.Body.Bytes(), &ins)
	if ins.Mapped["skip"] != 500 || ins.Mapped["1"] != 500 {
		t.Errorf("with 0=skip: classes %v", ins.Mapped)
	}
	if w := do(s, "GET", "/api/inspect?path=uploads/"+data.AmazonName+"&text_col=nope", "localhost", nil, nil); w.Code != 400 || !strings.Contains(w.Body.String(), "nope") {
		t.Errorf("unknown text column: %d %s", w.Code, w.Body)
	}
}

func TestFinetuneArgs(t *testing.T) {
	args, y, err := finetuneArgs(trainRequest{Model: "demo", Data: "reviews", Name: "r1",
		Options: map[string]string{"max-steps": "4", "lora-r": "8", "batch-size": " 4 ", "load-best": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "sentitune finetune --model models/demo --data data/reviews --out runs/r1 --max-steps 4 --batch-size 4 --load-best=false"
	if got := commandLine(args); got != want {
		t.Errorf("command\n got %s\nwant %s", got, want)
	}
	wantYAML := "model: models/demo\ndata: data/reviews\nout: runs/r1\nmax-steps: 4\nbatch-size: 4\nload-best: false\n"
	if y != wantYAML {
		t.Errorf("yaml\n got %q\nwant %q", y, wantYAML)
	}
	if _, _, err := finetuneArgs(trainRequest{Model: "m", Data: "d", Name: "r", Options: map[string]string{"profile": "true"}}); err == nil {
		t.Error("an option the form does not offer was accepted")
	}
	if _, _, err := finetuneArgs(trainRequest{Model: "m", Data: "d", Name: "r", Options: map[string]string{"lr": "--overwrite"}}); err == nil {
		t.Error("a value that is a flag was accepted")
	}
}

func TestModelInfo(t *testing.T) {
	s := newTestServer(t, Config{})
	dir := filepath.Join(s.ws.Root(), dirModels, "m1")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","num_hidden_layers":2,"hidden_size":64,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":151936,"torch_dtype":"float32"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), make([]byte, 1000), 0o644)
	w := do(s, "GET", "/api/models/m1", "localhost", nil, nil)
	var info modelInfo
	if err := json.Unmarshal(w.Body.Bytes(), &info); err != nil || w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if info.ModelType != "qwen2" || info.Layers != 2 || info.Hidden != 64 || info.KVHeads != 2 || info.DType != "float32" || info.WeightBytes != 1000 {
		t.Errorf("model info %+v", info)
	}
	if w := do(s, "GET", "/api/models/..", "localhost", nil, nil); w.Code == 200 {
		t.Errorf("/api/models/..: %d", w.Code)
	}
}
