package launch

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// The liveness channel of a data-parallel run: rank 0 listens, every other
// rank keeps one TCP connection to it. It carries the small agreements of a
// run (same settings, which checkpoint, ready, end) and heartbeats, and it is
// how a rank learns WHICH peer died: a killed process's connection closes at
// once, a hung or unreachable one stops answering heartbeats. Gloo or NCCL
// alone only see a broken connection or a timeout. Rank 0 relays each loss
// to the other ranks.

// PeerLostError says which rank of a data-parallel run stopped and why.
type PeerLostError struct {
	Rank, World int
	Reason      string
	Failed      bool // the rank reported an error (Reason) before leaving
}

func (e *PeerLostError) Error() string {
	if e.Failed {
		return fmt.Sprintf("rank %d of %d failed: %s", e.Rank, e.World, e.Reason)
	}
	return fmt.Sprintf("lost rank %d of %d: %s", e.Rank, e.World, e.Reason)
}

const (
	heartbeatEvery = 2 * time.Second
	// heartbeatLimit of silence makes a peer lost: long past any pause of a
	// live Go process, short enough to fail well within a minute.
	heartbeatLimit = 20 * time.Second
	reasonDied     = "its connection closed (the process died or was killed)"
)

// exitGrace is how long a rank that lost a peer gives its training loop to
// notice (at its next collective) before the process exits by itself.
var exitGrace = 15 * time.Second

// wdMsg is one line of the channel (JSON).
type wdMsg struct {
	Op   string `json:"op"` // hello, sync, go, fail, lost, ping, bye
	Rank int    `json:"rank"`
	// World, on hello.
	World int    `json:"world,omitempty"`
	Tag   string `json:"tag,omitempty"`
	Val   string `json:"val,omitempty"`
	Err   string `json:"err,omitempty"`
}

type wdConn struct {
	c   net.Conn
	mu  sync.Mutex
	enc *json.Encoder
	bye bool
}

func (c *wdConn) send(m wdMsg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(heartbeatLimit))
	return c.enc.Encode(m)
}

// Watchdog is one rank's end of the liveness channel.
type Watchdog struct {
	rank, world int
	ln          net.Listener     // rank 0
	peers       map[int]*wdConn  // rank 0: the workers; a worker: {0: rank 0}
	syncs       chan wdMsg       // rank 0: workers' sync; a worker: rank 0's go
	readers     sync.WaitGroup   // connection readers
	stop        chan struct{}    // closed by close
	mu          sync.Mutex       // guards the fields below and peers
	lost        *PeerLostError   // the first peer lost or failed
	down        chan struct{}    // closed when lost is set
	closing     bool             // a clean end: closed connections are expected
	failing     bool             // this rank told the others it fails: their leaving is expected
	done        bool             // Train has returned: no forced exit
	exitTimer   *time.Timer      // forced exit after a loss
	exit        func(msg string) // the forced exit
	tagSeq      int
	joinTimeout time.Duration
	joined      bool // every rank said hello: later hellos are turned away
}

func newWatchdog(rank, world int) *Watchdog {
	return &Watchdog{rank: rank, world: world, peers: map[int]*wdConn{}, syncs: make(chan wdMsg, world),
		stop: make(chan struct{}), down: make(chan struct{}), exit: watchdogExit}
}

// watchdogExit is the forced exit (a variable for tests).
var watchdogExit = forcedExit

// forcedExit ends a rank whose training loop is stuck in a long computation
// or in a collective that waits on a dead peer: the run cannot go on, and a
// launcher (torchrun, a Job, --nproc) must see it end within a minute.
func forcedExit(msg string) {
	fmt.Fprintf(os.Stderr, "finetune: %s (exiting)\n", msg)
	os.Exit(1)
}

