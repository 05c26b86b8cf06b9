// sentitorch_prof: an ATen-level op counter and a Chrome trace writer, both fed by one global
// RecordFunction callback (libtorch's profiler hook). Global, not thread-local as the legacy profiler
// is, so ops on any thread are seen: Go may run a step's calls on another OS thread, and autograd's
// device threads run the backward on a GPU. Debian's libtorch 1.13 has no Kineto, so the trace is
// written here from the same callback rather than by Kineto's ProfilerResult::save.
#include "sentitorch.h"
#include "shim_internal.h"

#include <ATen/record_function.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

// ATen ops that launch no kernel: views, metadata and allocation (bench/torch_ref.py keeps the same list).
const std::unordered_set<std::string>& no_kernel_ops() {
  static const std::unordered_set<std::string> s = {
      "aten::empty", "aten::empty_strided", "aten::empty_like", "aten::view", "aten::_unsafe_view",
      "aten::reshape", "aten::_reshape_alias", "aten::as_strided", "aten::t", "aten::transpose",
      "aten::permute", "aten::expand", "aten::expand_as", "aten::slice", "aten::select", "aten::unsqueeze",
      "aten::squeeze", "aten::detach", "aten::detach_", "aten::alias", "aten::resize_", "aten::set_",
      "aten::split", "aten::split_with_sizes", "aten::chunk", "aten::narrow", "aten::unbind", "aten::view_as",
      "aten::contiguous", "aten::result_type", "aten::lift_fresh", "aten::numpy_T", "aten::unflatten",
      "aten::flatten", "aten::is_nonzero", "aten::requires_grad_", "aten::_has_compatible_shallow_copy_type",
      "aten::size", "aten::stride", "aten::dim", "aten::to", "aten::type_as", "aten::diagonal",
      "aten::movedim", "aten::swapaxes", "aten::real", "aten::conj", "aten::resolve_conj", "aten::resolve_neg",
      "aten::_conj", "aten::_neg_view", "aten::_nested_tensor_from_mask", "aten::record_stream"};
  return s;
}

// launches_kernel: a leaf ATen op that is not a view, metadata or allocation. Records not named
// aten:: (autograd's "detach", engine wrappers) run no kernel of their own.
bool launches_kernel(const char* name) {
  return std::strncmp(name, "aten::", 6) == 0 && !no_kernel_ops().count(name);
}

struct Counts {
  std::atomic<int64_t> ops{0}, launches{0}, nodes{0}, host_reads{0};
};

struct TraceEvent {
  std::string name;
  int tid;
  int64_t ts_us, dur_us;
  bool backward;
};

struct Prof {
  std::mutex mu;  // guards handle, events and phase_start
  bool installed = false;
  at::CallbackHandle handle = 0;
  std::atomic<bool> counting{false}, tracing{false};
  Counts counts;
  std::vector<TraceEvent> events;
  std::chrono::steady_clock::time_point t0;
  int64_t phase_start_us = 0;
};

Prof& prof() {
  static Prof p;
  return p;
}

std::atomic<int> next_tid{1};

int thread_id() {
  thread_local int id = next_tid.fetch_add(1);
  return id;
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - prof().t0)
      .count();
}

// Frame is one open ATen op on this thread: whether it called another op (then it is no leaf).
struct Frame {
  bool has_child;
};
thread_local std::vector<Frame> frames;
thread_local int multi_depth = 0;  // open multi-tensor ops on this thread: their children launch nothing

// A multi-tensor op (_foreach_*, _fused_*) counts as one launch: on a GPU multi_tensor_apply runs
// it as one kernel per chunk of 36–110 tensors; on the CPU it loops over per-tensor ops, which are
// not counted again. (Its list lengths are not read: fn.inputs() is unusable from a shim built
// without NDEBUG against a release libtorch.)
bool multi_tensor(const char* name) {
  return std::strncmp(name, "aten::_foreach_", 15) == 0 || std::strncmp(name, "aten::_fused_", 13) == 0;
}

struct TraceCtx : at::ObserverContext {
  int64_t start_us;
};

