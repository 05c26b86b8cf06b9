package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/sentitune/sentitune/internal/torch"
)

// childMain runs one measurement in this fresh process and prints its result
// as one JSON line on stdout: child NAME SPEC-JSON.
func childMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: sentitune-bench child NAME SPEC-JSON")
		return 2
	}
	children := map[string]func([]byte) (any, error){
		"init-model":    childInitModel,
		"probe":         childProbe,
		"gemm":          childGEMM,
		"train":         childTrain,
		"predict-rate":  childPredictRate,
		"predict-fixed": childPredictFixed,
		"predict-file":  childPredictFile,
		"tokenize":      childTokenize,
		"prep":          childPrep,
		"baseline":      childBaseline,
		"serve-predict": childServePredict,
	}
	f, ok := children[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown child %q\n", args[0])
		return 2
	}
	out, err := f([]byte(args[1]))
	if err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", args[0], err)
		return 1
	}
	js, err := json.Marshal(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", args[0], err)
		return 1
	}
	fmt.Println(string(js))
	return 0
}

// setThreads sets libtorch's intra-op threads and returns its default.
func setThreads(n int) (def int, err error) {
	if err := torch.Load(); err != nil {
		return 0, err
	}
	def = torch.NumThreads()
	if n > 0 {
		if err := torch.SetNumThreads(n); err != nil {
			return def, err
		}
	}
	if got := torch.NumThreads(); n > 0 && got != n {
		return def, fmt.Errorf("asked libtorch for %d threads, it runs %d", n, got)
	}
	return def, nil
}

type probeOut struct {
	Torch          string `json:"torch"`
	DefaultThreads int    `json:"default_threads"`
}

// childProbe reports libtorch's version and its default thread count.
func childProbe([]byte) (any, error) {
	def, err := setThreads(0)
	if err != nil {
		return nil, err
	}
	v, err := torch.Version()
	return probeOut{Torch: v, DefaultThreads: def}, err
}

// gemmSpec: fp32 N×N matmuls through the shim.
type gemmSpec struct {
	Sizes   []int `json:"sizes"`
	Threads []int `json:"threads"`
	Repeats int   `json:"repeats"`
}

type gemmOut struct {
	Torch          string      `json:"torch"`
	DefaultThreads int         `json:"default_threads"`
	Points         []GEMMPoint `json:"points"`
}

func childGEMM(raw []byte) (any, error) {
	var sp gemmSpec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, err
	}
	def, err := setThreads(0)
	if err != nil {
		return nil, err
	}
	v, err := torch.Version()
	if err != nil {
		return nil, err
	}
	out := gemmOut{Torch: v, DefaultThreads: def}
	for _, th := range sp.Threads {
		if err := torch.SetNumThreads(th); err != nil {
			return nil, err
		}
		for _, n := range sp.Sizes {
			s := torch.NewScope()
			a := s.Randn([]int64{int64(n), int64(n)}, torch.Float32, torch.CPU)
			b := s.Randn([]int64{int64(n), int64(n)}, torch.Float32, torch.CPU)
			s.Matmul(a, b) // warm-up: first-touch allocations, BLAS thread start
			p := GEMMPoint{N: n, Threads: th}
			var gf []float64
			for range sp.Repeats {
				inner := torch.NewScope()
				t0 := time.Now()
				inner.Matmul(a, b) // CPU ops are synchronous
				dt := time.Since(t0).Seconds()
				err := inner.Err()
				inner.Close()
				if err != nil {
					s.Close()
					return nil, err
				}
				p.Seconds = append(p.Seconds, dt)
				gf = append(gf, 2*float64(n)*float64(n)*float64(n)/dt/1e9)
			}
			err := s.Err()
			s.Close()
			if err != nil {
				return nil, err
			}
			p.MedianGFLOPS = median(gf)
			sort.Float64s(gf)
			p.BestGFLOPS = gf[len(gf)-1]
			out.Points = append(out.Points, p)
		}
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
