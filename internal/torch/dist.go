package torch

/*
#include <stdlib.h>
#include "loader.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// Group is a c10d process group (Gloo on CPU, NCCL on CUDA) with its TCPStore rendezvous.
type Group struct {
	g          C.st_group
	Rank, Size int
}

// DistAvailable reports whether the loaded shim was built with c10d support.
func DistAvailable() bool {
	var v C.int
	return global("dist_available", func() *C.char { return C.g_st_dist_available(&v) }) == nil && v != 0
}

// InitGroup joins a process group: rank 0 hosts the TCPStore on host:port, every rank connects to it.
// Collectives that wait longer than timeout fail instead of hanging.
func InitGroup(backend, host string, port, rank, world int, timeout time.Duration) (*Group, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	cb, ch := C.CString(backend), C.CString(host)
	defer C.free(unsafe.Pointer(cb))
	defer C.free(unsafe.Pointer(ch))
	var g C.st_group
	if err := cerr(C.g_st_dist_init(cb, ch, C.int(port), C.int(rank), C.int(world), C.int(timeout.Milliseconds()), &g)); err != nil {
		return nil, fmt.Errorf("torch: init %s process group (rank %d of %d, %s:%d): %w", backend, rank, world, host, port, err)
	}
	return &Group{g: g, Rank: rank, Size: world}, nil
}

func (g *Group) collective(name string, ts []*Tensor, f func(p *C.st_tensor, n C.int) *C.char) error {
	if g == nil || g.g == nil {
		return fmt.Errorf("torch: %s: process group is closed", name)
	}
	if len(ts) == 0 {
		return nil
	}
	for i, t := range ts {
		if !t.Valid() {
			return fmt.Errorf("torch: %s: tensor %d is nil", name, i)
		}
	}
	hs := handles(ts)
	err := cerr(f(&hs[0], C.int(len(hs))))
	runtime.KeepAlive(hs)
	if err != nil {
		return fmt.Errorf("torch: %s (rank %d of %d): %w", name, g.Rank, g.Size, err)
	}
	return nil
}

// AllReduce sums (or, with average, averages) the tensors in place across ranks as one flat bucket.
func (g *Group) AllReduce(ts []*Tensor, average bool) error {
	avg := C.int(0)
	if average {
		avg = 1
	}
	return g.collective("allreduce", ts, func(p *C.st_tensor, n C.int) *C.char {
		return C.g_st_dist_allreduce(g.g, p, n, avg)
	})
}

// Broadcast copies root's tensors into every rank's, in place (as one flat bucket).
func (g *Group) Broadcast(ts []*Tensor, root int) error {
	return g.collective("broadcast", ts, func(p *C.st_tensor, n C.int) *C.char {
		return C.g_st_dist_broadcast(g.g, p, n, C.int(root))
	})
}

// Barrier waits until every rank reaches it. Under NCCL it allocates its one-element tensor on the
// current CUDA device (device 0 unless set): ranks sharing a machine should not rely on it.
func (g *Group) Barrier() error {
	if g == nil || g.g == nil {
		return errors.New("torch: barrier: process group is closed")
	}
	if err := cerr(C.g_st_dist_barrier(g.g)); err != nil {
		return fmt.Errorf("torch: barrier (rank %d of %d): %w", g.Rank, g.Size, err)
	}
	return nil
}

// Close leaves the group.
func (g *Group) Close() {
	if g != nil && g.g != nil {
		C.g_st_dist_free(g.g)
		g.g = nil
	}
}
