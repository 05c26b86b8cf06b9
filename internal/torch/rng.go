package torch

/*
#include "loader.h"
*/
import "C"

import "fmt"

// RNGState saves the state of a device's default generator (CPU's, or a CUDA device's):
// what torch.utils.checkpoint keeps so that a recomputed layer draws the same dropout masks.
func (s *Scope) RNGState(dev Device) *Tensor {
	dt, di := dev.ctype()
	return s.call("rng_get_state", nil, func(out *C.st_tensor) *C.char { return C.g_st_rng_get_state(dt, di, out) })
}

// SetRNGState puts back a state RNGState saved on the same device.
func (s *Scope) SetRNGState(dev Device, state *Tensor) {
	if s.err != nil {
		return
	}
	if !state.Valid() {
		s.err = fmt.Errorf("torch: rng_set_state: state is nil")
		return
	}
	dt, di := dev.ctype()
	if err := cerr(C.g_st_rng_set_state(dt, di, state.h)); err != nil {
		s.err = fmt.Errorf("torch: rng_set_state(%v): %w", dev, err)
	}
}

// BackwardWith back-propagates grad (t's shape) from t into every leaf that requires grad: the
// vector-Jacobian product a recomputed layer takes from the layer after it.
func (s *Scope) BackwardWith(t, grad *Tensor) {
	if s.err != nil {
		return
	}
	if !t.Valid() || !grad.Valid() {
		s.err = fmt.Errorf("torch: backward: output or gradient is nil")
		return
	}
	if err := cerr(timeOp("backward", func() *C.char { return C.g_st_backward_grad(t.h, grad.h) })); err != nil {
		s.err = fmt.Errorf("torch: backward(%v, grad %v): %w", t, grad, err)
	}
}
