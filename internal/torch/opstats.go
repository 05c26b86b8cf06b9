package torch

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// OpStat is the host time spent in one kind of op while RecordOps was on.
type OpStat struct {
	Op      string  `json:"op"`
	Calls   int64   `json:"calls"`
	Seconds float64 `json:"seconds"`
}

// opRec tallies Scope ops by name. The time is the host side of each call: libtorch's dispatch and
// CPU kernels, and on a GPU the kernel launches but not the kernels, which run asynchronously. On a
// GPU, ops whose host time adds up to the step time mean the step is bound by launches, not by the
// device.
var opRec struct {
	on    atomic.Bool
	mu    sync.Mutex
	stats map[string]*OpStat
}

// RecordOps starts or stops (pauses) recording op statistics; tallies add up across recordings
// until ResetOpStats.
func RecordOps(on bool) {
	opRec.mu.Lock()
	defer opRec.mu.Unlock()
	if on && opRec.stats == nil {
		opRec.stats = map[string]*OpStat{}
	}
	opRec.on.Store(on)
}

// ResetOpStats clears the tallies.
func ResetOpStats() {
	opRec.mu.Lock()
	defer opRec.mu.Unlock()
	opRec.stats = nil
}

// OpStats returns the tallies recorded so far, the costliest first.
func OpStats() []OpStat {
	opRec.mu.Lock()
	defer opRec.mu.Unlock()
	out := make([]OpStat, 0, len(opRec.stats))
	for _, st := range opRec.stats {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Seconds != out[j].Seconds {
			return out[i].Seconds > out[j].Seconds
		}
		return out[i].Op < out[j].Op
	})
	return out
}

// timeOp runs f, tallying its host time under name while recording.
func timeOp[T any](name string, f func() T) T {
	if !opRec.on.Load() {
		return f()
	}
	t0 := time.Now()
	r := f()
	d := time.Since(t0).Seconds()
	opRec.mu.Lock()
	if opRec.stats != nil {
		st := opRec.stats[name]
		if st == nil {
			st = &OpStat{Op: name}
			opRec.stats[name] = st
		}
		st.Calls++
		st.Seconds += d
	}
	opRec.mu.Unlock()
	return r
}
