// Package torch is sentitune's Go face of libtorch: tensors with autograd on CPU and CUDA.
//
// The C++ lives in libsentitorch.so (shim/), a plain C ABI loaded with dlopen on first use, so the
// Go binary runs against a shim rebuilt for any libtorch version and builds with no libtorch at all.
// Tensor lifetimes are explicit: ops are methods of a Scope, and Scope.Close frees what it created.
// Errors are sticky per scope (like bufio.Scanner): after the first failed op every later op is a
// no-op returning nil, and Scope.Err names the op and its input shapes.
package torch

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "loader.h"
#ifdef __GLIBC__
#include <malloc.h>
static void st_malloc_trim(void) { malloc_trim(0); }
// st_tune_malloc keeps libtorch's freed tensor buffers in one malloc arena instead of handing them
// back to the kernel after every op (see tuneMalloc).
static void st_tune_malloc(void) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  mallopt(M_ARENA_MAX, 1);
}
#else
static void st_malloc_trim(void) {}
static void st_tune_malloc(void) {}
#endif
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// LibEnv names the environment variable that points at libsentitorch.so.
const LibEnv = "SENTITUNE_TORCH_LIB"

const libName = "libsentitorch.so"

var (
	loadOnce sync.Once
	loadErr  error
	libPath  string
)

// Load finds and opens libsentitorch.so. Every entry point calls it, so calling it explicitly is only
// needed to report a missing engine early. Search order: $SENTITUNE_TORCH_LIB, next to the executable,
// ../lib beside the executable, then build/ in the current directory and its parents.
func Load() error {
	loadOnce.Do(func() {
		tuneMalloc()
		var tried []string
		for _, p := range candidates() {
			tried = append(tried, p)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			cp := C.CString(p)
			msg := C.st_load(cp)
			C.free(unsafe.Pointer(cp))
			if msg != nil {
				loadErr = fmt.Errorf("torch: load %s: %s (is libtorch installed? `make setup`, then rebuild the engine "+
					"with `make shim`, or set %s to a working %s)", p, C.GoString(msg), LibEnv, libName)
				return
			}
			var v C.int
			C.g_st_abi_version(&v)
			if int(v) != int(C.ST_ABI_VERSION) {
				loadErr = fmt.Errorf("torch: %s has ABI version %d, this binary wants %d: rebuild the shim (make shim)", p, v, C.ST_ABI_VERSION)
				return
			}
			libPath = p
			return
		}
		loadErr = fmt.Errorf("torch: libtorch engine (%s) not found; looked in %s. Build it with `make shim` "+
			"(needs libtorch: `make setup`, LIBTORCH=/path, or a Python PyTorch) or set %s", libName, strings.Join(tried, ", "), LibEnv)
	})
	return loadErr
}

func candidates() []string {
	if p := os.Getenv(LibEnv); p != "" {
		return []string{p}
	}
	var c []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		d := filepath.Dir(exe)
		c = append(c, filepath.Join(d, libName), filepath.Join(d, "..", "lib", libName))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			c = append(c, filepath.Join(d, "build", libName))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return c
}

// LibPath is the shim that was loaded ("" before Load succeeds).
func LibPath() string { return libPath }

// cerr turns a shim error message into a Go error and frees it.
func cerr(msg *C.char) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.free(unsafe.Pointer(msg))
	return errors.New(firstLines(s, 6))
}

// firstLines trims libtorch's long messages to what a person needs.
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "; ")
}

func global(name string, f func() *C.char) error {
	if err := Load(); err != nil {
		return err
	}
	if err := cerr(f()); err != nil {
		return fmt.Errorf("torch: %s: %w", name, err)
	}
	return nil
}

// Version is the libtorch version the shim was built against, e.g. "2.11.0+cuda".
func Version() (string, error) {
	var out *C.char
	if err := global("version", func() *C.char { return C.g_st_version(&out) }); err != nil {
		return "", err
	}
	v := C.GoString(out)
	C.free(unsafe.Pointer(out))
	return v, nil
}

