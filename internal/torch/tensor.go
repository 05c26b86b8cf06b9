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
	"strings"
	"unsafe"
)

// Tensor is a handle to a libtorch tensor. Its owner Scope frees it; a Tensor taken out of every
// scope with Keep is freed by Free.
type Tensor struct {
	h     C.st_tensor
	owner *Scope
}

// Scope owns the tensors its ops create and holds the first error among them.
type Scope struct {
	owned []*Tensor
	err   error
}

// NewScope starts an empty scope.
func NewScope() *Scope { return &Scope{} }

// Err is the first error of any op in the scope.
func (s *Scope) Err() error { return s.err }

// Fail records err as the scope's error unless one is already recorded.
func (s *Scope) Fail(err error) {
	if s.err == nil && err != nil {
		s.err = err
	}
}

// Close frees every tensor the scope still owns. The scope stays usable (empty) afterwards, and its
// error is kept.
func (s *Scope) Close() {
	for _, t := range s.owned {
		if t.owner == s {
			t.release()
		}
	}
	s.owned = s.owned[:0]
}

// Len is the number of tensors the scope currently owns (for leak checks).
func (s *Scope) Len() int {
	n := 0
	for _, t := range s.owned {
		if t.owner == s {
			n++
		}
	}
	return n
}

// Keep takes t out of the scope: it survives Close and its owner must Free it or Adopt it elsewhere.
func (s *Scope) Keep(t *Tensor) *Tensor {
	if t != nil && t.owner == s {
		t.owner = nil
	}
	return t
}

// Adopt makes s the owner of t (moving it from another scope).
func (s *Scope) Adopt(t *Tensor) *Tensor {
	if t != nil && t.h != nil {
		t.owner = s
		s.owned = append(s.owned, t)
	}
	return t
}

func (s *Scope) own(h C.st_tensor) *Tensor {
	t := &Tensor{h: h, owner: s}
	s.owned = append(s.owned, t)
	return t
}

// Free releases a tensor now. Safe to call twice and on nil.
func (t *Tensor) Free() {
	if t != nil {
		t.release()
	}
}

func (t *Tensor) release() {
	if t.h != nil {
		C.g_st_free(t.h)
		t.h = nil
	}
	t.owner = nil
}

// Valid reports whether t holds a live tensor.
func (t *Tensor) Valid() bool { return t != nil && t.h != nil }

// Shape is the tensor's size per dimension (nil for a freed tensor).
func (t *Tensor) Shape() []int64 {
	if !t.Valid() {
		return nil
	}
	var buf [16]C.int64_t
	var nd C.int
	if cerr(C.g_st_shape(t.h, &buf[0], 16, &nd)) != nil || nd > 16 {
		return nil
	}
	out := make([]int64, int(nd))
	for i := range out {
		out[i] = int64(buf[i])
	}
	return out
}

// Dim is the number of dimensions.
func (t *Tensor) Dim() int { return len(t.Shape()) }

// Size is the size of dimension d (negative d counts from the end).
func (t *Tensor) Size(d int) int64 {
	sh := t.Shape()
	if d < 0 {
		d += len(sh)
	}
	if d < 0 || d >= len(sh) {
		return 0
	}
	return sh[d]
}

// Numel is the number of elements.
func (t *Tensor) Numel() int64 {
	n := int64(1)
	for _, d := range t.Shape() {
		n *= d
	}
	return n
}

type info struct {
	dtype        DType
	dev          Device
	requiresGrad bool
	defined      bool
}

func (t *Tensor) info() info {
	if !t.Valid() {
		return info{}
	}
	var dt, devt, devi, rg, def C.int
	if cerr(C.g_st_info(t.h, &dt, &devt, &devi, &rg, &def)) != nil {
		return info{}
	}
	return info{DType(dt), Device{devt == 1, int(devi)}, rg != 0, def != 0}
}

// DType is the element type.
func (t *Tensor) DType() DType { return t.info().dtype }

// Device is where the tensor lives.
func (t *Tensor) Device() Device { return t.info().dev }

// RequiresGrad reports whether autograd tracks the tensor.
func (t *Tensor) RequiresGrad() bool { return t.info().requiresGrad }

// String describes the tensor as [d0 d1 …] dtype device.
func (t *Tensor) String() string {
	if !t.Valid() {
		return "<nil tensor>"
	}
	in := t.info()
	return fmt.Sprintf("%v %v %v", t.Shape(), in.dtype, in.dev)
}

// SetRequiresGrad turns autograd tracking on or off for a leaf tensor.
func (t *Tensor) SetRequiresGrad(on bool) error {
	if !t.Valid() {
		return errors.New("torch: set_requires_grad on a nil tensor")
	}
	b := C.int(0)
	if on {
		b = 1
	}
	if err := cerr(C.g_st_set_requires_grad(t.h, b)); err != nil {
		return fmt.Errorf("torch: set_requires_grad(%v): %w", t, err)
	}
	return nil
}

