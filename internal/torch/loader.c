#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

#include "loader.h"

#define ST_POINTER(name, params, args) static const char* (*p_##name) params;
ST_FUNCS(ST_POINTER)
#undef ST_POINTER

#define ST_DEFINE(name, params, args) \
  const char* g_##name params { return p_##name args; }
ST_FUNCS(ST_DEFINE)
#undef ST_DEFINE

static char load_error[512];

const char* st_load(const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    return e ? e : "dlopen failed";
  }
#define ST_RESOLVE(name, params, args)                                        \
  *(void**)(&p_##name) = dlsym(h, #name);                                      \
  if (!p_##name) {                                                             \
    snprintf(load_error, sizeof load_error, "%s: missing symbol %s (shim older than this binary: rebuild it)", path, #name); \
    return load_error;                                                         \
  }
  ST_FUNCS(ST_RESOLVE)
#undef ST_RESOLVE
  return NULL;
}
