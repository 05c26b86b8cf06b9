// sentitorch: a plain C ABI over libtorch's C++ API for sentitune.
// No C++ exception crosses the boundary: every entry point catches and returns a malloc'ed message.
#include "sentitorch.h"
#include "shim_internal.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <cmath>
#include <type_traits>

// Fused AdamW needs libtorch >= 2.1 and a GPU; the build script turns it off
// (ST_NO_FAST_OPTIM) if this libtorch's headers disagree.
#if defined(ST_WITH_CUDA) && !defined(ST_NO_FAST_OPTIM) && \
    (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#define ST_FAST_OPTIM 1
#else
#define ST_FAST_OPTIM 0
#endif

#ifdef ST_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace {

using st::dup;

at::ScalarType scalar_type(int dtype) {
  switch (dtype) {
    case ST_F32: return at::kFloat;
    case ST_BF16: return at::kBFloat16;
    case ST_F16: return at::kHalf;
    case ST_I64: return at::kLong;
    case ST_BOOL: return at::kBool;
    case ST_I32: return at::kInt;
    case ST_U8: return at::kByte;
    case ST_F64: return at::kDouble;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(dtype));
}

int dtype_code(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return ST_F32;
    case at::kBFloat16: return ST_BF16;
    case at::kHalf: return ST_F16;
    case at::kLong: return ST_I64;
    case at::kBool: return ST_BOOL;
    case at::kInt: return ST_I32;
    case at::kByte: return ST_U8;
    case at::kDouble: return ST_F64;
    default: return -1;
  }
}

at::Device device(int devtype, int devidx) {
  if (devtype == 0) return at::Device(at::kCPU);
  if (devtype == 1) return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(devidx));
  throw std::invalid_argument("unknown device type " + std::to_string(devtype));
}

const at::Tensor& T(st_tensor h, const char* what) {
  if (!h) throw std::invalid_argument(std::string("null tensor handle for ") + what);
  return h->t;
}

// An optional tensor argument: NULL means "none".
at::Tensor opt(st_tensor h) { return h ? h->t : at::Tensor(); }

st_tensor wrap(at::Tensor t) { return new st_tensor_s{std::move(t)}; }

std::vector<int64_t> dims(const int64_t* p, int n) { return std::vector<int64_t>(p, p + n); }

std::vector<at::Tensor> list(const st_tensor* ts, int n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int i = 0; i < n; i++) v.push_back(T(ts[i], "list element"));
  return v;
}

// The precision that reduced-precision math runs in: fp32, but fp64 stays fp64 (no silent downcast).
at::ScalarType at_least_f32(at::ScalarType s) { return s == at::kDouble ? at::kDouble : at::kFloat; }

using st::state_key;  // shim_internal.h

