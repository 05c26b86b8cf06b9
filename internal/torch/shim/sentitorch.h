/* sentitorch: the plain C ABI over libtorch that sentitune's Go code calls.
 *
 * Every function returns NULL on success or a malloc'ed error message (free with free()).
 * Tensors are opaque handles owned by the caller: release each with st_free.
 * The function list is one X-macro so the shim, the Go loader and the symbol table cannot drift.
 */
#ifndef SENTITORCH_H
#define SENTITORCH_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct st_tensor_s* st_tensor;
typedef struct st_optim_s* st_optim;
typedef struct st_group_s* st_group;

/* dtypes */
enum { ST_F32 = 0, ST_BF16 = 1, ST_F16 = 2, ST_I64 = 3, ST_BOOL = 4, ST_I32 = 5, ST_U8 = 6, ST_F64 = 7 };
/* unary ops for st_unary */
enum { ST_NEG = 0, ST_EXP, ST_LOG, ST_SQRT, ST_RSQRT, ST_SIGMOID, ST_SILU, ST_TANH, ST_RELU, ST_ABS, ST_SIN, ST_COS, ST_SQUARE };
/* binary ops for st_binary */
enum { ST_ADD = 0, ST_SUB, ST_MUL, ST_DIV, ST_MATMUL, ST_MAXIMUM, ST_MINIMUM, ST_EQ, ST_LT, ST_GT };
/* reductions for st_reduce */
enum { ST_SUM = 0, ST_MEAN, ST_AMAX, ST_AMIN };

#define ST_ABI_VERSION 3

