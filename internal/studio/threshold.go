package studio

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/atomicfile"
	"github.com/sentitune/sentitune/predict"
	"github.com/sentitune/sentitune/reports"
)

// Files studio writes into a run folder for the threshold.
const (
	fileHeldOut      = "heldout.json" // the validation rows finetune carved from train.json
	filePredictYAML  = "predict.yaml" // `sentitune predict --config` with the chosen threshold
	thresholdComment = "# the decision threshold picked in sentitune studio on the validation split\n"
)

func errNotEvaluated(name string) error {
	return fmt.Errorf("run %s has no test predictions yet: evaluate it first", name)
}

// scoreValidation answers POST /api/runs/{name}/val: it queues eval on the split the run was
// validated on (val.json, or the rows finetune held out of train.json) into RUNDIR/val.
func (s *Server) scoreValidation(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	model, _, err := s.runInputs(name, dir)
	if err != nil {
		fail(w, httpError{http.StatusConflict, err})
		return
	}
	split, err := s.validationSplit(name, dir)
	if err != nil {
		fail(w, err)
		return
	}
	run := dirRuns + "/" + name
	args := []string{"eval", "--model", model, "--adapter", run + "/" + finetune.DirAdapter, "--data", split,
		"--out", run + "/" + runVal, "--no-baseline", "--name", name}
	s.submit(w, "eval", run+"/"+runVal, args)
}

// validationSplit is the workspace path of the rows the run was validated on: run.json's eval
// file, or else the rows finetune held out of its training file, written to RUNDIR/heldout.json.
func (s *Server) validationSplit(name, dir string) (string, error) {
	var run struct {
		Options finetune.Config `json:"options"`
		Data    struct {
			Train string `json:"train"`
			Eval  string `json:"eval"`
		} `json:"data"`
	}
	if err := jsonFile(filepath.Join(dir, finetune.FileRun), &run); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", httpError{http.StatusConflict, fmt.Errorf("run %s has no %s yet: let training finish first", name, finetune.FileRun)}
		}
		return "", fmt.Errorf("run %s: %s: %w", name, finetune.FileRun, err)
	}
	if run.Data.Eval != "" {
		return s.workspacePath(run.Data.Eval)
	}
	train, err := s.workspacePath(run.Data.Train)
	if err != nil {
		return "", err
	}
	recs, err := finetune.HeldOutRecords(filepath.Join(s.ws.Root(), filepath.FromSlash(train)), run.Options.ValRatio, run.Options.Seed)
	if err != nil {
		return "", err
	}
	if len(recs) == 0 {
		return "", httpError{http.StatusConflict, fmt.Errorf("run %s was validated on no rows (no val.json and val-ratio %g): prep with a val split or train with --val-ratio", name, run.Options.ValRatio)}
	}
	b, err := json.MarshalIndent(recs, "", " ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, fileHeldOut), b); err != nil {
		return "", err
	}
	return dirRuns + "/" + name + "/" + fileHeldOut, nil
}

// workspacePath turns a path a run recorded (relative to the workspace, where jobs run, or
// absolute) into a workspace-relative one, refusing anything outside.
func (s *Server) workspacePath(p string) (string, error) {
	if filepath.IsAbs(p) {
		rel, err := filepath.Rel(s.ws.Root(), p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("%q: %w", p, errOutside)
		}
		p = rel
	}
	p = filepath.ToSlash(filepath.Clean(p))
	if _, err := s.ws.Resolve(p); err != nil {
		return "", err
	}
	return p, nil
}

// thresholdReply is the Threshold view: every threshold's scores on the validation split.
type thresholdReply struct {
	N      int                   `json:"n"`
	Points []eval.ThresholdPoint `json:"points"`
	Saved  float64               `json:"saved"`           // the run's threshold now (predict's default without a file)
	File   string                `json:"file,omitempty"`  // RUNDIR/predict.yaml when written
	Split  string                `json:"split,omitempty"` // what was scored
}