// LinearCrossEntropy is Σ_rows cross_entropy(h·Wᵀ, target) over the rows whose target is not
// ignore_index, without the [N, V] logits: the vocabulary goes by in chunks with an online
// log-sum-exp (the running max and rescaled sum of flash attention). With want_grad the gradient
// with respect to h, Σ_v softmax_v·W_v − W_target per row, is accumulated in the same pass while each
// chunk of W is in cache, so W is streamed once per training step instead of twice (forward GEMM,
// then backward GEMM) and the log-softmax passes over [N, V] disappear; backward only scales it.
// W gets no gradient (a frozen lm_head). Statistics are f32 (f64 for f64 inputs); the GEMMs run in
// h's dtype.
struct LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h, const at::Tensor& w,
                            const at::Tensor& target, int64_t ignore_index, int64_t chunk, bool want_grad) {
    const auto N = h.size(0), H = h.size(1), V = w.size(0);
    const auto st = at_least_f32(h.scalar_type());  // statistics: f32, or f64 for f64 inputs
    auto f32 = h.options().dtype(st);
    auto m = at::full({N, 1}, -std::numeric_limits<float>::infinity(), f32);
    auto s = at::zeros({N, 1}, f32);
    at::Tensor acc = want_grad ? at::zeros({N, H}, f32) : at::Tensor();
    for (int64_t c0 = 0; c0 < V; c0 += chunk) {
      auto wc = w.narrow(0, c0, std::min(chunk, V - c0));
      auto lc = at::mm(h, wc.t()).to(st);  // [N, C]
      auto mnew = at::maximum(m, std::get<0>(lc.max(1, true)));
      auto scale = (m - mnew).exp_();
      auto p = (lc - mnew).exp_();
      s.mul_(scale).add_(p.sum(1, true));
      if (want_grad) {
        acc.mul_(scale);
        if (h.scalar_type() == st)
          acc.addmm_(p, wc);
        else
          acc.add_(at::mm(p.to(h.scalar_type()), wc).to(st));
      }
      m = mnew;
    }
    auto valid = target.ne(ignore_index);
    auto safe = target.masked_fill(valid.logical_not(), 0);
    auto wt = w.index_select(0, safe).to(st);  // [N, H]
    auto hf = h.to(st);
    auto validf = valid.to(st).unsqueeze(1);
    auto lse = m + s.log();
    auto target_logit = (hf * wt).sum(1, true);
    auto loss = ((lse - target_logit) * validf).sum();
    if (want_grad) {
      ctx->saved_data["grad_h"] = ((acc / s - wt) * validf);
      ctx->saved_data["dtype"] = static_cast<int64_t>(h.scalar_type());
    }
    return loss;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto it = ctx->saved_data.find("grad_h");
    if (it == ctx->saved_data.end())
      throw std::runtime_error("linear_cross_entropy: backward through a call made without want_grad");
    auto dt = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    auto gh = it->second.toTensor();
    gh = (gh * grads[0].to(gh.scalar_type())).to(dt);
    return {gh, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

extern "C" {

const char* st_abi_version(int* out) {
  *out = ST_ABI_VERSION;
  return nullptr;
}

const char* st_version(char** out) {
  ST_TRY
  std::ostringstream s;
  s << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH;
#ifdef ST_WITH_CUDA
  s << "+cuda";
#else
  s << "+cpu";
#endif
  *out = dup(s.str());
  ST_CATCH
}

const char* st_cuda_available(int* out) {
  ST_TRY
  *out = torch::cuda::is_available() ? 1 : 0;
  ST_CATCH
}

const char* st_cuda_device_count(int* out) {
  ST_TRY
  *out = static_cast<int>(torch::cuda::device_count());
  ST_CATCH
}

const char* st_cuda_memory(int dev, int64_t* allocated, int64_t* reserved, int64_t* peak) {
  ST_TRY
#ifdef ST_WITH_CUDA
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(dev);
  const size_t agg = 0;  // StatType::AGGREGATE is index 0 in every version; the enum itself moved in 2.x
  *allocated = stats.allocated_bytes[agg].current;
  *reserved = stats.reserved_bytes[agg].current;
  *peak = stats.allocated_bytes[agg].peak;
#else
  (void)dev;
  *allocated = *reserved = *peak = 0;
  throw std::runtime_error("this sentitorch build has no CUDA support");
#endif
  ST_CATCH
}

const char* st_cuda_reset_peak(int dev) {
  ST_TRY
#ifdef ST_WITH_CUDA
  c10::cuda::CUDACachingAllocator::resetPeakStats(dev);
#else
  (void)dev;
#endif
  ST_CATCH
}

const char* st_cuda_synchronize(int dev) {
  ST_TRY
#ifdef ST_WITH_CUDA
  c10::cuda::device_synchronize();
  (void)dev;
#else
  (void)dev;
#endif
  ST_CATCH
}

const char* st_cuda_empty_cache(void) {
  ST_TRY
#ifdef ST_WITH_CUDA
  c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  ST_CATCH
}

const char* st_manual_seed(uint64_t seed) {
  ST_TRY
  torch::manual_seed(seed);
  ST_CATCH
}

// defaultGenerator is the generator dropout draws from on a device (CPU's, or CUDA device devidx's).
static at::Generator defaultGenerator(int devtype, int devidx) {
  if (devtype == 0) return at::detail::getDefaultCPUGenerator();
  return at::globalContext().defaultGenerator(device(devtype, devidx));
}

// st_rng_get_state copies a device generator's state, as torch.utils.checkpoint saves it before a
// layer so that its recomputation draws the same dropout masks.
const char* st_rng_get_state(int devtype, int devidx, st_tensor* out) {
  ST_TRY
  auto gen = defaultGenerator(devtype, devidx);
  std::lock_guard<std::mutex> lock(gen.mutex());
  *out = wrap(gen.get_state());
  ST_CATCH
}

const char* st_rng_set_state(int devtype, int devidx, st_tensor state) {
  ST_TRY
  auto gen = defaultGenerator(devtype, devidx);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(T(state, "rng_set_state"));
  ST_CATCH
}

const char* st_set_num_threads(int n) {
  ST_TRY
  at::set_num_threads(n);
  ST_CATCH
}

const char* st_get_num_threads(int* out) {
  ST_TRY
  *out = at::get_num_threads();
  ST_CATCH
}

const char* st_set_grad_enabled(int enabled, int* prev) {
  ST_TRY
  if (prev) *prev = at::GradMode::is_enabled() ? 1 : 0;
  at::GradMode::set_enabled(enabled != 0);
  ST_CATCH
}

const char* st_free(st_tensor t) {
  delete t;
  return nullptr;
}

const char* st_from_data(const void* data, int dtype, const int64_t* shape, int ndim, int devtype, int devidx,
                         st_tensor* out) {
  ST_TRY
  auto opts = at::TensorOptions().dtype(scalar_type(dtype));
  auto host = torch::from_blob(const_cast<void*>(data), dims(shape, ndim), opts);
  auto dev = device(devtype, devidx);
  *out = wrap(dev.is_cpu() ? host.clone() : host.to(dev));
  ST_CATCH
}

const char* st_from_blob(void* data, int dtype, const int64_t* shape, int ndim, st_tensor* out) {
  ST_TRY
  auto opts = at::TensorOptions().dtype(scalar_type(dtype));
  *out = wrap(torch::from_blob(data, dims(shape, ndim), opts));
  ST_CATCH
}

const char* st_full(const int64_t* shape, int ndim, double value, int dtype, int devtype, int devidx,
                    st_tensor* out) {
  ST_TRY
  auto opts = at::TensorOptions().dtype(scalar_type(dtype)).device(device(devtype, devidx));
  *out = wrap(torch::full(dims(shape, ndim), value, opts));
  ST_CATCH
}

const char* st_randn(const int64_t* shape, int ndim, int dtype, int devtype, int devidx, st_tensor* out) {
  ST_TRY
  auto opts = at::TensorOptions().dtype(scalar_type(dtype)).device(device(devtype, devidx));
  *out = wrap(torch::randn(dims(shape, ndim), opts));
  ST_CATCH
}

const char* st_rand_uniform(const int64_t* shape, int ndim, double low, double high, int dtype, int devtype,
                            int devidx, st_tensor* out) {
  ST_TRY
  auto opts = at::TensorOptions().dtype(scalar_type(dtype)).device(device(devtype, devidx));
  *out = wrap(torch::empty(dims(shape, ndim), opts).uniform_(low, high));
  ST_CATCH
}

const char* st_arange(int64_t start, int64_t end, int dtype, int devtype, int devidx, st_tensor* out) {
  ST_TRY
  auto opts = at::TensorOptions().dtype(scalar_type(dtype)).device(device(devtype, devidx));
  *out = wrap(torch::arange(start, end, opts));
  ST_CATCH
}

const char* st_shape(st_tensor t, int64_t* buf, int cap, int* ndim) {
  ST_TRY
  auto& x = T(t, "shape");
  *ndim = static_cast<int>(x.dim());
  for (int i = 0; i < *ndim && i < cap; i++) buf[i] = x.size(i);
  ST_CATCH
}

const char* st_info(st_tensor t, int* dtype, int* devtype, int* devidx, int* requires_grad, int* defined) {
  ST_TRY
  auto& x = T(t, "info");
  *defined = x.defined() ? 1 : 0;
  if (!x.defined()) return nullptr;
  *dtype = dtype_code(x.scalar_type());
  *devtype = x.is_cuda() ? 1 : 0;
  *devidx = x.is_cuda() ? x.get_device() : 0;
  *requires_grad = x.requires_grad() ? 1 : 0;
  ST_CATCH
}

const char* st_read(st_tensor t, int dtype, void* dst, int64_t nbytes) {
  ST_TRY
  auto x = T(t, "read").detach().to(at::kCPU, scalar_type(dtype)).contiguous();
  int64_t have = x.numel() * static_cast<int64_t>(x.element_size());
  if (have != nbytes) {
    throw std::invalid_argument("read: tensor holds " + std::to_string(have) + " bytes, buffer is " +
                                std::to_string(nbytes));
  }
  if (nbytes) std::memcpy(dst, x.data_ptr(), static_cast<size_t>(nbytes));
  ST_CATCH
}

const char* st_to(st_tensor t, int dtype, int devtype, int devidx, st_tensor* out) {
  ST_TRY
  auto& x = T(t, "to");
  auto st = dtype < 0 ? x.scalar_type() : scalar_type(dtype);
  auto dev = devtype < 0 ? x.device() : device(devtype, devidx);
  *out = wrap(x.to(dev, st));
  ST_CATCH
}

const char* st_clone(st_tensor t, st_tensor* out) {
  ST_TRY
  *out = wrap(T(t, "clone").clone());
  ST_CATCH
}

const char* st_detach(st_tensor t, st_tensor* out) {
  ST_TRY
  *out = wrap(T(t, "detach").detach());
  ST_CATCH
}

const char* st_contiguous(st_tensor t, st_tensor* out) {
  ST_TRY
  *out = wrap(T(t, "contiguous").contiguous());
  ST_CATCH
}

const char* st_copy_(st_tensor dst, st_tensor src) {
  ST_TRY
  at::NoGradGuard ng;
  T(dst, "copy_ dst").copy_(T(src, "copy_ src"));
  ST_CATCH
}

const char* st_set_requires_grad(st_tensor t, int on) {
  ST_TRY
  T(t, "set_requires_grad").set_requires_grad(on != 0);
  ST_CATCH
}

const char* st_grad(st_tensor t, st_tensor* out) {
  ST_TRY
  auto g = T(t, "grad").grad();
  *out = g.defined() ? wrap(g) : nullptr;
  ST_CATCH
}

const char* st_zero_grad(st_tensor t) {
  ST_TRY
  auto& x = T(t, "zero_grad");
  if (x.grad().defined()) x.mutable_grad() = at::Tensor();
  ST_CATCH
}

const char* st_backward(st_tensor t) {
  ST_TRY
  T(t, "backward").backward();
  ST_CATCH
}

// st_backward_grad back-propagates grad (t's shape) from a non-scalar t: one checkpointed layer's
// output with the gradient its successor passed back.
const char* st_backward_grad(st_tensor t, st_tensor grad) {
  ST_TRY
  T(t, "backward").backward(T(grad, "backward gradient"));
  ST_CATCH
}

const char* st_unary(st_tensor a, int op, st_tensor* out) {
  ST_TRY
  auto& x = T(a, "unary");
  at::Tensor r;
  switch (op) {
    case ST_NEG: r = -x; break;
    case ST_EXP: r = x.exp(); break;
    case ST_LOG: r = x.log(); break;
    case ST_SQRT: r = x.sqrt(); break;
    case ST_RSQRT: r = x.rsqrt(); break;
    case ST_SIGMOID: r = x.sigmoid(); break;
    case ST_SILU: r = at::silu(x); break;
    case ST_TANH: r = x.tanh(); break;
    case ST_RELU: r = x.relu(); break;
    case ST_ABS: r = x.abs(); break;
    case ST_SIN: r = x.sin(); break;
    case ST_COS: r = x.cos(); break;
    case ST_SQUARE: r = x * x; break;
    default: throw std::invalid_argument("unknown unary op " + std::to_string(op));
  }
  *out = wrap(r);
  ST_CATCH
}

const char* st_binary(st_tensor a, st_tensor b, int op, st_tensor* out) {
  ST_TRY
  auto& x = T(a, "binary lhs");
  auto& y = T(b, "binary rhs");
  at::Tensor r;
  switch (op) {
    case ST_ADD: r = x + y; break;
    case ST_SUB: r = x - y; break;
    case ST_MUL: r = x * y; break;
    case ST_DIV: r = x / y; break;
    case ST_MATMUL: r = at::matmul(x, y); break;
    case ST_MAXIMUM: r = at::maximum(x, y); break;
    case ST_MINIMUM: r = at::minimum(x, y); break;
    case ST_EQ: r = x.eq(y); break;
    case ST_LT: r = x.lt(y); break;
    case ST_GT: r = x.gt(y); break;
    default: throw std::invalid_argument("unknown binary op " + std::to_string(op));
  }
  *out = wrap(r);
  ST_CATCH
}

const char* st_add_scaled(st_tensor a, st_tensor b, double alpha, st_tensor* out) {
  ST_TRY
  *out = wrap(at::add(T(a, "add_scaled lhs"), T(b, "add_scaled rhs"), alpha));
  ST_CATCH
}

const char* st_scalar(st_tensor a, double mul, double add, st_tensor* out) {
  ST_TRY
  auto& x = T(a, "scalar");
  at::Tensor r = x;
  if (mul != 1.0) r = r * mul;
  if (add != 0.0) r = r + add;
  if (mul == 1.0 && add == 0.0) r = x.clone();
  *out = wrap(r);
  ST_CATCH
}

const char* st_pow_scalar(st_tensor a, double p, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "pow").pow(p));
  ST_CATCH
}

const char* st_reduce(st_tensor a, int op, const int64_t* d, int ndims, int keepdim, st_tensor* out) {
  ST_TRY
  auto& x = T(a, "reduce");
  auto dv = dims(d, ndims);
  bool all = ndims == 0;
  at::Tensor r;
  switch (op) {
    case ST_SUM: r = all ? x.sum() : x.sum(dv, keepdim != 0); break;
    case ST_MEAN: r = all ? x.mean() : x.mean(dv, keepdim != 0); break;
    case ST_AMAX: r = x.amax(dv, keepdim != 0); break;
    case ST_AMIN: r = x.amin(dv, keepdim != 0); break;
    default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
  }
  *out = wrap(r);
  ST_CATCH
}

const char* st_argmax(st_tensor a, int64_t dim, int keepdim, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "argmax").argmax(dim, keepdim != 0));
  ST_CATCH
}

