package launch

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEnvFrom(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want Env
		err  string
	}{
		{"alone", nil, Env{World: 1, LocalWorld: 1}, ""},
		{"world 1 ignores the rest", map[string]string{"WORLD_SIZE": "1", "RANK": "0", "MASTER_PORT": "x"}, Env{World: 1, LocalWorld: 1}, ""},
		{"torchrun, one machine", map[string]string{"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "2", "LOCAL_WORLD_SIZE": "4", "MASTER_ADDR": "node0", "MASTER_PORT": "29500"},
			Env{Rank: 2, World: 4, LocalRank: 2, LocalWorld: 4, Addr: "node0", StorePort: 29500, WatchPort: 29501}, ""},
		{"torchrun agent holds MASTER_PORT", map[string]string{"WORLD_SIZE": "2", "RANK": "1", "MASTER_PORT": "29500", "TORCHELASTIC_USE_AGENT_STORE": "True"},
			Env{Rank: 1, World: 2, LocalWorld: 1, Addr: "127.0.0.1", StorePort: 29501, WatchPort: 29502}, ""},
		{"explicit liveness port", map[string]string{"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0", "MASTER_PORT": "4000", "SENTITUNE_WATCH_PORT": "5000"},
			Env{Rank: 0, World: 2, LocalWorld: 1, Addr: "127.0.0.1", StorePort: 4000, WatchPort: 5000}, ""},
		{"local rank out of range", map[string]string{"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "3", "LOCAL_WORLD_SIZE": "2", "MASTER_PORT": "4000"}, Env{}, "LOCAL_RANK=3 is not below LOCAL_WORLD_SIZE=2"},
		{"no rank", map[string]string{"WORLD_SIZE": "2", "MASTER_PORT": "4000"}, Env{}, "RANK is not set"},
		{"rank too big", map[string]string{"WORLD_SIZE": "2", "RANK": "2", "MASTER_PORT": "4000"}, Env{}, "RANK=2 is not below WORLD_SIZE=2"},
		{"no port", map[string]string{"WORLD_SIZE": "2", "RANK": "1"}, Env{}, "MASTER_PORT is not set"},
		{"bad number", map[string]string{"WORLD_SIZE": "two"}, Env{}, `WORLD_SIZE="two"`},
		{"ports collide", map[string]string{"WORLD_SIZE": "2", "RANK": "1", "MASTER_PORT": "4000", "SENTITUNE_WATCH_PORT": "4000"}, Env{}, "liveness port 4000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := EnvFrom(func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v (%v), want %+v", got, err, c.want)
			}
		})
	}
}

