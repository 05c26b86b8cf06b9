// Command bench measures sentitune side by side with the PyTorch eager
// reference (bench/torch_ref.py) on this machine and writes
// bench/results/cpu-<date>.json and .md. `make bench` builds and runs it.
//
// The parent process stays small and only orchestrates: every measurement runs
// in a fresh child process (this binary with "child NAME SPEC", or
// python3 torch_ref.py), so that each peak RSS is that measurement's alone and
// the two implementations are measured the same way.
//
//	build/sentitune-bench [-out bench/results] [-threads N] [-quick] [-only train,predict]
//	build/sentitune-bench -render bench/results/cpu-DATE.json   (rewrite its .md from the JSON)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sentitune/sentitune/internal/atomicfile"
)

// options of a bench run.
type options struct {
	out       string // results folder
	threads   int    // libtorch intra-op threads, the same on both sides
	python    string // interpreter with torch (Debian's python3-torch)
	torchRef  string // bench/torch_ref.py
	sentitune string // the CLI binary (scale-out uses its --nproc)
	quick     bool   // small sizes: a smoke test of the harness, not numbers to publish
	only      map[string]bool
	work      string // scratch folder for models and data
}

func (o options) want(section string) bool { return len(o.only) == 0 || o.only[section] }

// init keeps the main goroutine, which makes every libtorch call of a command, on the process's
// main thread: one thread means one glibc malloc arena, which torch.Load tunes to keep freed tensor
// buffers (with calls hopping between threads, glibc can hand a whole per-thread heap back to the
// kernel and fault it in again on the next step).
func init() { runtime.LockOSThread() }

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "child" {
		os.Exit(childMain(os.Args[2:]))
	}
	var o options
	var only, render string
	var loadtest bool
	flag.StringVar(&o.out, "out", "bench/results", "results `DIR`")
	flag.IntVar(&o.threads, "threads", 0, "libtorch threads for sentitune and PyTorch alike (0: libtorch's default here)")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with torch (Debian python3-torch)")
	flag.StringVar(&o.torchRef, "torch-ref", "bench/torch_ref.py", "the PyTorch eager reference script")
	flag.StringVar(&o.sentitune, "sentitune", "build/sentitune", "the sentitune binary (for finetune --nproc)")
	flag.BoolVar(&o.quick, "quick", false, "tiny sizes: check the harness in a minute (results are marked quick)")
	flag.StringVar(&only, "only", "", "comma-separated sections: gemm,train,predict,tokenizer,prep,scaleout")
	flag.StringVar(&render, "render", "", "rewrite the markdown table of an existing results `JSON` file and exit")
	baseline := flag.Bool("baseline", false, "instead: the TF-IDF baseline's fit on 50k IMDB-like reviews vs scikit-learn, written to baseline-<date>.json/.md")
	baselineNoSklearn := flag.Bool("baseline-no-sklearn", false, "with -baseline: the Go fit only (baseline-<date>-go.json/.md)")
	checkpointing := flag.Bool("checkpointing", false, "instead: finetune steps on the small preset at 8 × 512 with --gradient-checkpointing off and on (peak RSS, step time), written to checkpointing-<date>.json/.md")
	memplan := flag.Bool("memplan", false, "instead: finetune.PlanMemory's plan vs the measured peak RSS of the same finetune run (tiny and small presets, checkpointing off/on, 4-bit), written to memplan-<date>.json/.md")
	flag.BoolVar(&loadtest, "loadtest", false, "instead: the bounded serve load test (make loadtest), written to serve-load-<date>.json/.md")
	flag.Parse()
	if *baseline {
		if err := runBaselineBench(o, !*baselineNoSklearn); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *checkpointing {
		if err := runCheckpointingBench(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if *memplan {
		if err := runMemPlanBench(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if loadtest {
		if err := runLoadTest(o); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if render != "" {
		if err := rerender(render); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			o.only[strings.TrimSpace(s)] = true
		}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	begin := time.Now()
	work, err := os.MkdirTemp("", "sentitune-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	o.work = work

	res := &Results{
		Command: commandLine(),
		Date:    begin.UTC().Format(time.RFC3339),
		Quick:   o.quick,
		Machine: machineInfo(),
	}
	res.Engine = engineInfo(o)
	res.Load = append(res.Load, loadSample("start"))
	var probe probeOut
	if _, err := runChild("probe", struct{}{}, &probe); err != nil {
		return fmt.Errorf("load libtorch: %w", err)
	}
	res.Engine.Libtorch, res.Engine.DefaultThreadsGo = probe.Torch, probe.DefaultThreads
	if o.threads == 0 {
		// Both libtorch builds default to the same count here (recorded below); using
		// it measures what a user gets, and one thread per process is also what
		// survives other builds running on these cores (OpenMP teams spin-wait
		// badly when oversubscribed).
		o.threads = probe.DefaultThreads
	}
	res.Engine.Threads = o.threads

	logf("bench: %s, %d cores, threads %d, BLAS %s", res.Machine.CPU, res.Machine.Cores, o.threads, res.Engine.BLAS)
	models, err := makeModels(o)
	if err != nil {
		return err
	}

	// Each section records its own failure instead of aborting the run: a
	// missing PyTorch must not cost the Go numbers.
	section := func(name string, f func() error) {
		if !o.want(name) {
			return
		}
		t0 := time.Now()
		logf("bench: %s ...", name)
		if err := f(); err != nil {
			logf("bench: %s failed: %v", name, err)
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", name, err))
		}
		res.Load = append(res.Load, loadSample(name))
		logf("bench: %s done in %.0fs", name, time.Since(t0).Seconds())
	}
	section("gemm", func() error { return benchGEMM(o, res) })
	section("train", func() error { return benchTrain(o, models, res) })
	section("predict", func() error { return benchPredict(o, models, res) })
	section("tokenizer", func() error { return benchTokenizer(o, models, res) })
	section("prep", func() error { return benchPrep(o, res) })
	section("scaleout", func() error { return benchScaleOut(o, models, res) })
	res.WallSeconds = time.Since(begin).Seconds()

	name := "cpu-" + begin.Format("2006-01-02")
	if o.quick {
		name += "-quick"
	}
	jsonPath, mdPath, err := writeResults(o.out, name, res, renderMarkdown(res))
	if err != nil {
		return err
	}
	logf("bench: wrote %s and %s in %.0fs", jsonPath, mdPath, res.WallSeconds)
	if len(res.Errors) > 0 {
		return fmt.Errorf("%d section(s) failed: %s", len(res.Errors), strings.Join(res.Errors, "; "))
	}
	return nil
}

// rerender rewrites path's .md twin from the JSON (after a change to the report's wording).
func rerender(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	md := strings.TrimSuffix(path, ".json") + ".md"
	if err := atomicfile.WriteFile(md, []byte(renderMarkdown(&res))); err != nil {
		return err
	}
	logf("bench: wrote %s", md)
	return nil
}

func commandLine() string {
	cmd := strings.Join(os.Args, " ")
	if os.Getenv("MAKELEVEL") != "" {
		return "make bench  (runs: " + cmd + ")"
	}
	return cmd
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// writeResults writes a benchmark's results as out/name.json (res, indented) and out/name.md (md).
func writeResults(out, name string, res any, md string) (jsonPath, mdPath string, err error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", "", err
	}
	jsonPath, mdPath = filepath.Join(out, name+".json"), filepath.Join(out, name+".md")
	if err := atomicfile.WriteFile(jsonPath, append(js, '\n')); err != nil {
		return "", "", err
	}
	if err := atomicfile.WriteFile(mdPath, []byte(md)); err != nil {
		return "", "", err
	}
	return jsonPath, mdPath, nil
}