const char* st_softmax(st_tensor a, int64_t dim, int log, st_tensor* out) {
  ST_TRY
  auto& x = T(a, "softmax");
  *out = wrap(log ? at::log_softmax(x, dim) : at::softmax(x, dim));
  ST_CATCH
}

const char* st_reshape(st_tensor a, const int64_t* shape, int ndim, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "reshape").reshape(dims(shape, ndim)));
  ST_CATCH
}

const char* st_transpose(st_tensor a, int64_t d0, int64_t d1, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "transpose").transpose(d0, d1));
  ST_CATCH
}

const char* st_permute(st_tensor a, const int64_t* d, int ndim, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "permute").permute(dims(d, ndim)));
  ST_CATCH
}

const char* st_narrow(st_tensor a, int64_t dim, int64_t start, int64_t len, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "narrow").narrow(dim, start, len));
  ST_CATCH
}

const char* st_cat(const st_tensor* ts, int n, int64_t dim, st_tensor* out) {
  ST_TRY
  *out = wrap(at::cat(list(ts, n), dim));
  ST_CATCH
}

const char* st_stack(const st_tensor* ts, int n, int64_t dim, st_tensor* out) {
  ST_TRY
  *out = wrap(at::stack(list(ts, n), dim));
  ST_CATCH
}