// TestWatchdog runs three ranks' liveness channels in this process: values
// agree, a mismatch stops everyone with rank 0's account, and a rank that
// vanishes is named to rank 0 and, relayed, to the other worker.
func TestWatchdog(t *testing.T) {
	var mu sync.Mutex
	var exits []string
	defer func(f func(string)) { watchdogExit = f }(watchdogExit)
	watchdogExit = func(msg string) { mu.Lock(); exits = append(exits, msg); mu.Unlock() }
	forced := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), exits...) }
	join := func(t *testing.T) []*Watchdog {
		port := freePortT(t)
		ws := make([]*Watchdog, 3)
		errs := make([]error, 3)
		var wg sync.WaitGroup
		for r := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ws[r], errs[r] = Join(Env{Rank: r, World: 3, Addr: "127.0.0.1", WatchPort: port}, 10*time.Second)
			}()
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
		}
		return ws
	}
	all := func(ws []*Watchdog, f func(r int, w *Watchdog) error) []error {
		errs := make([]error, len(ws))
		var wg sync.WaitGroup
		for r, w := range ws {
			wg.Add(1)
			go func() { defer wg.Done(); errs[r] = f(r, w) }()
		}
		wg.Wait()
		return errs
	}

	t.Run("exchange and clean end", func(t *testing.T) {
		ws := join(t)
		got := make([]string, 3)
		errs := all(ws, func(r int, w *Watchdog) error {
			v, err := w.Exchange("checkpoint", fmt.Sprint("from ", r), nil)
			got[r] = v
			if err == nil {
				_, err = w.Exchange("end", "", nil)
			}
			w.Close(err == nil)
			return err
		})
		for r := range ws {
			if errs[r] != nil || got[r] != "from 0" {
				t.Errorf("rank %d: %q, %v", r, got[r], errs[r])
			}
			if ws[r].Alive() != nil {
				t.Errorf("rank %d: a clean end counted as a loss: %v", r, ws[r].Alive())
			}
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		ws := join(t)
		errs := all(ws, func(r int, w *Watchdog) error {
			_, err := w.Exchange("settings", strconv.Itoa(r%2), func(rank int, v string) error {
				if v != "0" {
					return fmt.Errorf("rank %d runs other settings", rank)
				}
				return nil
			})
			w.Close(false)
			return err
		})
		want := []string{"rank 1 runs other settings", "rank 0 of 3 failed: rank 1 runs other settings", "rank 0 of 3 failed: rank 1 runs other settings"}
		for r, err := range errs {
			if err == nil || !strings.Contains(err.Error(), want[r]) {
				t.Errorf("rank %d: err = %v, want %q", r, err, want[r])
			}
		}
	})
	t.Run("a rank vanishes", func(t *testing.T) {
		ws := join(t)
		ws[2].Close(false) // as if killed: no goodbye
		errs := all(ws[:2], func(r int, w *Watchdog) error {
			_, err := w.Exchange("step", "", nil)
			w.Close(false)
			return err
		})
		for r, err := range errs {
			var lost *PeerLostError
			if !errors.As(err, &lost) || lost.Rank != 2 || !strings.Contains(err.Error(), "lost rank 2 of 3: its connection closed") {
				t.Errorf("rank %d: err = %v, want rank 2 lost", r, err)
			}
		}
		if got := forced(); len(got) > 0 {
			t.Errorf("forced exit although the ranks returned: %q", got)
		}
	})
	t.Run("a restarted worker waits for the restarted rank 0", func(t *testing.T) {
		port := freePortT(t)
		env := func(r int) Env { return Env{Rank: r, World: 2, Addr: "127.0.0.1", WatchPort: port} }
		var old [2]*Watchdog
		var errs [2]error
		var wg sync.WaitGroup
		for r := range old {
			wg.Add(1)
			go func() { defer wg.Done(); old[r], errs[r] = Join(env(r), 10*time.Second) }()
		}
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatal(errs)
		}
		old[1].Close(false) // rank 1 dies; rank 0 has not exited yet
		type joined struct {
			w   *Watchdog
			err error
		}
		newWorker := make(chan joined, 1)
		go func() { w, err := Join(env(1), 10*time.Second); newWorker <- joined{w, err} }()
		time.Sleep(1500 * time.Millisecond) // the new rank 1 is turned away ("busy") meanwhile
		select {
		case j := <-newWorker:
			t.Fatalf("the restarted rank 1 joined the dying run: %v", j.err)
		default:
		}
		old[0].Close(false)
		w0, err := Join(env(0), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		j := <-newWorker
		if j.err != nil {
			t.Fatalf("restarted rank 1: %v", j.err)
		}
		errs2 := all([]*Watchdog{w0, j.w}, func(r int, w *Watchdog) error {
			_, err := w.Exchange("end", "", nil)
			w.Close(err == nil)
			return err
		})
		if errs2[0] != nil || errs2[1] != nil {
			t.Fatalf("restarted run: %v", errs2)
		}
		if got := forced(); len(got) > 0 {
			t.Errorf("forced exit although every rank returned: %q", got)
		}
	})
	t.Run("a stuck rank is ended", func(t *testing.T) {
		defer func(g time.Duration) { exitGrace = g }(exitGrace)
		exitGrace = 200 * time.Millisecond
		ws := join(t)
		ws[1].Close(false)
		// Ranks 0 and 2 are busy elsewhere (no exchange, no collective): the forced exit ends them.
		deadline := time.Now().Add(10 * time.Second)
		for len(forced()) < 2 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		got := forced()
		if len(got) != 2 || !strings.HasPrefix(got[0], "lost rank 1 of 3: its connection closed") || got[1] != got[0] {
			t.Fatalf("forced exits %q, want ranks 0 and 2 to end naming rank 1", got)
		}
		ws[0].Close(false)
		ws[2].Close(false)
	})
}

func TestLocal(t *testing.T) {
	defer func(g time.Duration) { grace = g }(grace)
	grace = 2 * time.Second
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("environment per rank", func(t *testing.T) {
		var out bytes.Buffer
		err := Local(3, sh, []string{"-c", `echo "$RANK/$WORLD_SIZE local $LOCAL_RANK/$LOCAL_WORLD_SIZE at $MASTER_ADDR ports ${MASTER_PORT:+set} ${SENTITUNE_WATCH_PORT:+set}"`}, &out, &out)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		sort.Strings(lines)
		want := []string{"0/3 local 0/3 at 127.0.0.1 ports set set", "[rank 1] 1/3 local 1/3 at 127.0.0.1 ports set set", "[rank 2] 2/3 local 2/3 at 127.0.0.1 ports set set"}
		if !reflect.DeepEqual(lines, want) {
			t.Fatalf("got %q\nwant %q", lines, want)
		}
	})
	t.Run("a failed rank stops the rest", func(t *testing.T) {
		var out bytes.Buffer
		start := time.Now()
		err := Local(3, sh, []string{"-c", `if [ "$RANK" = 1 ]; then echo broken >&2; exit 4; fi; sleep 30`}, &out, &out)
		var re *RankError
		if !errors.As(err, &re) || re.Rank != 1 || !strings.Contains(err.Error(), "rank 1 of 3") || !strings.Contains(err.Error(), "exit status 4") {
			t.Fatalf("err = %v, want rank 1 of 3 named", err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Fatalf("took %v: the sleeping ranks were not killed after the grace", took)
		}
		if !strings.Contains(out.String(), "[rank 1] broken") {
			t.Errorf("output %q", out.String())
		}
		t.Log(err)
	})
	t.Run("a rank that only followed is not blamed", func(t *testing.T) {
		// Rank 0 exits first, with ExitPeerFailed (it stopped because of rank 1); rank 1 fails of itself.
		err := Local(2, sh, []string{"-c", `if [ "$RANK" = 0 ]; then exit 3; fi; sleep 0.3; exit 1`}, io.Discard, io.Discard)
		var re *RankError
		if !errors.As(err, &re) || re.Rank != 1 || !strings.Contains(err.Error(), "rank 0: exit status 3") {
			t.Fatalf("err = %v, want rank 1 blamed", err)
		}
	})
}

func freePortT(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
