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
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/prep"
)

// trainOption is one finetune flag the Train form offers, grouped as LLaMA-Factory groups them.
type trainOption struct {
	Flag    string `json:"flag"`
	Group   string `json:"group"`
	Default string `json:"default"`
}

// trainOptions are the finetune flags the form may set; anything else is refused. Defaults are
// finetune's own, so a form left alone adds no flags to the command.
var trainOptions = []trainOption{
	{"lora-r", "lora", "8"}, {"lora-alpha", "lora", "16"}, {"lora-dropout", "lora", "0.05"},
	{"lora-target", "lora", "all"}, {"use-rslora", "lora", "false"}, {"loraplus-lr-ratio", "lora", "0"},
	{"epochs", "train", "3"}, {"max-steps", "train", "0"}, {"lr", "train", "0.0001"},
	{"scheduler", "train", "cosine"}, {"warmup-ratio", "train", "0.03"}, {"batch-size", "train", "8"},
	{"grad-accum", "train", "1"}, {"max-len", "train", "512"}, {"max-grad-norm", "train", "1"},
	{"weight-decay", "train", "0"}, {"seed", "train", "42"},
	{"eval-every", "eval", "0"}, {"val-ratio", "eval", "0.1"}, {"metric-for-best", "eval", "eval_loss"},
	{"load-best", "eval", "true"}, {"early-stopping-patience", "eval", "0"},
	{"save-every", "eval", "0"}, {"save-total-limit", "eval", "2"},
	{"device", "device", "auto"}, {"dtype", "device", "auto"}, {"threads", "device", "0"},
	{"gradient-checkpointing", "device", "auto"},
}

// trainRequest is the Train form.
type trainRequest struct {
	Model   string            `json:"model"` // a folder under models/
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

// finetuneArgs is the finetune command line of a form and the same options as --config YAML.
func finetuneArgs(t trainRequest) ([]string, string, error) {
	for flag := range t.Options {
		if !slices.ContainsFunc(trainOptions, func(o trainOption) bool { return o.Flag == flag }) {
			return nil, "", badRequest("unknown training option %q", flag)
		}
	}
	args := []string{"finetune", "--model", dirModels + "/" + t.Model, "--data", dirData + "/" + t.Data, "--out", dirRuns + "/" + t.Name}
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(k, v string) {
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, &yaml.Node{Kind: yaml.ScalarNode, Value: v})
	}
	add("model", args[2])
	add("data", args[4])
	add("out", args[6])
	if t.Resume {
		args = append(args, "--resume")
		add("resume", "true")
	}
	for _, o := range trainOptions {
		v := strings.TrimSpace(t.Options[o.Flag])
		if v == "" || v == o.Default {
			continue
		}
		if strings.HasPrefix(v, "-") && !isNumber(v) {
			return nil, "", badRequest("option %s: value %q", o.Flag, v)
		}
		if o.Default == "true" || o.Default == "false" {
			args = append(args, "--"+o.Flag+"="+v)
		} else {
			args = append(args, "--"+o.Flag, v)
		}
		add(o.Flag, v)
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return nil, "", err
	}
	return args, string(y), nil
}

func isNumber(s string) bool {
	var f float64
	_, err := fmt.Sscan(s, &f)
	return err == nil
}

func (s *Server) train(w http.ResponseWriter, r *http.Request) {
	var t trainRequest
	if err := readJSON(w, r, &t); err != nil {
		fail(w, err)
		return
	}
	for _, f := range [][2]string{{dirModels, t.Model}, {dirData, t.Data}, {dirRuns, t.Name}} {
		if _, err := s.folder(f[0], f[1]); err != nil {
			fail(w, err)
			return
		}
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
		return dirModels + "/" + rec.Model, dirData + "/" + rec.Data, nil
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
	s.submit(w, "eval", dirRuns+"/"+name+"/report", evalArgs(model, data, dirRuns+"/"+name, name))
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