const char* st_unsqueeze(st_tensor a, int64_t dim, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "unsqueeze").unsqueeze(dim));
  ST_CATCH
}

const char* st_squeeze(st_tensor a, int64_t dim, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "squeeze").squeeze(dim));
  ST_CATCH
}

const char* st_expand(st_tensor a, const int64_t* shape, int ndim, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "expand").expand(dims(shape, ndim)));
  ST_CATCH
}

const char* st_index_select(st_tensor a, int64_t dim, st_tensor idx, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "index_select").index_select(dim, T(idx, "index_select index")));
  ST_CATCH
}

const char* st_gather(st_tensor a, int64_t dim, st_tensor idx, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "gather").gather(dim, T(idx, "gather index")));
  ST_CATCH
}

const char* st_masked_fill(st_tensor a, st_tensor mask, double value, st_tensor* out) {
  ST_TRY
  *out = wrap(T(a, "masked_fill").masked_fill(T(mask, "masked_fill mask"), value));
  ST_CATCH
}

const char* st_where(st_tensor cond, st_tensor a, st_tensor b, st_tensor* out) {
  ST_TRY
  *out = wrap(at::where(T(cond, "where cond"), T(a, "where lhs"), T(b, "where rhs")));
  ST_CATCH
}

// check reads the ids' range back to the host (a device sync): callers that checked the ids on the
// host already pass 0.
const char* st_embedding(st_tensor weight, st_tensor ids, int check, st_tensor* out) {
  ST_TRY
  auto& w = T(weight, "embedding weight");
  auto& i = T(ids, "embedding ids");
  if (check && i.numel() > 0) {
    auto lo = i.min().item<int64_t>(), hi = i.max().item<int64_t>();
    if (lo < 0 || hi >= w.size(0)) {
      throw std::out_of_range("token id out of range [0, " + std::to_string(w.size(0)) + "): min " +
                              std::to_string(lo) + ", max " + std::to_string(hi));
    }
  }
  *out = wrap(at::embedding(w, i));
  ST_CATCH
}

