package finetune

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentitune/sentitune/internal/launch"
	"github.com/sentitune/sentitune/internal/llm"
	"github.com/sentitune/sentitune/internal/torch"
)

func TestShardAndBuckets(t *testing.T) {
	t.Run("shards cover each batch once", func(t *testing.T) {
		for _, world := range []int{1, 2, 3, 8} {
			for _, n := range []int{0, 1, 2, 7, 8, 13} {
				idx := make([]int, n)
				for i := range idx {
					idx[i] = 100 + i
				}
				var all []int
				for r := 0; r < world; r++ {
					d := &dist{env: launch.Env{Rank: r, World: world}}
					sh := d.shard(idx)
					if len(sh) > (n+world-1)/world {
						t.Fatalf("world %d, %d rows: rank %d got %d", world, n, r, len(sh))
					}
					all = append(all, sh...)
				}
				sort.Ints(all)
				if n > 0 && !reflect.DeepEqual(all, idx) {
					t.Fatalf("world %d: shards %v, want %v", world, all, idx)
				}
			}
		}
	})
	t.Run("buckets", func(t *testing.T) {
		s := torch.NewScope()
		defer s.Close()
		a := s.Zeros([]int64{10}, torch.Float32, torch.CPU) // 40 B
		b := s.Zeros([]int64{10}, torch.Float32, torch.CPU)
		c := s.Zeros([]int64{30}, torch.Float32, torch.CPU) // 120 B: alone
		e := s.Zeros([]int64{2}, torch.Float64, torch.CPU)
		f := s.Zeros([]int64{2}, torch.Float32, torch.CPU)
		got := buckets([]*torch.Tensor{a, b, c, e, f}, 100)
		want := [][]*torch.Tensor{{a, b}, {c}, {e}, {f}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("buckets: %d groups %v", len(got), got)
		}
	})
}

