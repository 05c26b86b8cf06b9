package studio

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/atomicfile"
)

// predictArgs scores input with the run's adapter into out (format from out's extension).
func predictArgs(model, run, input, out string) []string {
	return []string{"predict", "--model", model, "--adapter", run + "/" + finetune.DirAdapter, "--input", input, "--out", out}
}

// typedTimeout bounds waiting for typed reviews' scores (queued behind a training job they wait).
const typedTimeout = 10 * time.Minute

// predictTexts scores the typed reviews through the same predict command, run as a queued job.
func (s *Server) predictTexts(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	var req struct {
		Texts []string `json:"texts"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	var texts []string
	for _, t := range req.Texts {
		if t = strings.TrimSpace(t); t != "" {
			texts = append(texts, t)
		}
	}
	if len(texts) == 0 || len(texts) > 1000 {
		fail(w, badRequest("give 1 to 1000 reviews, got %d", len(texts)))
		return
	}
	model, _, err := s.runInputs(name, dir)
	if err != nil {
		fail(w, httpError{http.StatusConflict, err})
		return
	}
	tmp := filepath.Join(dirStudio, "typed", fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	in, out := tmp+".jsonl", tmp+".out.jsonl"
	if err := writeTexts(filepath.Join(s.ws.Root(), in), texts); err != nil {
		fail(w, err)
		return
	}
	defer os.Remove(filepath.Join(s.ws.Root(), in))
	defer os.Remove(filepath.Join(s.ws.Root(), out))
	j, err := s.jobs.Submit("predict", out, s.withThreshold(dirRuns+"/"+name, predictArgs(model, dirRuns+"/"+name, in, out)))
	if err != nil {
		fail(w, err)
		return
	}
	done, err := s.jobs.wait(j.ID, typedTimeout)
	if err != nil {
		fail(w, err)
		return
	}
	if done.State != jobDone {
		log, _ := os.ReadFile(s.jobs.LogPath(j.ID))
		fail(w, fmt.Errorf("predict %s: %s", done.State, lastLine(string(log))))
		return
	}
	rows, err := readJSONL(filepath.Join(s.ws.Root(), out))
	if err != nil {
		fail(w, err)
		return
	}
	for i := range rows {
		if i < len(texts) {
			rows[i]["text"] = texts[i]
		}
	}
	reply(w, rows)
}

func writeTexts(path string, texts []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, t := range texts {
			if err := enc.Encode(map[string]string{"text": t}); err != nil {
				return err
			}
		}
		return nil
	})
}

func readJSONL(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// scoreFile takes an uploaded review file and queues predict over it into RUNDIR/scored; the page
// polls the job and then downloads the predictions.
func (s *Server) scoreFile(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "":
		format = "csv"
	case "csv", "jsonl", "parquet":
	default:
		fail(w, badRequest("format %q: want csv, jsonl or parquet", format))
		return
	}
	model, _, err := s.runInputs(name, dir)
	if err != nil {
		fail(w, httpError{http.StatusConflict, err})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	file, hdr, err := r.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(w, err)
		} else {
			fail(w, badRequest("score: %v", err))
		}
		return
	}
	defer file.Close()
	base := filepath.Base(filepath.Clean("/" + hdr.Filename))
	if err := validName(base); err != nil {
		fail(w, err)
		return
	}
	rel := dirRuns + "/" + name + "/scored/" + base
	if err := os.MkdirAll(filepath.Join(dir, "scored"), 0o755); err != nil {
		fail(w, err)
		return
	}
	in, err := s.ws.Resolve(rel)
	if err != nil {
		fail(w, err)
		return
	}
	if err := atomicfile.Write(in, func(f io.Writer) error { _, err := io.Copy(f, file); return err }); err != nil {
		fail(w, err)
		return
	}
	out := strings.TrimSuffix(rel, filepath.Ext(rel)) + ".predictions." + format
	s.submit(w, "predict", out, s.withThreshold(dirRuns+"/"+name, predictArgs(model, dirRuns+"/"+name, rel, out)))
}
