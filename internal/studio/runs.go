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
	"github.com/sentitune/sentitune/prep"
)

// trainRequest is the Train form.
type trainRequest struct {
	Model   string            `json:"model"` // a folder under models/, or ORG/NAME[@REV] in a hub cache
	Data    string            `json:"data"`  // a folder under data/
	Name    string            `json:"name"`  // the run folder under runs/
	Resume  bool              `json:"resume"`
	Options map[string]string `json:"options"`
	DryRun  bool              `json:"dry_run"` // only the command and YAML
}

// runRecord is what studio remembers of a run it started (.studio/runs/NAME.json).
type runRecord struct {
	Model string `json:"model"`
	Data  string `json:"data"`
}

func (s *Server) train(w http.ResponseWriter, r *http.Request) {
	var t trainRequest
	if err := readJSON(w, r, &t); err != nil {
		fail(w, err)
		return
	}
	for _, f := range [][2]string{{dirData, t.Data}, {dirRuns, t.Name}} {
		if _, err := s.folder(f[0], f[1]); err != nil {
			fail(w, err)
			return
		}
	}
	if _, err := s.modelDir(t.Model); err != nil {
		fail(w, err)
		return
	}
	args, y, err := finetuneArgs(t)
	if err != nil {
		fail(w, err)
		return
	}
	if t.DryRun {
		reply(w, map[string]string{"command": commandLine(args), "yaml": y})
		return
	}
	if err := s.saveRunRecord(t.Name, runRecord{Model: t.Model, Data: t.Data}); err != nil {
		fail(w, err)
		return
	}
	s.submit(w, "finetune", dirRuns+"/"+t.Name, args)
}

func (s *Server) runRecordPath(name string) string {
	return filepath.Join(s.ws.Root(), dirStudio, "runs", name+".json")
}

