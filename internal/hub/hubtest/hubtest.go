// Package hubtest is a local stand-in for the Hugging Face Hub and ModelScope file APIs, for
// tests of downloads: listings, resolve with ETag/X-Repo-Commit/X-Linked-Etag headers, LFS
// bytes from a second host (the CDN), byte ranges, tokens, and injected faults.
package hubtest

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// File is one file of the fake repository.
type File struct {
	Path string
	Data []byte
	LFS  bool // served from the CDN host, named by its sha256 (as the Hub does for large files)
}

// Request is what the server saw of one request.
type Request struct {
	Host, Method, Path, Auth, Cookie, Range string
}

// Server serves one repository, Org/Name at commit Commit (branch "main" on the Hugging Face
// API, "master" on ModelScope's).
type Server struct {
	Hub, CDN  *httptest.Server
	Org, Name string
	Commit    string
	Files     []File
	Token     string // when set, the Hugging Face API wants "Bearer Token" and ModelScope's the cookie m_session_id=Token

	mu       sync.Mutex
	requests []Request
	corrupt  map[string]bool // path → serve its bytes with one flipped
	cut      map[string]int  // path → the next GET ends after this many bytes
}

// New starts the hub and its CDN; Close stops both.
func New(org, name, commit string, files []File) *Server {
	s := &Server{Org: org, Name: name, Commit: commit, Files: files, corrupt: map[string]bool{}, cut: map[string]int{}}
	s.Hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.CDN = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	return s
}

// Close stops the servers.
func (s *Server) Close() { s.Hub.Close(); s.CDN.Close() }

// Corrupt makes the server send path's bytes with one byte changed.
func (s *Server) Corrupt(path string) { s.mu.Lock(); s.corrupt[path] = true; s.mu.Unlock() }

// CutNext makes the next GET of path break off after n bytes.
func (s *Server) CutNext(path string, n int) { s.mu.Lock(); s.cut[path] = n; s.mu.Unlock() }

// Requests returns the requests seen so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SHA256 is the hex sha256 of data.
func SHA256(data []byte) string { h := sha256.Sum256(data); return hex.EncodeToString(h[:]) }

// GitBlobID is the git object id of data stored as a blob.
func GitBlobID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Server) record(r *http.Request) {
	cookie := ""
	if c, err := r.Cookie("m_session_id"); err == nil {
		cookie = c.Value
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Host: r.Host, Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
		Cookie: cookie, Range: r.Header.Get("Range")})
	s.mu.Unlock()
}

func (s *Server) file(path string) (File, bool) {
	for _, f := range s.Files {
		if f.Path == path {
			return f, true
		}
	}
	return File{}, false
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	repo := "/" + s.Org + "/" + s.Name
	switch {
	case strings.HasPrefix(r.URL.Path, "/api/v1/models/"):
		s.serveModelScope(w, r)
	case strings.HasPrefix(r.URL.Path, "/api/models/"):
		if !s.hfAuthorized(w, r) {
			return
		}
		rest, ok := strings.CutPrefix(r.URL.Path, "/api/models"+repo+"/revision/")
		if !ok {
			http.Error(w, `{"error":"Repository Not Found"}`, http.StatusNotFound)
			return
		}
		if rest != "main" && rest != s.Commit {
			http.Error(w, `{"error":"Invalid rev id: `+rest+`"}`, http.StatusNotFound)
			return
		}
		var siblings []map[string]any
		for _, f := range s.Files {
			sib := map[string]any{"rfilename": f.Path, "size": len(f.Data), "blobId": GitBlobID(f.Data)}
			if f.LFS {
				sib["lfs"] = map[string]any{"sha256": SHA256(f.Data), "size": len(f.Data), "pointerSize": 134}
			}
			siblings = append(siblings, sib)
		}
		json.NewEncoder(w).Encode(map[string]any{"id": s.Org + "/" + s.Name, "sha": s.Commit, "siblings": siblings})
	case strings.HasPrefix(r.URL.Path, repo+"/resolve/"):
		if !s.hfAuthorized(w, r) {
			return
		}
		rev, path, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, repo+"/resolve/"), "/")
		f, ok := s.file(path)
		if !ok || (rev != "main" && rev != s.Commit) {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		w.Header().Set("X-Repo-Commit", s.Commit)
		if f.LFS {
			w.Header().Set("ETag", `"`+GitBlobID([]byte("pointer "+path))+`"`)
			w.Header().Set("X-Linked-Etag", `"`+SHA256(f.Data)+`"`)
			w.Header().Set("X-Linked-Size", fmt.Sprint(len(f.Data)))
			w.Header().Set("Location", s.CDN.URL+"/lfs/"+SHA256(f.Data))
			w.WriteHeader(http.StatusFound)
			return
		}
		w.Header().Set("ETag", `"`+GitBlobID(f.Data)+`"`)
		s.serveBytes(w, r, f)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

func (s *Server) hfAuthorized(w http.ResponseWriter, r *http.Request) bool {
	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		w.Header().Set("X-Error-Code", "RepoNotFound")
		http.Error(w, `{"error":"Invalid credentials in Authorization header"}`, http.StatusUnauthorized)
		return false
	}
	return true
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	sha := strings.TrimPrefix(r.URL.Path, "/lfs/")
	for _, f := range s.Files {
		if f.LFS && SHA256(f.Data) == sha {
			s.serveBytes(w, r, f)
			return
		}
	}
	http.Error(w, "no such object", http.StatusNotFound)
}

func (s *Server) serveModelScope(w http.ResponseWriter, r *http.Request) {
	if s.Token != "" {
		if c, err := r.Cookie("m_session_id"); err != nil || c.Value != s.Token {
			http.Error(w, `{"Code":10010205001,"Message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
	}
	base := "/api/v1/models/" + s.Org + "/" + s.Name + "/repo"
	q := r.URL.Query()
	if rev := q.Get("Revision"); rev != "master" && rev != s.Commit {
		http.Error(w, `{"Code":10010205001,"Message":"revision not found"}`, http.StatusNotFound)
		return
	}
	switch r.URL.Path {
	case base + "/files":
		var files []map[string]any
		for _, f := range s.Files {
			name := f.Path[strings.LastIndex(f.Path, "/")+1:]
			files = append(files, map[string]any{"Name": name, "Path": f.Path, "Type": "blob", "Size": len(f.Data),
				"Sha256": SHA256(f.Data), "Revision": s.Commit, "IsLFS": f.LFS})
		}
		json.NewEncoder(w).Encode(map[string]any{"Code": 200, "Data": map[string]any{"Files": files}, "Success": true})
	case base:
		f, ok := s.file(q.Get("FilePath"))
		if !ok {
			http.Error(w, `{"Code":10010205001,"Message":"file not found"}`, http.StatusNotFound)
			return
		}
		s.serveBytes(w, r, f)
	default:
		http.Error(w, `{"Code":10010205001,"Message":"model not found"}`, http.StatusNotFound)
	}
}

// serveBytes answers with f's bytes (ranges too), applying the faults set for it.
func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, f File) {
	s.mu.Lock()
	data := f.Data
	if s.corrupt[f.Path] {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 0xff
	}
	cut, isCut := s.cut[f.Path]
	if isCut && r.Method == http.MethodGet {
		delete(s.cut, f.Path)
	}
	s.mu.Unlock()
	if isCut && r.Method == http.MethodGet {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
		w.Write(data[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-file
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}