// thresholdCurve answers GET /api/runs/{name}/threshold from RUNDIR/val/predictions.jsonl (no
// points before the validation split is scored).
func (s *Server) thresholdCurve(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	classes, preds, err := readPredictionsIfAny(filepath.Join(dir, runVal, reports.PredictionsFile))
	if err != nil {
		fail(w, err)
		return
	}
	if classes != nil {
		fail(w, httpError{http.StatusConflict, fmt.Errorf("run %s has %d classes: a decision threshold is for two labels (pred is the most probable class)", name, len(classes))})
		return
	}
	out := thresholdReply{Points: []eval.ThresholdPoint{}, Saved: predict.DefaultThreshold}
	if preds != nil { // else not scored yet: no points, which is not an error
		if out.Points, err = eval.ThresholdSweep(preds); err != nil {
			fail(w, httpError{http.StatusConflict, fmt.Errorf("run %s: %w", name, err)})
			return
		}
		out.N = len(preds)
	}
	if t, err := readThreshold(filepath.Join(dir, filePredictYAML)); err == nil {
		out.Saved, out.File = t, dirRuns+"/"+name+"/"+filePredictYAML
	} else if !errors.Is(err, fs.ErrNotExist) {
		fail(w, err)
		return
	}
	var m struct {
		Provenance map[string]string `json:"provenance"`
	}
	if jsonFile(filepath.Join(dir, runVal, reports.MetricsFile), &m) == nil {
		out.Split = m.Provenance["data"]
	}
	reply(w, out)
}

// saveThreshold answers POST /api/runs/{name}/threshold {"threshold": T}: RUNDIR/predict.yaml
// then holds it, and studio's predictions (and `predict --config` with that file) use it.
func (s *Server) saveThreshold(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dir, err := s.folder(dirRuns, name)
	if err != nil {
		fail(w, err)
		return
	}
	var req struct {
		Threshold float64 `json:"threshold"`
	}
	if err := readJSON(w, r, &req); err != nil {
		fail(w, err)
		return
	}
	if !(req.Threshold > 0 && req.Threshold < 1) {
		fail(w, badRequest("threshold %v: must be a probability strictly between 0 and 1", req.Threshold))
		return
	}
	if _, err := os.Stat(filepath.Join(dir, finetune.DirAdapter)); err != nil {
		fail(w, httpError{http.StatusConflict, fmt.Errorf("run %s has no adapter yet", name)})
		return
	}
	body := thresholdComment + "threshold: " + strconv.FormatFloat(req.Threshold, 'g', -1, 64) + "\n"
	if err := atomicfile.WriteFile(filepath.Join(dir, filePredictYAML), []byte(body)); err != nil {
		fail(w, err)
		return
	}
	run := dirRuns + "/" + name
	model, _, _ := s.runInputs(name, dir)
	args := s.withThreshold(run, predictArgs(model, run, "reviews.csv", "predictions.csv"))
	reply(w, map[string]any{"file": run + "/" + filePredictYAML, "threshold": req.Threshold, "command": commandLine(args)})
}

// readThreshold reads the threshold of a predict.yaml studio wrote.
func readThreshold(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Threshold *float64 `yaml:"threshold"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil || doc.Threshold == nil || math.IsNaN(*doc.Threshold) {
		return 0, fmt.Errorf("%s: no threshold in it (%v)", path, err)
	}
	return *doc.Threshold, nil
}

// withThreshold adds --config RUNDIR/predict.yaml to a predict command when the run has one.
func (s *Server) withThreshold(run string, args []string) []string {
	if _, err := os.Stat(filepath.Join(s.ws.Root(), filepath.FromSlash(run), filePredictYAML)); err != nil {
		return args
	}
	return append(args[:1:1], append([]string{"--config", run + "/" + filePredictYAML}, args[1:]...)...)
}
