#!/usr/bin/env python3
"""Golden logits for the mini models in this folder, computed with PyTorch in float64.

Written after transformers' modeling_qwen2.py / modeling_llama.py / modeling_qwen3.py /
modeling_mistral.py / modeling_gemma2.py / modeling_gemma3.py / modeling_glm.py / modeling_glm4.py (eager attention
path): RMSNorm (Gemma's with 1 + w), rotate_half RoPE (GLM-4's interleaved and partial), q_norm/k_norm,
repeat_kv, causal + padding + sliding-window mask (masking_utils: kv_idx > q_idx - sliding_window)
filled with finfo.min, attention and final logit soft-capping, SwiGLU / GeGLU (tanh) / fused gate_up,
Gemma's embeddings times sqrt(hidden) in the checkpoint's dtype. Config defaults follow each
<Model>Config. It reads safetensors by hand (no safetensors package needed). Run from this folder:
    /usr/bin/python3 golden.py    (Debian's python3-torch 1.13)
"""
import json, math, struct, sys
import torch

torch.set_default_dtype(torch.float64)

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}

# Per model_type: the <Model>Config defaults the mini configs rely on.
DEFAULTS = {
    "qwen2": dict(rope_theta=10000.0, tie_word_embeddings=False),
    "llama": dict(rope_theta=10000.0, tie_word_embeddings=False),
    "qwen3": dict(rope_theta=10000.0, tie_word_embeddings=False, head_dim=128),
    "mistral": dict(rope_theta=10000.0, tie_word_embeddings=False, sliding_window=4096),
    "gemma2": dict(rope_theta=10000.0, tie_word_embeddings=True, head_dim=256, query_pre_attn_scalar=256,
                   sliding_window=4096, attn_logit_softcapping=50.0, final_logit_softcapping=30.0),
    "gemma3_text": dict(rope_theta=1e6, tie_word_embeddings=True, head_dim=256, query_pre_attn_scalar=256,
                        sliding_window=4096, attn_logit_softcapping=None, final_logit_softcapping=None,
                        rope_local_base_freq=10000.0, sliding_window_pattern=6),
    "glm4": dict(rope_theta=10000.0, tie_word_embeddings=False, head_dim=128, partial_rotary_factor=0.5,
                 attention_bias=True),
    "glm": dict(rope_theta=10000.0, tie_word_embeddings=False, head_dim=128, partial_rotary_factor=0.5,
                attention_bias=True),
}


