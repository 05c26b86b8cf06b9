package torch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv selects a helper mode when the test binary re-execs itself (see TestMain).
const helperEnv = "SENTITORCH_TEST_HELPER"

const helperExitExpected = 3

func runHelper(mode string) int {
	switch mode {
	case "missing-lib":
		return helperMissingLib()
	case "dist-rank":
		return helperDistRank()
	case "page-faults":
		return helperPageFaults()
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// helperMissingLib loads the engine from wherever SENTITUNE_TORCH_LIB points and prints what each
// entry point says. It exits helperExitExpected when every entry point returned an error.
func helperMissingLib() int {
	errs := 0
	report := func(what string, err error) {
		fmt.Printf("%s: %v\n", what, err)
		if err != nil {
			errs++
		}
	}
	report("load", Load())
	_, err := Version()
	report("version", err)
	s := NewScope()
	x := s.FromFloat32([]float32{1, 2}, 2)
	y := s.Add(x, x)
	if x != nil || y != nil {
		fmt.Println("ops returned tensors without an engine")
		return 1
	}
	report("scope", s.Err())
	_, err = NewAdamW([]ParamGroup{{Params: []*Tensor{x}, LR: 1}}, 0.9, 0.999, 1e-8)
	report("adamw", err)
	report("nograd", NoGrad(func() error { return nil }))
	_, err = ParseDevice("cuda")
	report("parse_device", err)
	if errs != 6 {
		return 1
	}
	return helperExitExpected
}

// helperPageFaults allocates and frees 4 MiB tensors the way a training step does and prints the
// minor page faults the loop took (after one warm-up round).
func helperPageFaults() int {
	runtime.LockOSThread() // as cmd/sentitune's main goroutine is: one thread, one malloc arena
	if err := Load(); err != nil {
		fmt.Println(err)
		return 1
	}
	round := func() error {
		s := NewScope()
		defer s.Close()
		x := s.Ones([]int64{1 << 20}, Float32, CPU)
		y := s.Add(x, x)
		s.Mul(y, x)
		return s.Err()
	}
	for range 5 {
		if err := round(); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for range 30 {
		if err := round(); err != nil {
			fmt.Println(err)
			return 1
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	fmt.Printf("faults %d\n", after.Minflt-before.Minflt)
	return helperExitExpected
}

// runSelf re-execs the test binary in helper mode with extra environment, bounded by timeout.
func runSelf(t *testing.T, mode string, timeout time.Duration, env ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("helper %s hung past %v; output:\n%s", mode, timeout, out.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// TestMallocTuning: Load keeps freed tensor buffers in malloc's heap (tuneMalloc), so a loop that
// allocates the same 4 MiB tensors again and again stops faulting in fresh pages. A user's own malloc
// environment (here MALLOC_ARENA_MAX) switches the tuning off, which leaves glibc's defaults: those
// fault in about one fresh 4 MiB buffer (1,024 pages) per tensor per round.
func TestMallocTuning(t *testing.T) {
	faults := func(env ...string) int {
		out, code := runSelf(t, "page-faults", time.Minute, env...)
		var n int
		if code != helperExitExpected {
			t.Fatalf("helper exited %d:\n%s", code, out)
		}
		if _, err := fmt.Sscanf(strings.TrimSpace(out[strings.LastIndex(out, "faults"):]), "faults %d", &n); err != nil {
			t.Fatalf("helper output %q: %v", out, err)
		}
		return n
	}
	tuned := faults()
	glibc := faults("MALLOC_ARENA_MAX=8")
	t.Logf("minor page faults over 30 rounds of 3 × 4 MiB tensors: tuned %d, glibc defaults %d", tuned, glibc)
	if glibc < 30*1024 {
		t.Errorf("with the user's MALLOC_ARENA_MAX the loop took only %d page faults: the tuning ignored the user's setting", glibc)
	}
	if tuned*4 > glibc {
		t.Errorf("tuned malloc took %d page faults re-allocating the same tensors, glibc's defaults %d: want 4× fewer", tuned, glibc)
	}
}

func TestMissingEngine(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "libsentitorch.so")
	if err := os.WriteFile(garbage, []byte("not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, lib string
		want      []string
	}{
		{"nonexistent", "/nonexistent/libsentitorch.so", []string{"make shim", LibEnv, "/nonexistent/libsentitorch.so"}},
		{"not a shared library", garbage, []string{"make shim", LibEnv, garbage}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, code := runSelf(t, "missing-lib", 60*time.Second, LibEnv+"="+c.lib)
			if code != helperExitExpected {
				t.Fatalf("helper exit %d, want %d; output:\n%s", code, helperExitExpected, out)
			}
			for _, bad := range []string{"panic", "SIGSEGV", "signal"} {
				if strings.Contains(out, bad) {
					t.Fatalf("helper output mentions %q:\n%s", bad, out)
				}
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				for _, w := range c.want {
					if !strings.Contains(line, w) {
						t.Errorf("%q does not mention %q", line, w)
					}
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name string
		op   func(s *Scope) *Tensor
		want []string
	}{
		{"matmul shapes", func(s *Scope) *Tensor {
			return s.Matmul(s.Zeros([]int64{2, 3}, Float32, CPU), s.Zeros([]int64{4, 5}, Float32, CPU))
		}, []string{"matmul", "[2 3] f32", "[4 5] f32"}},
		{"add shapes", func(s *Scope) *Tensor {
			return s.Add(s.Zeros([]int64{2, 3}, Float32, CPU), s.Zeros([]int64{4}, Float32, CPU))
		}, []string{"add", "[2 3]", "[4]"}},
		{"linear shapes", func(s *Scope) *Tensor {
			return s.Linear(s.Zeros([]int64{2, 3}, Float32, CPU), s.Zeros([]int64{4, 5}, Float32, CPU), nil)
		}, []string{"linear", "[2 3]", "[4 5]"}},
		{"cat shapes", func(s *Scope) *Tensor {
			return s.Cat([]*Tensor{s.Zeros([]int64{2, 3}, Float32, CPU), s.Zeros([]int64{2, 4}, Float32, CPU)}, 0)
		}, []string{"cat", "[2 3]", "[2 4]"}},
		{"reshape count", func(s *Scope) *Tensor { return s.Reshape(s.Zeros([]int64{2, 3}, Float32, CPU), 4, 2) }, []string{"reshape", "[2 3]"}},
		{"narrow past end", func(s *Scope) *Tensor { return s.Narrow(s.Zeros([]int64{2, 3}, Float32, CPU), 1, 2, 5) }, []string{"narrow", "[2 3]"}},
		{"matmul f32 x i64", func(s *Scope) *Tensor {
			return s.Matmul(s.Zeros([]int64{2, 3}, Float32, CPU), s.Zeros([]int64{3, 2}, Int64, CPU))
		}, []string{"matmul", "f32", "i64"}},
		{"embedding float ids", func(s *Scope) *Tensor {
			return s.Embedding(s.Zeros([]int64{5, 3}, Float32, CPU), s.Zeros([]int64{2}, Float32, CPU))
		}, []string{"embedding", "[5 3] f32", "[2] f32"}},
		{"cross_entropy float targets", func(s *Scope) *Tensor {
			return s.CrossEntropy(s.Zeros([]int64{2, 3}, Float32, CPU), s.Zeros([]int64{2}, Float32, CPU), IgnoreIndex, ReduceMean)
		}, []string{"cross_entropy", "[2 3] f32", "[2] f32"}},
		{"cross_entropy target out of range", func(s *Scope) *Tensor {
			return s.CrossEntropy(s.Zeros([]int64{2, 3}, Float32, CPU), s.FromInt64([]int64{0, 3}, 2), IgnoreIndex, ReduceMean)
		}, []string{"cross_entropy", "[2 3] f32", "[2] i64"}},
		{"gather float index", func(s *Scope) *Tensor {
			return s.Gather(s.Zeros([]int64{2, 3}, Float32, CPU), 1, s.Zeros([]int64{2, 1}, Float32, CPU))
		}, []string{"gather", "[2 1] f32"}},
		{"masked_fill mask shape", func(s *Scope) *Tensor {
			return s.MaskedFill(s.Zeros([]int64{2, 3}, Float32, CPU), s.FromBool([]bool{true, false}, 2), 1)
		}, []string{"masked_fill", "[2 3] f32", "[2] bool"}},
		{"sdpa heads", func(s *Scope) *Tensor {
			q := s.Zeros([]int64{1, 4, 3, 8}, Float32, CPU)
			kv := s.Zeros([]int64{1, 2, 3, 8}, Float32, CPU)
			return s.SDPA(q, kv, kv, nil, true, 1)
		}, []string{"sdpa", "[1 4 3 8]", "[1 2 3 8]", "GQA"}},
		{"sdpa rank", func(s *Scope) *Tensor {
			q := s.Zeros([]int64{4, 3, 8}, Float32, CPU)
			return s.SDPA(q, q, q, nil, false, 1)
		}, []string{"sdpa", "[4 3 8]"}},
		{"rms_norm weight size", func(s *Scope) *Tensor {
			return s.RMSNorm(s.Zeros([]int64{2, 8}, Float32, CPU), s.Ones([]int64{4}, Float32, CPU), 1e-6)
		}, []string{"rms_norm", "[2 8]", "[4]"}},
		{"lora rank mismatch", func(s *Scope) *Tensor {
			x := s.Zeros([]int64{2, 6}, Float32, CPU)
			return s.LoRALinear(x, s.Zeros([]int64{5, 6}, Float32, CPU), nil, s.Zeros([]int64{4, 6}, Float32, CPU), s.Zeros([]int64{5, 3}, Float32, CPU), 1, 0, false)
		}, []string{"lora_linear", "[4 6]", "[5 3]"}},
		{"unknown dtype", func(s *Scope) *Tensor { return s.Zeros([]int64{2}, DType(99), CPU) }, []string{"full", "dtype"}},
		{"from_bytes short", func(s *Scope) *Tensor { return s.FromBytes(make([]byte, 6), Float32, []int64{2}, CPU) }, []string{"from_bytes", "[2]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewScope()
			defer s.Close()
			if got := c.op(s); got != nil {
				t.Fatalf("op returned %v, want nil", got)
			}
			wantErr(t, s.Err(), c.want...)
			if strings.Count(s.Err().Error(), "\n") > 0 {
				t.Errorf("multi-line error: %q", s.Err())
			}
		})
	}
}

func TestStickyError(t *testing.T) {
	s := NewScope()
	defer s.Close()
	a := s.Zeros([]int64{2, 3}, Float32, CPU)
	b := s.Zeros([]int64{4, 5}, Float32, CPU)
	if s.Matmul(a, b) != nil {
		t.Fatal("bad matmul returned a tensor")
	}
	first := s.Err()
	wantErr(t, first, "matmul", "[2 3]", "[4 5]")
	// Every later op is a no-op returning nil, including ones that would succeed.
	later := []*Tensor{
		s.Add(a, a), s.FromFloat32([]float32{1}, 1), s.Zeros([]int64{1}, Float32, CPU), s.Linear(a, a, nil),
		s.Softmax(a, -1), s.Grad(a), s.Arange(0, 3, Int64, CPU),
	}
	for i, x := range later {
		if x != nil {
			t.Errorf("op %d after a failure returned %v", i, x)
		}
	}
	s.Backward(a)
	s.Fail(errors.New("a later failure"))
	if s.Err() != first {
		t.Fatalf("error changed to %v", s.Err())
	}
	// The tensors made before the failure are still readable and owned.
	if v, err := a.Float32s(); err != nil || len(v) != 6 || s.Len() != 2 {
		t.Fatalf("earlier tensor: %v %v, scope holds %d", v, err, s.Len())
	}
	// Another scope is unaffected.
	s2 := NewScope()
	defer s2.Close()
	check(t, s2, s2.Add(a, a), newArr(2, 3), 0)
}

func TestLifetimes(t *testing.T) {
	t.Run("close frees all", func(t *testing.T) {
		s := NewScope()
		x := s.Ones([]int64{3}, Float32, CPU)
		y := s.Exp(x)
		z := s.Add(x, y)
		if s.Len() != 3 {
			t.Fatalf("len %d, want 3", s.Len())
		}
		s.Close()
		if s.Len() != 0 {
			t.Fatalf("len after close %d", s.Len())
		}
		for _, tt := range []*Tensor{x, y, z} {
			if tt.Valid() {
				t.Fatal("tensor valid after close")
			}
		}
		// The scope stays usable after Close.
		check(t, s, s.Ones([]int64{2}, Float32, CPU), arr{[]int{2}, []float64{1, 1}}, 0)
		s.Close()
		if s.Len() != 0 {
			t.Fatalf("len after second close %d", s.Len())
		}
	})
	t.Run("freed tensors give errors", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		x := s.Ones([]int64{2, 2}, Float32, CPU)
		x.Free()
		x.Free() // twice is fine
		if x.Valid() || x.Shape() != nil {
			t.Fatal("freed tensor still valid")
		}
		if _, err := x.Float32s(); err == nil {
			t.Error("Float32s of a freed tensor: no error")
		}
		if _, err := x.Bytes(Float32); err == nil {
			t.Error("Bytes of a freed tensor: no error")
		}
		if _, err := x.Item(); err == nil {
			t.Error("Item of a freed tensor: no error")
		}
		if err := x.SetRequiresGrad(true); err == nil {
			t.Error("SetRequiresGrad of a freed tensor: no error")
		}
		if err := x.ZeroGrad(); err == nil {
			t.Error("ZeroGrad of a freed tensor: no error")
		}
		if err := x.CopyFrom(s.Ones([]int64{2, 2}, Float32, CPU)); err == nil {
			t.Error("CopyFrom into a freed tensor: no error")
		}
		if _, err := ClipGradNorm([]*Tensor{x}, 1); err == nil {
			t.Error("ClipGradNorm of a freed tensor: no error")
		}
		if _, err := NewAdamW([]ParamGroup{{Params: []*Tensor{x}, LR: 1}}, 0.9, 0.999, 1e-8); err == nil {
			t.Error("AdamW over a freed tensor: no error")
		}
		if s.Add(x, x) != nil {
			t.Fatal("op on a freed tensor returned a tensor")
		}
		wantErr(t, s.Err(), "add", "input 0 is nil")
	})
	t.Run("nil input", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		if s.Neg(nil) != nil || s.Cat([]*Tensor{s.Ones([]int64{1}, Float32, CPU), nil}, 0) != nil {
			t.Fatal("op on nil returned a tensor")
		}
		wantErr(t, s.Err(), "neg", "nil")
		s2 := NewScope()
		s2.Backward(nil)
		wantErr(t, s2.Err(), "backward")
	})
	t.Run("keep and adopt", func(t *testing.T) {
		s := NewScope()
		x := s.Keep(s.Full([]int64{2}, 3, Float32, CPU))
		y := s.Ones([]int64{2}, Float32, CPU)
		if s.Len() != 1 {
			t.Fatalf("len %d after keep", s.Len())
		}
		s.Close()
		if !x.Valid() || y.Valid() {
			t.Fatal("keep did not survive close, or the other tensor did")
		}
		check(t, s, x, arr{[]int{2}, []float64{3, 3}}, 0)
		s2 := NewScope()
		s2.Adopt(x)
		if s2.Len() != 1 {
			t.Fatalf("adopted len %d", s2.Len())
		}
		s2.Close()
		if x.Valid() {
			t.Fatal("adopted tensor survived its new scope")
		}
		x.Free()
	})
	t.Run("copy_from", func(t *testing.T) {
		s := NewScope()
		defer s.Close()
		dst := s.Zeros([]int64{2, 2}, BFloat16, CPU)
		if err := dst.CopyFrom(s.FromFloat64([]float64{1, 2, 3, 4.004}, 2, 2)); err != nil {
			t.Fatal(err)
		}
		check(t, s, dst, arr{[]int{2, 2}, []float64{1, 2, 3, 4}}, 0)
		wantErr(t, dst.CopyFrom(s.Zeros([]int64{3}, Float32, CPU)), "copy_", "[2 2] bf16", "[3] f32")
	})
}

func TestGlobals(t *testing.T) {
	v, err := Version()
	if err != nil || len(v) < 5 || v[0] < '1' || v[0] > '9' || !(strings.HasSuffix(v, "+cpu") || strings.HasSuffix(v, "+cuda")) {
		t.Fatalf("version %q %v", v, err)
	}
	if LibPath() == "" {
		t.Fatal("LibPath empty after Load")
	}
	prev := NumThreads()
	if prev < 1 {
		t.Fatalf("NumThreads %d", prev)
	}
	if err := SetNumThreads(1); err != nil || NumThreads() != 1 {
		t.Fatalf("SetNumThreads(1): %v, now %d", err, NumThreads())
	}
	if err := SetNumThreads(prev); err != nil {
		t.Fatal(err)
	}
	if CUDAAvailable() != (CUDADeviceCount() > 0) {
		t.Fatalf("CUDAAvailable %v but %d devices", CUDAAvailable(), CUDADeviceCount())
	}
	if err := Synchronize(CPU); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		want DType
	}{{"f32", Float32}, {"float32", Float32}, {"BF16", BFloat16}, {"half", Float16}, {"F16", Float16}, {"i64", Int64}, {"BOOL", Bool}, {"f64", Float64}, {"I32", Int32}, {"u8", Uint8}} {
		if got, err := ParseDType(c.in); err != nil || got != c.want {
			t.Errorf("ParseDType(%q) = %v, %v", c.in, got, err)
		}
	}
	if _, err := ParseDType("f8"); err == nil {
		t.Error("ParseDType(f8): no error")
	}
	for dt, size := range map[DType]int{Float32: 4, BFloat16: 2, Float16: 2, Int64: 8, Bool: 1, Int32: 4, Uint8: 1, Float64: 8} {
		if dt.Size() != size || dt.IsFloat() != (dt == Float32 || dt == BFloat16 || dt == Float16 || dt == Float64) {
			t.Errorf("%v: size %d float %v", dt, dt.Size(), dt.IsFloat())
		}
		if back, err := ParseDType(dt.String()); err != nil || back != dt {
			t.Errorf("ParseDType(%v.String()) = %v %v", dt, back, err)
		}
	}
	for _, c := range []struct {
		in      string
		want    Device
		wantErr bool
	}{{"cpu", CPU, false}, {"CPU", CPU, false}, {"cuda:x", CPU, true}, {"cuda:-1", CPU, true}, {"tpu", CPU, true}} {
		got, err := ParseDevice(c.in)
		if (err != nil) != c.wantErr || (!c.wantErr && got != c.want) {
			t.Errorf("ParseDevice(%q) = %v, %v", c.in, got, err)
		}
	}
	n := CUDADeviceCount()
	if d, err := ParseDevice("auto"); err != nil || d.CUDA != (n > 0) {
		t.Errorf("ParseDevice(auto) = %v, %v with %d GPUs", d, err, n)
	}
	if _, err := ParseDevice(fmt.Sprintf("cuda:%d", n)); err == nil {
		t.Errorf("cuda:%d accepted with %d devices", n, n)
	} else {
		wantErr(t, err, fmt.Sprintf("cuda:%d", n), "sees")
	}
	if CUDA(1).String() != "cuda:1" || CPU.String() != "cpu" {
		t.Error("device strings")
	}
	if n == 0 {
		if _, err := CUDAMemory(0); err == nil && strings.HasSuffix(v, "+cpu") {
			t.Error("CUDAMemory on a CPU-only build: no error")
		}
		return
	}
	// With a GPU: the same ops on cuda:0 agree with the CPU, and memory stats move.
	s := NewScope()
	defer s.Close()
	r := rng(10)
	a, b := randArr(r, 4, 8), randArr(r, 8, 3)
	dev := CUDA(0)
	if err := CUDAResetPeak(0); err != nil {
		t.Fatal(err)
	}
	y := s.Matmul(s.To(t32(s, a), Float32, dev), s.ToDevice(t32(s, b), dev))
	if y.Device() != dev {
		t.Fatalf("device %v", y.Device())
	}
	check(t, s, s.ToDevice(y, CPU), matmulRef(a, b), 1e-4)
	if err := Synchronize(dev); err != nil {
		t.Fatal(err)
	}
	if m, err := CUDAMemory(0); err != nil || m.Peak <= 0 {
		t.Fatalf("CUDAMemory %+v %v", m, err)
	}
	if err := EmptyCache(); err != nil {
		t.Fatal(err)
	}
}