func (s *Server) saveRunRecord(name string, rec runRecord) error {
	if err := os.MkdirAll(filepath.Dir(s.runRecordPath(name)), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(rec)
	return atomicfile.Write(s.runRecordPath(name), func(w io.Writer) error { _, err := w.Write(b); return err })
}

// runInputs is the base model and prep folder of a run, workspace-relative: studio's record, else
// run.json's (a run started from the CLI).
func (s *Server) runInputs(name, dir string) (model, data string, err error) {
	var rec runRecord
	if err := jsonFile(s.runRecordPath(name), &rec); err == nil {
		return modelArg(rec.Model), dirData + "/" + rec.Data, nil
	}
	var run struct {
		Model struct {
			Dir string `json:"dir"`
		} `json:"model"`
		Data struct {
			Train string `json:"train"`
		} `json:"data"`
	}
	if err := jsonFile(filepath.Join(dir, finetune.FileRun), &run); err != nil {
		return "", "", fmt.Errorf("run %s: neither studio's record nor a finished run.json: %w", name, err)
	}
	return run.Model.Dir, filepath.Dir(run.Data.Train), nil
}

// runSummary is one row of the Runs page.
type runSummary struct {
	Name         string   `json:"name"`
	State        string   `json:"state"` // running, queued, done (an adapter), partial
	Steps        int      `json:"steps"`
	Loss         *float64 `json:"loss"`
	EvalAccuracy *float64 `json:"eval_accuracy"`
	TestAccuracy *float64 `json:"test_accuracy"` // from the report
	Precision    *float64 `json:"precision"`     // the report's, as F1 and ROC-AUC
	Recall       *float64 `json:"recall"`
	F1           *float64 `json:"f1"`
	ROCAUC       *float64 `json:"roc_auc"`
	Modified     string   `json:"modified"`
}

func (s *Server) runs(w http.ResponseWriter, r *http.Request) {
	names, err := s.ws.list(dirRuns, true)
	if err != nil {
		fail(w, err)
		return
	}
	out := []runSummary{}
	for _, n := range names {
		out = append(out, s.summarize(n))
	}
	reply(w, out)
}

func (s *Server) summarize(name string) runSummary {
	dir := filepath.Join(s.ws.Root(), dirRuns, name)
	sum := runSummary{Name: name, State: "partial"}
	if st, err := os.Stat(dir); err == nil {
		sum.Modified = st.ModTime().UTC().Format(time.RFC3339)
	}
	lines, _ := readLog(filepath.Join(dir, finetune.FileLog))
	for _, l := range lines {
		switch l.Split {
		case "train":
			sum.Steps, sum.Loss = l.Step, &l.Loss
		case "eval":
			sum.EvalAccuracy = l.Accuracy
		}
	}
	if _, err := os.Stat(filepath.Join(dir, finetune.DirAdapter)); err == nil {
		sum.State = "done"
	}
	for _, j := range s.jobs.Jobs() {
		if j.Out == dirRuns+"/"+name && (j.State == jobRunning || j.State == jobQueued) {
			sum.State = j.State
		}
	}
	if sum.State != jobRunning && logWriter(filepath.Join(dir, finetune.FileLog)) != 0 {
		sum.State = jobRunning // a finetune started from the command line
	}
	var m keyMetrics
	if jsonFile(filepath.Join(dir, runReport, "metrics.json"), &m) == nil {
		sum.TestAccuracy, sum.Precision, sum.Recall, sum.F1, sum.ROCAUC = &m.Accuracy, m.Precision, m.Recall, m.F1, m.ROCAUC
	}
	return sum
}

// readLog reads the whole lines of train_log.jsonl (a line being written is left for later).
func readLog(path string) ([]finetune.LogLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []finetune.LogLine
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasSuffix(line, "\n") {
			break
		}
		var l finetune.LogLine
		if json.Unmarshal([]byte(line), &l) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// runEvents streams train_log.jsonl as server-sent events (one "data:" per line, whether the
// run was started here or from the CLI) and "end" once no job is writing the run.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		fail(w, errors.New("streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	var offset int64
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		busy := s.jobs.Busy(dirRuns+"/"+name) || logWriter(filepath.Join(dir, finetune.FileLog)) != 0
		n, err := sendNewLines(w, filepath.Join(dir, finetune.FileLog), offset)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
		offset += n
		if !busy {
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
			flusher.Flush()
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// sendNewLines writes the whole lines after offset as events and returns the bytes consumed.
func sendNewLines(w io.Writer, path string, offset int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	var n int64
	br := bufio.NewReader(f)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return n, nil // EOF or a line still being written
		}
		n += int64(len(line))
		if _, err := fmt.Fprintf(w, "data: %s\n\n", strings.TrimSpace(line)); err != nil {
			return n, err
		}
	}
}

func (s *Server) stopJob(w http.ResponseWriter, r *http.Request) {
	if err := s.jobs.Stop(r.PathValue("id")); err != nil {
		fail(w, httpError{http.StatusConflict, err})
		return
	}
	reply(w, map[string]bool{"ok": true})
}

// jobLog answers the tail of a job's output.
func (s *Server) jobLog(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := validName(id); err != nil {
		fail(w, err)
		return
	}
	b, err := os.ReadFile(s.jobs.LogPath(id))
	if err != nil {
		fail(w, err)
		return
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

// evalArgs scores the run's adapter on its dataset's test split and writes RUNDIR/report.
func evalArgs(model, data, run, name string) []string {
	return []string{"eval", "--model", model, "--adapter", run + "/" + finetune.DirAdapter, "--data", data + "/" + prep.FileTest,
		"--out", run + "/report", "--run", run, "--name", name}
}

func (s *Server) evalRun(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	model, data, err := s.runInputs(name, dir)
	if err != nil {
		fail(w, httpError{http.StatusConflict, err})
		return
	}
	// a threshold picked on the validation split is what the test split is scored with
	s.submit(w, "eval", dirRuns+"/"+name+"/report", s.withThreshold(dirRuns+"/"+name, evalArgs(model, data, dirRuns+"/"+name, name)))
}

// report serves the run's report.html (self-contained), shown in the Evaluate page's frame.
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	dir, err := s.folder(dirRuns, r.PathValue("name"))
	if err != nil {
		fail(w, err)
		return
	}
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	http.ServeFile(w, r, filepath.Join(dir, "report", "report.html"))
}

func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	if s.jobs.Busy(dirRuns+"/"+name) || s.jobs.Busy(dirRuns+"/"+name+"/"+runReport) || s.jobs.Busy(dirRuns+"/"+name+"/"+runVal) {
		fail(w, httpError{http.StatusConflict, fmt.Errorf("run %s has a queued or running job", name)})
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		fail(w, err)
		return
	}
	os.Remove(s.runRecordPath(name))
	reply(w, map[string]bool{"ok": true})
}
