package studio

import (
	"bufio"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSentitune is a stand-in binary: it records start and end of each run in a shared log and
// sleeps, so overlapping jobs would show as two starts in a row.
func fakeSentitune(t *testing.T) (exe, log string) {
	dir := t.TempDir()
	exe, log = filepath.Join(dir, "sentitune"), filepath.Join(dir, "calls.log")
	script := "#!/bin/sh\necho start \"$*\" >> " + log + "\nsleep 0.3\necho end >> " + log + "\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe, log
}

func TestJobsRunOneAtATimeAndSurviveRestart(t *testing.T) {
	exe, log := fakeSentitune(t)
	ws := filepath.Join(t.TempDir(), "ws")
	s := newTestServer(t, Config{Workspace: ws, Exe: exe})
	var ids []string
	for _, out := range []string{"data/a", "data/b", "data/c"} {
		j, err := s.jobs.Submit("prep", out, []string{"prep", "--out", out})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	if !s.jobs.Busy("data/c") {
		t.Error("a queued job's output is not busy")
	}
	for _, id := range ids {
		if j, err := s.jobs.wait(id, 10*time.Second); err != nil || j.State != jobDone {
			t.Fatalf("job %s: %+v %v", id, j, err)
		}
	}
	b, _ := os.ReadFile(log)
	want := "start prep --out data/a\nend\nstart prep --out data/b\nend\nstart prep --out data/c\nend\n"
	if string(b) != want {
		t.Errorf("calls:\n%s\nwant one at a time, in order:\n%s", b, want)
	}

	// a job that was running when studio ended is found again, as interrupted
	rec := filepath.Join(ws, dirStudio, "jobs", ids[0]+".json")
	data, _ := os.ReadFile(rec)
	os.WriteFile(rec, []byte(strings.Replace(string(data), `"state": "done"`, `"state": "running"`, 1)), 0o644)
	again := newTestServer(t, Config{Workspace: ws, Exe: exe})
	jobs := again.jobs.Jobs()
	if len(jobs) != 3 || jobs[0].ID != ids[0] || jobs[0].State != jobInterrupted || jobs[2].State != jobDone {
		t.Errorf("after restart: %+v", jobs)
	}
}

func TestStopQueuedJob(t *testing.T) {
	exe, log := fakeSentitune(t)
	s := newTestServer(t, Config{Exe: exe})
	first, _ := s.jobs.Submit("prep", "data/a", []string{"prep", "a"})
	second, _ := s.jobs.Submit("prep", "data/b", []string{"prep", "b"})
	w := do(s, "POST", "/api/jobs/"+second.ID+"/stop", "localhost", nil, map[string]string{csrfHeader: s.csrf})
	if w.Code != 200 {
		t.Fatalf("stop: %d %s", w.Code, w.Body)
	}
	s.jobs.wait(first.ID, 10*time.Second)
	if j, _ := s.jobs.wait(second.ID, time.Second); j.State != jobStopped {
		t.Errorf("stopped job is %s", j.State)
	}
	time.Sleep(500 * time.Millisecond)
	if b, _ := os.ReadFile(log); strings.Contains(string(b), "prep b") {
		t.Error("a stopped queued job ran")
	}
}

func TestRunEventsStreamTrainLog(t *testing.T) {
	s := newTestServer(t, Config{})
	run := filepath.Join(s.ws.Root(), dirRuns, "r1")
	os.MkdirAll(run, 0o755)
	lines := `{"step":1,"split":"train","loss":2.5,"lr":0.001,"elapsed_s":1}` + "\n" +
		`{"step":1,"split":"eval","loss":2.1,"accuracy":0.75,"lr":0.001,"elapsed_s":1}` + "\n" +
		`{"step":2,"split":"train","loss":1.5,"lr":0.0005,"elap` // a line still being written
	os.WriteFile(filepath.Join(run, "train_log.jsonl"), []byte(lines), 0o644)
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/runs/r1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	var data []string
	ended := false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && !ended {
			data = append(data, d)
		}
		if sc.Text() == "event: end" {
			ended = true
		}
	}
	if !ended || len(data) != 2 || !strings.Contains(data[1], `"accuracy":0.75`) {
		t.Errorf("events %q, ended %v: want the two whole lines then end", data, ended)
	}
	sum := s.summarize("r1")
	if sum.Steps != 1 || *sum.Loss != 2.5 || *sum.EvalAccuracy != 0.75 || sum.State != "partial" {
		t.Errorf("summary %+v", sum)
	}
}

// A job the queue has already picked (next) but not started when Stop marks it stopped is never
// started: the window TestDeleteRun once hit, when a `sleep 30` job then ran after being stopped.
func TestStopBetweenPickAndStart(t *testing.T) {
	exe, log := fakeSentitune(t)
	s := newTestServer(t, Config{Exe: exe})
	blocker, _ := s.jobs.Submit("prep", "data/a", []string{"prep", "a"})
	s.jobs.wait(blocker.ID, 10*time.Second)
	j := &Job{ID: "picked-1", Kind: "prep", State: jobQueued, Args: []string{"prep", "picked"}}
	s.jobs.mu.Lock()
	s.jobs.jobs = append(s.jobs.jobs, j)
	s.jobs.mu.Unlock()
	if err := s.jobs.Stop(j.ID); err != nil {
		t.Fatal(err)
	}
	s.jobs.run(j) // what loop does with the job next() returned before Stop
	if j.State != jobStopped || j.PID != 0 {
		t.Errorf("stopped job ran: state %s, pid %d", j.State, j.PID)
	}
	if b, _ := os.ReadFile(log); strings.Contains(string(b), "prep picked") {
		t.Error("a stopped job's process started")
	}
}
