// Trampolines into libsentitorch.so, resolved with dlopen at run time so the Go binary carries no
// libtorch dependency and runs against a shim rebuilt for any libtorch.
#ifndef SENTITORCH_LOADER_H
#define SENTITORCH_LOADER_H
#include "shim/sentitorch.h"

const char* st_load(const char* path);

#define ST_TRAMPOLINE(name, params, args) const char* g_##name params;
ST_FUNCS(ST_TRAMPOLINE)
#undef ST_TRAMPOLINE
#endif