// CUDAAvailable reports whether libtorch sees a CUDA device.
func CUDAAvailable() bool {
	var v C.int
	return global("cuda_available", func() *C.char { return C.g_st_cuda_available(&v) }) == nil && v != 0
}

// CUDADeviceCount is the number of CUDA devices libtorch sees.
func CUDADeviceCount() int {
	var v C.int
	if global("cuda_device_count", func() *C.char { return C.g_st_cuda_device_count(&v) }) != nil {
		return 0
	}
	return int(v)
}

// MemStats are the CUDA caching allocator's byte counts for one device.
type MemStats struct{ Allocated, Reserved, Peak int64 }

// CUDAMemory reads the caching allocator's statistics for device dev.
func CUDAMemory(dev int) (MemStats, error) {
	var a, r, p C.int64_t
	err := global("cuda_memory", func() *C.char { return C.g_st_cuda_memory(C.int(dev), &a, &r, &p) })
	return MemStats{int64(a), int64(r), int64(p)}, err
}

// CUDAResetPeak resets the peak-allocated counter of device dev.
func CUDAResetPeak(dev int) error {
	return global("cuda_reset_peak", func() *C.char { return C.g_st_cuda_reset_peak(C.int(dev)) })
}

// Synchronize waits for all queued work on device d (a no-op on CPU).
func Synchronize(d Device) error {
	if !d.CUDA {
		return nil
	}
	return global("cuda_synchronize", func() *C.char { return C.g_st_cuda_synchronize(C.int(d.Index)) })
}

// EmptyCache returns cached CUDA blocks to the driver.
func EmptyCache() error {
	return global("cuda_empty_cache", func() *C.char { return C.g_st_cuda_empty_cache() })
}

// ManualSeed seeds libtorch's CPU and CUDA generators.
func ManualSeed(seed uint64) error {
	return global("manual_seed", func() *C.char { return C.g_st_manual_seed(C.uint64_t(seed)) })
}

// SetNumThreads sets libtorch's intra-op thread count.
func SetNumThreads(n int) error {
	return global("set_num_threads", func() *C.char { return C.g_st_set_num_threads(C.int(n)) })
}

// NumThreads is libtorch's intra-op thread count.
func NumThreads() int {
	var v C.int
	if global("get_num_threads", func() *C.char { return C.g_st_get_num_threads(&v) }) != nil {
		return 0
	}
	return int(v)
}

// NoGrad runs f with autograd recording off. libtorch's grad mode is per OS thread, so f runs with
// the goroutine locked to its thread; f must not hand tensor work to other goroutines.
func NoGrad(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var prev C.int
	if err := global("set_grad_enabled", func() *C.char { return C.g_st_set_grad_enabled(0, &prev) }); err != nil {
		return err
	}
	defer C.g_st_set_grad_enabled(prev, nil)
	return f()
}

// DType is a tensor element type.
type DType int

// The element types sentitune uses.
const (
	Float32  DType = C.ST_F32
	BFloat16 DType = C.ST_BF16
	Float16  DType = C.ST_F16
	Int64    DType = C.ST_I64
	Bool     DType = C.ST_BOOL
	Int32    DType = C.ST_I32
	Uint8    DType = C.ST_U8
	Float64  DType = C.ST_F64
)

var dtypeNames = map[DType]string{Float32: "f32", BFloat16: "bf16", Float16: "f16", Int64: "i64", Bool: "bool", Int32: "i32", Uint8: "u8", Float64: "f64"}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

// Size is the element size in bytes.
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case BFloat16, Float16:
		return 2
	case Int64, Float64:
		return 8
	case Bool, Uint8:
		return 1
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == BFloat16 || d == Float16 || d == Float64
}

// ParseDType accepts f32/float32, bf16/bfloat16, f16/float16/half, f64, i64, i32, bool, u8 and the
// safetensors spellings F32, BF16, F16, F64, I64, I32, BOOL, U8.
func ParseDType(s string) (DType, error) {
	switch strings.ToLower(s) {
	case "f32", "float32", "float":
		return Float32, nil
	case "bf16", "bfloat16":
		return BFloat16, nil
	case "f16", "float16", "half", "fp16":
		return Float16, nil
	case "f64", "float64", "double":
		return Float64, nil
	case "i64", "int64", "long":
		return Int64, nil
	case "i32", "int32", "int":
		return Int32, nil
	case "bool":
		return Bool, nil
	case "u8", "uint8":
		return Uint8, nil
	}
	return 0, fmt.Errorf("unknown dtype %q (want f32, bf16, f16, f64, i64, i32, bool or u8)", s)
}

