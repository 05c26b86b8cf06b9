package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/studio"
)

// failedJobLogLines is how much of a failed job's log failedJob shows.
const failedJobLogLines = 30

// failedJob describes the first job of the studio at url that failed, was stopped or was
// interrupted: its kind, output, error and the last lines of its log; "" while none has, so a
// browser test stops at once instead of waiting out its timeout.
func failedJob(url string) string {
	resp, err := http.Get(url + "/api/state")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var state struct {
		Jobs []struct{ ID, Kind, Out, State, Error string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		return ""
	}
	for _, j := range state.Jobs {
		if j.State != "failed" && j.State != "stopped" && j.State != "interrupted" {
			continue
		}
		tail := "(no log)"
		if resp, err := http.Get(url + "/api/jobs/" + j.ID + "/log"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			tail = strings.Join(lines[max(0, len(lines)-failedJobLogLines):], "\n")
		}
		return fmt.Sprintf("job %s (%s -> %s) %s: %s; its log ends:\n%s", j.ID, j.Kind, j.Out, j.State, j.Error, tail)
	}
	return ""
}

// TestFailedJobShowsLogTail: failedJob names a job that failed with its log's last lines (the
// demo model's init-model job, run by a stand-in that exits 3), and nothing when jobs succeed.
func TestFailedJobShowsLogTail(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         []string
	}{
		{"fails", "echo 'loading the preset' >&2\necho 'init-model: boom at layer 7' >&2\nexit 3\n",
			[]string{"(init-model -> models/demo) failed", "exit status 3", "loading the preset\ninit-model: boom at layer 7"}},
		{"succeeds", "exit 0\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			exe := filepath.Join(dir, "stand-in")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"+tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			srv, err := studio.New(studio.Config{Workspace: filepath.Join(dir, "ws"), Exe: exe, Demo: true})
			if err != nil {
				t.Fatal(err)
			}
			web := httptest.NewServer(srv)
			defer web.Close()
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !jobsEnded(t, web.URL); {
				time.Sleep(100 * time.Millisecond)
			}
			got := failedJob(web.URL)
			if tc.want == nil && got != "" {
				t.Errorf("a job that succeeded reported as %q", got)
			}
			for _, s := range tc.want {
				if !strings.Contains(got, s) {
					t.Errorf("failedJob = %q, lacks %q", got, s)
				}
			}
		})
	}
}

// jobsEnded reports whether the studio at url has jobs and none is queued or running.
func jobsEnded(t *testing.T, url string) bool {
	t.Helper()
	resp, err := http.Get(url + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var state struct{ Jobs []struct{ State string } }
	if err := json.NewDecoder(resp.Body).Decode(&state); err != nil {
		t.Fatal(err)
	}
	for _, j := range state.Jobs {
		if j.State == "queued" || j.State == "running" {
			return false
		}
	}
	return len(state.Jobs) > 0
}
