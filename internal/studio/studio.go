// Package studio is `sentitune studio`: a local web app that runs the whole review-sentiment job
// (prep → finetune → eval → predict) by starting the ordinary sentitune commands as jobs.
package studio

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

//go:embed web
var webFiles embed.FS

// DefaultMaxUpload bounds one uploaded review file.
const DefaultMaxUpload = 256 << 20

// Config is one studio server; the CLI flags map onto it.
type Config struct {
	Addr      string // listen address (127.0.0.1:7860)
	Workspace string // the folder every path is confined to
	Lang      string // zh, en, or "" for the browser's language
	Token     string // access token; needed to serve any Host but localhost
	Demo      bool   // put the Amazon sample in the workspace and queue the demo model
	Exe       string // the sentitune binary jobs run (os.Executable)
	MaxUpload int64  // bytes per upload (0: DefaultMaxUpload)
}

// Server is studio's HTTP handler with its job queue.
type Server struct {
	cfg     Config
	ws      Workspace
	csrf    string
	jobs    *queue
	handler http.Handler
	page    *template.Template
}

// New opens the workspace, finds the jobs of an earlier studio and builds the handler.
func New(cfg Config) (*Server, error) {
	switch cfg.Lang {
	case "", "zh", "en":
	default:
		return nil, fmt.Errorf("unknown --lang %q (want zh or en)", cfg.Lang)
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.Exe = exe
	}
	ws, err := OpenWorkspace(cfg.Workspace)
	if err != nil {
		return nil, err
	}
	q, err := newQueue(cfg.Exe, ws)
	if err != nil {
		return nil, err
	}
	page, err := template.ParseFS(webFiles, "web/index.html")
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, ws: ws, csrf: newSecret(), jobs: q, page: page}
	s.handler = s.guard(s.routes())
	if cfg.Demo {
		if err := s.setUpDemo(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// CheckAddr refuses to listen beyond this machine without a token.
func CheckAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if token == "" && !isLoopbackHost(host) {
		return fmt.Errorf("--addr %s listens beyond this machine: give --token too", addr)
	}
	return nil
}

// ListenAndServe serves until the listener fails.
func (s *Server) ListenAndServe(ready func(url string)) error {
	if err := CheckAddr(s.cfg.Addr, s.cfg.Token); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String() + "/"
	if s.cfg.Token != "" {
		url += "?token=" + s.cfg.Token
	}
	if ready != nil {
		ready(url)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}

func (s *Server) routes() http.Handler {
	m := http.NewServeMux()
	static, _ := fs.Sub(webFiles, "web")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", s.index)
	m.HandleFunc("GET /api/state", s.state)
	m.HandleFunc("POST /api/upload", s.upload)
	m.HandleFunc("GET /api/inspect", s.inspect)
	m.HandleFunc("POST /api/prep", s.prep)
	m.HandleFunc("GET /api/data/{name}", s.dataStats)
	m.HandleFunc("POST /api/models/demo", s.demoModel)
	m.HandleFunc("GET /api/models/{name}", s.modelInfo)
	m.HandleFunc("GET /api/hub-models", s.hubModels)
	m.HandleFunc("GET /api/model", s.modelDetail)
	m.HandleFunc("POST /api/model/plan", s.modelPlan)
	m.HandleFunc("GET /api/train/options", s.trainForm)
	m.HandleFunc("POST /api/train", s.train)
	m.HandleFunc("POST /api/jobs/{id}/stop", s.stopJob)
	m.HandleFunc("GET /api/jobs/{id}/log", s.jobLog)
	m.HandleFunc("GET /api/runs", s.runs)
	m.HandleFunc("GET /api/runs/{name}/events", s.runEvents)
	m.HandleFunc("POST /api/runs/{name}/eval", s.evalRun)
	m.HandleFunc("GET /api/runs/{name}/report", s.report)
	m.HandleFunc("POST /api/runs/{name}/predict", s.predictTexts)
	m.HandleFunc("POST /api/runs/{name}/score", s.scoreFile)
	m.HandleFunc("DELETE /api/runs/{name}", s.deleteRun)
	m.HandleFunc("GET /api/compare", s.compareRuns)
	m.HandleFunc("GET /api/runs/{name}/mistakes", s.mistakes)
	m.HandleFunc("POST /api/runs/{name}/val", s.scoreValidation)
	m.HandleFunc("GET /api/runs/{name}/threshold", s.thresholdCurve)
	m.HandleFunc("POST /api/runs/{name}/threshold", s.saveThreshold)
	m.HandleFunc("GET /api/file", s.download)
	return m
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("lang")
	if lang != "zh" && lang != "en" {
		lang = s.cfg.Lang
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.page.Execute(w, map[string]string{"CSRF": s.csrf, "Lang": lang})
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	err    error
}

func (e httpError) Error() string { return e.err.Error() }

func badRequest(format string, a ...any) error {
	return httpError{http.StatusBadRequest, fmt.Errorf(format, a...)}
}

// fail answers err as JSON {"error": ...} with its status: 400 for paths outside the workspace,
// 404 for missing files, 500 otherwise.
func fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var he httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status = he.status
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, errOutside):
		status = http.StatusBadRequest
	case errors.Is(err, fs.ErrNotExist):
		status = http.StatusNotFound
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body of at most 1 MiB into v.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// validName is a folder name studio creates (a run, a dataset): letters, digits, - _ . only.
func validName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return badRequest("name %q: want 1-64 letters, digits, '-', '_' or '.', not starting with '.'", name)
	}
	for _, c := range name {
		ok := c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !ok {
			return badRequest("name %q: want 1-64 letters, digits, '-', '_' or '.', not starting with '.'", name)
		}
	}
	return nil
}

// folder resolves a named folder under a workspace folder (a run, a dataset, a model).
func (s *Server) folder(parent, name string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	return s.ws.Resolve(filepath.ToSlash(filepath.Join(parent, name)))
}

// Workspace is the workspace folder's absolute path.
func (s *Server) Workspace() string { return s.ws.Root() }
