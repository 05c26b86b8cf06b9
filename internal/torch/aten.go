package torch

/*
#include <stdlib.h>
#include "loader.h"
*/
import "C"

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// atenCounting mirrors the shim's counter switch for the reads counted here.
var atenCounting atomic.Bool

// goReads counts Go's reads of tensors while counting: each is a blocking device→host copy on a
// GPU (and would be one if the tensor lived there on the CPU).
var goReads atomic.Int64

func countHostRead() {
	if atenCounting.Load() {
		goReads.Add(1)
	}
}

// ATenCounts are libtorch's own op records (a global RecordFunction callback in the shim), not
// sentitune's Scope calls: one Scope op may run several ATen ops.
type ATenCounts struct {
	Ops           int64 `json:"aten_ops"`       // every ATen op, composite ones and the ops they call
	Launches      int64 `json:"launches"`       // leaf ops that run a kernel (views, allocation and metadata left out)
	AutogradNodes int64 `json:"autograd_nodes"` // backward nodes executed
	HostReads     int64 `json:"host_reads"`     // Go's tensor reads and libtorch's .item()s: each blocks on a GPU
}

// Sub is c minus an earlier reading.
func (c ATenCounts) Sub(o ATenCounts) ATenCounts {
	return ATenCounts{c.Ops - o.Ops, c.Launches - o.Launches, c.AutogradNodes - o.AutogradNodes, c.HostReads - o.HostReads}
}

// Add is c plus o.
func (c ATenCounts) Add(o ATenCounts) ATenCounts {
	return ATenCounts{c.Ops + o.Ops, c.Launches + o.Launches, c.AutogradNodes + o.AutogradNodes, c.HostReads + o.HostReads}
}

// CountATen turns the ATen op counter on or off; counts only grow, so callers read differences.
func CountATen(on bool) error {
	v := 0
	if on {
		v = 1
	}
	atenCounting.Store(on)
	return global("opcount_enable", func() *C.char { return C.g_st_opcount_enable(C.int(v)) })
}

// ReadATenCounts is the counter's running total.
func ReadATenCounts() (ATenCounts, error) {
	var ops, launches, nodes, reads C.int64_t
	err := global("opcount_read", func() *C.char { return C.g_st_opcount_read(&ops, &launches, &nodes, &reads) })
	return ATenCounts{int64(ops), int64(launches), int64(nodes), int64(reads) + goReads.Load()}, err
}

// StartTrace records every ATen op and autograd node with its host start and duration until
// StopTrace. On a GPU this is the host timeline (dispatch and launches), not the kernels.
func StartTrace() error {
	return global("trace_start", func() *C.char { return C.g_st_trace_start() })
}

// TracePhase closes a span named phase on the trace's "phases" track (from the last TracePhase).
func TracePhase(phase string) error {
	cs := C.CString(phase)
	defer C.free(unsafe.Pointer(cs))
	return global("trace_phase", func() *C.char { return C.g_st_trace_phase(cs) })
}

// StopTrace ends tracing and writes Chrome trace JSON (chrome://tracing, ui.perfetto.dev) to path.
func StopTrace(path string) error {
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	if err := global("trace_stop", func() *C.char { return C.g_st_trace_stop(cs) }); err != nil {
		return fmt.Errorf("write trace %s: %w", path, err)
	}
	return nil
}