const char* st_linear(st_tensor x, st_tensor w, st_tensor b, st_tensor* out) {
  ST_TRY
  *out = wrap(at::linear(T(x, "linear input"), T(w, "linear weight"), opt(b)));
  ST_CATCH
}

const char* st_lora_linear(st_tensor x, st_tensor w, st_tensor b, st_tensor la, st_tensor lb, double scaling,
                           double dropout, int train, st_tensor* out) {
  ST_TRY
  *out = wrap(st::lora_linear(T(x, "lora input"), T(w, "lora base weight"), opt(b), T(la, "lora_A"), T(lb, "lora_B"),
                              scaling, dropout, train != 0));
  ST_CATCH
}

const char* st_rms_norm(st_tensor x, st_tensor w, double eps, st_tensor* out) {
  ST_TRY
  // Hugging Face Qwen2RMSNorm/LlamaRMSNorm: statistics in fp32, cast back, then scale (one autograd node).
  *out = wrap(st::rms_norm(T(x, "rms_norm input"), T(w, "rms_norm weight"), eps));
  ST_CATCH
}

const char* st_rope(st_tensor x, st_tensor cos, st_tensor sin, st_tensor* out) {
  ST_TRY
  *out = wrap(st::rope(T(x, "rope input"), T(cos, "rope cos"), T(sin, "rope sin")));
  ST_CATCH
}

