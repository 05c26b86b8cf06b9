// What both translation units of the shim share: the tensor handle and the exception-to-error-string
// boundary. Internal to libsentitorch.so; Go sees only sentitorch.h.
#ifndef SENTITORCH_SHIM_INTERNAL_H
#define SENTITORCH_SHIM_INTERNAL_H

#include <cstdlib>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <torch/torch.h>

struct st_tensor_s {
  at::Tensor t;
};

struct st_optim_s {
  std::unique_ptr<torch::optim::AdamW> opt;
};

namespace st {

// dup copies s into malloc'ed memory: the error strings the C ABI hands out (the caller frees them).
inline char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// state_key is the optimizer state's key for a parameter: its TensorImpl* in libtorch 2.x, that
// pointer printed as a string in older versions (a template, so only the matching branch is compiled).
template <typename Key>
Key state_key(c10::TensorImpl* impl) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream k;
    k << static_cast<void*>(impl);
    return k.str();
  } else {
    return impl;
  }
}

// The multi-tensor step ops (sentitorch_step.cpp).
bool foreach_adamw_step(st_optim_s* o);
at::Tensor clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps);
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                     bool causal, double scale);
at::Tensor rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);
at::Tensor silu_mul(const at::Tensor& gate, const at::Tensor& up);
at::Tensor lora_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& a,
                       const at::Tensor& bm, double scaling, double dropout, bool train);

}  // namespace st

// ST_TRY … ST_CATCH wraps an entry point's body: any C++ exception becomes the returned error string.
#define ST_TRY try {
#define ST_CATCH                                   \
  }                                                \
  catch (const c10::Error& e) {                    \
    return st::dup(e.what_without_backtrace());    \
  }                                                \
  catch (const std::exception& e) {                \
    return st::dup(e.what());                      \
  }                                                \
  catch (...) {                                    \
    return st::dup("unknown C++ exception");       \
  }                                                \
  return nullptr;

#endif
