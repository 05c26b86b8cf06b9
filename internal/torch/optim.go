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
	"unsafe"
)

// ParamGroup is a set of parameters sharing a learning rate and weight decay (LoRA+ gives B its own).
type ParamGroup struct {
	Params      []*Tensor
	LR          float64
	WeightDecay float64
}

// AdamW is libtorch's torch::optim::AdamW over parameter groups.
type AdamW struct {
	o      C.st_optim
	groups int
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
	return &AdamW{o: o, groups: len(groups)}, nil
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

// ZeroGrad clears the parameters' gradients.
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
	return nil
}

// Groups is the number of parameter groups.
func (a *AdamW) Groups() int { return a.groups }

// Save writes the optimizer state (moments and step counts) to path in libtorch's archive format.
func (a *AdamW) Save(path string) error {
	if err := a.check("save"); err != nil {
		return err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if err := cerr(C.g_st_adamw_save(a.o, cp)); err != nil {
		return fmt.Errorf("torch: save optimizer state %s: %w", path, err)
	}
	return nil
}

// Load restores state written by Save for the same parameters.
func (a *AdamW) Load(path string) error {
	if err := a.check("load"); err != nil {
		return err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if err := cerr(C.g_st_adamw_load(a.o, cp)); err != nil {
		return fmt.Errorf("torch: load optimizer state %s: %w", path, err)
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
// before clipping.
func ClipGradNorm(params []*Tensor, maxNorm float64) (float64, error) {
	if err := Load(); err != nil {
		return 0, err
	}
	if len(params) == 0 {
		return 0, nil
	}
	hs := handles(params)
	var total C.double
	msg := C.g_st_clip_grad_norm(&hs[0], C.int(len(hs)), C.double(maxNorm), &total)
	runtime.KeepAlive(hs)
	if err := cerr(msg); err != nil {
		return 0, fmt.Errorf("torch: clip_grad_norm: %w", err)
	}
	return float64(total), nil
}
