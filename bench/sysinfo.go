package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func machineInfo() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		var fam, model, step string
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "model name" && m.CPU == "":
				m.CPU = v
			case k == "cpu family" && fam == "":
				fam = v
			case k == "model" && model == "":
				model = v
			case k == "stepping" && step == "":
				step = v
			case k == "flags" && m.CPUID == "":
				var simd []string
				for _, f := range strings.Fields(v) {
					if f == "fma" || strings.HasPrefix(f, "avx") {
						simd = append(simd, f)
					}
				}
				m.CPUID = strings.Join(simd, " ")
			}
		}
		m.CPUID = fmt.Sprintf("family %s model %s stepping %s; %s", fam, model, step, m.CPUID)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.RAMGiB = round(kb/(1<<20), 1)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// engineInfo records what the children will run on; libtorch's version and
// default thread count come from the GEMM child (the parent never loads it).
func engineInfo(o options) Engine {
	e := Engine{Threads: o.threads, Python: o.python}
	e.BLAS = blasPath()
	e.BLASNote = "make setup points the libblas.so.3/liblapack.so.3 alternatives at OpenBLAS-OpenMP " +
		"(the pthread build fights libtorch's OpenMP threads)"
	if p := os.Getenv("SENTITUNE_TORCH_LIB"); p != "" {
		e.Shim = p
	} else if abs, err := filepath.Abs("build/libsentitorch.so"); err == nil {
		e.Shim = abs
	}
	if out, err := exec.Command(o.python, "-c", "import torch; print(torch.__version__, torch.get_num_threads())").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) == 2 {
			e.PythonTorch = f[0]
			e.DefaultThreadsPython, _ = strconv.Atoi(f[1])
		}
	} else {
		e.PythonTorch = "unavailable: " + err.Error()
	}
	return e
}

func blasPath() string {
	matches, _ := filepath.Glob("/usr/lib/*/libblas.so.3")
	if len(matches) == 0 {
		return "libblas.so.3 not found"
	}
	p, err := filepath.EvalSymlinks(matches[0])
	if err != nil {
		return matches[0] + " (" + err.Error() + ")"
	}
	return p
}

func loadSample(after string) LoadSample {
	s := LoadSample{After: after}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			s.Load1, _ = strconv.ParseFloat(f[0], 64)
			s.Load5, _ = strconv.ParseFloat(f[1], 64)
			s.Load15, _ = strconv.ParseFloat(f[2], 64)
		}
	}
	return s
}

// vmHWM is this process's peak resident set in MiB (0 if unknown).
func vmHWM() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

// childRun is a finished measuring process.
type childRun struct {
	PeakRSSMiB float64 // ru_maxrss
	Wall       float64
}

// runProcess runs a measuring process, decodes the JSON object on the last
// line of its stdout into out, and reports its peak RSS from wait4's rusage.
func runProcess(cmd *exec.Cmd, out any) (childRun, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	cr := childRun{Wall: time.Since(t0).Seconds()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cr.PeakRSSMiB = float64(ru.Maxrss) / 1024
		}
	}
	if err != nil {
		return cr, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(stderr.String(), 1500))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		return cr, fmt.Errorf("%s: read its result: %w\nstdout: %s\nstderr: %s", strings.Join(cmd.Args, " "), err,
			tail(stdout.String(), 500), tail(stderr.String(), 1000))
	}
	return cr, nil
}

// runChild runs this binary as "child name spec".
func runChild(name string, spec, out any) (childRun, error) {
	exe, err := os.Executable()
	if err != nil {
		return childRun{}, err
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return childRun{}, err
	}
	return runProcess(exec.Command(exe, "child", name, string(js)), out)
}

// runTorchRef runs bench/torch_ref.py with Debian's python3-torch.
func runTorchRef(o options, out any, args ...string) (childRun, error) {
	if _, err := os.Stat(o.torchRef); err != nil {
		return childRun{}, err
	}
	cmd := exec.Command(o.python, append([]string{o.torchRef}, args...)...)
	return runProcess(cmd, out)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func round(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	if x < 0 {
		return -round(-x, digits)
	}
	return float64(int64(x*p+0.5)) / p
}

var errSkipped = errors.New("skipped")
