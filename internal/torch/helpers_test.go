package torch

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestMain dispatches the helper processes the tests re-exec (missing engine, second distributed rank)
// before running the suite.
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	if err := Load(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// ---------- naive float64 reference arrays ----------

// arr is a row-major float64 array used to compute reference values independently of libtorch.
type arr struct {
	shape []int
	data  []float64
}

func newArr(shape ...int) arr { return arr{shape: shape, data: make([]float64, prod(shape))} }

func prod(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func strides(shape []int) []int {
	st := make([]int, len(shape))
	k := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = k
		k *= shape[i]
	}
	return st
}

func (a arr) off(idx []int) int {
	st := strides(a.shape)
	o := 0
	for i, v := range idx {
		o += v * st[i]
	}
	return o
}

func (a arr) at(idx ...int) float64 { return a.data[a.off(idx)] }

// bcast reads a at the out-index idx under right-aligned broadcasting.
func (a arr) bcast(idx []int) float64 {
	st := strides(a.shape)
	o := 0
	lead := len(idx) - len(a.shape)
	for i, d := range a.shape {
		if d != 1 {
			o += idx[lead+i] * st[i]
		}
	}
	return a.data[o]
}

// each calls f for every multi-index of shape in row-major order.
func each(shape []int, f func(idx []int, flat int)) {
	n := prod(shape)
	idx := make([]int, len(shape))
	for flat := 0; flat < n; flat++ {
		f(idx, flat)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func bshape(a, b []int) []int {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		out[i] = max(da, db)
	}
	return out
}

func zip(a, b arr, f func(x, y float64) float64) arr {
	out := newArr(bshape(a.shape, b.shape)...)
	each(out.shape, func(idx []int, flat int) { out.data[flat] = f(a.bcast(idx), b.bcast(idx)) })
	return out
}

func mapArr(a arr, f func(float64) float64) arr {
	out := newArr(a.shape...)
	for i, v := range a.data {
		out.data[i] = f(v)
	}
	return out
}

// lanes calls f with the flat offsets of every 1-D lane of a along dim.
func lanes(shape []int, dim int, f func(offs []int)) {
	outer := append([]int{}, shape...)
	outer[dim] = 1
	st := strides(shape)
	offs := make([]int, shape[dim])
	each(outer, func(idx []int, _ int) {
		base := 0
		for i, v := range idx {
			base += v * st[i]
		}
		for k := range offs {
			offs[k] = base + k*st[dim]
		}
		f(offs)
	})
}

func softmaxRef(a arr, dim int, log bool) arr {
	out := newArr(a.shape...)
	lanes(a.shape, dim, func(offs []int) {
		m := math.Inf(-1)
		for _, o := range offs {
			m = math.Max(m, a.data[o])
		}
		z := 0.0
		for _, o := range offs {
			z += math.Exp(a.data[o] - m)
		}
		for _, o := range offs {
			if log {
				out.data[o] = a.data[o] - m - math.Log(z)
			} else {
				out.data[o] = math.Exp(a.data[o]-m) / z
			}
		}
	})
	return out
}

// matmulRef is the batched matrix product with broadcast batch dimensions (both inputs ≥ 2-D).
func matmulRef(a, b arr) arr {
	na, nb := len(a.shape), len(b.shape)
	m, k, n := a.shape[na-2], a.shape[na-1], b.shape[nb-1]
	batch := bshape(a.shape[:na-2], b.shape[:nb-2])
	out := newArr(append(append([]int{}, batch...), m, n)...)
	each(out.shape, func(idx []int, flat int) {
		i, j := idx[len(idx)-2], idx[len(idx)-1]
		s := 0.0
		for p := 0; p < k; p++ {
			ai := append(append([]int{}, idx[:len(idx)-2]...), i, p)
			bi := append(append([]int{}, idx[:len(idx)-2]...), p, j)
			s += a.bcast(ai) * b.bcast(bi)
		}
		out.data[flat] = s
	})
	return out
}

func transposeRef(a arr, d0, d1 int) arr {
	perm := make([]int, len(a.shape))
	for i := range perm {
		perm[i] = i
	}
	perm[d0], perm[d1] = d1, d0
	return permuteRef(a, perm)
}

func permuteRef(a arr, perm []int) arr {
	sh := make([]int, len(perm))
	for i, p := range perm {
		sh[i] = a.shape[p]
	}
	out := newArr(sh...)
	src := make([]int, len(perm))
	each(sh, func(idx []int, flat int) {
		for i, p := range perm {
			src[p] = idx[i]
		}
		out.data[flat] = a.at(src...)
	})
	return out
}

// linearRef is x·wᵀ (+ b) over the last dimension of x.
func linearRef(x, w arr, b *arr) arr {
	y := matmulRef(x, transposeRef(w, 0, 1))
	if b != nil {
		y = zip(y, *b, func(p, q float64) float64 { return p + q })
	}
	return y
}

// reduceRef combines a over dims (all when dims is empty).
func reduceRef(a arr, dims []int, keep bool, init float64, f func(acc, v float64) float64, fin func(acc float64, n int) float64) arr {
	red := make([]bool, len(a.shape))
	if len(dims) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, d := range dims {
		if d < 0 {
			d += len(a.shape)
		}
		red[d] = true
	}
	var osh []int
	ksh := make([]int, len(a.shape))
	cnt := 1
	for i, d := range a.shape {
		if red[i] {
			ksh[i] = 1
			cnt *= d
			if keep {
				osh = append(osh, 1)
			}
		} else {
			ksh[i] = d
			osh = append(osh, d)
		}
	}
	acc := newArr(ksh...)
	for i := range acc.data {
		acc.data[i] = init
	}
	each(a.shape, func(idx []int, flat int) {
		k := make([]int, len(idx))
		for i, v := range idx {
			if !red[i] {
				k[i] = v
			}
		}
		ko := acc.off(k)
		acc.data[ko] = f(acc.data[ko], a.data[flat])
	})
	for i := range acc.data {
		acc.data[i] = fin(acc.data[i], cnt)
	}
	return arr{shape: osh, data: acc.data}
}

// ---------- bf16 / f16 rounding in Go ----------

func bf16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	b += 0x7FFF + (b>>16)&1
	return uint16(b >> 16)
}

func bf16Round(x float64) float64 {
	return float64(math.Float32frombits(uint32(bf16Bits(float32(x))) << 16))
}

func f16Round(x float64) float64 {
	if x == 0 {
		return x
	}
	e := math.Floor(math.Log2(math.Abs(x)))
	if e < -14 {
		e = -14
	}
	q := math.Ldexp(1, int(e)-10)
	return math.RoundToEven(x/q) * q
}

// ---------- random data and tensor helpers ----------

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5e471)) }

