package torch

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort asks the kernel for a loopback port that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// distValues is what rank r contributes: two tensors so the flat bucket spans more than one.
func distValues(rank int) ([]float32, []float32) {
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{10, -1}
	for i := range a {
		a[i] *= float32(rank + 1)
	}
	for i := range b {
		b[i] += float32(rank)
	}
	return a, b
}

// distRound joins the group, all-reduces (sum, then average), broadcasts from rank 1 and meets at a
// barrier, returning the values each step produced.
func distRound(rank, world, port int) (string, error) {
	g, err := InitGroup("gloo", "127.0.0.1", port, rank, world, 20*time.Second)
	if err != nil {
		return "", err
	}
	defer g.Close()
	s := NewScope()
	defer s.Close()
	av, bv := distValues(rank)
	a, b := s.FromFloat32(av, 2, 3), s.FromFloat32(bv, 2)
	if err := s.Err(); err != nil {
		return "", err
	}
	if err := g.AllReduce([]*Tensor{a, b}, false); err != nil {
		return "", err
	}
	sa, _ := a.Float32s()
	sb, _ := b.Float32s()
	if err := g.AllReduce([]*Tensor{b}, true); err != nil {
		return "", err
	}
	mb, _ := b.Float32s()
	c := s.FromInt64([]int64{int64(100 + rank), int64(rank)}, 2)
	d := s.FromInt64([]int64{int64(7 * rank), int64(-rank), 3}, 3)
	if err := g.Broadcast([]*Tensor{c, d}, 1); err != nil { // two tensors: a list, not replicas
		return "", err
	}
	bc, _ := c.Int64s()
	bd, _ := d.Int64s()
	bc = append(bc, bd...)
	if err := g.Barrier(); err != nil {
		return "", err
	}
	return fmt.Sprintf("sum %v %v avg %v bcast %v", sa, sb, mb, bc), nil
}

// helperDistRank is the second process of TestDistributed.
func helperDistRank() int {
	rank, _ := strconv.Atoi(os.Getenv("RANK"))
	world, _ := strconv.Atoi(os.Getenv("WORLD"))
	port, _ := strconv.Atoi(os.Getenv("MASTER_PORT"))
	out, err := distRound(rank, world, port)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println(out)
	return 0
}

func TestDistributed(t *testing.T) {
	if !DistAvailable() {
		// A build without c10d must say so instead of pretending.
		_, err := InitGroup("gloo", "127.0.0.1", freePort(t), 0, 1, time.Second)
		wantErr(t, err, "c10d")
		return
	}
	t.Run("two-rank gloo all-reduce", func(t *testing.T) {
		port := freePort(t)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=dist-rank", "RANK=1", "WORLD=2", "MASTER_PORT="+strconv.Itoa(port))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		got, err := distRound(0, 2, port)
		var werr error
		select {
		case werr = <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("rank 1 did not finish; output:\n%s", out.String())
		}
		if err != nil || werr != nil {
			t.Fatalf("rank 0: %v; rank 1: %v, output:\n%s", err, werr, out.String())
		}
		// sum of a: (1+2)·a₀; b: b₀+b₁ = [10+11, -1+0]; average of the summed b over 2 ranks; broadcast from rank 1.
		want := "sum [3 6 9 12 15 18] [21 -1] avg [21 -1] bcast [101 1 7 -1 3]"
		if got != want {
			t.Errorf("rank 0: %q, want %q", got, want)
		}
		if r1 := strings.TrimSpace(out.String()); r1 != want {
			t.Errorf("rank 1: %q, want %q", r1, want)
		}
	})
	for _, c := range []struct {
		name string
		rank int
	}{{"missing worker (rank 0 waits)", 0}, {"missing master (rank 1 connects)", 1}} {
		t.Run(c.name, func(t *testing.T) {
			port := freePort(t)
			const timeout = 2 * time.Second
			type result struct {
				err     error
				elapsed time.Duration
			}
			res := make(chan result, 1)
			go func() {
				start := time.Now()
				g, err := InitGroup("gloo", "127.0.0.1", port, c.rank, 2, timeout)
				if err == nil {
					s := NewScope()
					x := s.Ones([]int64{3}, Float32, CPU)
					err = g.AllReduce([]*Tensor{x}, false)
					s.Close()
					g.Close()
				}
				res <- result{err, time.Since(start)}
			}()
			select {
			case r := <-res:
				if r.err == nil {
					t.Fatal("no error with a rank missing")
				}
				wantErr(t, r.err, "gloo", fmt.Sprintf("rank %d of 2", c.rank))
				t.Logf("failed after %v: %v", r.elapsed.Round(time.Millisecond), r.err)
			case <-time.After(5*timeout + 5*time.Second):
				// TCPStore's wait for workers and Gloo's rendezvous each honour the timeout (~5 s in all for 2 s).
				t.Fatalf("hung far past the %v timeout", timeout)
			}
		})
	}
	t.Run("bad backend", func(t *testing.T) {
		_, err := InitGroup("mpi", "127.0.0.1", freePort(t), 0, 1, time.Second)
		wantErr(t, err, "mpi")
	})
	t.Run("closed group", func(t *testing.T) {
		var g *Group
		wantErr(t, g.AllReduce([]*Tensor{nil}, false), "closed")
		wantErr(t, g.Barrier(), "closed")
	})
}