// Join connects this rank to the channel: rank 0 listens on
// WatchPort and waits for every other rank to say hello; the others dial it.
func Join(env Env, timeout time.Duration) (*Watchdog, error) {
	w := newWatchdog(env.Rank, env.World)
	w.joinTimeout = timeout
	deadline := time.Now().Add(timeout)
	if env.Rank == 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(env.WatchPort)))
		if err != nil {
			return nil, fmt.Errorf("distributed: rank 0 cannot listen on port %d for the other ranks (%s): %w", env.WatchPort, EnvWatchPort, err)
		}
		w.ln = ln
		go w.accept()
	} else {
		wc, r, err := dialRank0(env, deadline, timeout)
		if err != nil {
			return nil, err
		}
		w.peers[0] = wc
		w.readers.Add(1)
		go w.read(0, wc, r)
	}
	go w.heartbeat()
	if _, err := w.exchangeUntil("join", "", nil, deadline); err != nil {
		w.Close(false)
		return nil, err
	}
	w.mu.Lock()
	w.joined = true
	w.mu.Unlock()
	return w, nil
}

// dialRank0 says hello to rank 0 until it is welcomed. A rank 0 that is
// still winding down an earlier, failed attempt answers "busy": a restarted
// worker then waits for the restarted rank 0 instead of failing.
func dialRank0(env Env, deadline time.Time, joinTimeout time.Duration) (*wdConn, *bufio.Reader, error) {
	addr := net.JoinHostPort(env.Addr, strconv.Itoa(env.WatchPort))
	var last error
	for {
		if time.Now().After(deadline) {
			return nil, nil, fmt.Errorf("distributed: rank %d could not join rank 0 at %s within %v: %v", env.Rank, addr, joinTimeout, last)
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			last = err
			time.Sleep(200 * time.Millisecond)
			continue
		}
		wc := &wdConn{c: c, enc: json.NewEncoder(c)}
		r := bufio.NewReader(c)
		var m wdMsg
		err = wc.send(wdMsg{Op: "hello", Rank: env.Rank, World: env.World})
		if err == nil {
			c.SetReadDeadline(time.Now().Add(heartbeatLimit))
			var line []byte
			if line, err = r.ReadBytes('\n'); err == nil {
				err = json.Unmarshal(line, &m)
			}
		}
		switch {
		case err == nil && m.Op == "welcome":
			return wc, r, nil
		case err == nil && m.Op == "fail":
			c.Close()
			return nil, nil, &PeerLostError{Rank: m.Rank, World: env.World, Reason: m.Err, Failed: true}
		case err == nil:
			last = fmt.Errorf("rank 0 is busy (%s)", m.Err)
		default:
			last = err
		}
		c.Close()
		time.Sleep(time.Second)
	}
}

// accept registers the workers' connections (rank 0).
func (w *Watchdog) accept() {
	for {
		c, err := w.ln.Accept()
		if err != nil {
			return // closed
		}
		go func() {
			r := bufio.NewReader(c)
			c.SetReadDeadline(time.Now().Add(heartbeatLimit))
			line, err := r.ReadBytes('\n')
			var m wdMsg
			if err == nil {
				err = json.Unmarshal(line, &m)
			}
			wc := &wdConn{c: c, enc: json.NewEncoder(c)}
			bad := ""
			switch {
			case err != nil || m.Op != "hello":
				c.Close()
				return
			case m.World != w.world:
				bad = fmt.Sprintf("rank %d says WORLD_SIZE=%d, rank 0 has %d", m.Rank, m.World, w.world)
			case m.Rank <= 0 || m.Rank >= w.world:
				bad = fmt.Sprintf("a process says it is rank %d of %d", m.Rank, w.world)
			}
			w.mu.Lock()
			if bad == "" && (w.joined || w.lost != nil || w.done) {
				w.mu.Unlock()
				wc.send(wdMsg{Op: "busy", Err: "this run has started or is ending; retry"})
				c.Close()
				return
			}
			if bad == "" && w.peers[m.Rank] != nil {
				bad = fmt.Sprintf("two processes say they are rank %d", m.Rank)
			}
			if bad == "" {
				w.peers[m.Rank] = wc
				w.readers.Add(1)
			}
			w.mu.Unlock()
			if bad == "" {
				if err := wc.send(wdMsg{Op: "welcome"}); err != nil {
					c.Close() // its reader sees the close and counts the rank as lost
				}
			}
			if bad != "" {
				wc.send(wdMsg{Op: "fail", Rank: 0, Err: bad})
				c.Close()
				w.lose(&PeerLostError{Rank: max(m.Rank, 0), World: w.world, Reason: bad, Failed: true})
				return
			}
			w.read(m.Rank, wc, r)
		}()
	}
}

