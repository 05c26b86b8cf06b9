#!/usr/bin/env python3
"""PyTorch eager reference for sentitune's benchmarks (Debian python3-torch, no transformers needed).

A Qwen2/Llama decoder written the way Hugging Face transformers writes it (Qwen2RMSNorm, rotate_half
RoPE, repeat_kv GQA, SwiGLU MLP, tied lm_head) with PEFT-style LoRA linears, reading the same
model folder (config.json + model.safetensors) sentitune reads. It measures the same work sentitune's
bench measures: a LoRA train step on a fixed batch, and a batched forward that scores the last position.

  torch_ref.py train   --model DIR --batch B --seq T --steps N [--rank 8] [--full-logits] [--count-ops]
  torch_ref.py forward --model DIR --batch B --seq T --steps N
  torch_ref.py logits  --model DIR --ids 1,2,3        (all-position logits as JSON, for conformance)

Prints one JSON object on stdout.
"""
import argparse
import json
import math
import os
import resource
import statistics
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=DTYPES[meta["dtype"]])
        out[name] = t.reshape(meta["shape"]) if meta["shape"] else t.reshape(())
    return out


def load_weights(model_dir):
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = sorted(set(json.load(open(idx))["weight_map"].values()))
        w = {}
        for f in files:
            w.update(load_safetensors(os.path.join(model_dir, f)))
        return w
    return load_safetensors(os.path.join(model_dir, "model.safetensors"))


class LoRALinear(nn.Module):
    """PEFT's LoRA Linear: base(x) + dropout(x) @ A^T @ B^T * scaling, base frozen."""

    def __init__(self, weight, bias, r=0, alpha=16.0):
        super().__init__()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None
        self.r = r
        if r > 0:
            out_f, in_f = weight.shape
            self.lora_A = nn.Parameter(torch.empty(r, in_f))
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            self.lora_B = nn.Parameter(torch.zeros(out_f, r))
            self.scaling = alpha / r

    def forward(self, x):
        y = F.linear(x, self.weight, self.bias)
        if self.r > 0:
            y = y + F.linear(F.linear(x.to(self.lora_A.dtype), self.lora_A), self.lora_B).to(y.dtype) * self.scaling
        return y


def rms_norm(x, w, eps):
    dtype = x.dtype
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Decoder(nn.Module):
    def __init__(self, model_dir, dtype=torch.float32, rank=0, alpha=16.0):
        super().__init__()
        c = json.load(open(os.path.join(model_dir, "config.json")))
        self.c = c
        w = {k: v.to(dtype) for k, v in load_weights(model_dir).items()}
        self.H = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.nkv = c.get("num_key_value_heads", self.nh)
        self.hd = c.get("head_dim") or self.H // self.nh
        self.eps = c["rms_norm_eps"]
        self.theta = c.get("rope_theta", 10000.0)
        bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
        self.embed = nn.Parameter(w["model.embed_tokens.weight"], requires_grad=False)
        self.norm = nn.Parameter(w["model.norm.weight"], requires_grad=False)
        self.lm_head = self.embed if c.get("tie_word_embeddings") else nn.Parameter(w["lm_head.weight"], requires_grad=False)
        self.layers = nn.ModuleList()
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            L = nn.Module()
            for name in ("q_proj", "k_proj", "v_proj"):
                setattr(L, name, LoRALinear(w[p + "self_attn." + name + ".weight"], w.get(p + "self_attn." + name + ".bias") if bias else None, rank, alpha))
            L.o_proj = LoRALinear(w[p + "self_attn.o_proj.weight"], None, rank, alpha)
            for name in ("gate_proj", "up_proj", "down_proj"):
                setattr(L, name, LoRALinear(w[p + "mlp." + name + ".weight"], None, rank, alpha))
            L.in_norm = nn.Parameter(w[p + "input_layernorm.weight"], requires_grad=False)
            L.post_norm = nn.Parameter(w[p + "post_attention_layernorm.weight"], requires_grad=False)
            self.layers.append(L)

    def hidden(self, ids):
        B, T = ids.shape
        x = F.embedding(ids, self.embed)
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        pos = torch.arange(T, dtype=torch.float32)
        freqs = torch.outer(pos, inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype)[None, None], emb.sin().to(x.dtype)[None, None]
        rep = self.nh // self.nkv
        for L in self.layers:
            h = rms_norm(x, L.in_norm, self.eps)
            q = L.q_proj(h).view(B, T, self.nh, self.hd).transpose(1, 2)
            k = L.k_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
            v = L.v_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k[:, :, None].expand(B, self.nkv, rep, T, self.hd).reshape(B, self.nh, T, self.hd)
            v = v[:, :, None].expand(B, self.nkv, rep, T, self.hd).reshape(B, self.nh, T, self.hd)
            s = (q @ k.transpose(-2, -1)).float() * self.hd ** -0.5
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -1e9)
            a = torch.softmax(s, -1).to(v.dtype) @ v
            x = x + L.o_proj(a.transpose(1, 2).reshape(B, T, self.nh * self.hd))
            h = rms_norm(x, L.post_norm, self.eps)
            x = x + L.down_proj(F.silu(L.gate_proj(h)) * L.up_proj(h))
        return rms_norm(x, self.norm, self.eps)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def batch_ids(V, B, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, min(V, 150000), (B, T), generator=g)


