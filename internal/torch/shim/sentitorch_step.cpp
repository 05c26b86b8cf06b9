// sentitorch_step: the training step's hot ops with fewer kernels and no host reads — AdamW and
// gradient clipping as multi-tensor (_foreach_) ops over all parameters at once, and the LoRA layer
// as one autograd node. Each computes what libtorch's per-tensor code computes, op for op, so losses
// and gradients stay equal to it.
#include "sentitorch.h"
#include "shim_internal.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <map>
#include <sstream>
#include <type_traits>
#include <vector>

namespace {

// Bucket is the parameters of one group that share a step count (all of them, unless some had no
// gradient on an earlier step): one set of multi-tensor ops updates them together.
struct Bucket {
  std::vector<at::Tensor> ps, gs, m1, m2;
};

}  // namespace

namespace st {

// foreach_adamw_step is torch::optim::AdamW::step (amsgrad off) with each per-parameter op replaced
// by its _foreach_ twin over a group's parameters: the same arithmetic on the same state, so
// Save/Load and checkpoints see no difference, in ~9 multi-tensor ops per group instead of ~9 per
// parameter. Returns false (nothing done) where it does not apply.
bool foreach_adamw_step(st_optim_s* o) {
  using State = torch::optim::AdamWParamState;
  auto& state = o->opt->state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  for (auto& group : o->opt->param_groups())
    if (static_cast<torch::optim::AdamWOptions&>(group.options()).amsgrad()) return false;
  at::NoGradGuard ng;
  for (auto& group : o->opt->param_groups()) {
    auto& opts = static_cast<torch::optim::AdamWOptions&>(group.options());
    const double lr = opts.lr(), wd = opts.weight_decay(), eps = opts.eps();
    const double beta1 = std::get<0>(opts.betas()), beta2 = std::get<1>(opts.betas());
    std::map<int64_t, Bucket> buckets;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      Key key = state_key<Key>(p.unsafeGetTensorImpl());
      auto it = state.find(key);
      if (it == state.end()) {
        auto s = std::make_unique<State>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, at::MemoryFormat::Preserve));
        it = state.insert({key, std::move(s)}).first;
      }
      auto& s = static_cast<State&>(*it->second);
      s.step(s.step() + 1);
      auto& b = buckets[s.step()];
      b.ps.push_back(p);
      b.gs.push_back(p.grad());
      b.m1.push_back(s.exp_avg());
      b.m2.push_back(s.exp_avg_sq());
    }
    for (auto& [step, b] : buckets) {
      const double bc1 = 1 - std::pow(beta1, step), bc2 = 1 - std::pow(beta2, step);
      if (wd != 0) at::_foreach_mul_(b.ps, 1 - lr * wd);
      at::_foreach_mul_(b.m1, beta1);
      at::_foreach_add_(b.m1, b.gs, 1 - beta1);
      at::_foreach_mul_(b.m2, beta2);
      at::_foreach_addcmul_(b.m2, b.gs, b.gs, 1 - beta2);
      auto denom = at::_foreach_sqrt(b.m2);
      at::_foreach_div_(denom, std::sqrt(bc2));
      at::_foreach_add_(denom, eps);
      at::_foreach_addcdiv_(b.ps, b.m1, denom, -lr / bc1);
    }
  }
  return true;
}

// clip_grad_norm is torch::nn::utils::clip_grad_norm_ (L2) with the total norm kept on the device:
// the clip coefficient min(1, max_norm / (norm + 1e-6)) multiplies every gradient (by exactly 1
// where libtorch skips the multiply), so no host read decides anything. The coefficient is formed
// in f64, as libtorch forms it on the host. Returns the norm (0 without gradients) as a scalar of
// the gradients' dtype.
at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard ng;
  std::vector<at::Tensor> grads;
  for (auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return params.empty() ? at::zeros({}) : at::zeros({}, params[0].options());
  auto norms = at::_foreach_norm(grads, 2);
  auto total = norms.size() == 1 ? norms[0] : at::stack(norms).norm(2);
  if (std::isfinite(max_norm)) {
    auto coef = (max_norm / (total.to(at::kDouble) + 1e-6)).clamp_max(1.0);
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
    at::_foreach_mul_(grads, coef);  // untested here (Debian has 1.13): the Tensor overload, 2.1+
#else
    at::_foreach_mul_(grads, std::vector<at::Tensor>(grads.size(), coef));
#endif
  }
  return total;
}