#define ST_FUNCS(X) \
  X(st_abi_version, (int* out), (out)) \
  X(st_version, (char** out), (out)) \
  X(st_cuda_available, (int* out), (out)) \
  X(st_cuda_device_count, (int* out), (out)) \
  X(st_cuda_memory, (int dev, int64_t* allocated, int64_t* reserved, int64_t* peak), (dev, allocated, reserved, peak)) \
  X(st_cuda_reset_peak, (int dev), (dev)) \
  X(st_cuda_synchronize, (int dev), (dev)) \
  X(st_cuda_empty_cache, (void), ()) \
  X(st_manual_seed, (uint64_t seed), (seed)) \
  X(st_rng_get_state, (int devtype, int devidx, st_tensor* out), (devtype, devidx, out)) \
  X(st_rng_set_state, (int devtype, int devidx, st_tensor state), (devtype, devidx, state)) \
  X(st_set_num_threads, (int n), (n)) \
  X(st_get_num_threads, (int* out), (out)) \
  X(st_set_grad_enabled, (int enabled, int* prev), (enabled, prev)) \
  X(st_free, (st_tensor t), (t)) \
  X(st_from_data, (const void* data, int dtype, const int64_t* shape, int ndim, int devtype, int devidx, st_tensor* out), (data, dtype, shape, ndim, devtype, devidx, out)) \
  X(st_from_blob, (void* data, int dtype, const int64_t* shape, int ndim, st_tensor* out), (data, dtype, shape, ndim, out)) \
  X(st_full, (const int64_t* shape, int ndim, double value, int dtype, int devtype, int devidx, st_tensor* out), (shape, ndim, value, dtype, devtype, devidx, out)) \
  X(st_randn, (const int64_t* shape, int ndim, int dtype, int devtype, int devidx, st_tensor* out), (shape, ndim, dtype, devtype, devidx, out)) \
  X(st_rand_uniform, (const int64_t* shape, int ndim, double low, double high, int dtype, int devtype, int devidx, st_tensor* out), (shape, ndim, low, high, dtype, devtype, devidx, out)) \
  X(st_arange, (int64_t start, int64_t end, int dtype, int devtype, int devidx, st_tensor* out), (start, end, dtype, devtype, devidx, out)) \
  X(st_shape, (st_tensor t, int64_t* buf, int cap, int* ndim), (t, buf, cap, ndim)) \
  X(st_info, (st_tensor t, int* dtype, int* devtype, int* devidx, int* requires_grad, int* defined), (t, dtype, devtype, devidx, requires_grad, defined)) \
  X(st_read, (st_tensor t, int dtype, void* dst, int64_t nbytes), (t, dtype, dst, nbytes)) \
  X(st_to, (st_tensor t, int dtype, int devtype, int devidx, st_tensor* out), (t, dtype, devtype, devidx, out)) \
  X(st_clone, (st_tensor t, st_tensor* out), (t, out)) \
  X(st_detach, (st_tensor t, st_tensor* out), (t, out)) \
  X(st_contiguous, (st_tensor t, st_tensor* out), (t, out)) \
  X(st_copy_, (st_tensor dst, st_tensor src), (dst, src)) \
  X(st_set_requires_grad, (st_tensor t, int on), (t, on)) \
  X(st_grad, (st_tensor t, st_tensor* out), (t, out)) \
  X(st_zero_grad, (st_tensor t), (t)) \
  X(st_backward, (st_tensor t), (t)) \
  X(st_backward_grad, (st_tensor t, st_tensor grad), (t, grad)) \
  X(st_unary, (st_tensor a, int op, st_tensor* out), (a, op, out)) \
  X(st_binary, (st_tensor a, st_tensor b, int op, st_tensor* out), (a, b, op, out)) \
  X(st_add_scaled, (st_tensor a, st_tensor b, double alpha, st_tensor* out), (a, b, alpha, out)) \
  X(st_scalar, (st_tensor a, double mul, double add, st_tensor* out), (a, mul, add, out)) \
  X(st_pow_scalar, (st_tensor a, double p, st_tensor* out), (a, p, out)) \
  X(st_reduce, (st_tensor a, int op, const int64_t* dims, int ndims, int keepdim, st_tensor* out), (a, op, dims, ndims, keepdim, out)) \
  X(st_argmax, (st_tensor a, int64_t dim, int keepdim, st_tensor* out), (a, dim, keepdim, out)) \
  X(st_softmax, (st_tensor a, int64_t dim, int log, st_tensor* out), (a, dim, log, out)) \
  X(st_reshape, (st_tensor a, const int64_t* shape, int ndim, st_tensor* out), (a, shape, ndim, out)) \
  X(st_transpose, (st_tensor a, int64_t d0, int64_t d1, st_tensor* out), (a, d0, d1, out)) \
  X(st_permute, (st_tensor a, const int64_t* dims, int ndim, st_tensor* out), (a, dims, ndim, out)) \
  X(st_narrow, (st_tensor a, int64_t dim, int64_t start, int64_t len, st_tensor* out), (a, dim, start, len, out)) \
  X(st_cat, (const st_tensor* ts, int n, int64_t dim, st_tensor* out), (ts, n, dim, out)) \
  X(st_stack, (const st_tensor* ts, int n, int64_t dim, st_tensor* out), (ts, n, dim, out)) \
  X(st_unsqueeze, (st_tensor a, int64_t dim, st_tensor* out), (a, dim, out)) \
  X(st_squeeze, (st_tensor a, int64_t dim, st_tensor* out), (a, dim, out)) \
  X(st_expand, (st_tensor a, const int64_t* shape, int ndim, st_tensor* out), (a, shape, ndim, out)) \
  X(st_index_select, (st_tensor a, int64_t dim, st_tensor idx, st_tensor* out), (a, dim, idx, out)) \
  X(st_gather, (st_tensor a, int64_t dim, st_tensor idx, st_tensor* out), (a, dim, idx, out)) \
  X(st_masked_fill, (st_tensor a, st_tensor mask, double value, st_tensor* out), (a, mask, value, out)) \
  X(st_where, (st_tensor cond, st_tensor a, st_tensor b, st_tensor* out), (cond, a, b, out)) \
  X(st_embedding, (st_tensor weight, st_tensor ids, int check, st_tensor* out), (weight, ids, check, out)) \
  X(st_linear, (st_tensor x, st_tensor w, st_tensor b, st_tensor* out), (x, w, b, out)) \
  X(st_lora_linear, (st_tensor x, st_tensor w, st_tensor b, st_tensor la, st_tensor lb, double scaling, double dropout, int train, st_tensor* out), (x, w, b, la, lb, scaling, dropout, train, out)) \
  X(st_rms_norm, (st_tensor x, st_tensor w, double eps, st_tensor* out), (x, w, eps, out)) \
  X(st_rope, (st_tensor x, st_tensor cos, st_tensor sin, st_tensor* out), (x, cos, sin, out)) \
  X(st_silu_mul, (st_tensor gate, st_tensor up, st_tensor* out), (gate, up, out)) \
  X(st_sdpa, (st_tensor q, st_tensor k, st_tensor v, st_tensor mask, int causal, double scale, st_tensor* out), (q, k, v, mask, causal, scale, out)) \
  X(st_dropout, (st_tensor x, double p, int train, st_tensor* out), (x, p, train, out)) \
  X(st_cross_entropy, (st_tensor logits, st_tensor targets, int64_t ignore_index, int reduction, st_tensor* out), (logits, targets, ignore_index, reduction, out)) \
  X(st_linear_cross_entropy, (st_tensor h, st_tensor w, st_tensor targets, int64_t ignore_index, int64_t chunk, int want_grad, int check, st_tensor* out), (h, w, targets, ignore_index, chunk, want_grad, check, out)) \
  X(st_clip_grad_norm, (const st_tensor* params, int n, double max_norm, st_tensor* total), (params, n, max_norm, total)) \
  X(st_adamw_new, (const st_tensor* params, int n, const int* group_of, int ngroups, const double* lrs, const double* wds, double beta1, double beta2, double eps, st_optim* out), (params, n, group_of, ngroups, lrs, wds, beta1, beta2, eps, out)) \
  X(st_adamw_step, (st_optim o), (o)) \
  X(st_adamw_zero_grad, (st_optim o), (o)) \
  X(st_adamw_set_lr, (st_optim o, int group, double lr), (o, group, lr)) \
  X(st_adamw_get_state, (st_optim o, st_tensor param, int64_t* step, st_tensor* exp_avg, st_tensor* exp_avg_sq), (o, param, step, exp_avg, exp_avg_sq)) \
  X(st_adamw_set_state, (st_optim o, st_tensor param, int64_t step, st_tensor exp_avg, st_tensor exp_avg_sq), (o, param, step, exp_avg, exp_avg_sq)) \
  X(st_adamw_free, (st_optim o), (o)) \
  X(st_dist_available, (int* out), (out)) \
  X(st_dist_init, (const char* backend, const char* host, int port, int rank, int world, int timeout_ms, st_group* out), (backend, host, port, rank, world, timeout_ms, out)) \
  X(st_dist_allreduce, (st_group g, const st_tensor* ts, int n, int average), (g, ts, n, average)) \
  X(st_dist_broadcast, (st_group g, const st_tensor* ts, int n, int root), (g, ts, n, root)) \
  X(st_dist_barrier, (st_group g), (g)) \
  X(st_dist_free, (st_group g), (g)) \
  X(st_opcount_enable, (int on), (on)) \
  X(st_opcount_read, (int64_t* ops, int64_t* launches, int64_t* nodes, int64_t* host_reads), (ops, launches, nodes, host_reads)) \
  X(st_trace_start, (void), ()) \
  X(st_trace_phase, (const char* name), (name)) \
  X(st_trace_stop, (const char* path), (path))

#define ST_DECLARE(name, params, args) const char* name params;
ST_FUNCS(ST_DECLARE)
#undef ST_DECLARE

#ifdef __cplusplus
}
#endif
#endif
