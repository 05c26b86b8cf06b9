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
)

// ParamGroup is a set of parameters sharing a learning rate and weight decay (LoRA+ gives B its own).
type ParamGroup struct {
	Params      []*Tensor
	LR          float64
	WeightDecay float64
}

// AdamW is libtorch's torch::optim::AdamW over parameter groups.
type AdamW struct {
	o            C.st_optim
	groups       []ParamGroup // as built, with LR following SetLR
	beta1, beta2 float64
	eps          float64
}

// NewAdamW builds the optimizer. The parameters must stay alive for the optimizer's life.
func NewAdamW(groups []ParamGroup, beta1, beta2, eps float64) (*AdamW, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, errors.New("torch: adamw: no parameter groups")
	}
	var hs []C.st_tensor
	var groupOf []C.int
	lrs := make([]C.double, len(groups))
	wds := make([]C.double, len(groups))
	for g, pg := range groups {
		if len(pg.Params) == 0 {
			return nil, fmt.Errorf("torch: adamw: parameter group %d is empty", g)
		}
		for i, p := range pg.Params {
			if !p.Valid() {
				return nil, fmt.Errorf("torch: adamw: group %d parameter %d is nil", g, i)
			}
			hs = append(hs, p.h)
			groupOf = append(groupOf, C.int(g))
		}
		lrs[g], wds[g] = C.double(pg.LR), C.double(pg.WeightDecay)
	}
	var o C.st_optim
	msg := C.g_st_adamw_new(&hs[0], C.int(len(hs)), &groupOf[0], C.int(len(groups)), &lrs[0], &wds[0],
		C.double(beta1), C.double(beta2), C.double(eps), &o)
	runtime.KeepAlive(hs)
	runtime.KeepAlive(groupOf)
	runtime.KeepAlive(lrs)
	runtime.KeepAlive(wds)
	if err := cerr(msg); err != nil {
		return nil, fmt.Errorf("torch: adamw: %w", err)
	}
	return &AdamW{o: o, groups: append([]ParamGroup(nil), groups...), beta1: beta1, beta2: beta2, eps: eps}, nil
}

func (a *AdamW) check(name string) error {
	if a == nil || a.o == nil {
		return fmt.Errorf("torch: adamw %s: optimizer is closed", name)
	}
	return nil
}

// Step applies one update from the parameters' gradients.
func (a *AdamW) Step() error {
	if err := a.check("step"); err != nil {
		return err
	}
	if err := cerr(C.g_st_adamw_step(a.o)); err != nil {
		return fmt.Errorf("torch: adamw step: %w", err)
	}
	return nil
}

// ZeroGrad drops the parameters' gradients (set to none: the next backward stores fresh ones).
func (a *AdamW) ZeroGrad() error {
	if err := a.check("zero_grad"); err != nil {
		return err
	}
	return cerr(C.g_st_adamw_zero_grad(a.o))
}

// SetLR sets group g's learning rate (schedules call it every step).
func (a *AdamW) SetLR(g int, lr float64) error {
	if err := a.check("set_lr"); err != nil {
		return err
	}
	if err := cerr(C.g_st_adamw_set_lr(a.o, C.int(g), C.double(lr))); err != nil {
		return fmt.Errorf("torch: adamw set_lr group %d: %w", g, err)
	}
	a.groups[g].LR = lr
	return nil
}

// Groups is the number of parameter groups.
func (a *AdamW) Groups() int { return len(a.groups) }

// Group is parameter group g as built, with its current learning rate.
func (a *AdamW) Group(g int) ParamGroup { return a.groups[g] }

// GroupOf is the index of param's group, -1 when the optimizer does not hold it.
func (a *AdamW) GroupOf(param *Tensor) int {
	for g, pg := range a.groups {
		for _, p := range pg.Params {
			if p == param {
				return g
			}
		}
	}
	return -1
}

// Betas and Eps are the moment decay rates and the denominator's epsilon.
func (a *AdamW) Betas() (beta1, beta2 float64) { return a.beta1, a.beta2 }
func (a *AdamW) Eps() float64                  { return a.eps }

// AdamWState is one parameter's optimizer state: the steps it has taken and its moments (nil
// before its first step).
type AdamWState struct {
	Step             int64
	ExpAvg, ExpAvgSq *Tensor
}

// State returns param's state. The moments are views of the live state, owned by s: read them
// before the next Step.
func (a *AdamW) State(s *Scope, param *Tensor) (AdamWState, error) {
	if err := a.check("state"); err != nil {
		return AdamWState{}, err
	}
	if !param.Valid() {
		return AdamWState{}, errors.New("torch: adamw state: parameter is nil")
	}
	var step C.int64_t
	var m1, m2 C.st_tensor
	if err := cerr(C.g_st_adamw_get_state(a.o, param.h, &step, &m1, &m2)); err != nil {
		return AdamWState{}, fmt.Errorf("torch: adamw state: %w", err)
	}
	st := AdamWState{Step: int64(step)}
	if m1 != nil {
		st.ExpAvg = s.own(m1)
	}
	if m2 != nil {
		st.ExpAvgSq = s.own(m2)
	}
	return st, nil
}

// SetState replaces param's state with copies of st's moments (cast to the parameter's dtype and
// device); their shapes must equal the parameter's.
func (a *AdamW) SetState(param *Tensor, st AdamWState) error {
	if err := a.check("set state"); err != nil {
		return err
	}
	if !param.Valid() || !st.ExpAvg.Valid() || !st.ExpAvgSq.Valid() {
		return errors.New("torch: adamw set state: parameter or moment is nil")
	}
	if err := cerr(C.g_st_adamw_set_state(a.o, param.h, C.int64_t(st.Step), st.ExpAvg.h, st.ExpAvgSq.h)); err != nil {
		return fmt.Errorf("torch: adamw set state: %w", err)
	}
	return nil
}

// Close frees the optimizer.
func (a *AdamW) Close() {
	if a != nil && a.o != nil {
		C.g_st_adamw_free(a.o)
		a.o = nil
	}
}

// ClipGradNorm scales the gradients so their global L2 norm is at most maxNorm and returns the norm
// before clipping (a read back to the host; a training step keeps it on the device with
// ClipGradNormTensor).
func ClipGradNorm(params []*Tensor, maxNorm float64) (float64, error) {
	s := NewScope()
	defer s.Close()
	norm, err := ClipGradNormTensor(s, params, maxNorm)
	if err != nil || norm == nil {
		return 0, err
	}
	return norm.Item()
}

// ClipGradNormTensor is ClipGradNorm with the norm left on the device as an f32 scalar in s (nil
// for no parameters): multi-tensor kernels and no host read, the clip factor min(1, maxNorm/norm)
// applied on the device.
func ClipGradNormTensor(s *Scope, params []*Tensor, maxNorm float64) (*Tensor, error) {
	if err := Load(); err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return nil, nil
	}
	hs := handles(params)
	var total C.st_tensor
	msg := C.g_st_clip_grad_norm(&hs[0], C.int(len(hs)), C.double(maxNorm), &total)
	runtime.KeepAlive(hs)
	if err := cerr(msg); err != nil {
		return nil, fmt.Errorf("torch: clip_grad_norm: %w", err)
	}
	return s.own(total), nil
}