// ZeroGrad drops the accumulated gradient.
func (t *Tensor) ZeroGrad() error {
	if !t.Valid() {
		return errors.New("torch: zero_grad on a nil tensor")
	}
	return cerr(C.g_st_zero_grad(t.h))
}

// CopyFrom copies src into t in place (no autograd), converting dtype and device.
func (t *Tensor) CopyFrom(src *Tensor) error {
	if !t.Valid() || !src.Valid() {
		return errors.New("torch: copy_ with a nil tensor")
	}
	if err := cerr(C.g_st_copy_(t.h, src.h)); err != nil {
		return fmt.Errorf("torch: copy_(dst=%v, src=%v): %w", t, src, err)
	}
	return nil
}

// read copies the tensor, converted to dtype, into dst (which must hold exactly its bytes).
func (t *Tensor) read(dtype DType, dst unsafe.Pointer, nbytes int) error {
	if !t.Valid() {
		return errors.New("torch: read of a nil tensor")
	}
	countHostRead()
	if err := cerr(C.g_st_read(t.h, C.int(dtype), dst, C.int64_t(nbytes))); err != nil {
		return fmt.Errorf("torch: read %v as %v: %w", t, dtype, err)
	}
	return nil
}

// Float32s copies the tensor to the host as float32 values (row-major).
func (t *Tensor) Float32s() ([]float32, error) {
	out := make([]float32, t.Numel())
	err := t.read(Float32, ptr(out), len(out)*4)
	runtime.KeepAlive(out)
	return out, err
}

// Float64s copies the tensor to the host as float64 values.
func (t *Tensor) Float64s() ([]float64, error) {
	out := make([]float64, t.Numel())
	err := t.read(Float64, ptr(out), len(out)*8)
	runtime.KeepAlive(out)
	return out, err
}

// Int64s copies the tensor to the host as int64 values.
func (t *Tensor) Int64s() ([]int64, error) {
	out := make([]int64, t.Numel())
	err := t.read(Int64, ptr(out), len(out)*8)
	runtime.KeepAlive(out)
	return out, err
}

// Bytes copies the tensor to the host as raw little-endian elements of dtype.
func (t *Tensor) Bytes(dtype DType) ([]byte, error) {
	out := make([]byte, int(t.Numel())*dtype.Size())
	err := t.read(dtype, ptr(out), len(out))
	runtime.KeepAlive(out)
	return out, err
}

// Item reads a one-element tensor.
func (t *Tensor) Item() (float64, error) {
	if n := t.Numel(); n != 1 {
		return 0, fmt.Errorf("torch: item() of %v: want exactly one element, have %d", t, n)
	}
	v, err := t.Float64s()
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func ptr[T any](s []T) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Pointer(&s[0])
}

func shapeArgs(shape []int64) (*C.int64_t, C.int) {
	if len(shape) == 0 {
		return nil, 0
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0])), C.int(len(shape))
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// call runs one shim op that produces a tensor. It enforces the sticky error, checks inputs, and
// names the op and its inputs' shapes in any error.
func (s *Scope) call(name string, ins []*Tensor, f func(out *C.st_tensor) *C.char) *Tensor {
	if s.err != nil {
		return nil
	}
	if err := Load(); err != nil {
		s.err = fmt.Errorf("%s: %w", name, err)
		return nil
	}
	for i, t := range ins {
		if !t.Valid() {
			s.err = fmt.Errorf("torch: %s: input %d is nil (freed, or produced by a failed op)", name, i)
			return nil
		}
	}
	var out C.st_tensor
	msg := timeOp(name, func() *C.char { return f(&out) })
	if msg != nil {
		s.err = fmt.Errorf("torch: %s(%s): %w", name, describe(ins), cerr(msg))
		return nil
	}
	if out == nil {
		return nil // an undefined result, e.g. a missing gradient
	}
	return s.own(out)
}

func describe(ins []*Tensor) string {
	parts := make([]string, len(ins))
	for i, t := range ins {
		parts[i] = t.String()
	}
	return strings.Join(parts, ", ")
}

func handles(ts []*Tensor) []C.st_tensor {
	hs := make([]C.st_tensor, len(ts))
	for i, t := range ts {
		if t != nil {
			hs[i] = t.h
		}
	}
	return hs
}

// FromFloat32 copies data into a new CPU tensor of the given shape.
func (s *Scope) FromFloat32(data []float32, shape ...int64) *Tensor {
	return s.fromSlice("from_float32", ptr(data), int64(len(data)), Float32, shape, CPU, data)
}

// FromFloat64 copies data into a new CPU float64 tensor.
func (s *Scope) FromFloat64(data []float64, shape ...int64) *Tensor {
	return s.fromSlice("from_float64", ptr(data), int64(len(data)), Float64, shape, CPU, data)
}