# ATen ops that launch no kernel: views, metadata and allocation (the same list as the shim's
# internal/torch/shim/sentitorch_prof.cpp, so both sides count launches alike).
NO_KERNEL_OPS = set("""empty empty_strided empty_like view _unsafe_view reshape _reshape_alias as_strided t transpose
permute expand expand_as slice select unsqueeze squeeze detach detach_ alias resize_ set_ split split_with_sizes chunk
narrow unbind view_as contiguous result_type lift_fresh numpy_T unflatten flatten is_nonzero requires_grad_
_has_compatible_shallow_copy_type size stride dim to type_as diagonal movedim swapaxes real conj resolve_conj
resolve_neg _conj _neg_view _nested_tensor_from_mask record_stream""".split())


def count_ops(events):
    """sentitune's ATen counts (finetune --profile) of one profiler session's events: every
    FUNCTION-scope record, the leaf aten:: ones that launch a kernel, autograd nodes
    (BACKWARD_FUNCTION scope) and .item()s (_local_scalar_dense)."""
    c = {"aten_ops": 0, "launches": 0, "autograd_nodes": 0, "host_reads": 0}
    for e in events:
        if e.scope == 1:
            c["autograd_nodes"] += 1
            continue
        if e.scope != 0:
            continue
        c["aten_ops"] += 1
        if e.name == "aten::_local_scalar_dense":
            c["host_reads"] += 1
        leaf = not any(ch.scope == 0 for ch in e.cpu_children)
        if leaf and e.name.startswith("aten::") and e.name[6:] not in NO_KERNEL_OPS:
            c["launches"] += 1
    return c


class PhaseCounter:
    """Counts each phase of a step in its own profiler session; phase names are finetune --profile's."""

    def __init__(self, on):
        self.on, self.phases, self.steps = on, {}, 0

    def run(self, phase, f):
        if not self.on:
            return f()
        kw = {"use_kineto": False} if torch.__version__ < "2" else {}
        with torch.autograd.profiler.profile(**kw) as p:
            r = f()
        tot = self.phases.setdefault(phase, {"aten_ops": 0, "launches": 0, "autograd_nodes": 0, "host_reads": 0})
        for k, v in count_ops(p.function_events).items():
            tot[k] += v
        return r

    def per_step(self):
        if not self.steps:
            return None
        out = {ph: {k: v / self.steps for k, v in c.items()} for ph, c in self.phases.items()}
        out["step"] = {k: sum(c[k] for c in self.phases.values()) / self.steps for k in ("aten_ops", "launches", "autograd_nodes", "host_reads")}
        return out


def cmd_train(a):
    torch.manual_seed(a.seed)
    m = Decoder(a.model, rank=a.rank, alpha=2.0 * a.rank)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    ids = batch_ids(m.c["vocab_size"], a.batch, a.seq, a.seed)
    # The classification objective: loss on the last two positions (label and end-of-turn) only.
    targets = ids[:, -2:].clone()
    times = []

    def forward():
        h = m.hidden(ids)
        if a.full_logits:
            logits = F.linear(h, m.lm_head)[:, -3:-1]
        else:
            logits = F.linear(h[:, -3:-1], m.lm_head)
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))

    counter = PhaseCounter(False)
    for step in range(a.warmup + a.steps):
        # Counted steps are profiled, so they are not timed.
        counter.on = a.count_ops and step >= a.warmup
        t0 = time.perf_counter()
        loss = counter.run("forward, loss", forward)
        counter.run("backward", loss.backward)
        counter.run("clip grad norm", lambda: torch.nn.utils.clip_grad_norm_(params, 1.0))
        counter.run("optimizer step", opt.step)
        counter.run("zero grad, lr", opt.zero_grad)
        if counter.on:
            counter.steps += 1
        elif step >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times) if times else float("nan")
    print(json.dumps({"impl": "pytorch-eager", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "batch": a.batch, "seq": a.seq, "rank": a.rank, "steps": a.steps,
                      "step_s_median": med, "step_s": times, "tokens_per_s": a.batch * a.seq / med,
                      "peak_rss_mib": peak_rss_mib(), "final_loss": float(loss), "aten": counter.per_step()}))


def cmd_forward(a):
    m = Decoder(a.model)
    ids = batch_ids(m.c["vocab_size"], a.batch, a.seq, a.seed)
    times = []
    with torch.no_grad():
        for step in range(a.warmup + a.steps):
            t0 = time.perf_counter()
            h = m.hidden(ids)
            logits = F.linear(h[:, -1], m.lm_head)
            _ = torch.softmax(logits[:, [15, 16]].float(), -1)
            if step >= a.warmup:
                times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"impl": "pytorch-eager", "torch": torch.__version__, "batch": a.batch, "seq": a.seq,
                      "step_s_median": med, "step_s": times, "rows_per_s": a.batch / med, "tokens_per_s": a.batch * a.seq / med,
                      "peak_rss_mib": peak_rss_mib()}))


def cmd_logits(a):
    m = Decoder(a.model)
    ids = torch.tensor([[int(x) for x in a.ids.split(",")]])
    with torch.no_grad():
        logits = F.linear(m.hidden(ids), m.lm_head)[0]
    print(json.dumps({"ids": ids[0].tolist(), "logits": logits.tolist()}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "forward", "logits"])
    p.add_argument("--model", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--full-logits", action="store_true")
    p.add_argument("--count-ops", action="store_true", help="count ATen ops per phase over the --steps steps (then untimed)")
    p.add_argument("--ids", default="")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    {"train": cmd_train, "forward": cmd_forward, "logits": cmd_logits}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
