package studio

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperWorkspace, set in the environment, makes this test binary a studio that starts one job
// and serves until it is signalled (see startStudioProcess).
const helperWorkspace = "STUDIO_TEST_HELPER_WS"

// TestJobOutlivesStudio: a job's process keeps running when its studio ends by Ctrl-C (SIGINT to
// the terminal's process group) or SIGTERM; the next studio finds it running, follows it and
// records how it ended: done when it wrote its last file, interrupted when it died first.
func TestJobOutlivesStudio(t *testing.T) {
	if ws := os.Getenv(helperWorkspace); ws != "" {
		runHelperStudio(ws, os.Getenv("STUDIO_TEST_HELPER_EXE"))
		return
	}
	for _, tc := range []struct {
		name      string
		signal    syscall.Signal
		killChild bool // the job dies while no studio watches it
		stop      bool // the next studio stops it
		want      string
	}{
		{"ctrl-c, job finishes", syscall.SIGINT, false, false, jobDone},
		{"sigterm, job finishes", syscall.SIGTERM, false, false, jobDone},
		{"ctrl-c, job dies while studio is away", syscall.SIGINT, true, false, jobInterrupted},
		{"ctrl-c, the next studio stops the job", syscall.SIGINT, false, true, jobInterrupted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := filepath.Join(t.TempDir(), "ws")
			exe := filepath.Join(t.TempDir(), "sentitune")
			// a stand-in for sentitune prep: it works for a while, then writes its last file
			script := "#!/bin/sh\nsleep 1.5\nmkdir -p data/x && echo '{}' > data/x/stats.json\n"
			if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			studio := startStudioProcess(t, ws, exe)
			if err := syscall.Kill(-studio.Process.Pid, tc.signal); err != nil { // the whole group, as a terminal does
				t.Fatal(err)
			}
			studio.Wait()

			s := newTestServer(t, Config{Workspace: ws, Exe: exe})
			jobs := s.jobs.Jobs()
			if len(jobs) != 1 || jobs[0].State != jobRunning || processStart(jobs[0].PID) == 0 {
				t.Fatalf("after studio ended: %+v; want its job still running", jobs)
			}
			if !s.jobs.Busy("data/x") {
				t.Error("the adopted job's output is not busy")
			}
			if tc.killChild {
				syscall.Kill(jobs[0].PID, syscall.SIGKILL)
			}
			stopped := time.Now()
			if tc.stop {
				if err := s.jobs.Stop(jobs[0].ID); err != nil {
					t.Fatal(err)
				}
			}
			j, err := s.jobs.wait(jobs[0].ID, 10*time.Second)
			if err != nil || j.State != tc.want {
				t.Fatalf("job ended %+v, %v; want %s", j, err, tc.want)
			}
			if tc.stop && time.Since(stopped) > time.Second {
				t.Errorf("the stopped job ran on for %v: SIGINT did not reach its process group", time.Since(stopped))
			}
			again := newTestServer(t, Config{Workspace: ws, Exe: exe})
			if j := again.jobs.Jobs()[0]; j.State != tc.want {
				t.Errorf("a third studio reads the job as %s, want %s", j.State, tc.want)
			}
		})
	}
}

// startStudioProcess runs this test binary as a studio in its own process group (a terminal's
// foreground job) and returns once its one job runs.
func startStudioProcess(t *testing.T, ws, exe string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^TestJobOutlivesStudio$")
	c.Env = append(os.Environ(), helperWorkspace+"="+ws, "STUDIO_TEST_HELPER_EXE="+exe)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "running" {
		t.Fatalf("helper studio said %q", line)
	}
	return c
}

// runHelperStudio is the studio process: it submits one job, says "running" once it runs, and
// waits to be signalled.
func runHelperStudio(ws, exe string) {
	s, err := New(Config{Workspace: ws, Exe: exe})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	j, err := s.jobs.Submit("prep", "data/x", []string{"prep", "--out", "data/x"})
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	for {
		if s.jobs.Jobs()[0].State == jobRunning && j.ID != "" {
			fmt.Println("running")
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Hour) // until signalled
}

// TestCLIRunShowsUpLive: a finetune started from the command line (here a process holding the
// run's train_log.jsonl open for writing) shows as running, and its live view streams the lines
// it writes until it ends.
func TestCLIRunShowsUpLive(t *testing.T) {
	s := newTestServer(t, Config{})
	run := filepath.Join(s.ws.Root(), dirRuns, "cli")
	os.MkdirAll(run, 0o755)
	logPath := filepath.Join(run, "train_log.jsonl")
	os.WriteFile(logPath, []byte(`{"step":1,"split":"train","loss":2.5,"lr":0.001,"elapsed_s":1}`+"\n"), 0o644)
	if got := s.summarize("cli").State; got != "partial" {
		t.Fatalf("a run nobody writes is %s", got)
	}
	// its command line has the word finetune, as sentitune finetune's has
	writer := exec.Command("sh", "-c", `exec 3>>"$1"; sleep 1; echo '{"step":2,"split":"train","loss":1.5,"lr":0.001,"elapsed_s":2}' >&3; sleep 0.5`, "finetune", logPath)
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	defer writer.Wait()
	for deadline := time.Now().Add(3 * time.Second); logWriter(logPath) != writer.Process.Pid; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the writer %d of %s is not found", writer.Process.Pid, logPath)
		}
	}
	if got := s.summarize("cli").State; got != jobRunning {
		t.Errorf("a run being written is %s, want running", got)
	}
	if pid := logWriter(filepath.Join(run, "other.jsonl")); pid != 0 {
		t.Errorf("another file's writer is %d", pid)
	}
	w := do(s, "GET", "/api/runs/cli/events", "localhost", nil, nil)
	var steps []string
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, "step") {
			steps = append(steps, d[:9])
		}
	}
	if len(steps) != 2 || !strings.HasSuffix(w.Body.String(), "event: end\ndata: {}\n\n") {
		t.Errorf("events %q: want both steps, the second written while streaming, then end", w.Body.String())
	}
}
