package studio

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sentitune/sentitune/finetune"
	"github.com/sentitune/sentitune/prep"
)

// A job is a child in its own process group, so it outlives the studio that started it (a
// closed terminal, Ctrl-C, SIGTERM); the next studio finds it by PID and start time, follows it
// to its end and reads how it ended from what it wrote.

// adoptPoll is how often a job started by an earlier studio is checked for having ended.
const adoptPoll = 300 * time.Millisecond

// processStart is a live process's start time in clock ticks since boot (field 22 of
// /proc/PID/stat), or 0 when there is no such process or it is a zombie.
func processStart(pid int) uint64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// the command name (field 2) may hold spaces and parentheses: count fields after its last ')'
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0
	}
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return start
}

// adopt follows a job an earlier studio started until its process is gone, then settles it.
func (q *queue) adopt(j *Job) {
	for processStart(j.PID) == j.PIDStart {
		time.Sleep(adoptPoll)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settle(j)
}

// settle records how a job ended whose exit status studio never saw: done when it wrote its
// last file after it started, interrupted otherwise. The caller holds q.mu (or owns q).
func (q *queue) settle(j *Job) {
	j.State, j.Ended = jobInterrupted, time.Now()
	if st, err := os.Stat(filepath.Join(q.ws.Root(), filepath.FromSlash(finalFile(*j)))); err == nil &&
		!st.ModTime().Before(j.Started.Add(-time.Second)) && !j.Started.IsZero() {
		j.State = jobDone
	}
	q.save(j)
}

// finalFile is the workspace-relative file a job of its kind writes last, when it succeeds.
func finalFile(j Job) string {
	switch j.Kind {
	case "finetune":
		return j.Out + "/" + finetune.FileRun
	case "prep":
		return j.Out + "/" + prep.FileStats
	case "eval":
		return j.Out + "/metrics.json"
	case "init-model":
		return j.Out + "/config.json"
	}
	return j.Out // predict: the predictions file itself
}

// logWriter is the PID of a finetune process that holds path open for writing (one started from
// the command line writing its train_log.jsonl), or 0.
func logWriter(path string) int { return writers.get()[path] }

// writers caches, for a second, the files finetune processes hold open for writing: the runs
// list and each live view ask for every run, and one pass over /proc costs milliseconds.
var writers = &writerCache{}

type writerCache struct {
	mu    sync.Mutex
	at    time.Time
	files map[string]int
}

func (c *writerCache) get() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > time.Second {
		c.files, c.at = finetuneWrites(), time.Now()
	}
	return c.files
}

// finetuneWrites maps each file a sentitune finetune process holds open for writing to its PID.
// It reads /proc: only this user's processes are visible, which are the ones that can write the
// workspace anyway.
func finetuneWrites() map[string]int {
	out := map[string]int{}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self || !isFinetune(p.Name()) {
			continue
		}
		fdDir := "/proc/" + p.Name() + "/fd"
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			if target, err := os.Readlink(fdDir + "/" + fd.Name()); err == nil && filepath.IsAbs(target) && openForWriting(p.Name(), fd.Name()) {
				out[target] = pid
			}
		}
	}
	return out
}

// isFinetune reports whether a process's command line has a finetune argument (sentitune
// finetune, its --nproc workers): only those have their open files read.
func isFinetune(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/cmdline")
	return err == nil && slices.Contains(strings.Split(string(b), "\x00"), "finetune")
}

// openForWriting reads the access mode of a process's open file from /proc/PID/fdinfo/FD.
func openForWriting(pid, fd string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/fdinfo/" + fd)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return err == nil && flags&3 != 0 // O_WRONLY or O_RDWR
		}
	}
	return false
}