const char* st_silu_mul(st_tensor gate, st_tensor up, st_tensor* out) {
  ST_TRY
  *out = wrap(st::silu_mul(T(gate, "silu_mul gate"), T(up, "silu_mul up")));
  ST_CATCH
}

const char* st_sdpa(st_tensor q, st_tensor k, st_tensor v, st_tensor mask, int causal, double scale,
                    st_tensor* out) {
  ST_TRY
  auto& Q = T(q, "sdpa query");
  auto& K = T(k, "sdpa key");
  auto& V = T(v, "sdpa value");
  auto M = opt(mask);
  if (Q.dim() != 4 || K.dim() != 4 || V.dim() != 4) throw std::invalid_argument("sdpa wants [B,H,T,D] tensors");
  if (K.size(1) != Q.size(1) || V.size(1) != Q.size(1))
    throw std::invalid_argument("sdpa: key/value heads must equal query heads (expand GQA first)");
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
  // Native kernels (flash / memory-efficient / math) pick themselves by device, dtype and mask.
  if (causal && (M.defined() || Q.size(2) != K.size(2))) {
    // A mask plus causal (SDPA refuses both at once), or fewer queries than keys (SDPA's is_causal is
    // top-left aligned; a KV cache needs bottom-right, like the fallback below): fold causality into the mask.
    auto Tq = Q.size(2), Tk = K.size(2);
    auto c = at::ones({Tq, Tk}, Q.options().dtype(at::kBool)).tril(Tk - Tq);
    M = (M.defined() ? M : at::zeros({Tq, Tk}, Q.options())).masked_fill(c.logical_not(), -1e9);
    causal = 0;
  }
  // An undefined tensor inside the optional is not "no mask" to SDPA: pass nullopt.
  c10::optional<at::Tensor> mask_arg;
  if (M.defined()) mask_arg = M.to(Q.scalar_type());
  *out = wrap(at::scaled_dot_product_attention(Q, K, V, mask_arg, 0.0, causal != 0, scale));
#else
  // libtorch < 2.1 (Debian 1.13; 2.0 lacks the scale argument): the math path, softmax in fp32, as one
  // autograd node.
  *out = wrap(st::attention(Q, K, V, M, causal != 0, scale));
#endif
  ST_CATCH
}

const char* st_dropout(st_tensor x, double p, int train, st_tensor* out) {
  ST_TRY
  *out = wrap(at::dropout(T(x, "dropout"), p, train != 0));
  ST_CATCH
}