// LoRALinear is PEFT's LoRA layer over a frozen linear as one autograd node:
//   y = x·Wᵀ + b + scaling · (dropout(x)·Aᵀ)·Bᵀ
// with the low-rank term added in place into the base GEMM's output (addmm_), and a backward that
// runs the GEMMs autograd would run for the same graph, in the same order and association, so its
// gradients equal the composite graph's. W and b get no gradient. Autocast semantics: the low-rank
// path runs in the base output's dtype while A and B stay f32 master weights.
struct LoRALinear : public torch::autograd::Function<LoRALinear> {
  // b is an optional (not an undefined Tensor): Function::apply wants every Tensor argument defined.
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const c10::optional<at::Tensor>& b, const at::Tensor& a, const at::Tensor& bm,
                            double scaling, double dropout, bool train) {
    auto base = at::linear(x, w, b);
    auto dt = base.scalar_type();
    at::Tensor h = x, noise;
    if (dropout > 0 && train) {  // at::dropout's CPU recipe: the same draws, the same masks
      noise = at::empty_like(x).bernoulli_(1 - dropout).div_(1 - dropout);
      h = x * noise;
    }
    auto ad = a.to(dt), bd = bm.to(dt);
    auto xa = at::linear(h.to(dt), ad);
    auto n_out = base.size(-1);
    auto y = base.reshape({-1, n_out});
    y.addmm_(xa.reshape({-1, xa.size(-1)}), bd.t(), 1.0, scaling);
    ctx->save_for_backward({h, w, ad, bd, xa, noise});
    ctx->saved_data["scaling"] = scaling;
    ctx->saved_data["a_edge"] = static_cast<int64_t>(b.has_value() ? 3 : 2);  // edges skip an absent bias
    ctx->saved_data["a_dtype"] = static_cast<int64_t>(a.scalar_type());
    ctx->saved_data["b_dtype"] = static_cast<int64_t>(bm.scalar_type());
    return y.view(base.sizes());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto &h = saved[0], &w = saved[1], &ad = saved[2], &bd = saved[3], &xa = saved[4], &noise = saved[5];
    const double scaling = ctx->saved_data["scaling"].toDouble();
    auto g = grads[0].reshape({-1, w.size(0)});
    auto xa2 = xa.reshape({-1, xa.size(-1)});
    auto h2 = h.reshape({-1, h.size(-1)});
    auto gxa = g.mm(bd) * scaling;  // addmm's mat1 gradient, then the linear's
    at::Tensor gx, ga, gb;
    if (ctx->needs_input_grad(0)) {
      auto gh = gxa.mm(ad);
      if (noise.defined()) gh = gh.view(noise.sizes()) * noise;
      gx = (g.mm(w).view(h.sizes()) + gh.view(h.sizes()));
    }
    const auto a_edge = static_cast<size_t>(ctx->saved_data["a_edge"].toInt());
    if (ctx->needs_input_grad(a_edge))
      ga = h2.t().mm(gxa).t().to(static_cast<at::ScalarType>(ctx->saved_data["a_dtype"].toInt()));
    if (ctx->needs_input_grad(a_edge + 1))
      gb = (xa2.t().mm(g) * scaling).t().to(static_cast<at::ScalarType>(ctx->saved_data["b_dtype"].toInt()));
    return {gx, at::Tensor(), at::Tensor(), ga, gb, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// RMSNorm is Hugging Face's RMSNorm (statistics in f32, cast back, times w) as one autograd node.
// Its backward runs the ops autograd derives for the composite graph (pow, mean, add, rsqrt, mul,
// mul), in the same order, so the gradients are the composite's.
struct RMSNorm : public torch::autograd::Function<RMSNorm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            double eps) {
    auto h = x.to(x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat);
    auto r = at::rsqrt(h.pow(2).mean(-1, true) + eps);
    auto n = (h * r).to(x.scalar_type());
    ctx->save_for_backward({h, r, n, w});
    ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
    return w * n;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto &h = saved[0], &r = saved[1], &n = saved[2], &w = saved[3];
    auto& g = grads[0];
    at::Tensor gx, gw;
    if (ctx->needs_input_grad(0)) {
      auto gn = (g * w).to(h.scalar_type());
      auto gr = at::sum_to(gn * h, r.sizes());
      auto gv = -0.5 * gr * r.pow(3);  // rsqrt's backward
      auto gp = gv.expand(h.sizes()) / h.size(-1);  // mean's
      gx = (gn * r + gp * (2 * h)).to(static_cast<at::ScalarType>(ctx->saved_data["x_dtype"].toInt()));
    }
    if (ctx->needs_input_grad(1)) gw = at::sum_to(g * n, w.sizes());
    return {gx, gw, at::Tensor()};
  }
};

// rotate_half_t is the adjoint of rotate_half (x ↦ cat(−x₂, x₁)): u ↦ cat(u₂, −u₁).
at::Tensor rotate_half_t(const at::Tensor& u) {
  auto half = u.size(-1) / 2;
  return at::cat({u.narrow(-1, half, u.size(-1) - half), -u.narrow(-1, 0, half)}, -1);
}