// FromInt64 copies data into a new CPU int64 tensor.
func (s *Scope) FromInt64(data []int64, shape ...int64) *Tensor {
	return s.fromSlice("from_int64", ptr(data), int64(len(data)), Int64, shape, CPU, data)
}

// FromBool copies data into a new CPU bool tensor.
func (s *Scope) FromBool(data []bool, shape ...int64) *Tensor {
	return s.fromSlice("from_bool", ptr(data), int64(len(data)), Bool, shape, CPU, data)
}

// FromBytes copies raw little-endian elements of dtype into a new tensor on dev.
func (s *Scope) FromBytes(data []byte, dtype DType, shape []int64, dev Device) *Tensor {
	if dtype.Size() == 0 {
		s.Fail(fmt.Errorf("torch: from_bytes: unknown dtype %v", dtype))
		return nil
	}
	return s.fromSlice("from_bytes", ptr(data), int64(len(data)/dtype.Size()), dtype, shape, dev, data)
}

func (s *Scope) fromSlice(name string, p unsafe.Pointer, n int64, dtype DType, shape []int64, dev Device, keep any) *Tensor {
	if s.err != nil {
		return nil
	}
	if numel(shape) != n {
		s.err = fmt.Errorf("torch: %s: %d values do not fill shape %v (%d elements)", name, n, shape, numel(shape))
		return nil
	}
	sp, nd := shapeArgs(shape)
	dt, di := dev.ctype()
	t := s.call(name, nil, func(out *C.st_tensor) *C.char {
		return C.g_st_from_data(p, C.int(dtype), sp, nd, dt, di, out)
	})
	runtime.KeepAlive(keep)
	runtime.KeepAlive(shape)
	return t
}

// FromBlob wraps memory that is not Go-managed (an mmapped safetensors file) as a CPU tensor without
// copying. The memory must stay mapped and unmodified for the tensor's life.
func (s *Scope) FromBlob(data []byte, dtype DType, shape []int64) *Tensor {
	if s.err != nil {
		return nil
	}
	if dtype.Size() == 0 || numel(shape)*int64(dtype.Size()) != int64(len(data)) {
		s.err = fmt.Errorf("torch: from_blob: %d bytes do not hold shape %v of %v", len(data), shape, dtype)
		return nil
	}
	sp, nd := shapeArgs(shape)
	p := ptr(data)
	return s.call("from_blob", nil, func(out *C.st_tensor) *C.char {
		return C.g_st_from_blob(p, C.int(dtype), sp, nd, out)
	})
}

// Full is a tensor of the given shape filled with v.
func (s *Scope) Full(shape []int64, v float64, dtype DType, dev Device) *Tensor {
	sp, nd := shapeArgs(shape)
	dt, di := dev.ctype()
	t := s.call("full", nil, func(out *C.st_tensor) *C.char {
		return C.g_st_full(sp, nd, C.double(v), C.int(dtype), dt, di, out)
	})
	runtime.KeepAlive(shape)
	return t
}

// Zeros is a zero-filled tensor.
func (s *Scope) Zeros(shape []int64, dtype DType, dev Device) *Tensor {
	return s.Full(shape, 0, dtype, dev)
}

// Ones is a one-filled tensor.
func (s *Scope) Ones(shape []int64, dtype DType, dev Device) *Tensor {
	return s.Full(shape, 1, dtype, dev)
}

// Randn draws standard normal values from libtorch's generator (seed with ManualSeed).
func (s *Scope) Randn(shape []int64, dtype DType, dev Device) *Tensor {
	sp, nd := shapeArgs(shape)
	dt, di := dev.ctype()
	t := s.call("randn", nil, func(out *C.st_tensor) *C.char {
		return C.g_st_randn(sp, nd, C.int(dtype), dt, di, out)
	})
	runtime.KeepAlive(shape)
	return t
}

// Uniform draws values uniformly from [low, high).
func (s *Scope) Uniform(shape []int64, low, high float64, dtype DType, dev Device) *Tensor {
	sp, nd := shapeArgs(shape)
	dt, di := dev.ctype()
	t := s.call("uniform", nil, func(out *C.st_tensor) *C.char {
		return C.g_st_rand_uniform(sp, nd, C.double(low), C.double(high), C.int(dtype), dt, di, out)
	})
	runtime.KeepAlive(shape)
	return t
}

// Arange is [start, end) as a 1-D tensor.
func (s *Scope) Arange(start, end int64, dtype DType, dev Device) *Tensor {
	dt, di := dev.ctype()
	return s.call("arange", nil, func(out *C.st_tensor) *C.char {
		return C.g_st_arange(C.int64_t(start), C.int64_t(end), C.int(dtype), dt, di, out)
	})
}
