package studio

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/eval"
	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/internal/task"
	"github.com/sentitune/sentitune/reports"
)

// writeReport writes what `sentitune eval --out RUNDIR/sub` leaves: metrics.json and predictions.jsonl.
func writeReport(t *testing.T, s *Server, run, sub string, preds []eval.Prediction) {
	t.Helper()
	if err := reports.Write(filepath.Join(s.ws.Root(), dirRuns, run, sub), reports.Input{Model: reports.Side{Name: run, Predictions: preds}}); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes a workspace file, creating its folder.
func writeFile(t *testing.T, s *Server, rel, content string) {
	t.Helper()
	p := filepath.Join(s.ws.Root(), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// getJSON sends a GET from localhost and decodes a 200 answer into v.
func getJSON(t *testing.T, s *Server, target string, v any) {
	t.Helper()
	w := do(s, "GET", target, "localhost", nil, nil)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v: %s", target, err, w.Body)
	}
}

// twoRuns are the test predictions of two runs on the same 40 ids, listed in different orders:
// a is right on rows 0-29 and 35-39, b on rows 0-19 and 30-34 (a right alone 15 times, b 5).
func twoRuns() (a, b []eval.Prediction) {
	for i := range 40 {
		label := i % 2
		wrong := 1 - label
		pa, pb := eval.Prediction{ID: fmt.Sprint("r", i), Text: fmt.Sprint("review ", i), Label: label, Pred: label, Prob: 0.2 + 0.6*float64(label)},
			eval.Prediction{ID: fmt.Sprint("r", i), Label: label, Pred: label, Prob: 0.3 + 0.4*float64(label)}
		if i >= 30 && i < 35 {
			pa.Pred, pa.Prob = wrong, 0.5+float64(i-30)/20*float64(2*wrong-1)
		}
		if i >= 20 && i < 30 || i >= 35 {
			pb.Pred, pb.Prob = wrong, 0.9*float64(wrong)+0.05
		}
		a, b = append(a, pa), append([]eval.Prediction{pb}, b...)
	}
	return a, b
}

func TestCompareRuns(t *testing.T) {
	s := newTestServer(t, Config{})
	a, b := twoRuns()
	writeReport(t, s, "r1", runReport, a)
	writeReport(t, s, "r2", runReport, b)
	writeFile(t, s, "runs/r1/train_log.jsonl", `{"step":1,"split":"train","loss":2.5,"lr":0.001}
{"step":2,"split":"train","loss":1.5,"lr":0.001}
{"step":2,"split":"eval","loss":1.25,"accuracy":0.75}
{"step":3,"split":"train","loss":1`) // a line still being written is not read
	os.MkdirAll(filepath.Join(s.ws.Root(), dirRuns, "r3"), 0o755) // trained, not evaluated

	var got comparison
	getJSON(t, s, "/api/compare?a=r1&b=r2", &got)
	want, _ := eval.Compare(a, b)
	m := got.McNemar
	if m == nil || m.PairedBy != "id" || m.AOnly != 15 || m.BOnly != 5 || m.AOnly != want.AOnly || m.PValue != want.PValue || m.Method != "exact" {
		t.Fatalf("McNemar %+v (why %q), want eval.Compare's %+v", m, got.Why, want)
	}
	if m.Better != "r1" || math.Abs(m.Points-25) > 1e-9 || !m.Significant || m.PValue >= 0.05 {
		t.Errorf("reading: better %q by %v points, significant %v (p %v)", m.Better, m.Points, m.Significant, m.PValue)
	}
	if r := got.Runs[0]; r.Name != "r1" || r.Metrics == nil || r.Metrics.Accuracy != 35.0/40 || r.Metrics.F1 == nil || r.Metrics.ROCAUC == nil {
		t.Errorf("r1's metrics %+v", r.Metrics)
	}
	if r := got.Runs[1]; r.Metrics == nil || r.Metrics.Accuracy != 25.0/40 || len(r.Curves.Loss) != 0 {
		t.Errorf("r2's metrics %+v, curves %+v", r.Metrics, r.Curves)
	}
	c := got.Runs[0].Curves
	if !slices.Equal(c.Loss, [][2]float64{{1, 2.5}, {2, 1.5}}) || !slices.Equal(c.EvalLoss, [][2]float64{{2, 1.25}}) || !slices.Equal(c.EvalAccuracy, [][2]float64{{2, 0.75}}) {
		t.Errorf("r1's curves %+v", c)
	}

	var th thresholdReply
	if getJSON(t, s, "/api/runs/r3/threshold", &th); th.N != 0 || th.Points == nil || len(th.Points) != 0 || th.Saved != 0.5 {
		t.Errorf("threshold view before the validation split is scored: %+v", th)
	}
	getJSON(t, s, "/api/compare?a=r3&b=r1", &got)
	if got.McNemar != nil || !strings.Contains(got.Why, "r3 has no test predictions") || got.Runs[0].Metrics != nil {
		t.Errorf("an unevaluated run: %+v", got)
	}
	for target, status := range map[string]int{
		"/api/compare?a=r1&b=r1":          400,
		"/api/compare?a=r1&b=..%2Fdata":   400,
		"/api/compare?a=r1&b=nope":        404,
		"/api/compare?a=r1":               400,
		"/api/runs/..%2Fx/mistakes":       400,
		"/api/runs/r3/mistakes":           404,
		"/api/runs/r1/mistakes?n=0":       400,
		"/api/runs/r1/mistakes?n=lots":    400,
		"/api/runs/..%2F..%2Fx/threshold": 400,
	} {
		if w := do(s, "GET", target, "localhost", nil, nil); w.Code != status {
			t.Errorf("GET %s: %d, want %d: %s", target, w.Code, status, w.Body)
		}
	}
}

func TestMostConfidentMistakes(t *testing.T) {
	s := newTestServer(t, Config{})
	a, _ := twoRuns()
	writeReport(t, s, "r1", runReport, a)
	var got mistakesReply
	getJSON(t, s, "/api/runs/r1/mistakes?n=3", &got)
	// Rows 30-34 are wrong, sure of their answer 0.5, 0.55, 0.6, 0.65 and 0.7.
	if got.N != 40 || got.Wrong != 5 || len(got.Shown) != 3 || got.NoProb {
		t.Fatalf("%+v: want 40 rows, 5 wrong, 3 shown", got)
	}
	wantIDs := []string{"r34", "r33", "r32"}
	for i, m := range got.Shown {
		pred := a[slices.IndexFunc(a, func(p eval.Prediction) bool { return p.ID == m.ID })]
		conf := pred.Prob
		if pred.Pred == 0 {
			conf = 1 - pred.Prob
		}
		if m.ID != wantIDs[i] || m.Text != pred.Text || m.Pred == m.Label || math.Abs(m.Confidence-conf) > 1e-12 {
			t.Errorf("mistake %d: %+v, want %s with confidence %v", i, m, wantIDs[i], conf)
		}
		if i > 0 && m.Confidence > got.Shown[i-1].Confidence {
			t.Errorf("mistake %d is more confident than the one before it", i)
		}
	}
	getJSON(t, s, "/api/runs/r1/mistakes", &got)
	if len(got.Shown) != 5 {
		t.Errorf("default n: %d rows, want all 5 wrong ones", len(got.Shown))
	}
}

func TestThresholdOnValidation(t *testing.T) {
	s := newTestServer(t, Config{})
	a, _ := twoRuns()
	writeReport(t, s, "r1", runVal, a)
	os.MkdirAll(filepath.Join(s.ws.Root(), dirRuns, "r1", finetune.DirAdapter), 0o755)
	var got thresholdReply
	getJSON(t, s, "/api/runs/r1/threshold", &got)
	want, _ := eval.ThresholdSweep(a)
	if got.N != 40 || !reflect.DeepEqual(got.Points, want) || got.Saved != 0.5 || got.File != "" {
		t.Fatalf("threshold view: n %d, %d points (want %d), saved %v %q", got.N, len(got.Points), len(want), got.Saved, got.File)
	}

	save := func(body string, header map[string]string) (int, string) {
		w := do(s, "POST", "/api/runs/r1/threshold", "localhost", strings.NewReader(body), header)
		return w.Code, w.Body.String()
	}
	csrf := map[string]string{csrfHeader: s.csrf}
	for _, tc := range []struct {
		body   string
		header map[string]string
		status int
	}{
		{`{"threshold": 0.4}`, nil, 403},
		{`{"threshold": 0}`, csrf, 400},
		{`{"threshold": 1}`, csrf, 400},
		{`{"threshold": "x"}`, csrf, 400},
		{`{"threshold": 0.4, "other": 1}`, csrf, 400},
	} {
		if code, body := save(tc.body, tc.header); code != tc.status {
			t.Errorf("POST %s: %d, want %d: %s", tc.body, code, tc.status, body)
		}
	}
	if _, err := os.Stat(filepath.Join(s.ws.Root(), "runs/r1", filePredictYAML)); err == nil {
		t.Fatal("a refused threshold wrote predict.yaml")
	}
	code, body := save(`{"threshold": 0.425}`, csrf)
	if code != 200 || !strings.Contains(body, "--config runs/r1/predict.yaml") {
		t.Fatalf("save: %d %s", code, body)
	}
	if th, err := readThreshold(filepath.Join(s.ws.Root(), "runs/r1", filePredictYAML)); err != nil || th != 0.425 {
		t.Errorf("predict.yaml holds %v, %v", th, err)
	}
	getJSON(t, s, "/api/runs/r1/threshold", &got)
	if got.Saved != 0.425 || got.File != "runs/r1/predict.yaml" {
		t.Errorf("after saving: %v %q", got.Saved, got.File)
	}
	// Studio's own predictions now use it.
	args := s.withThreshold("runs/r1", predictArgs("models/m", "runs/r1", "in.csv", "out.csv"))
	if !slices.Equal(args[:3], []string{"predict", "--config", "runs/r1/predict.yaml"}) || args[len(args)-1] != "out.csv" {
		t.Errorf("predict args with a saved threshold: %q", args)
	}
	if args := s.withThreshold("runs/r2", predictArgs("models/m", "runs/r2", "in.csv", "out.csv")); slices.Contains(args, "--config") {
		t.Errorf("a run without a threshold: %q", args)
	}
	// and so does evaluating it on the test split
	writeFile(t, s, ".studio/runs/r1.json", `{"model": "m", "data": "d"}`)
	w := do(s, "POST", "/api/runs/r1/eval", "localhost", nil, csrf)
	var job struct {
		Command string `json:"command"`
		Job     Job    `json:"job"`
	}
	json.Unmarshal(w.Body.Bytes(), &job)
	s.jobs.wait(job.Job.ID, time.Minute)
	if w.Code != 200 || !strings.HasPrefix(job.Command, "sentitune eval --config runs/r1/predict.yaml --model models/m") {
		t.Errorf("eval after saving a threshold: %d %s", w.Code, w.Body)
	}
}

// TestScoreValidation: the val split is val.json when the run had one, else exactly the rows
// finetune held out of train.json; never a file outside the workspace.
func TestScoreValidation(t *testing.T) {
	s := newTestServer(t, Config{})
	var recs []task.Record
	for i := range 50 {
		recs = append(recs, task.Record{Instruction: "i", Input: fmt.Sprint("review ", i), Output: fmt.Sprint(i % 2), ID: fmt.Sprint(i)})
	}
	b, _ := json.Marshal(recs)
	writeFile(t, s, "data/d/train.json", string(b))
	runJSON := func(run, train, evalFile string) {
		writeFile(t, s, "runs/"+run+"/run.json", fmt.Sprintf(`{"options": {"val-ratio": 0.2, "seed": 5}, "model": {"dir": "models/m"}, "data": {"train": %q, "eval": %q}}`, train, evalFile))
	}
	runJSON("carved", "data/d/train.json", "")
	runJSON("withval", filepath.Join(s.ws.Root(), "data/d/train.json"), "data/d/val.json")
	runJSON("outside", "/etc/passwd", "")
	os.MkdirAll(filepath.Join(s.ws.Root(), "runs/unfinished"), 0o755)
	writeFile(t, s, ".studio/runs/unfinished.json", `{"model": "m", "data": "d"}`)

	post := func(run string) (int, map[string]any) {
		w := do(s, "POST", "/api/runs/"+run+"/val", "localhost", nil, map[string]string{csrfHeader: s.csrf})
		var v map[string]any
		json.Unmarshal(w.Body.Bytes(), &v)
		if job, ok := v["job"].(map[string]any); ok { // let it end before the workspace is removed
			s.jobs.wait(job["id"].(string), time.Minute)
		}
		return w.Code, v
	}
	code, v := post("carved")
	cmd, _ := v["command"].(string)
	if code != 200 || !strings.Contains(cmd, "eval --model models/m --adapter runs/carved/adapter --data runs/carved/heldout.json --out runs/carved/val --no-baseline") {
		t.Fatalf("carved: %d %v", code, v)
	}
	held, err := task.ReadRecords(filepath.Join(s.ws.Root(), "runs/carved", fileHeldOut))
	want, _ := finetune.HeldOutRecords(filepath.Join(s.ws.Root(), "data/d/train.json"), 0.2, 5)
	if err != nil || len(held) != 10 || !slices.Equal(held, want) {
		t.Errorf("heldout.json: %d records (%v), want finetune's 10", len(held), err)
	}
	if code, v := post("withval"); code != 200 || !strings.Contains(v["command"].(string), "--data data/d/val.json") {
		t.Errorf("with val.json: %d %v", code, v)
	}
	if code, v := post("outside"); code != 400 {
		t.Errorf("a training file outside the workspace: %d %v", code, v)
	}
	if code, v := post("unfinished"); code != 409 {
		t.Errorf("no run.json yet: %d %v", code, v)
	}
	if w := do(s, "POST", "/api/runs/carved/val", "localhost", nil, nil); w.Code != 403 {
		t.Errorf("without the CSRF token: %d", w.Code)
	}
}

func TestRunsListMetrics(t *testing.T) {
	s := newTestServer(t, Config{})
	a, _ := twoRuns()
	writeReport(t, s, "r1", runReport, a)
	var runs []runSummary
	getJSON(t, s, "/api/runs", &runs)
	m, _ := eval.Compute(a)
	if len(runs) != 1 || runs[0].TestAccuracy == nil || *runs[0].TestAccuracy != m.Accuracy || runs[0].F1 == nil || *runs[0].F1 != *m.F1 ||
		runs[0].ROCAUC == nil || *runs[0].ROCAUC != *m.ROCAUC || *runs[0].Precision != *m.Precision || *runs[0].Recall != *m.Recall {
		t.Errorf("runs list %+v, want the report's metrics %+v", runs, m)
	}
}

// TestMistakesOfThreeClasses: a K-class report's mistakes are ranked by P(pred) and carry the
// class names; its threshold view is refused (a threshold is for two labels).
func TestMistakesOfThreeClasses(t *testing.T) {
	s := newTestServer(t, Config{})
	rows := `{"id":"a","text":"fine","label":"neutral","pred":"positive","prob_negative":0.1,"prob_neutral":0.3,"prob_positive":0.6}
{"id":"b","text":"awful","label":"negative","pred":"negative","prob_negative":0.8,"prob_neutral":0.1,"prob_positive":0.1}
{"id":"c","text":"meh","label":"neutral","pred":"negative","prob_negative":0.9,"prob_neutral":0.05,"prob_positive":0.05}
{"id":"d","text":"ok","label":"positive","pred":"neutral","prob_negative":0.3,"prob_neutral":0.4,"prob_positive":0.3}
`
	writeFile(t, s, "runs/k3/report/predictions.jsonl", rows)
	writeFile(t, s, "runs/k3/val/predictions.jsonl", rows)
	var got mistakesReply
	getJSON(t, s, "/api/runs/k3/mistakes", &got)
	if !slices.Equal(got.Classes, []string{"negative", "neutral", "positive"}) || got.N != 4 || got.Wrong != 3 || len(got.Shown) != 3 {
		t.Fatalf("%+v", got)
	}
	for i, want := range []struct {
		id    string
		label int
		pred  int
		conf  float64
	}{{"c", 1, 0, 0.9}, {"a", 1, 2, 0.6}, {"d", 2, 1, 0.4}} {
		m := got.Shown[i]
		if m.ID != want.id || m.Label != want.label || m.Pred != want.pred || math.Abs(m.Confidence-want.conf) > 1e-12 {
			t.Errorf("mistake %d: %+v, want %+v", i, m, want)
		}
	}
	if w := do(s, "GET", "/api/runs/k3/threshold", "localhost", nil, nil); w.Code != 409 || !strings.Contains(w.Body.String(), "3 classes") {
		t.Errorf("threshold view of a 3-class run: %d %s", w.Code, w.Body)
	}
}

// TestDeleteRun: a run and studio's record of it go; not while a job writes the run, its report or
// its validation scores.
func TestDeleteRun(t *testing.T) {
	sleeper := filepath.Join(t.TempDir(), "sleeper")
	os.WriteFile(sleeper, []byte("#!/bin/sh\nsleep 30\n"), 0o755)
	s := newTestServer(t, Config{Exe: sleeper})
	a, _ := twoRuns()
	writeReport(t, s, "r1", runReport, a)
	writeFile(t, s, ".studio/runs/r1.json", `{"model": "m", "data": "d"}`)
	csrf := map[string]string{csrfHeader: s.csrf}
	j, err := s.jobs.Submit("eval", "runs/r1/"+runVal, []string{"eval"})
	if err != nil {
		t.Fatal(err)
	}
	if w := do(s, "DELETE", "/api/runs/r1", "localhost", nil, csrf); w.Code != 409 {
		t.Errorf("DELETE while its validation split is scored: %d %s", w.Code, w.Body)
	}
	s.jobs.Stop(j.ID)
	if _, err := s.jobs.wait(j.ID, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if w := do(s, "DELETE", "/api/runs/..%2Fdata", "localhost", nil, csrf); w.Code != 400 {
		t.Errorf("DELETE of a path outside runs/: %d", w.Code)
	}
	if w := do(s, "DELETE", "/api/runs/r1", "localhost", nil, csrf); w.Code != 200 {
		t.Fatalf("DELETE: %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"runs/r1", ".studio/runs/r1.json"} {
		if _, err := os.Stat(filepath.Join(s.ws.Root(), p)); !os.IsNotExist(err) {
			t.Errorf("%s after DELETE: %v", p, err)
		}
	}
}