def load_safetensors(path):
    """Returns the tensors as float64 and the dtype of each as stored."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    body = raw[8 + n:]
    out, dtypes = {}, {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        t = torch.frombuffer(bytearray(body[b:en]), dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = t.to(torch.float64)
        dtypes[name] = DTYPES[e["dtype"]]
    return out, dtypes


def inv_freq_for(cfg, dim, base=None, rs="config"):
    base = cfg.get("rope_theta", 10000.0) if base is None else base
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).double() / dim))
    rs = cfg.get("rope_scaling") if rs == "config" else rs
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


def rms_norm(x, w, eps, offset=0.0):
    var = x.pow(2).mean(-1, keepdim=True)
    return (offset + w) * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rotate_half_interleaved(x):  # modeling_glm4.rotate_half
    x1 = x[..., 0::2]
    x2 = x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def rope_tables(inv, position_ids):
    freqs = position_ids[:, :, None].double() * inv[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[:, None], emb.sin()[:, None]


def apply_rope(x, cos, sin, interleaved):
    if not interleaved:
        return x * cos + rotate_half(x) * sin
    # modeling_glm4.apply_rotary_pos_emb: first half of cos/sin repeat_interleave'd, rotary part only
    cos = cos[..., : cos.shape[-1] // 2].repeat_interleave(2, dim=-1)
    sin = sin[..., : sin.shape[-1] // 2].repeat_interleave(2, dim=-1)
    rd = cos.shape[-1]
    x_rot, x_pass = x[..., :rd], x[..., rd:]
    return torch.cat([x_rot * cos + rotate_half_interleaved(x_rot) * sin, x_pass], dim=-1)


def softcap(x, cap):
    return x if not cap else torch.tanh(x / cap) * cap


def layer_types(cfg, typ, n):
    if cfg.get("layer_types"):
        return cfg["layer_types"]
    win = cfg.get("sliding_window")
    if typ in ("qwen2", "qwen3"):
        on = cfg.get("use_sliding_window", False) and win is not None
        mwl = cfg.get("max_window_layers", n)
        return ["sliding_attention" if on and i >= mwl else "full_attention" for i in range(n)]
    if typ == "mistral":
        return ["sliding_attention" if win is not None else "full_attention"] * n
    if typ == "gemma2":
        return ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n)]
    if typ == "gemma3_text":
        p = cfg["sliding_window_pattern"]
        return ["sliding_attention" if (i + 1) % p else "full_attention" for i in range(n)]
    return ["full_attention"] * n


def repeat_kv(h, n_rep):
    b, kv, s, d = h.shape
    if n_rep == 1:
        return h
    return h[:, :, None, :, :].expand(b, kv, n_rep, s, d).reshape(b, kv * n_rep, s, d)


def forward(cfg, W, dtypes, input_ids, attention_mask):
    typ = cfg["model_type"]
    cfg = {**DEFAULTS[typ], **cfg}  # an explicit null stays None: no window, no soft-capping
    gemma = typ in ("gemma2", "gemma3_text")
    H = cfg["hidden_size"]
    nH = cfg["num_attention_heads"]
    nKV = cfg.get("num_key_value_heads", nH)
    hd = cfg.get("head_dim") or H // nH
    eps = cfg["rms_norm_eps"]
    off = 1.0 if gemma else 0.0
    B, S = input_ids.shape
    L = cfg["num_hidden_layers"]
    position_ids = attention_mask.long().cumsum(-1) - 1
    position_ids.masked_fill_(attention_mask == 0, 1)
    rot = int(hd * cfg["partial_rotary_factor"]) if "partial_rotary_factor" in cfg else hd
    cos, sin = rope_tables(inv_freq_for(cfg, rot), position_ids)
    if typ == "gemma3_text":  # local layers: rope_local_base_freq, no scaling
        cos_l, sin_l = rope_tables(inv_freq_for(cfg, rot, cfg["rope_local_base_freq"], None), position_ids)
    minv = torch.finfo(torch.float64).min
    q_idx = torch.arange(S)[:, None]
    kv_idx = torch.arange(S)[None, :]
    allowed = (kv_idx <= q_idx)[None, None] & (attention_mask[:, None, None, :] == 1)
    mask = torch.zeros(B, 1, S, S).masked_fill(~allowed, minv)
    if cfg.get("sliding_window") is not None:
        allowed_sw = allowed & (kv_idx > q_idx - cfg["sliding_window"])[None, None]
        mask_sw = torch.zeros(B, 1, S, S).masked_fill(~allowed_sw, minv)
    types = layer_types(cfg, typ, L)
    if gemma:
        scaling = cfg["query_pre_attn_scalar"] ** -0.5
    else:
        scaling = 1 / math.sqrt(hd)

    def lin(x, name):
        y = x @ W[name + ".weight"].T
        if name + ".bias" in W:
            y = y + W[name + ".bias"]
        return y

    def norm(x, name):
        return rms_norm(x, W[name + ".weight"], eps, off)

    x = W["model.embed_tokens.weight"][input_ids]
    if gemma:  # the normalizer is a tensor of the embedding's dtype: sqrt(3072) = 55.5 in bf16
        x = x * torch.tensor(H ** 0.5, dtype=dtypes["model.embed_tokens.weight"]).double()
    for l in range(L):
        p = f"model.layers.{l}."
        sliding = types[l] == "sliding_attention"
        residual = x
        h = norm(x, p + "input_layernorm")
        q = lin(h, p + "self_attn.q_proj").view(B, S, nH, hd)
        k = lin(h, p + "self_attn.k_proj").view(B, S, nKV, hd)
        v = lin(h, p + "self_attn.v_proj").view(B, S, nKV, hd).transpose(1, 2)
        if p + "self_attn.q_norm.weight" in W:
            q = norm(q, p + "self_attn.q_norm")
            k = norm(k, p + "self_attn.k_norm")
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        c, s_ = (cos_l, sin_l) if typ == "gemma3_text" and sliding else (cos, sin)
        q = apply_rope(q, c, s_, typ in ("glm", "glm4"))
        k = apply_rope(k, c, s_, typ in ("glm", "glm4"))
        k = repeat_kv(k, nH // nKV)
        v = repeat_kv(v, nH // nKV)
        att = (q @ k.transpose(2, 3)) * scaling if gemma else (q @ k.transpose(2, 3)) / math.sqrt(hd)
        att = softcap(att, cfg.get("attn_logit_softcapping")) + (mask_sw if sliding else mask)
        att = torch.softmax(att, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, S, nH * hd)
        o = lin(o, p + "self_attn.o_proj")
        if gemma:
            o = norm(o, p + "post_attention_layernorm")
        elif typ == "glm4":
            o = norm(o, p + "post_self_attn_layernorm")
        x = residual + o
        h = norm(x, p + ("pre_feedforward_layernorm" if gemma else "post_attention_layernorm"))
        if typ in ("glm", "glm4"):
            g, u = lin(h, p + "mlp.gate_up_proj").chunk(2, dim=-1)
        else:
            g, u = lin(h, p + "mlp.gate_proj"), lin(h, p + "mlp.up_proj")
        act = torch.nn.functional.gelu(g, approximate="tanh") if gemma else torch.nn.functional.silu(g)
        m = lin(act * u, p + "mlp.down_proj")
        if gemma:
            m = norm(m, p + "post_feedforward_layernorm")
        elif typ == "glm4":
            m = norm(m, p + "post_mlp_layernorm")
        x = x + m
    x = norm(x, "model.norm")
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return softcap(x @ head.T, cfg.get("final_logit_softcapping"))


def main():
    cases = json.load(open("golden_cases.json"))
    out = {}
    for model, rows in cases.items():
        cfg = json.load(open(f"{model}/config.json"))
        W, dtypes = load_safetensors(f"{model}/model.safetensors")
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
        logits = forward(cfg, W, dtypes, ids, am)
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
