// What both translation units of the shim share: the tensor handle and the exception-to-error-string
// boundary. Internal to libsentitorch.so; Go sees only sentitorch.h.
#ifndef SENTITORCH_SHIM_INTERNAL_H
#define SENTITORCH_SHIM_INTERNAL_H

#include <cstdlib>
#include <cstring>
#include <string>

#include <torch/torch.h>

struct st_tensor_s {
  at::Tensor t;
};

namespace st {

// dup copies s into malloc'ed memory: the error strings the C ABI hands out (the caller frees them).
inline char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

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