const char* st_cross_entropy(st_tensor logits, st_tensor targets, int64_t ignore_index, int reduction,
                             st_tensor* out) {
  ST_TRY
  auto& L = T(logits, "cross_entropy logits");
  auto& Y = T(targets, "cross_entropy targets");
  int64_t red = reduction == 0 ? at::Reduction::Mean : reduction == 1 ? at::Reduction::Sum : at::Reduction::None;
  *out = wrap(at::cross_entropy_loss(L.to(at_least_f32(L.scalar_type())), Y, {}, red, ignore_index));
  ST_CATCH
}

// check reads back whether a target is outside the vocabulary (a device sync): callers that checked
// the targets on the host pass 0.
const char* st_linear_cross_entropy(st_tensor h, st_tensor w, st_tensor targets, int64_t ignore_index, int64_t chunk,
                                    int want_grad, int check, st_tensor* out) {
  ST_TRY
  auto& X = T(h, "linear_cross_entropy hidden");
  auto& W = T(w, "linear_cross_entropy weight");
  auto& Y = T(targets, "linear_cross_entropy targets");
  if (X.dim() != 2 || W.dim() != 2 || X.size(1) != W.size(1))
    throw std::invalid_argument("linear_cross_entropy: hidden must be [N, H] and weight [V, H]");
  if (Y.dim() != 1 || Y.size(0) != X.size(0) || Y.scalar_type() != at::kLong)
    throw std::invalid_argument("linear_cross_entropy: targets must be int64 [N]");
  if (X.scalar_type() != W.scalar_type()) throw std::invalid_argument("linear_cross_entropy: hidden and weight dtypes differ");
  if (W.requires_grad()) throw std::invalid_argument("linear_cross_entropy: the weight must be frozen (use linear + cross_entropy)");
  if (chunk <= 0) throw std::invalid_argument("linear_cross_entropy: chunk must be positive");
  auto bad = [&] { return Y.ne(ignore_index).logical_and(Y.lt(0).logical_or(Y.ge(W.size(0)))).any().item<bool>(); };
  if (check && bad()) throw std::invalid_argument("linear_cross_entropy: a target is outside the vocabulary");
  *out = wrap(LinearCrossEntropy::apply(X, W, Y, ignore_index, chunk, want_grad != 0));
  ST_CATCH
}

const char* st_adamw_new(const st_tensor* params, int n, const int* group_of, int ngroups, const double* lrs,
                         const double* wds, double beta1, double beta2, double eps, st_optim* out) {
  ST_TRY
  std::vector<std::vector<at::Tensor>> groups(ngroups);
  for (int i = 0; i < n; i++) {
    int g = group_of ? group_of[i] : 0;
    if (g < 0 || g >= ngroups) throw std::invalid_argument("adamw: parameter group out of range");
    groups[g].push_back(T(params[i], "adamw parameter"));
  }
  std::vector<torch::optim::OptimizerParamGroup> pg;
  for (int g = 0; g < ngroups; g++) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(lrs[g]);
    o->betas(std::make_tuple(beta1, beta2)).eps(eps).weight_decay(wds[g]);
    pg.emplace_back(groups[g], std::move(o));
  }
  auto o = std::make_unique<st_optim_s>();
  o->opt = std::make_unique<torch::optim::AdamW>(pg, torch::optim::AdamWOptions(lrs[0]));
  *out = o.release();
  ST_CATCH
}

#if ST_FAST_OPTIM
// One fused CUDA kernel per group (PyTorch's AdamW(fused=True)) on the optimizer's own state, so
// Save/Load and the C++ step stay interchangeable. Returns false where it does not apply.
static bool fused_adamw_step(st_optim o) {
  using State = torch::optim::AdamWParamState;
  auto& state = o->opt->state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  for (auto& group : o->opt->param_groups())
    for (auto& p : group.params())
      if (p.grad().defined() && (!p.is_cuda() || p.scalar_type() != at::kFloat)) return false;
  for (auto& group : o->opt->param_groups()) {
    auto& opts = static_cast<torch::optim::AdamWOptions&>(group.options());
    if (opts.amsgrad()) return false;
    std::vector<at::Tensor> ps, gs, m1, m2;
    int64_t step = 0;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      Key key = state_key<Key>(p.unsafeGetTensorImpl());
      auto it = state.find(key);
      if (it == state.end()) {
        auto st = std::make_unique<State>();
        st->step(0);
        st->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        st->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = state.insert({key, std::move(st)}).first;
      }
      auto& st = static_cast<State&>(*it->second);
      st.step(st.step() + 1);
      step = st.step();
      ps.push_back(p);
      gs.push_back(p.grad());
      m1.push_back(st.exp_avg());
      m2.push_back(st.exp_avg_sq());
    }
    if (ps.empty()) continue;
    auto stepT = at::full({}, static_cast<double>(step), ps[0].options());
    std::vector<at::Tensor> steps(ps.size(), stepT);
    std::vector<at::Tensor> none;
    at::NoGradGuard ng;
    at::_fused_adamw_(ps, gs, m1, m2, none, steps, opts.lr(), std::get<0>(opts.betas()), std::get<1>(opts.betas()),
                      opts.weight_decay(), opts.eps(), false, false, {}, {});
  }
  return true;
}
#endif