// Device is where a tensor lives: the CPU or CUDA device Index.
type Device struct {
	CUDA  bool
	Index int
}

// CPU is the host device.
var CPU = Device{}

// CUDA is CUDA device i.
func CUDA(i int) Device { return Device{CUDA: true, Index: i} }

func (d Device) String() string {
	if d.CUDA {
		return "cuda:" + strconv.Itoa(d.Index)
	}
	return "cpu"
}

func (d Device) ctype() (C.int, C.int) {
	if d.CUDA {
		return 1, C.int(d.Index)
	}
	return 0, 0
}

// ParseDevice accepts auto, cpu, cuda and cuda:N. "auto" picks cuda:0 when libtorch sees a GPU.
func ParseDevice(s string) (Device, error) {
	switch s := strings.ToLower(strings.TrimSpace(s)); {
	case s == "" || s == "auto":
		if CUDAAvailable() {
			return CUDA(0), nil
		}
		return CPU, nil
	case s == "cpu":
		return CPU, nil
	case s == "cuda" || s == "gpu":
		return checkCUDA(0)
	case strings.HasPrefix(s, "cuda:"):
		i, err := strconv.Atoi(s[5:])
		if err != nil || i < 0 {
			return CPU, fmt.Errorf("bad device %q (want auto, cpu, cuda or cuda:N)", s)
		}
		return checkCUDA(i)
	}
	return CPU, fmt.Errorf("bad device %q (want auto, cpu, cuda or cuda:N)", s)
}

func checkCUDA(i int) (Device, error) {
	if err := Load(); err != nil {
		return CPU, err
	}
	if n := CUDADeviceCount(); i >= n {
		v, _ := Version()
		return CPU, fmt.Errorf("device cuda:%d requested but libtorch %s sees %d CUDA device(s)", i, v, n)
	}
	return CUDA(i), nil
}

// tuneMalloc sets glibc's malloc up for libtorch's allocation pattern, unless the user tuned malloc
// through the environment (GLIBC_TUNABLES with glibc.malloc.*, or a MALLOC_*_ variable).
//
// By default glibc serves every buffer over a moving threshold (128 KiB at first) with its own mmap,
// trims the heap top back to the kernel as soon as 128 KiB+ is free, and gives each OS thread that
// calls malloc its own arena — and cgo calls land on several Go threads. A training step frees and
// re-allocates the same activation sizes every step, so each step paid fresh zero-filled pages:
// measured on the tiny preset (8×128 train steps), 273k page faults per 32 steps by default, 60k with
// these settings, and the step about 10 % faster. Buffers of 32 MiB and more are still mmapped, and
// ReleaseHostMemory still returns freed memory when a long job asks for it.
//
// glibc fixes its arena count at the first malloc of a second thread, which the Go runtime makes
// before any of this runs, so the one-arena setting does not always take: callers that run many
// steps should make their libtorch calls from one locked OS thread (cmd/sentitune locks its main
// goroutine to the main thread, predict's server its batcher). Calls that hop between threads still
// work, but a per-thread heap that empties is handed back to the kernel whatever the thresholds.
func tuneMalloc() {
	if strings.Contains(os.Getenv("GLIBC_TUNABLES"), "glibc.malloc.") {
		return
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MALLOC_") {
			return
		}
	}
	C.st_tune_malloc()
}

// ReleaseHostMemory hands freed heap memory back to the operating system (glibc's malloc_trim).
// libtorch frees host tensors into malloc's arenas, which otherwise keep growing on long streaming
// jobs; calling this between chunks of work keeps resident memory flat.
func ReleaseHostMemory() { C.st_malloc_trim() }