// RoPE is x·cos + rotate_half(x)·sin as one autograd node (cos and sin are constants).
struct RoPE : public torch::autograd::Function<RoPE> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos,
                            const at::Tensor& sin) {
    auto half = x.size(-1) / 2;
    auto rot = at::cat({-x.narrow(-1, half, x.size(-1) - half), x.narrow(-1, 0, half)}, -1);
    ctx->save_for_backward({cos, sin});
    return x * cos + rot * sin;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto& g = grads[0];
    auto gx = g * saved[0] + rotate_half_t(g * saved[1]);
    return {gx, at::Tensor(), at::Tensor()};
  }
};

// SiLUMul is silu(gate)·up as one autograd node; its backward is the composite's (mul, silu_backward).
struct SiLUMul : public torch::autograd::Function<SiLUMul> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    auto a = at::silu(gate);
    ctx->save_for_backward({gate, up, a});
    return a * up;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto &gate = saved[0], &up = saved[1], &a = saved[2];
    auto& g = grads[0];
    at::Tensor gg, gu;
    if (ctx->needs_input_grad(0)) gg = at::silu_backward(at::sum_to(g * up, gate.sizes()), gate);
    if (ctx->needs_input_grad(1)) gu = at::sum_to(g * a, up.sizes());
    return {gg, gu};
  }
};

// Attention is the math path of scaled dot-product attention (libtorch < 2.1 has no native SDPA with a
// scale) as one autograd node: softmax(Q·Kᵀ·scale, causal and additive masks) in f32, then ·V. Its
// backward runs the GEMMs and the softmax backward autograd runs for the composite graph.
struct Attention : public torch::autograd::Function<Attention> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const c10::optional<at::Tensor>& mask, bool causal, double scale) {
    auto acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    auto scores = at::matmul(q, k.transpose(-2, -1)).to(acc) * scale;
    at::Tensor hidden;  // the causally hidden (query, key) pairs
    if (causal) {
      auto Tq = q.size(2), Tk = k.size(2);
      hidden = at::ones({Tq, Tk}, q.options().dtype(at::kBool)).tril(Tk - Tq).logical_not();
      scores = scores.masked_fill(hidden, -1e9);
    }
    if (mask.has_value()) scores = scores + mask->to(acc);
    auto p = at::softmax(scores, -1);
    auto pv = p.to(v.scalar_type());
    ctx->save_for_backward({q, k, v, p, pv, hidden});
    ctx->saved_data["scale"] = scale;
    return at::matmul(pv, v);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3], &pv = saved[4], &hidden = saved[5];
    auto& go = grads[0];
    auto gv = pv.transpose(-2, -1).matmul(go);
    auto gs = at::_softmax_backward_data(go.matmul(v.transpose(-2, -1)).to(p.scalar_type()), p, -1, p.scalar_type());
    if (hidden.defined()) gs = gs.masked_fill(hidden, 0);
    gs = (gs * ctx->saved_data["scale"].toDouble()).to(q.scalar_type());
    auto gq = gs.matmul(k);
    auto gk = q.transpose(-2, -1).matmul(gs).transpose(-2, -1);
    return {gq, gk, gv, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                     bool causal, double scale) {
  c10::optional<at::Tensor> m;
  if (mask.defined()) {
    if (mask.requires_grad()) throw std::invalid_argument("sdpa: the mask must be a constant");
    m = mask;
  }
  return Attention::apply(q, k, v, m, causal, scale);
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) { return RMSNorm::apply(x, w, eps); }

at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  if (cos.requires_grad() || sin.requires_grad() || cos.dim() != x.dim() || sin.dim() != x.dim()) {
    auto half = x.size(-1) / 2;  // the composite graph: gradients for the tables too, or a broadcast
    auto rot = at::cat({-x.narrow(-1, half, x.size(-1) - half), x.narrow(-1, 0, half)}, -1);
    return x * cos + rot * sin;
  }
  return RoPE::apply(x, cos, sin);
}

at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up) {
  if (!gate.sizes().equals(up.sizes())) return at::silu(gate) * up;
  return SiLUMul::apply(gate, up);
}

at::Tensor lora_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& a,
                       const at::Tensor& bm, double scaling, double dropout, bool train) {
  if (w.requires_grad() || (b.defined() && b.requires_grad()))
    throw std::invalid_argument("lora_linear: the base weight and bias must be frozen");
  c10::optional<at::Tensor> bias;
  if (b.defined()) bias = b;
  return LoRALinear::apply(x, w, bias, a, bm, scaling, dropout, train);
}

}  // namespace st

extern "C" {

const char* st_clip_grad_norm(const st_tensor* params, int n, double max_norm, st_tensor* total) {
  ST_TRY
  std::vector<at::Tensor> ps;
  ps.reserve(n);
  for (int i = 0; i < n; i++) {
    if (!params[i]) throw std::invalid_argument("null tensor handle for clip_grad_norm parameter");
    ps.push_back(params[i]->t);
  }
  *total = new st_tensor_s{st::clip_grad_norm(ps, max_norm)};
  ST_CATCH
}

}  // extern "C"