// read handles one connection's messages until it closes.
func (w *Watchdog) read(rank int, wc *wdConn, r *bufio.Reader) {
	defer w.readers.Done()
	for {
		wc.c.SetReadDeadline(time.Now().Add(heartbeatLimit))
		line, err := r.ReadBytes('\n')
		var m wdMsg
		if err == nil {
			err = json.Unmarshal(line, &m)
		}
		if err != nil {
			w.mu.Lock()
			expected := w.closing || wc.bye
			w.mu.Unlock()
			if expected {
				return
			}
			why := reasonDied
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				why = fmt.Sprintf("no heartbeat for %v (hung, stopped or unreachable)", heartbeatLimit)
			}
			w.lose(&PeerLostError{Rank: rank, World: w.world, Reason: why})
			return
		}
		switch m.Op {
		case "sync", "go":
			w.syncs <- m
		case "fail": // from a worker: itself; from rank 0: itself or a relayed rank
			w.lose(&PeerLostError{Rank: m.Rank, World: w.world, Reason: m.Err, Failed: true})
		case "lost": // relayed by rank 0
			w.lose(&PeerLostError{Rank: m.Rank, World: w.world, Reason: m.Err})
		case "bye":
			w.mu.Lock()
			wc.bye = true
			w.mu.Unlock()
		}
	}
}

func (w *Watchdog) heartbeat() {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.mu.Lock()
			conns := make([]*wdConn, 0, len(w.peers))
			for _, c := range w.peers {
				conns = append(conns, c)
			}
			w.mu.Unlock()
			for _, c := range conns {
				c.send(wdMsg{Op: "ping", Rank: w.rank})
			}
		}
	}
}

// lose records the first lost peer, tells the other workers (rank 0), and
// arms the forced exit.
func (w *Watchdog) lose(e *PeerLostError) {
	w.mu.Lock()
	if w.lost != nil || w.closing || w.failing {
		w.mu.Unlock()
		return
	}
	w.lost = e
	close(w.down)
	if !w.done {
		w.exitTimer = time.AfterFunc(exitGrace, func() {
			w.mu.Lock()
			done := w.done
			w.mu.Unlock()
			if !done {
				w.exit(e.Error())
			}
		})
	}
	var relay []*wdConn
	if w.rank == 0 {
		for r, c := range w.peers {
			if r != e.Rank {
				relay = append(relay, c)
			}
		}
	}
	w.mu.Unlock()
	op := "lost"
	if e.Failed {
		op = "fail"
	}
	for _, c := range relay {
		c.send(wdMsg{Op: op, Rank: e.Rank, Err: e.Reason})
	}
}

// Alive is the lost peer's error, nil while every rank is running.
func (w *Watchdog) Alive() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost != nil {
		return w.lost
	}
	return nil
}