const char* st_adamw_step(st_optim o) {
  ST_TRY
#if ST_FAST_OPTIM
  if (fused_adamw_step(o)) return nullptr;
#endif
  if (st::foreach_adamw_step(o)) return nullptr;
  o->opt->step();
  ST_CATCH
}

// Gradients are dropped, not zeroed (PyTorch 2's set_to_none): no kernel per parameter, and the
// next backward stores its gradient instead of adding it to zeros (the same values).
const char* st_adamw_zero_grad(st_optim o) {
  ST_TRY
  for (auto& group : o->opt->param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  ST_CATCH
}

const char* st_adamw_set_lr(st_optim o, int group, double lr) {
  ST_TRY
  auto& gs = o->opt->param_groups();
  if (group < 0 || group >= static_cast<int>(gs.size())) throw std::invalid_argument("adamw: no such group");
  static_cast<torch::optim::AdamWOptions&>(gs[group].options()).lr(lr);
  ST_CATCH
}

// The parameter p of o, or an exception naming it as foreign: state is keyed by TensorImpl, so a
// tensor the optimizer does not hold would get state that no step ever reads.
static void adamw_param(st_optim o, const at::Tensor& p) {
  for (auto& group : o->opt->param_groups())
    for (auto& q : group.params())
      if (q.unsafeGetTensorImpl() == p.unsafeGetTensorImpl()) return;
  throw std::invalid_argument("adamw: the tensor is not one of the optimizer's parameters");
}

// The moments of param as views of the live state (null before its first step, with step 0).
const char* st_adamw_get_state(st_optim o, st_tensor param, int64_t* step, st_tensor* exp_avg, st_tensor* exp_avg_sq) {
  ST_TRY
  const auto& p = T(param, "adamw state parameter");
  adamw_param(o, p);
  auto& state = o->opt->state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  *step = 0;
  *exp_avg = *exp_avg_sq = nullptr;
  auto it = state.find(state_key<Key>(p.unsafeGetTensorImpl()));
  if (it == state.end()) return nullptr;
  auto& st = static_cast<torch::optim::AdamWParamState&>(*it->second);
  *step = st.step();
  *exp_avg = wrap(st.exp_avg().detach());
  *exp_avg_sq = wrap(st.exp_avg_sq().detach());
  ST_CATCH
}

// Replaces param's state with copies of the moments, cast to the parameter's dtype and device.
const char* st_adamw_set_state(st_optim o, st_tensor param, int64_t step, st_tensor exp_avg, st_tensor exp_avg_sq) {
  ST_TRY
  const auto& p = T(param, "adamw state parameter");
  adamw_param(o, p);
  const auto& m1 = T(exp_avg, "exp_avg");
  const auto& m2 = T(exp_avg_sq, "exp_avg_sq");
  if (!m1.sizes().equals(p.sizes()) || !m2.sizes().equals(p.sizes()))
    throw std::invalid_argument("adamw: moment shapes differ from the parameter's");
  auto& state = o->opt->state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  auto st = std::make_unique<torch::optim::AdamWParamState>();
  st->step(step);
  st->exp_avg(m1.detach().to(p.options(), /*non_blocking=*/false, /*copy=*/true));
  st->exp_avg_sq(m2.detach().to(p.options(), /*non_blocking=*/false, /*copy=*/true));
  state[state_key<Key>(p.unsafeGetTensorImpl())] = std::move(st);
  ST_CATCH
}

const char* st_adamw_free(st_optim o) {
  delete o;
  return nullptr;
}

}  // extern "C"
