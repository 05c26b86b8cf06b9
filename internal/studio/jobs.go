package studio

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// Job states.
const (
	jobQueued      = "queued"
	jobRunning     = "running"
	jobDone        = "done"
	jobFailed      = "failed"
	jobStopped     = "stopped"
	jobInterrupted = "interrupted" // studio ended while it ran
)

// Job is one sentitune command run as a child process: the run itself is the ordinary CLI command.
type Job struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"` // prep, finetune, eval, predict, init-model
	Args    []string  `json:"args"` // after the sentitune binary
	Out     string    `json:"out"`  // workspace-relative folder or file it writes
	State   string    `json:"state"`
	Error   string    `json:"error,omitempty"`
	Created time.Time `json:"created"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	PID     int       `json:"pid,omitempty"`
	// PIDStart is the process's start time in clock ticks since boot (/proc/PID/stat), so a
	// restarted studio tells its job from another process that got the same PID.
	PIDStart uint64 `json:"pid_start,omitempty"`
}

// queue runs jobs one at a time (one device), in the order they were submitted; each job's record
// is a file under .studio/jobs, so a restarted studio lists them again.
type queue struct {
	exe  string
	ws   Workspace
	mu   sync.Mutex
	jobs []*Job
	cmd  map[string]*exec.Cmd
	wake chan struct{}
	seq  int
}

func newQueue(exe string, ws Workspace) (*queue, error) {
	q := &queue{exe: exe, ws: ws, cmd: map[string]*exec.Cmd{}, wake: make(chan struct{}, 1)}
	dir := q.dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	entries, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range entries {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var j Job
		if err := json.Unmarshal(b, &j); err != nil {
			return nil, fmt.Errorf("job record %s: %w", p, err)
		}
		q.jobs = append(q.jobs, &j)
		q.seq++
	}
	sort.Slice(q.jobs, func(a, b int) bool { return q.jobs[a].Created.Before(q.jobs[b].Created) })
	for _, j := range q.jobs {
		if j.State != jobRunning {
			continue
		}
		if processStart(j.PID) == j.PIDStart && j.PIDStart != 0 {
			go q.adopt(j) // it outlived the studio that started it: follow it to its end
		} else {
			q.settle(j)
		}
	}
	go q.loop()
	return q, nil
}

func (q *queue) dir() string { return filepath.Join(q.ws.Root(), dirStudio, "jobs") }

// LogPath is the file a job's stdout and stderr go to.
func (q *queue) LogPath(id string) string { return filepath.Join(q.dir(), id+".log") }

// Submit queues a job and returns its record.
func (q *queue) Submit(kind, out string, args []string) (*Job, error) {
	q.mu.Lock()
	q.seq++
	j := &Job{ID: fmt.Sprintf("%s-%d-%d", kind, time.Now().Unix(), q.seq), Kind: kind, Args: args, Out: out,
		State: jobQueued, Created: time.Now()}
	q.jobs = append(q.jobs, j)
	err := q.save(j)
	q.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return j, nil
}

// save writes a job's record; the caller holds q.mu.
func (q *queue) save(j *Job) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(q.dir(), j.ID+".json"), func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// Jobs is a snapshot of every job, oldest first.
func (q *queue) Jobs() []Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Job, len(q.jobs))
	for i, j := range q.jobs {
		out[i] = *j
	}
	return out
}

// Busy reports whether a job writing out is queued or running.
func (q *queue) Busy(out string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.jobs {
		if j.Out == out && (j.State == jobQueued || j.State == jobRunning) {
			return true
		}
	}
	return false
}

// Stop cancels a queued job or interrupts a running one (SIGINT: finetune writes what it has).
func (q *queue) Stop(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.jobs {
		if j.ID != id {
			continue
		}
		switch j.State {
		case jobQueued:
			j.State, j.Ended = jobStopped, time.Now()
			return q.save(j)
		case jobRunning:
			// SIGINT to the job's process group, as Ctrl-C on a terminal: finetune --nproc's workers too
			if c := q.cmd[id]; c != nil && c.Process != nil {
				return syscall.Kill(-c.Process.Pid, syscall.SIGINT)
			}
			if j.PIDStart != 0 && processStart(j.PID) == j.PIDStart { // adopted from an earlier studio
				return syscall.Kill(-j.PID, syscall.SIGINT)
			}
		}
		return fmt.Errorf("job %s is %s", id, j.State)
	}
	return fmt.Errorf("no job %s", id)
}

func (q *queue) next() *Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.jobs {
		if j.State == jobQueued {
			return j
		}
	}
	return nil
}

func (q *queue) loop() {
	for {
		j := q.next()
		if j == nil {
			<-q.wake
			continue
		}
		q.run(j)
	}
}

// run runs one job to its end; stopped jobs end with the state stopped.
func (q *queue) run(j *Job) {
	logf, err := os.Create(q.LogPath(j.ID))
	q.mu.Lock()
	if j.State != jobQueued { // stopped between next() and here: never start it
		q.mu.Unlock()
		if err == nil {
			logf.Close()
		}
		return
	}
	if err != nil {
		j.State, j.Error = jobFailed, err.Error()
		q.save(j)
		q.mu.Unlock()
		return
	}
	c := exec.Command(q.exe, j.Args...)
	c.Dir = q.ws.Root()
	c.Stdout, c.Stderr = logf, logf
	// its own process group: Ctrl-C on studio's terminal does not reach it, and it outlives studio
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	j.State, j.Started = jobRunning, time.Now()
	if err := c.Start(); err != nil {
		j.State, j.Error, j.Ended = jobFailed, err.Error(), time.Now()
		q.save(j)
		q.mu.Unlock()
		logf.Close()
		return
	}
	j.PID = c.Process.Pid
	j.PIDStart = processStart(j.PID)
	q.cmd[j.ID] = c
	q.save(j)
	q.mu.Unlock()

	err = c.Wait()
	logf.Close()
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.cmd, j.ID)
	j.Ended = time.Now()
	switch {
	case err == nil:
		j.State = jobDone
	case c.ProcessState != nil && c.ProcessState.ExitCode() == 130,
		c.ProcessState != nil && !c.ProcessState.Exited():
		j.State, j.Error = jobStopped, err.Error()
	default:
		j.State, j.Error = jobFailed, err.Error()
	}
	q.save(j)
}

// wait blocks until job id has ended (tests, synchronous scoring).
func (q *queue) wait(id string, timeout time.Duration) (Job, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, j := range q.Jobs() {
			if j.ID == id && j.State != jobQueued && j.State != jobRunning {
				return j, nil
			}
		}
		if time.Now().After(deadline) {
			return Job{}, fmt.Errorf("job %s still running after %v", id, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