// Wait is the lost peer's error once one is known, waiting up to d for it.
func (w *Watchdog) Wait(d time.Duration) *PeerLostError {
	select {
	case <-w.down:
	case <-time.After(d):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// Exchange is a barrier that carries values: every rank offers val; rank 0
// checks each worker's with check (when not nil) and every rank gets rank 0's.
// It waits as long as every rank is alive.
func (w *Watchdog) Exchange(tag, val string, check func(rank int, v string) error) (string, error) {
	return w.exchangeUntil(tag, val, check, time.Time{})
}

func (w *Watchdog) exchangeUntil(tag, val string, check func(rank int, v string) error, deadline time.Time) (string, error) {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		timeout = timer.C
	}
	name := tag
	w.mu.Lock()
	w.tagSeq++
	tag = fmt.Sprintf("%d:%s", w.tagSeq, tag)
	w.mu.Unlock()
	if w.rank != 0 {
		if err := w.peers[0].send(wdMsg{Op: "sync", Rank: w.rank, Tag: tag, Val: val}); err != nil {
			if lost := w.Wait(3 * time.Second); lost != nil {
				return "", lost
			}
			return "", fmt.Errorf("distributed: rank %d: send to rank 0: %w", w.rank, err)
		}
		select {
		case m := <-w.syncs:
			if m.Tag != tag {
				return "", fmt.Errorf("distributed: rank %d at %q, rank 0 at %q", w.rank, tag, m.Tag)
			}
			if name == "end" {
				w.mu.Lock()
				w.closing = true
				w.mu.Unlock()
			}
			return m.Val, nil
		case <-w.down:
			return "", w.Alive()
		case <-timeout:
			return "", fmt.Errorf("distributed: rank %d: rank 0 did not start the run within %v", w.rank, w.joinTimeout)
		}
	}
	got := map[int]bool{}
	for len(got) < w.world-1 {
		select {
		case m := <-w.syncs:
			if m.Tag != tag {
				err := fmt.Errorf("rank %d is at %q while rank 0 is at %q", m.Rank, m.Tag, tag)
				w.lose(&PeerLostError{Rank: m.Rank, World: w.world, Reason: err.Error(), Failed: true})
				return "", err
			}
			if check != nil {
				if err := check(m.Rank, m.Val); err != nil {
					// Every rank stops with rank 0's account of it.
					w.Fail(err)
					return "", err
				}
			}
			got[m.Rank] = true
		case <-w.down:
			return "", w.Alive()
		case <-timeout:
			var missing []int
			w.mu.Lock()
			for r := 1; r < w.world; r++ {
				if !got[r] {
					missing = append(missing, r)
				}
			}
			w.mu.Unlock()
			return "", fmt.Errorf("distributed: rank 0: ranks %v did not join within %v (check WORLD_SIZE, MASTER_ADDR and that port %s is reachable)",
				missing, w.joinTimeout, w.ln.Addr())
		}
	}
	w.mu.Lock()
	if name == "end" {
		w.closing = true // every rank is done: connections may close now
	}
	conns := make([]*wdConn, 0, len(w.peers))
	for _, c := range w.peers {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	for _, c := range conns {
		if err := c.send(wdMsg{Op: "go", Rank: 0, Tag: tag, Val: val}); err != nil {
			if lost := w.Wait(3 * time.Second); lost != nil {
				return "", lost
			}
		}
	}
	return val, nil
}

// Fail tells the other ranks that this one stops because of err, unless err
// is itself another rank's loss (they learn that one from rank 0).
func (w *Watchdog) Fail(err error) {
	var lost *PeerLostError
	if errors.As(err, &lost) {
		return
	}
	w.mu.Lock()
	// Peers leave once told; their closed connections must not reach the others as a second, racing
	// "lost rank N" story ahead of this rank's own account.
	w.failing = true
	conns := make([]*wdConn, 0, len(w.peers))
	for _, c := range w.peers {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	for _, c := range conns {
		c.send(wdMsg{Op: "fail", Rank: w.rank, Err: err.Error()})
	}
}

// Close ends the channel; after a clean end (all ranks passed "end") rank 0
// waits briefly for the workers to leave first.
func (w *Watchdog) Close(clean bool) {
	w.mu.Lock()
	w.done = true
	if clean {
		w.closing = true
	}
	if w.exitTimer != nil {
		w.exitTimer.Stop()
	}
	conns := make([]*wdConn, 0, len(w.peers))
	for _, c := range w.peers {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	select {
	case <-w.stop:
		return
	default:
		close(w.stop)
	}
	if clean && w.rank != 0 {
		conns[0].send(wdMsg{Op: "bye", Rank: w.rank})
	}
	if clean && w.rank == 0 {
		done := make(chan struct{})
		go func() { w.readers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	if w.ln != nil {
		w.ln.Close()
	}
	for _, c := range conns {
		c.c.Close()
	}
}