func randArr(r *rand.Rand, shape ...int) arr {
	a := newArr(shape...)
	for i := range a.data {
		a.data[i] = r.NormFloat64()
	}
	return a
}

func i64s(shape []int) []int64 {
	out := make([]int64, len(shape))
	for i, v := range shape {
		out[i] = int64(v)
	}
	return out
}

func f32s(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// t32 and t64 build f32 / f64 tensors of a reference array.
func t32(s *Scope, a arr) *Tensor { return s.FromFloat32(f32s(a.data), i64s(a.shape)...) }
func t64(s *Scope, a arr) *Tensor { return s.FromFloat64(a.data, i64s(a.shape)...) }

// vals reads a tensor back as float64 and checks the scope's error and the shape.
func vals(t *testing.T, s *Scope, x *Tensor, shape []int) []float64 {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatalf("scope error: %v", err)
	}
	if x == nil {
		t.Fatalf("nil tensor with no scope error")
	}
	if got := x.Shape(); fmt.Sprint(got) != fmt.Sprint(i64s(shape)) {
		t.Fatalf("shape %v, want %v", got, shape)
	}
	v, err := x.Float64s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// near reports the first element where got and want differ by more than tol·(1+|want|).
func near(got, want []float64, tol float64) error {
	if len(got) != len(want) {
		return fmt.Errorf("have %d values, want %d", len(got), len(want))
	}
	for i := range want {
		if math.IsNaN(got[i]) || math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			return fmt.Errorf("element %d: got %.9g, want %.9g (tol %g)", i, got[i], want[i], tol)
		}
	}
	return nil
}

// check compares tensor x with the reference r.
func check(t *testing.T, s *Scope, x *Tensor, r arr, tol float64) {
	t.Helper()
	if err := near(vals(t, s, x, r.shape), r.data, tol); err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not mention %q", err, p)
		}
	}
}

// mmapAnon maps n bytes of anonymous memory (not Go-managed), like an mmapped safetensors file.
func mmapAnon(t *testing.T, n int) ([]byte, func()) {
	t.Helper()
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	return b, func() {
		if err := syscall.Munmap(b); err != nil {
			t.Error(err)
		}
	}
}

func putF32(b []byte, v []float32) {
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
}
