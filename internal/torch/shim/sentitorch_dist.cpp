// Data-parallel collectives for sentitune over libtorch's c10d (Gloo on CPU, NCCL on CUDA).
// Built only where the c10d/gloo headers exist; elsewhere the entry points say why they cannot work.
#include "sentitorch.h"
#include "shim_internal.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#ifdef ST_WITH_DIST
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ST_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

struct st_group_s {
#ifdef ST_WITH_DIST
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef ST_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::chrono::milliseconds timeout{60000};
  int world = 1;
#endif
};

namespace {
using st::dup;

#ifdef ST_WITH_DIST
std::vector<at::Tensor> tensors(const st_tensor* ts, int n) {
  std::vector<at::Tensor> v;
  for (int i = 0; i < n; i++) {
    if (!ts[i]) throw std::invalid_argument("null tensor handle in collective");
    v.push_back(ts[i]->t);
  }
  return v;
}

// flatten packs tensors into one 1-D bucket (c10d takes a vector as per-device replicas, not a list).
std::vector<at::Tensor> flatten(const std::vector<at::Tensor>& v) {
  std::vector<at::Tensor> parts;
  for (auto& t : v) parts.push_back(t.reshape({-1}));
  return {at::cat(parts, 0)};
}

// unflatten copies a bucket made by flatten back into its tensors.
void unflatten(const at::Tensor& flat, std::vector<at::Tensor>& v) {
  int64_t off = 0;
  for (auto& t : v) {
    auto k = t.numel();
    t.copy_(flat.narrow(0, off, k).view_as(t));
    off += k;
  }
}

void wait(st_group g, c10::intrusive_ptr<c10d::Work> w, const char* what) {
  if (!w->wait(g->timeout)) throw std::runtime_error(std::string(what) + " timed out");
}

c10::intrusive_ptr<c10d::Work> allreduce(st_group g, std::vector<at::Tensor>& v) {
#ifdef ST_WITH_NCCL
  if (g->nccl) return g->nccl->allreduce(v);
#endif
  return g->gloo->allreduce(v);
}
#endif
}  // namespace

extern "C" {

const char* st_dist_available(int* out) {
#ifdef ST_WITH_DIST
  *out = 1;
#else
  *out = 0;
#endif
  return nullptr;
}

const char* st_dist_init(const char* backend, const char* host, int port, int rank, int world, int timeout_ms,
                         st_group* out) {
  ST_TRY
#ifdef ST_WITH_DIST
  auto g = std::make_unique<st_group_s>();
  g->timeout = std::chrono::milliseconds(timeout_ms);
  g->world = world;
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = world;
  so.waitWorkers = true;
  so.timeout = g->timeout;
  g->store = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
  std::string b(backend);
  if (b == "gloo") {
    auto opts = c10d::ProcessGroupGloo::Options::create();
    opts->timeout = g->timeout;
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(std::string(host)));
    g->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, world, opts);
  } else if (b == "nccl") {
#ifdef ST_WITH_NCCL
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g->timeout;
    g->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store, rank, world, opts);
#else
    throw std::runtime_error("this sentitorch build has no NCCL support");
#endif
  } else {
    throw std::invalid_argument("unknown distributed backend '" + b + "' (want gloo or nccl)");
  }
  *out = g.release();
#else
  (void)backend; (void)host; (void)port; (void)rank; (void)world; (void)timeout_ms; (void)out;
  throw std::runtime_error("this sentitorch build has no c10d support (rebuild with libgloo-dev installed)");
#endif
  ST_CATCH
}

const char* st_dist_allreduce(st_group g, const st_tensor* ts, int n, int average) {
  ST_TRY
#ifdef ST_WITH_DIST
  if (n == 0) return nullptr;
  // One flat bucket: a single collective per step instead of one per parameter.
  auto v = tensors(ts, n);
  auto flat = flatten(v);
  wait(g, allreduce(g, flat), "allreduce");
  if (average) flat[0].div_(g->world);
  unflatten(flat[0], v);
#else
  (void)g; (void)ts; (void)n; (void)average;
  throw std::runtime_error("no c10d support in this build");
#endif
  ST_CATCH
}

const char* st_dist_broadcast(st_group g, const st_tensor* ts, int n, int root) {
  ST_TRY
#ifdef ST_WITH_DIST
  if (n == 0) return nullptr;
  // A vector of tensors means per-device replicas to c10d, not a list: broadcast one flat bucket.
  auto v = tensors(ts, n);
  auto flat = flatten(v);
  c10d::BroadcastOptions o;
  o.rootRank = root;
#ifdef ST_WITH_NCCL
  if (g->nccl)
    wait(g, g->nccl->broadcast(flat, o), "broadcast");
  else
#endif
    wait(g, g->gloo->broadcast(flat, o), "broadcast");
  unflatten(flat[0], v);
#else
  (void)g; (void)ts; (void)n; (void)root;
  throw std::runtime_error("no c10d support in this build");
#endif
  ST_CATCH
}

const char* st_dist_barrier(st_group g) {
  ST_TRY
#ifdef ST_WITH_DIST
  // An allreduce of one element doubles as a barrier and works on every backend.
  auto dev = at::kCPU;
#ifdef ST_WITH_NCCL
  if (g->nccl) dev = at::kCUDA;
#endif
  std::vector<at::Tensor> v{at::zeros({1}, at::TensorOptions().device(dev))};
  wait(g, allreduce(g, v), "barrier");
#else
  (void)g;
  throw std::runtime_error("no c10d support in this build");
#endif
  ST_CATCH
}

const char* st_dist_free(st_group g) {
  delete g;
  return nullptr;
}

}  // extern "C"
