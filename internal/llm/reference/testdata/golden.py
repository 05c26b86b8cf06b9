#!/usr/bin/env python3
"""Golden logits for the mini models in this folder, computed with PyTorch in float64.

Written after transformers' modeling_qwen2.py / modeling_llama.py (eager attention path):
RMSNorm, rotate_half RoPE, repeat_kv, additive causal+padding mask with finfo.min, SwiGLU.
It reads safetensors by hand (no safetensors package needed). Run from this folder:
    /usr/bin/python3 golden.py    (Debian's python3-torch 1.13)
"""
import json, math, struct, sys
import torch

torch.set_default_dtype(torch.float64)

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        t = torch.frombuffer(bytearray(body[b:en]), dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = t.to(torch.float64)
    return out


def inv_freq_for(cfg, head_dim):
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).double() / head_dim))
    rs = cfg.get("rope_scaling")
    if rs:
        typ = rs.get("rope_type", rs.get("type"))
        if typ == "linear":
            inv = inv / rs["factor"]
        elif typ == "llama3":  # transformers _compute_llama3_parameters
            factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
            old = rs["original_max_position_embeddings"]
            low_wl, high_wl = old / low, old / high
            wavelen = 2 * math.pi / inv
            inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
            smooth = (old / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
            medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
            inv = torch.where(medium, smoothed, inv_l)
    return inv


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(h, n_rep):
    b, kv, s, d = h.shape
    if n_rep == 1:
        return h
    return h[:, :, None, :, :].expand(b, kv, n_rep, s, d).reshape(b, kv * n_rep, s, d)


def forward(cfg, W, input_ids, attention_mask):
    H = cfg["hidden_size"]
    nH = cfg["num_attention_heads"]
    nKV = cfg.get("num_key_value_heads", nH)
    hd = cfg.get("head_dim", H // nH)
    eps = cfg["rms_norm_eps"]
    B, S = input_ids.shape
    position_ids = attention_mask.long().cumsum(-1) - 1
    position_ids.masked_fill_(attention_mask == 0, 1)
    inv = inv_freq_for(cfg, hd)
    freqs = position_ids[:, :, None].double() * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    minv = torch.finfo(torch.float64).min
    causal = torch.triu(torch.full((S, S), minv), diagonal=1)
    mask = causal[None, None].expand(B, 1, S, S).clone()
    mask = mask.masked_fill(attention_mask[:, None, None, :] == 0, minv)

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        return y

    x = W["model.embed_tokens.weight"][input_ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(B, S, nH, hd).transpose(1, 2)
        k = lin(h, p + "self_attn.k_proj").view(B, S, nKV, hd).transpose(1, 2)
        v = lin(h, p + "self_attn.v_proj").view(B, S, nKV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, nH // nKV)
        v = repeat_kv(v, nH // nKV)
        att = (q @ k.transpose(2, 3)) / math.sqrt(hd) + mask
        att = torch.softmax(att, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, nH * hd)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj")
        u = lin(h, p + "mlp.up_proj")
        x = x + lin(torch.nn.functional.silu(g) * u, p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T


def main():
    cases = json.load(open("golden_cases.json"))
    out = {}
    for model, rows in cases.items():
        cfg = json.load(open(f"{model}/config.json"))
        W = load_safetensors(f"{model}/model.safetensors")
        S = max(len(r["ids"]) for r in rows)
        ids = torch.zeros(len(rows), S, dtype=torch.long)
        am = torch.zeros(len(rows), S, dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["ids"])
            if r["pad"] == "left":
                ids[i, S - n:] = torch.tensor(r["ids"])
                am[i, S - n:] = 1
            else:
                ids[i, :n] = torch.tensor(r["ids"])
                am[i, :n] = 1
        logits = forward(cfg, W, ids, am)
        res = []
        for i, r in enumerate(rows):
            n = len(r["ids"])
            sel = logits[i, S - n:] if r["pad"] == "left" else logits[i, :n]
            res.append([[float(v) for v in row] for row in sel])
        out[model] = res
    json.dump({"torch_version": torch.__version__, "logits": out}, open("golden_logits.json", "w"))
    print("wrote golden_logits.json", file=sys.stderr)


if __name__ == "__main__":
    main()
