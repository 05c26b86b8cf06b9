package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ExitPeerFailed is the exit status of a worker that stopped only because
// another rank failed or was lost (a *PeerLostError); a launcher then names
// the other rank.
const ExitPeerFailed = 3

// RankError says which worker of a local launch failed first.
type RankError struct {
	Rank, World int
	Pid         int
	Err         error  // from exec: exit status or signal
	Others      string // how the other ranks ended
}

func (e *RankError) Error() string {
	msg := fmt.Sprintf("rank %d of %d (pid %d) failed: %v", e.Rank, e.World, e.Pid, e.Err)
	if e.Others != "" {
		msg += "; " + e.Others
	}
	return msg
}

func (e *RankError) Unwrap() error { return e.Err }

// grace is how long the other workers get to stop by themselves (they
// notice a dead peer within seconds) before they are killed.
var grace = 20 * time.Second

// Local runs nproc copies of exe with args on this machine, each with
// the torchrun environment of its rank (RANK, LOCAL_RANK, WORLD_SIZE,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, SENTITUNE_WATCH_PORT; free
// loopback ports unless MASTER_PORT is set), and waits for them. Rank 0
// writes to stdout and stderr as they are; the others' lines get a
// "[rank N] " prefix. Each worker runs in its own process group; SIGINT and
// SIGTERM are passed on, and workers die with the launcher. When a worker
// fails, the others get grace to stop, then are killed, and the error
// (a *RankError) names the first rank that failed of itself (an exit status
// other than ExitPeerFailed), else the first that failed.
func Local(nproc int, exe string, args []string, stdout, stderr io.Writer) error {
	if nproc < 1 {
		return fmt.Errorf("nproc must be at least 1, got %d", nproc)
	}
	addr := os.Getenv(EnvMasterAddr)
	if addr == "" {
		addr = "127.0.0.1"
	}
	port, watch := os.Getenv(EnvMasterPort), os.Getenv(EnvWatchPort)
	if port == "" {
		ports, err := freePorts(2)
		if err != nil {
			return fmt.Errorf("launch: %w", err)
		}
		port, watch = strconv.Itoa(ports[0]), strconv.Itoa(ports[1])
	}
	base := os.Environ()
	var mu sync.Mutex // one line at a time on the shared writers
	type exit struct {
		rank int
		err  error
	}
	exits := make(chan exit, nproc)
	cmds := make([]*exec.Cmd, nproc)
	var flush []func()
	for r := 0; r < nproc; r++ {
		cmd := exec.Command(exe, args...)
		env := append([]string{}, base...)
		env = append(env, EnvRank+"="+strconv.Itoa(r), EnvLocalRank+"="+strconv.Itoa(r), EnvWorldSize+"="+strconv.Itoa(nproc),
			EnvLocalWorld+"="+strconv.Itoa(nproc), EnvMasterAddr+"="+addr, EnvMasterPort+"="+port)
		if watch != "" {
			env = append(env, EnvWatchPort+"="+watch)
		}
		cmd.Env = env
		// Its own process group, so a kill reaches whatever it started; it dies with the launcher.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.WaitDelay = 2 * time.Second // output pipes held open by a killed worker's children
		prefix := fmt.Sprintf("[rank %d] ", r)
		_, file0 := stdout.(*os.File)
		_, file1 := stderr.(*os.File)
		if r == 0 && file0 && file1 {
			cmd.Stdout, cmd.Stderr = stdout, stderr // a terminal keeps rank 0's progress bar
		} else {
			if r == 0 {
				prefix = ""
			}
			o, e := &prefixWriter{w: stdout, mu: &mu, prefix: prefix}, &prefixWriter{w: stderr, mu: &mu, prefix: prefix}
			cmd.Stdout, cmd.Stderr = o, e
			flush = append(flush, o.flush, e.flush)
		}
		if err := cmd.Start(); err != nil {
			for _, c := range cmds[:r] {
				c.Process.Kill()
				c.Wait()
			}
			return fmt.Errorf("launch rank %d: %w", r, err)
		}
		cmds[r] = cmd
		go func(r int) { exits <- exit{r, cmd.Wait()} }(r)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var first, follower *RankError // the first failure; the first of a rank that only followed another's
	var interrupted os.Signal
	states := make([]string, nproc)
	var kill <-chan time.Time
	killed := false
	for left := nproc; left > 0; {
		select {
		case e := <-exits:
			left--
			if e.err == nil {
				states[e.rank] = fmt.Sprintf("rank %d finished", e.rank)
				continue
			}
			states[e.rank] = fmt.Sprintf("rank %d: %v", e.rank, e.err)
			if interrupted != nil || killed {
				continue
			}
			re := &RankError{Rank: e.rank, World: nproc, Pid: cmds[e.rank].Process.Pid, Err: e.err}
			var ee *exec.ExitError
			switch {
			case errors.As(e.err, &ee) && ee.ExitCode() == ExitPeerFailed:
				if follower == nil {
					follower = re
				}
			case first == nil:
				first = re
			}
			if kill == nil {
				kill = time.After(grace)
			}
		case s := <-sigs:
			interrupted = s
			for _, c := range cmds {
				c.Process.Signal(s)
			}
			kill = time.After(grace)
		case <-kill:
			for r, c := range cmds {
				if states[r] == "" {
					syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				}
			}
			kill, killed = nil, true
		}
	}
	for _, f := range flush {
		f()
	}
	if interrupted != nil {
		return fmt.Errorf("interrupted (%v)", interrupted)
	}
	if first == nil {
		first = follower
	}
	if first != nil {
		var others []string
		for r, s := range states {
			if r != first.Rank {
				others = append(others, s)
			}
		}
		first.Others = strings.Join(others, ", ")
		return first
	}
	return nil
}

// freePorts asks the kernel for n distinct free TCP ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return nil, errors.New("no free port: " + err.Error())
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// prefixWriter writes whole lines, each with a prefix, under a shared lock.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		// A progress bar redraws with \r: treat it as a line end too.
		i := bytes.IndexAny(p.buf, "\n\r")
		if i < 0 {
			break
		}
		line := p.buf[:i+1]
		if len(bytes.TrimSpace(line)) > 0 {
			p.mu.Lock()
			_, err := p.w.Write(append([]byte(p.prefix), bytes.TrimRight(line, "\r")...))
			if line[len(line)-1] == '\r' {
				p.w.Write([]byte("\n"))
			}
			p.mu.Unlock()
			if err != nil {
				return len(b), err
			}
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.buf) > 0 {
		p.mu.Lock()
		p.w.Write(append(append([]byte(p.prefix), p.buf...), '\n'))
		p.mu.Unlock()
		p.buf = nil
	}
}
