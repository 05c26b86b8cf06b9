package torch

/*
#include "loader.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// To converts t to dtype on dev.
func (s *Scope) To(t *Tensor, dtype DType, dev Device) *Tensor {
	dt, di := dev.ctype()
	return s.call("to", []*Tensor{t}, func(out *C.st_tensor) *C.char {
		return C.g_st_to(t.h, C.int(dtype), dt, di, out)
	})
}

// ToDType converts t to dtype, keeping its device.
func (s *Scope) ToDType(t *Tensor, dtype DType) *Tensor {
	return s.call("to_dtype", []*Tensor{t}, func(out *C.st_tensor) *C.char {
		return C.g_st_to(t.h, C.int(dtype), -1, 0, out)
	})
}

// ToDevice moves t to dev, keeping its dtype.
func (s *Scope) ToDevice(t *Tensor, dev Device) *Tensor {
	dt, di := dev.ctype()
	return s.call("to_device", []*Tensor{t}, func(out *C.st_tensor) *C.char {
		return C.g_st_to(t.h, -1, dt, di, out)
	})
}

// Clone copies t (autograd-tracked).
func (s *Scope) Clone(t *Tensor) *Tensor {
	return s.call("clone", []*Tensor{t}, func(out *C.st_tensor) *C.char { return C.g_st_clone(t.h, out) })
}

// Detach shares t's storage without autograd history.
func (s *Scope) Detach(t *Tensor) *Tensor {
	return s.call("detach", []*Tensor{t}, func(out *C.st_tensor) *C.char { return C.g_st_detach(t.h, out) })
}

// Contiguous returns t laid out row-major.
func (s *Scope) Contiguous(t *Tensor) *Tensor {
	return s.call("contiguous", []*Tensor{t}, func(out *C.st_tensor) *C.char { return C.g_st_contiguous(t.h, out) })
}

// Grad is t's accumulated gradient, or nil (with no error) when it has none.
func (s *Scope) Grad(t *Tensor) *Tensor {
	return s.call("grad", []*Tensor{t}, func(out *C.st_tensor) *C.char { return C.g_st_grad(t.h, out) })
}

// Backward back-propagates from a scalar loss into every leaf that requires grad.
func (s *Scope) Backward(loss *Tensor) {
	if s.err != nil {
		return
	}
	if !loss.Valid() {
		s.err = fmt.Errorf("torch: backward: loss is nil")
		return
	}
	if err := cerr(timeOp("backward", func() *C.char { return C.g_st_backward(loss.h) })); err != nil {
		s.err = fmt.Errorf("torch: backward(%v): %w", loss, err)
	}
}

func (s *Scope) unary(name string, op C.int, a *Tensor) *Tensor {
	return s.call(name, []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_unary(a.h, op, out) })
}

// Neg is -a.
func (s *Scope) Neg(a *Tensor) *Tensor { return s.unary("neg", C.ST_NEG, a) }

// Exp is eᵃ.
func (s *Scope) Exp(a *Tensor) *Tensor { return s.unary("exp", C.ST_EXP, a) }

// Log is ln a.
func (s *Scope) Log(a *Tensor) *Tensor { return s.unary("log", C.ST_LOG, a) }

// Sqrt is √a.
func (s *Scope) Sqrt(a *Tensor) *Tensor { return s.unary("sqrt", C.ST_SQRT, a) }

// Rsqrt is 1/√a.
func (s *Scope) Rsqrt(a *Tensor) *Tensor { return s.unary("rsqrt", C.ST_RSQRT, a) }

// Sigmoid is 1/(1+e⁻ᵃ).
func (s *Scope) Sigmoid(a *Tensor) *Tensor { return s.unary("sigmoid", C.ST_SIGMOID, a) }

// SiLU is a·sigmoid(a).
func (s *Scope) SiLU(a *Tensor) *Tensor { return s.unary("silu", C.ST_SILU, a) }

// Tanh is tanh a.
func (s *Scope) Tanh(a *Tensor) *Tensor { return s.unary("tanh", C.ST_TANH, a) }

// ReLU is max(a, 0).
func (s *Scope) ReLU(a *Tensor) *Tensor { return s.unary("relu", C.ST_RELU, a) }

// Abs is |a|.
func (s *Scope) Abs(a *Tensor) *Tensor { return s.unary("abs", C.ST_ABS, a) }

// Sin is sin a.
func (s *Scope) Sin(a *Tensor) *Tensor { return s.unary("sin", C.ST_SIN, a) }

// Cos is cos a.
func (s *Scope) Cos(a *Tensor) *Tensor { return s.unary("cos", C.ST_COS, a) }

// Square is a².
func (s *Scope) Square(a *Tensor) *Tensor { return s.unary("square", C.ST_SQUARE, a) }

func (s *Scope) binary(name string, op C.int, a, b *Tensor) *Tensor {
	return s.call(name, []*Tensor{a, b}, func(out *C.st_tensor) *C.char { return C.g_st_binary(a.h, b.h, op, out) })
}

// Add is a + b (broadcasting).
func (s *Scope) Add(a, b *Tensor) *Tensor { return s.binary("add", C.ST_ADD, a, b) }

// Sub is a − b.
func (s *Scope) Sub(a, b *Tensor) *Tensor { return s.binary("sub", C.ST_SUB, a, b) }

// Mul is a ⊙ b.
func (s *Scope) Mul(a, b *Tensor) *Tensor { return s.binary("mul", C.ST_MUL, a, b) }

// Div is a / b.
func (s *Scope) Div(a, b *Tensor) *Tensor { return s.binary("div", C.ST_DIV, a, b) }

// Matmul is the (batched, broadcasting) matrix product.
func (s *Scope) Matmul(a, b *Tensor) *Tensor { return s.binary("matmul", C.ST_MATMUL, a, b) }

// Maximum is the elementwise max.
func (s *Scope) Maximum(a, b *Tensor) *Tensor { return s.binary("maximum", C.ST_MAXIMUM, a, b) }

// Minimum is the elementwise min.
func (s *Scope) Minimum(a, b *Tensor) *Tensor { return s.binary("minimum", C.ST_MINIMUM, a, b) }

// Eq is the elementwise a == b (bool).
func (s *Scope) Eq(a, b *Tensor) *Tensor { return s.binary("eq", C.ST_EQ, a, b) }

// Lt is the elementwise a < b (bool).
func (s *Scope) Lt(a, b *Tensor) *Tensor { return s.binary("lt", C.ST_LT, a, b) }

// Gt is the elementwise a > b (bool).
func (s *Scope) Gt(a, b *Tensor) *Tensor { return s.binary("gt", C.ST_GT, a, b) }

// AddScaled is a + alpha·b.
func (s *Scope) AddScaled(a, b *Tensor, alpha float64) *Tensor {
	return s.call("add_scaled", []*Tensor{a, b}, func(out *C.st_tensor) *C.char {
		return C.g_st_add_scaled(a.h, b.h, C.double(alpha), out)
	})
}

// Affine is a·mul + add.
func (s *Scope) Affine(a *Tensor, mul, add float64) *Tensor {
	return s.call("affine", []*Tensor{a}, func(out *C.st_tensor) *C.char {
		return C.g_st_scalar(a.h, C.double(mul), C.double(add), out)
	})
}

// MulScalar is a·k.
func (s *Scope) MulScalar(a *Tensor, k float64) *Tensor { return s.Affine(a, k, 0) }

// AddScalar is a + k.
func (s *Scope) AddScalar(a *Tensor, k float64) *Tensor { return s.Affine(a, 1, k) }

// Pow is aᵖ.
func (s *Scope) Pow(a *Tensor, p float64) *Tensor {
	return s.call("pow", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_pow_scalar(a.h, C.double(p), out) })
}

func (s *Scope) reduce(name string, op C.int, a *Tensor, keep bool, dims []int64) *Tensor {
	dp, nd := shapeArgs(dims)
	k := C.int(0)
	if keep {
		k = 1
	}
	t := s.call(name, []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_reduce(a.h, op, dp, nd, k, out) })
	runtime.KeepAlive(dims)
	return t
}

// Sum adds over dims (all elements when none are given).
func (s *Scope) Sum(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("sum", C.ST_SUM, a, false, dims)
}

// SumKeep adds over dims keeping them as size 1.
func (s *Scope) SumKeep(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("sum", C.ST_SUM, a, true, dims)
}

// Mean averages over dims (all elements when none are given).
func (s *Scope) Mean(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("mean", C.ST_MEAN, a, false, dims)
}

// MeanKeep averages over dims keeping them as size 1.
func (s *Scope) MeanKeep(a *Tensor, dims ...int64) *Tensor {
	return s.reduce("mean", C.ST_MEAN, a, true, dims)
}

// Amax is the maximum over dims.
func (s *Scope) Amax(a *Tensor, keep bool, dims ...int64) *Tensor {
	return s.reduce("amax", C.ST_AMAX, a, keep, dims)
}

// Amin is the minimum over dims.
func (s *Scope) Amin(a *Tensor, keep bool, dims ...int64) *Tensor {
	return s.reduce("amin", C.ST_AMIN, a, keep, dims)
}

// Argmax is the index of the maximum along dim.
func (s *Scope) Argmax(a *Tensor, dim int64, keep bool) *Tensor {
	k := C.int(0)
	if keep {
		k = 1
	}
	return s.call("argmax", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_argmax(a.h, C.int64_t(dim), k, out) })
}

// Softmax normalises exp(a) along dim.
func (s *Scope) Softmax(a *Tensor, dim int64) *Tensor {
	return s.call("softmax", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_softmax(a.h, C.int64_t(dim), 0, out) })
}

// LogSoftmax is log(softmax(a)) computed stably.
func (s *Scope) LogSoftmax(a *Tensor, dim int64) *Tensor {
	return s.call("log_softmax", []*Tensor{a}, func(out *C.st_tensor) *C.char {
		return C.g_st_softmax(a.h, C.int64_t(dim), 1, out)
	})
}

// Reshape views a with a new shape (one dimension may be -1).
func (s *Scope) Reshape(a *Tensor, shape ...int64) *Tensor {
	sp, nd := shapeArgs(shape)
	t := s.call("reshape", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_reshape(a.h, sp, nd, out) })
	runtime.KeepAlive(shape)
	return t
}

// Transpose swaps dimensions d0 and d1.
func (s *Scope) Transpose(a *Tensor, d0, d1 int64) *Tensor {
	return s.call("transpose", []*Tensor{a}, func(out *C.st_tensor) *C.char {
		return C.g_st_transpose(a.h, C.int64_t(d0), C.int64_t(d1), out)
	})
}

// Permute reorders dimensions.
func (s *Scope) Permute(a *Tensor, dims ...int64) *Tensor {
	dp, nd := shapeArgs(dims)
	t := s.call("permute", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_permute(a.h, dp, nd, out) })
	runtime.KeepAlive(dims)
	return t
}

// Narrow is the slice [start, start+length) of dimension dim (a view).
func (s *Scope) Narrow(a *Tensor, dim, start, length int64) *Tensor {
	return s.call("narrow", []*Tensor{a}, func(out *C.st_tensor) *C.char {
		return C.g_st_narrow(a.h, C.int64_t(dim), C.int64_t(start), C.int64_t(length), out)
	})
}

// Cat concatenates along dim.
func (s *Scope) Cat(ts []*Tensor, dim int64) *Tensor {
	hs := handles(ts)
	var p *C.st_tensor
	if len(hs) > 0 {
		p = &hs[0]
	}
	t := s.call("cat", ts, func(out *C.st_tensor) *C.char { return C.g_st_cat(p, C.int(len(hs)), C.int64_t(dim), out) })
	runtime.KeepAlive(hs)
	return t
}

// Stack joins along a new dimension dim.
func (s *Scope) Stack(ts []*Tensor, dim int64) *Tensor {
	hs := handles(ts)
	var p *C.st_tensor
	if len(hs) > 0 {
		p = &hs[0]
	}
	t := s.call("stack", ts, func(out *C.st_tensor) *C.char { return C.g_st_stack(p, C.int(len(hs)), C.int64_t(dim), out) })
	runtime.KeepAlive(hs)
	return t
}

// Unsqueeze inserts a size-1 dimension at dim.
func (s *Scope) Unsqueeze(a *Tensor, dim int64) *Tensor {
	return s.call("unsqueeze", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_unsqueeze(a.h, C.int64_t(dim), out) })
}

// Squeeze removes dimension dim if it has size 1.
func (s *Scope) Squeeze(a *Tensor, dim int64) *Tensor {
	return s.call("squeeze", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_squeeze(a.h, C.int64_t(dim), out) })
}

// Expand broadcasts size-1 dimensions to shape (-1 keeps a size) without copying.
func (s *Scope) Expand(a *Tensor, shape ...int64) *Tensor {
	sp, nd := shapeArgs(shape)
	t := s.call("expand", []*Tensor{a}, func(out *C.st_tensor) *C.char { return C.g_st_expand(a.h, sp, nd, out) })
	runtime.KeepAlive(shape)
	return t
}

// IndexSelect picks the entries idx (int64) of dimension dim.
func (s *Scope) IndexSelect(a *Tensor, dim int64, idx *Tensor) *Tensor {
	return s.call("index_select", []*Tensor{a, idx}, func(out *C.st_tensor) *C.char {
		return C.g_st_index_select(a.h, C.int64_t(dim), idx.h, out)
	})
}

// Gather picks a[..., idx[...], ...] along dim.
func (s *Scope) Gather(a *Tensor, dim int64, idx *Tensor) *Tensor {
	return s.call("gather", []*Tensor{a, idx}, func(out *C.st_tensor) *C.char {
		return C.g_st_gather(a.h, C.int64_t(dim), idx.h, out)
	})
}

// MaskedFill sets a to v where mask (bool) is true.
func (s *Scope) MaskedFill(a, mask *Tensor, v float64) *Tensor {
	return s.call("masked_fill", []*Tensor{a, mask}, func(out *C.st_tensor) *C.char {
		return C.g_st_masked_fill(a.h, mask.h, C.double(v), out)
	})
}

// Where picks a where cond is true, else b.
func (s *Scope) Where(cond, a, b *Tensor) *Tensor {
	return s.call("where", []*Tensor{cond, a, b}, func(out *C.st_tensor) *C.char {
		return C.g_st_where(cond.h, a.h, b.h, out)
	})
}

// Embedding looks up rows of weight [V, H] for int64 ids of any shape; out-of-range ids are an error.
// The range check reads the ids back to the host: a training step uses EmbeddingChecked instead.
func (s *Scope) Embedding(weight, ids *Tensor) *Tensor {
	return s.embedding(weight, ids, 1)
}

// EmbeddingChecked is Embedding for ids the caller has checked on the host against weight's rows:
// no device read (an out-of-range id is undefined behaviour on a GPU).
func (s *Scope) EmbeddingChecked(weight, ids *Tensor) *Tensor {
	return s.embedding(weight, ids, 0)
}

func (s *Scope) embedding(weight, ids *Tensor, check C.int) *Tensor {
	return s.call("embedding", []*Tensor{weight, ids}, func(out *C.st_tensor) *C.char {
		return C.g_st_embedding(weight.h, ids.h, check, out)
	})
}

func optIns(ts ...*Tensor) []*Tensor {
	var in []*Tensor
	for _, t := range ts {
		if t != nil {
			in = append(in, t)
		}
	}
	return in
}

func handle(t *Tensor) C.st_tensor {
	if t == nil {
		return nil
	}
	return t.h
}

// Linear is x·wᵀ + b (b may be nil).
func (s *Scope) Linear(x, w, b *Tensor) *Tensor {
	return s.call("linear", optIns(x, w, b), func(out *C.st_tensor) *C.char {
		return C.g_st_linear(x.h, w.h, handle(b), out)
	})
}

// LoRALinear is the PEFT LoRA layer: x·wᵀ + b + dropout(x)·Aᵀ·Bᵀ·scaling, with A [r, in] and B [out, r].
// The low-rank path runs in the base output dtype (autocast semantics: f32 master adapters over a bf16 base).
func (s *Scope) LoRALinear(x, w, b, a, bm *Tensor, scaling, dropout float64, train bool) *Tensor {
	tr := C.int(0)
	if train {
		tr = 1
	}
	ins := optIns(x, w, b)
	ins = append(ins, a, bm)
	return s.call("lora_linear", ins, func(out *C.st_tensor) *C.char {
		return C.g_st_lora_linear(x.h, w.h, handle(b), a.h, bm.h, C.double(scaling), C.double(dropout), tr, out)
	})
}

// RMSNorm is Hugging Face's RMSNorm: statistics in f32, cast back to x's dtype, times w.
func (s *Scope) RMSNorm(x, w *Tensor, eps float64) *Tensor {
	return s.call("rms_norm", []*Tensor{x, w}, func(out *C.st_tensor) *C.char {
		return C.g_st_rms_norm(x.h, w.h, C.double(eps), out)
	})
}

// RoPE applies rotary embeddings in the half-split (rotate_half) layout: x·cos + rotate_half(x)·sin.
func (s *Scope) RoPE(x, cos, sin *Tensor) *Tensor {
	return s.call("rope", []*Tensor{x, cos, sin}, func(out *C.st_tensor) *C.char {
		return C.g_st_rope(x.h, cos.h, sin.h, out)
	})
}

// SiLUMul is silu(gate)·up, the SwiGLU core.
func (s *Scope) SiLUMul(gate, up *Tensor) *Tensor {
	return s.call("silu_mul", []*Tensor{gate, up}, func(out *C.st_tensor) *C.char {
		return C.g_st_silu_mul(gate.h, up.h, out)
	})
}

// SDPA is scaled dot-product attention over [B, H, T, D] tensors. mask (may be nil) is additive,
// broadcastable to [B, H, Tq, Tk]; causal adds the lower-triangular constraint. libtorch ≥ 2.1 uses
// its native kernels (flash/memory-efficient); older versions the math path with softmax in f32.
func (s *Scope) SDPA(q, k, v, mask *Tensor, causal bool, scale float64) *Tensor {
	c := C.int(0)
	if causal {
		c = 1
	}
	ins := append([]*Tensor{q, k, v}, optIns(mask)...)
	return s.call("sdpa", ins, func(out *C.st_tensor) *C.char {
		return C.g_st_sdpa(q.h, k.h, v.h, handle(mask), c, C.double(scale), out)
	})
}

// Dropout zeroes elements with probability p when train is set (scaling the rest by 1/(1-p)).
func (s *Scope) Dropout(x *Tensor, p float64, train bool) *Tensor {
	tr := C.int(0)
	if train {
		tr = 1
	}
	return s.call("dropout", []*Tensor{x}, func(out *C.st_tensor) *C.char { return C.g_st_dropout(x.h, C.double(p), tr, out) })
}

// Reduction selects how CrossEntropy combines per-row losses.
type Reduction int

// Reductions for CrossEntropy.
const (
	ReduceMean Reduction = 0
	ReduceSum  Reduction = 1
	ReduceNone Reduction = 2
)

// IgnoreIndex is the target value whose rows carry no loss (Hugging Face's -100).
const IgnoreIndex = -100

// CrossEntropy is the softmax cross-entropy of logits [N, C] (computed in f32) against int64 targets [N];
// rows whose target is ignoreIndex carry no loss and are left out of the mean.
func (s *Scope) CrossEntropy(logits, targets *Tensor, ignoreIndex int64, red Reduction) *Tensor {
	return s.call("cross_entropy", []*Tensor{logits, targets}, func(out *C.st_tensor) *C.char {
		return C.g_st_cross_entropy(logits.h, targets.h, C.int64_t(ignoreIndex), C.int(red), out)
	})
}

// LinearCrossEntropy is CrossEntropy(Linear(h, w), targets, ignoreIndex, ReduceSum) — h [N, H], a
// frozen w [V, H] of h's dtype, int64 targets [N] — without ever holding the [N, V] logits: the
// vocabulary is walked in chunks of chunk rows with an online log-sum-exp, and with wantGrad the
// gradient with respect to h is accumulated in that same pass, so w is read once per training step
// instead of twice. The result is an f32 scalar (f64 for f64 inputs); its backward reaches h only. Use it where w is large
// and memory-bound (the lm_head on a CPU); on a GPU the chunk loop costs more launches than it saves.
// A target outside the vocabulary is an error, found by a read back to the host: a training step
// checks its targets on the host and calls LinearCrossEntropyChecked.
func (s *Scope) LinearCrossEntropy(h, w, targets *Tensor, ignoreIndex int64, chunk int, wantGrad bool) *Tensor {
	return s.linearCrossEntropy(h, w, targets, ignoreIndex, chunk, wantGrad, 1)
}

// LinearCrossEntropyChecked is LinearCrossEntropy for targets the caller has checked on the host.
func (s *Scope) LinearCrossEntropyChecked(h, w, targets *Tensor, ignoreIndex int64, chunk int, wantGrad bool) *Tensor {
	return s.linearCrossEntropy(h, w, targets, ignoreIndex, chunk, wantGrad, 0)
}

func (s *Scope) linearCrossEntropy(h, w, targets *Tensor, ignoreIndex int64, chunk int, wantGrad bool, check C.int) *Tensor {
	grad := 0
	if wantGrad {
		grad = 1
	}
	return s.call("linear_cross_entropy", []*Tensor{h, w, targets}, func(out *C.st_tensor) *C.char {
		return C.g_st_linear_cross_entropy(h.h, w.h, targets.h, C.int64_t(ignoreIndex), C.int64_t(chunk), C.int(grad), check, out)
	})
}