// The data-parallel must-shows: 2 processes (batch rows split across ranks)
// against 1 with the same global batch (also with gradient checkpointing on),
// and a killed worker then --resume (resumed with checkpointing on).
// The batch of 7 leaves a final batch of one row, so at one step rank 1 runs
// no rows and adds zero gradients.
func TestDataParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sentitune binary")
	}
	if !torch.DistAvailable() {
		t.Skip("this libsentitorch has no c10d (the lead's shim build says distributed: none)")
	}
	bin := buildCLI(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "ref")
	cfg := testConfig(t, ref)
	cfg.BatchSize, cfg.MaxSteps, cfg.LoRADropout, cfg.EvalEvery, cfg.SaveEvery = 7, 16, 0, 8, 4
	cfg.ModulesToSave = List{"embed_tokens"} // 9.7 M values: more than one gradient bucket
	cfg.LR = 2e-3
	if _, err := Train(cfg, nil); err != nil {
		t.Fatal(err)
	}
	args := func(out string, extra ...string) []string {
		return append([]string{"finetune", "--model", fix.model, "--data", fix.prep, "--out", out, "--lr", "0.002",
			"--warmup-ratio", "0", "--batch-size", "7", "--max-steps", "16", "--lora-dropout", "0", "--eval-every", "8",
			"--save-every", "4", "--modules-to-save", "embed_tokens"}, extra...)
	}
	env := append(os.Environ(), torch.LibEnv+"="+torch.LibPath())

	t.Run("2 processes = 1 process", func(t *testing.T) {
		out := filepath.Join(dir, "two")
		cmd := exec.Command(bin, args(out, "--nproc", "2")...)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("--nproc 2: %v\n%s", err, b)
		}
		sameRun(t, ref, out)
		var rec struct {
			Engine struct {
				World   int    `json:"world_size"`
				Backend string `json:"dist_backend"`
			} `json:"engine"`
		}
		readJSON(t, filepath.Join(out, FileRun), &rec)
		if rec.Engine.World != 2 || rec.Engine.Backend != "gloo" {
			t.Errorf("run.json engine %+v, want world 2 over gloo", rec.Engine)
		}
		if !strings.Contains(string(b), "steps 16") || strings.Count(string(b), "adapter:") != 1 {
			t.Errorf("want one summary, from rank 0:\n%s", b)
		}
	})

	t.Run("2 processes with gradient checkpointing = 1 process without", func(t *testing.T) {
		out := filepath.Join(dir, "two-checkpointed")
		cmd := exec.Command(bin, args(out, "--nproc", "2", "--gradient-checkpointing", "on")...)
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("--nproc 2 --gradient-checkpointing on: %v\n%s", err, b)
		}
		sameRun(t, ref, out)
	})

	t.Run("kill a worker, then resume", func(t *testing.T) {
		out := filepath.Join(dir, "killed")
		ports := []int{freePortT(t), freePortT(t)}
		procs := make([]*exec.Cmd, 2)
		outs := make([]*bytes.Buffer, 2)
		done := make([]chan error, 2)
		for r := range procs {
			procs[r] = exec.Command(bin, args(out)...)
			procs[r].Env = append(slices.Clip(env), "RANK="+strconv.Itoa(r), "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
				"MASTER_PORT="+strconv.Itoa(ports[0]), "SENTITUNE_WATCH_PORT="+strconv.Itoa(ports[1]))
			outs[r] = &bytes.Buffer{}
			procs[r].Stdout, procs[r].Stderr = outs[r], outs[r]
			if err := procs[r].Start(); err != nil {
				t.Fatal(err)
			}
			done[r] = make(chan error, 1)
			go func() { done[r] <- procs[r].Wait() }()
		}
		defer func() {
			for _, p := range procs {
				p.Process.Kill()
			}
		}()
		ckpt := filepath.Join(out, DirCheckpoint, "step-4")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if _, err := os.Stat(ckpt); err == nil {
				break
			}
			select {
			case err := <-done[0]:
				t.Fatalf("rank 0 ended before its step-4 checkpoint: %v\n%s\nrank 1:\n%s", err, outs[0], outs[1])
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("no step-4 checkpoint after 2 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := procs[1].Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		<-done[1]
		select {
		case err := <-done[0]:
			took := time.Since(killed)
			if err == nil {
				t.Fatalf("rank 0 succeeded after rank 1 was killed (the kill came too late?)\n%s", outs[0])
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != launch.ExitPeerFailed {
				t.Errorf("rank 0: %v, want exit status %d (stopped by another rank)", err, launch.ExitPeerFailed)
			}
			msg := outs[0].String()
			if !strings.Contains(msg, "lost rank 1 of 2") {
				t.Fatalf("rank 0's message does not name the lost rank:\n%s", msg)
			}
			t.Logf("rank 0 exited (%v) %v after the kill: %s", err, took.Round(time.Millisecond), strings.TrimSpace(msg))
		case <-time.After(60 * time.Second):
			t.Fatalf("rank 0 still running 60 s after rank 1 was killed\n%s", outs[0])
		}
		if _, err := os.Stat(filepath.Join(out, FileRun)); err == nil {
			t.Fatal("the run finished although a worker was killed")
		}

		// The resumed part recomputes its layers in backward: the numbers stay the uninterrupted run's.
		resume := exec.Command(bin, args(out, "--nproc", "2", "--resume", "--gradient-checkpointing", "on")...)
		resume.Env = env
		if b, err := resume.CombinedOutput(); err != nil {
			t.Fatalf("resume: %v\n%s", err, b)
		}
		var rec struct {
			Results struct {
				ResumedFrom int `json:"resumed_from"`
			} `json:"results"`
		}
		readJSON(t, filepath.Join(out, FileRun), &rec)
		if rec.Results.ResumedFrom < 4 {
			t.Fatalf("resumed from step %d, want a checkpoint at 4 or later", rec.Results.ResumedFrom)
		}
		sameRun(t, ref, out)
	})

	t.Run("ranks with other settings", func(t *testing.T) {
		out := filepath.Join(dir, "mixed")
		ports := []int{freePortT(t), freePortT(t)}
		var wg sync.WaitGroup
		msgs := make([]string, 2)
		for r := range msgs {
			lr := []string{"0.002", "0.02"}[r]
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd := exec.Command(bin, append(args(out), "--lr", lr)...)
				cmd.Env = append(slices.Clip(env), "RANK="+strconv.Itoa(r), "WORLD_SIZE=2",
					"MASTER_PORT="+strconv.Itoa(ports[0]), "SENTITUNE_WATCH_PORT="+strconv.Itoa(ports[1]))
				b, err := cmd.CombinedOutput()
				msgs[r] = fmt.Sprintf("%v: %s", err, b)
			}()
		}
		wg.Wait()
		want := []string{"rank 1 runs other settings or data than rank 0 (optim: rank 0 \"lr=0.002", "rank 0 of 2 failed: rank 1 runs other settings"}
		for r, m := range msgs {
			// Rank 1 only stops because rank 0 refused the run: launch.ExitPeerFailed.
			if code := []string{"exit status 1", "exit status 3"}[r]; !strings.HasPrefix(m, code) || !strings.Contains(m, want[r]) {
				t.Errorf("rank %d: %s\nwant %s and %q", r, m, code, want[r])
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Error("a refused run created its folder")
		}
	})
}

// sameRun compares two run folders: every logged loss and the final adapter's tensors to 1e-5.
func sameRun(t *testing.T, want, got string) {
	t.Helper()
	wl, gl := readLog(t, want), readLog(t, got)
	if len(wl) != len(gl) {
		t.Fatalf("%s logged %d lines, %s %d", got, len(gl), want, len(wl))
	}
	for i := range wl {
		if wl[i].Step != gl[i].Step || wl[i].Split != gl[i].Split || math.Abs(wl[i].Loss-gl[i].Loss) > 1e-5 {
			t.Fatalf("log line %d: %s step %d loss %.7f, want %s step %d loss %.7f", i+1, gl[i].Split, gl[i].Step, gl[i].Loss,
				wl[i].Split, wl[i].Step, wl[i].Loss)
		}
	}
	wa, err := llm.OpenSafetensors(filepath.Join(want, DirAdapter, llm.AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer wa.Close()
	ga, err := llm.OpenSafetensors(filepath.Join(got, DirAdapter, llm.AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer ga.Close()
	if !reflect.DeepEqual(wa.Names(), ga.Names()) {
		t.Fatalf("adapter tensors %v, want %v", ga.Names(), wa.Names())
	}
	worst, where := 0.0, ""
	for _, name := range wa.Names() {
		wt, _ := wa.Get(name)
		gt, _ := ga.Get(name)
		wv, err1 := wt.Float32s()
		gv, err2 := gt.Float32s()
		if err1 != nil || err2 != nil || len(wv) != len(gv) {
			t.Fatalf("%s: %v %v, %d vs %d values", name, err1, err2, len(gv), len(wv))
		}
		for i := range wv {
			if d := math.Abs(float64(wv[i] - gv[i])); d > worst {
				worst, where = d, fmt.Sprintf("%s[%d]", name, i)
			}
		}
	}
	if worst > 1e-5 {
		t.Fatalf("adapter differs by %g at %s", worst, where)
	}
	t.Logf("%d log lines within 1e-5; %d adapter tensors, largest difference %.2g", len(wl), len(wa.Names()), worst)
}

var cli struct {
	once sync.Once
	path string
	err  error
}

// buildCLI builds the sentitune binary once for the package's tests.
func buildCLI(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		cli.path = filepath.Join(fix.dir, "sentitune")
		build := exec.Command("go", "build", "-o", cli.path, "./cmd/sentitune")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			cli.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.path
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