// A host read libtorch makes itself: .item() inside an op (blocks on a device). Go's own reads of
// tensors are counted on the Go side (Tensor.read), where the device is known without inputs.
bool host_read(const char* name) { return std::strcmp(name, "aten::_local_scalar_dense") == 0; }

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  Prof& p = prof();
  bool fwd = fn.scope() == at::RecordScope::FUNCTION;
  bool multi = fwd && multi_tensor(fn.name());
  if (fwd) {
    if (!frames.empty()) frames.back().has_child = true;
    frames.push_back(Frame{false});
  }
  if (p.counting.load(std::memory_order_relaxed)) {
    if (fwd) {
      p.counts.ops++;
      if (multi && multi_depth == 0) p.counts.launches++;
      if (host_read(fn.name())) p.counts.host_reads++;
    } else if (fn.scope() == at::RecordScope::BACKWARD_FUNCTION) {
      p.counts.nodes++;
    }
  }
  if (multi) multi_depth++;
  if (!p.tracing.load(std::memory_order_relaxed)) return nullptr;
  auto ctx = std::make_unique<TraceCtx>();
  ctx->start_us = now_us();
  return ctx;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  Prof& p = prof();
  bool fwd = fn.scope() == at::RecordScope::FUNCTION;
  if (fwd && !frames.empty()) {
    bool leaf = !frames.back().has_child;
    frames.pop_back();
    if (multi_tensor(fn.name())) multi_depth--;
    else if (leaf && multi_depth == 0 && p.counting.load(std::memory_order_relaxed) && launches_kernel(fn.name()))
      p.counts.launches++;
  }
  if (ctx && p.tracing.load(std::memory_order_relaxed)) {
    int64_t start = static_cast<TraceCtx*>(ctx)->start_us;
    TraceEvent ev{fn.name(), thread_id(), start, now_us() - start, !fwd};
    std::lock_guard<std::mutex> g(p.mu);
    p.events.push_back(std::move(ev));
  }
}

// sync_callback installs the callback while counting or tracing is on and removes it otherwise, so
// unprofiled runs pay nothing. Call with p.mu held.
void sync_callback(Prof& p) {
  bool want = p.counting.load() || p.tracing.load();
  if (want && !p.installed) {
    p.handle = at::addGlobalCallback(at::RecordFunctionCallback(on_start, on_end)
                                         .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
    p.installed = true;
  } else if (!want && p.installed) {
    at::removeCallback(p.handle);
    p.installed = false;
  }
}

void json_string(FILE* f, const std::string& s) {
  std::fputc('"', f);
  for (char c : s) {
    if (c == '"' || c == '\\') std::fputc('\\', f);
    if (static_cast<unsigned char>(c) < 0x20) continue;
    std::fputc(c, f);
  }
  std::fputc('"', f);
}

}  // namespace

extern "C" {

const char* st_opcount_enable(int on) {
  ST_TRY
  Prof& p = prof();
  std::lock_guard<std::mutex> g(p.mu);
  p.counting = on != 0;
  sync_callback(p);
  ST_CATCH
}

const char* st_opcount_read(int64_t* ops, int64_t* launches, int64_t* nodes, int64_t* host_reads) {
  ST_TRY
  Prof& p = prof();
  *ops = p.counts.ops.load();
  *launches = p.counts.launches.load();
  *nodes = p.counts.nodes.load();
  *host_reads = p.counts.host_reads.load();
  ST_CATCH
}

const char* st_trace_start(void) {
  ST_TRY
  Prof& p = prof();
  std::lock_guard<std::mutex> g(p.mu);
  p.events.clear();
  p.t0 = std::chrono::steady_clock::now();
  p.phase_start_us = 0;
  p.tracing = true;
  sync_callback(p);
  ST_CATCH
}

// st_trace_phase closes a span named name on the "phases" track, from the last mark to now.
const char* st_trace_phase(const char* name) {
  ST_TRY
  Prof& p = prof();
  if (!p.tracing.load()) return nullptr;
  int64_t now = now_us();
  std::lock_guard<std::mutex> g(p.mu);
  if (name && *name) p.events.push_back(TraceEvent{name, 0, p.phase_start_us, now - p.phase_start_us, false});
  p.phase_start_us = now;
  ST_CATCH
}

// st_trace_stop ends tracing and writes the events as Chrome trace JSON to path.
const char* st_trace_stop(const char* path) {
  ST_TRY
  Prof& p = prof();
  std::vector<TraceEvent> events;
  {
    std::lock_guard<std::mutex> g(p.mu);
    p.tracing = false;
    sync_callback(p);
    events.swap(p.events);
  }
  FILE* f = std::fopen(path, "w");
  if (!f) return st::dup(std::string("trace: cannot create ") + path);
  std::fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"source\":\"sentitune RecordFunction\"},\"traceEvents\":[\n", f);
  std::fprintf(f, "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":\"phases\"}}");
  for (const auto& e : events) {
    std::fputs(",\n{\"ph\":\"X\",\"pid\":1,\"tid\":", f);
    std::fprintf(f, "%d,\"ts\":%lld,\"dur\":%lld,\"cat\":\"%s\",\"name\":", e.tid, (long long)e.ts_us,
                 (long long)e.dur_us, e.tid == 0 ? "phase" : (e.backward ? "autograd" : "aten"));
    json_string(f, e.name);
    std::fputc('}', f);
  }
  std::fputs("\n]}\n", f);
  bool bad = std::ferror(f) != 0;
  if (std::fclose(f) != 0 || bad) return st::dup(std::string("trace: cannot write ") + path);
  ST_CATCH
}

}  // extern "C"
