#!/usr/bin/env python3
"""sentitune's GPU check: conformance and speed against transformers + PEFT on one GPU box.

Run by scripts/gpu-check.sh (which rebuilds the shim first). Steps, each timed and recorded:
  1. build a random Qwen2.5-0.5B-shaped model with transformers from a config (no download), save it;
  2. logits: sentitune vs transformers, f32 and bf16;
  3. LoRA training: tokens/s, peak GPU memory, MFU — sentitune vs transformers+PEFT, same batch/seq/rank;
  4. scoring rows/s: sentitune predict vs a transformers forward over the same rows;
  5. PEFT loads sentitune's adapter: logits must match sentitune's with the adapter;
  6. one conformance row per architecture (init-model --arch): f32 logits vs transformers (or, with no
     transformers, vs internal/llm/reference/testdata/golden.py's PyTorch forward).
Writes $OUT/gpu-check.json and $OUT/gpu-check.md. With --cpu (and no transformers) it runs the same
plumbing on a tiny model against bench/torch_ref.py, so the script is tested before a GPU is at hand.
"""
import argparse
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "bench"))

SHAPES = {
    # Qwen2.5-0.5B-Instruct's published config.
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_attention_heads=14, num_key_value_heads=2,
                 num_hidden_layers=24, vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6,
                 rms_norm_eps=1e-6, max_position_embeddings=32768),
    # Qwen2.5-1.5B-Instruct's and Qwen2.5-7B-Instruct's published configs (the scale step).
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_attention_heads=12, num_key_value_heads=2,
                 num_hidden_layers=28, vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6,
                 rms_norm_eps=1e-6, max_position_embeddings=32768),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_attention_heads=28, num_key_value_heads=4,
               num_hidden_layers=28, vocab_size=152064, tie_word_embeddings=False, rope_theta=1e6,
               rms_norm_eps=1e-6, max_position_embeddings=32768),
    # sentitune's tiny preset, for the CPU dry run.
    "tiny": dict(hidden_size=64, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2,
                 num_hidden_layers=2, vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6,
                 rms_norm_eps=1e-6, max_position_embeddings=32768),
}

results = {"steps": {}}
START = time.time()


def log(msg):
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} {cmd[1] if len(cmd) > 1 else ''} failed ({p.returncode}):\n{p.stderr[-3000:]}\n{p.stdout[-1000:]}")
    run.last_stderr = p.stderr
    return p.stdout, time.time() - t0


def have_hf():
    try:
        import transformers  # noqa: F401
        import peft  # noqa: F401
        return True
    except Exception:
        return False


def step(name):
    def deco(f):
        def wrapped(*a, **kw):
            t0 = time.time()
            try:
                r = f(*a, **kw)
                results["steps"][name] = {"ok": True, "seconds": round(time.time() - t0, 2), **(r or {})}
            except Exception as e:  # keep going: one failed step must not hide the others' numbers
                results["steps"][name] = {"ok": False, "seconds": round(time.time() - t0, 2), "error": str(e)[-2000:]}
                log(f"step {name} FAILED: {e}")
            log(f"step {name}: " + json.dumps({k: v for k, v in results["steps"][name].items() if not isinstance(v, dict)}, default=str)[:1500])
            if results.get("out"):  # keep what we have if the run is cut short
                with open(os.path.join(results["out"], "gpu-check.json"), "w") as fh:
                    json.dump(results, fh, indent=2, default=str)
            return results["steps"][name]
        return wrapped
    return deco


def sync(dev):
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


@step("matmul_peak")
def matmul_peak(dev, dtype):
    n = 8192 if dev.startswith("cuda") else 1024
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(dev)
    reps = 10 if dev.startswith("cuda") else 3
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(dev)
    dt = (time.perf_counter() - t0) / reps
    return {"n": n, "dtype": str(dtype), "tflops": 2 * n ** 3 / dt / 1e12}


@step("make_model")
def make_model(args, model_dir, tok_dir):
    cfg = SHAPES[args.shape]
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    if args.hf:
        from transformers import Qwen2Config, Qwen2ForCausalLM
        torch.manual_seed(0)
        c = Qwen2Config(**cfg)
        m = Qwen2ForCausalLM(c).to(torch.float32)
        m.save_pretrained(model_dir, safe_serialization=True)
        del m
    else:
        # No transformers here: sentitune writes the same architecture itself.
        run([args.bin, "init-model", "--preset", args.shape, "--seed", "0", "--out", model_dir])
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok_dir, f), os.path.join(model_dir, f))
    return {"shape": args.shape, "writer": "transformers" if args.hf else "sentitune init-model",
            "params": sum_params(model_dir)}


def sum_params(model_dir):
    c = json.load(open(os.path.join(model_dir, "config.json")))
    H, I, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = H // nh
    per = H * nh * hd + 2 * H * nkv * hd + nh * hd * H + 3 * H * I + (nh + 2 * nkv) * hd + 2 * H
    return {"non_embedding": L * per + H, "embedding": V * H, "layers": L, "hidden": H}


def ref_model(args, model_dir, dtype):
    if args.hf:
        from transformers import AutoModelForCausalLM
        m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa").to(args.device)
        m.eval()
        return m
    from torch_ref import Decoder
    return Decoder(model_dir, dtype=dtype)


def ref_logits(args, m, ids):
    with torch.no_grad():
        if args.hf:
            return m(torch.tensor([ids], device=args.device)).logits[0].float().cpu()
        return torch.nn.functional.linear(m.hidden(torch.tensor([ids])), m.lm_head)[0].float()


def st_logits(args, model_dir, ids, dtype, adapter=None):
    cmd = [args.bin, "logits", "--model", model_dir, "--ids", ",".join(map(str, ids)), "--all-positions",
           "--device", args.device, "--dtype", dtype]
    if adapter:
        cmd += ["--adapter", adapter]
    out, _ = run(cmd)
    return torch.tensor(json.loads(out)["logits"])


def compare(a, b):
    diff = (a - b).abs()
    return {"max_abs": float(diff.max()), "max_rel": float((diff / b.abs().clamp_min(1e-6)).max()),
            "rel_l2": float(diff.norm() / b.norm()), "ref_abs_max": float(b.abs().max()),
            "argmax_agree": float((a.argmax(-1) == b.argmax(-1)).float().mean())}


@step("selftest")
def selftest(args):
    # The engine's own checks on this device (AdamW incl. the fused CUDA path, clipping, the fused
    # loss, the partial last layer) against float64 references; fails the step if any check fails.
    p = subprocess.run([args.bin, "selftest", "--device", args.device, "--json"], capture_output=True, text=True)
    r = json.loads(p.stdout) if p.stdout.strip().startswith("{") else {}
    failed = [c["name"] for c in r.get("checks", []) if not c.get("pass")]
    if p.returncode != 0 or failed or not r:
        raise RuntimeError(f"selftest failed ({p.returncode}): {failed} {p.stderr[-1500:]} {p.stdout[-1500:]}")
    return {"checks": r["checks"], "libtorch": r.get("libtorch"), "pass": True}


@step("logits_f32")
def logits_f32(args, model_dir, ids):
    m = ref_model(args, model_dir, torch.float32)
    ref = ref_logits(args, m, ids)
    del m
    got = st_logits(args, model_dir, ids, "f32")
    r = compare(got, ref)
    # f32 must agree to 1e-3 relative (L2 over all logits; elementwise max-rel is dominated by near-zero logits)
    r["pass"] = r["rel_l2"] <= 1e-3
    return r


@step("logits_bf16")
def logits_bf16(args, model_dir, ids):
    m = ref_model(args, model_dir, torch.bfloat16)
    ref = ref_logits(args, m, ids)
    del m
    got = st_logits(args, model_dir, ids, "bf16")
    r = compare(got, ref)
    # bf16 has 8 mantissa bits (rel. eps 2^-8 ≈ 0.4 %); two implementations differ in rounding order.
    r["pass"] = r["rel_l2"] <= 0.05
    return r


ARCHS = ["qwen3", "mistral", "gemma2", "gemma3", "glm4"]


def golden_forward(model_dir, ids):
    """Logits from golden.py, the PyTorch float64 forward the reference decoder is checked against."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "golden", os.path.join(ROOT, "internal", "llm", "reference", "testdata", "golden.py"))
    g = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(g)
    W, dtypes = g.load_safetensors(os.path.join(model_dir, "model.safetensors"))
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    t = torch.tensor([ids])
    return g.forward(cfg, W, dtypes, t, torch.ones_like(t))[0].float()


@step("arch_conformance")
def arch_conformance(args, ids):
    # Each architecture as init-model --arch writes it (the tiny sizes: the check is the layout, not
    # the scale), f32 on this device. Pass: max |diff| ≤ 1e-5 × max |logit| (issue 16's bar).
    rows = {}
    for arch in ARCHS:
        d = os.path.join(args.work, "arch-" + arch)
        shutil.rmtree(d, ignore_errors=True)
        p = subprocess.run([args.bin, "init-model", "--arch", arch, "--seed", "1", "--out", d], capture_output=True, text=True)
        if p.returncode != 0:
            rows[arch] = {"pass": None, "skipped": p.stderr.strip()[-200:]}
            continue
        if args.hf:
            from transformers import AutoModelForCausalLM
            m = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").to(args.device)
            with torch.no_grad():
                ref = m(torch.tensor([ids], device=args.device)).logits[0].float().cpu()
            del m
        else:
            ref = golden_forward(d, ids)
        r = compare(st_logits(args, d, ids, "f32"), ref)
        r["rel_max"] = r["max_abs"] / r["ref_abs_max"]
        r["pass"] = r["rel_max"] <= 1e-5
        rows[arch] = r
    failed = [a for a, r in rows.items() if r["pass"] is False]
    return {"archs": rows, "pass": not failed, "failed": ",".join(failed)}


def write_reviews(path, n, words, seed=0):
    rnd = random.Random(seed)
    vocab = ("great terrible battery screen works broke love hate cheap quality fast slow sound price "
             "return recommend excellent poor charger case fits perfect waste money would again phone "
             "product service arrived damaged happy disappointed comfortable sturdy flimsy").split()
    with open(path, "w") as f:
        for i in range(n):
            label = i % 2
            text = " ".join(rnd.choice(vocab) for _ in range(words))
            f.write(json.dumps({"text": text, "label": label}) + "\n")


def mfu_flops_per_token(params, seq, train):
    # Model FLOPs of the useful work: 2·N per token forward through the frozen base (non-embedding),
    # plus attention 4·T·H per layer per token (QKᵀ and PV), causal halves it; training adds the
    # backward through activations (another 2·N + attention ×2). LoRA's own FLOPs are <1 % and ignored.
    N, L, H = params["non_embedding"], params["layers"], params["hidden"]
    fwd = 2 * N + 2 * L * seq * H
    return fwd * (2 if train else 1)


@step("train")
def train(args, model_dir, prep_dir, peak_tflops, params):
    run_dir = os.path.join(args.work, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    dtype = "bf16" if args.device.startswith("cuda") else "f32"
    out, wall = run([args.bin, "finetune", "--model", model_dir, "--data", prep_dir, "--out", run_dir,
                     "--max-steps", str(args.train_steps), "--batch-size", str(args.batch), "--max-len", str(args.seq),
                     "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--lora-target", "all",
                     "--lr", "1e-4", "--device", args.device, "--dtype", dtype, "--save-every", "0", "--seed", "0"])
    rj = json.load(open(os.path.join(run_dir, "run.json")))
    # Steady state: skip the first steps (CUDA/cuBLAS warm-up), as the reference does.
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "train_log.jsonl")) if '"train"' in l]
    warm = min(3, len(lines) - 2)
    steady = lines[warm:]
    toks = sum(l["tokens"] for l in steady[1:])
    secs = steady[-1]["elapsed_s"] - steady[0]["elapsed_s"]
    tps = toks / secs if secs > 0 else find_number(rj, ["tokens_per_s"])
    rows = sum(l["examples"] for l in steady[1:])
    seq_mean = toks / rows if rows else args.seq
    st = {"wall_s": wall, "tokens_per_s": tps, "tokens_per_s_incl_warmup": find_number(rj, ["tokens_per_s"]),
          "peak_mem_bytes": find_number(rj, ["peak_memory_bytes"]), "steps_measured": len(steady) - 1,
          "run_json": rj}
    # Where the time goes: the same run with LoRA on q_proj,v_proj only (fewer adapter kernels).
    qv_dir = run_dir + "-qv"
    shutil.rmtree(qv_dir, ignore_errors=True)
    run([args.bin, "finetune", "--model", model_dir, "--data", prep_dir, "--out", qv_dir,
         "--max-steps", str(args.train_steps), "--batch-size", str(args.batch), "--max-len", str(args.seq),
         "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--lora-target", "q_proj,v_proj",
         "--lr", "1e-4", "--device", args.device, "--dtype", dtype, "--save-every", "0", "--seed", "0"])
    qv = [json.loads(l) for l in open(os.path.join(qv_dir, "train_log.jsonl")) if '"train"' in l][warm:]
    st["tokens_per_s_qv_only"] = sum(l["tokens"] for l in qv[1:]) / (qv[-1]["elapsed_s"] - qv[0]["elapsed_s"])
    # Where the time goes, phase by phase: a short run with --profile (the device is synchronized
    # between phases, so its step is slower than the runs above).
    prof_dir = run_dir + "-profile"
    shutil.rmtree(prof_dir, ignore_errors=True)
    prof_out, _ = run([args.bin, "finetune", "--model", model_dir, "--data", prep_dir, "--out", prof_dir,
                       "--max-steps", str(min(args.train_steps, 8)), "--batch-size", str(args.batch), "--max-len", str(args.seq),
                       "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--lora-target", "all",
                       "--lr", "1e-4", "--device", args.device, "--dtype", dtype, "--save-every", "0", "--seed", "0",
                       "--profile"])
    st["profile"] = json.load(open(os.path.join(prof_dir, "run.json")))["timings"].get("profile")
    st["profile_table"] = prof_out[prof_out.find("step profile"):] if "step profile" in prof_out else ""
    ref = ref_train(args, model_dir, dtype, int(round(seq_mean)))
    fpt = mfu_flops_per_token(params, seq_mean, True)
    r = {"sentitune": st, "reference": ref, "seq_mean": seq_mean}
    if tps:
        r["sentitune_mfu"] = tps * fpt / (peak_tflops * 1e12)
        if ref.get("tokens_per_s"):
            r["speedup_vs_reference"] = tps / ref["tokens_per_s"]
            r["reference_mfu"] = ref["tokens_per_s"] * fpt / (peak_tflops * 1e12)
    return r


def find_number(d, keys):
    if isinstance(d, dict):
        for k, v in d.items():
            if k in keys and isinstance(v, (int, float)):
                return v
        for v in d.values():
            r = find_number(v, keys)
            if r is not None:
                return r
    return None


def ref_train(args, model_dir, dtype, seq):
    """transformers + PEFT (or the eager reference on CPU): same batch, sequence length, rank, targets."""
    B, steps = args.batch, args.train_steps
    tdtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    torch.manual_seed(0)
    if args.hf:
        from peft import LoraConfig, get_peft_model
        base = ref_model(args, model_dir, tdtype)
        base.train()
        cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
        m = get_peft_model(base, cfg)
        for n, p in m.named_parameters():
            if "lora_" in n:
                p.data = p.data.float()
        params = [p for p in m.parameters() if p.requires_grad]
    else:
        from torch_ref import Decoder
        m = Decoder(model_dir, dtype=tdtype, rank=8, alpha=16)
        params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, 150000, (B, seq), device=args.device)
    labels = torch.full_like(ids, -100)
    labels[:, -2:] = ids[:, -2:]
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        if args.hf:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.device.startswith("cuda")):
                loss = m(input_ids=ids, labels=labels).loss
        else:
            h = m.hidden(ids)
            logits = torch.nn.functional.linear(h, m.lm_head)
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(args.device)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    r = {"impl": "transformers+peft" if args.hf else "pytorch-eager (torch_ref.py)", "step_s_median": med,
         "tokens_per_s": B * seq / med, "batch": B, "seq": seq}
    if args.device.startswith("cuda"):
        r["peak_mem_bytes"] = torch.cuda.max_memory_allocated()
    del m, opt
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    return r


@step("scale")
def scale_step(args, tok_dir, prep_dir, peak_tflops):
    import gpu_check_scale
    shapes = args.scale_shapes.split(",") if args.scale_shapes else (["tiny"] if args.cpu else ["0.5b", "1.5b", "7b"])
    # A shape starts only while the 8-minute budget has room for it (the 7B row needs about 2 minutes).
    return gpu_check_scale.scale(sys.modules[__name__], args, tok_dir, prep_dir, peak_tflops, shapes, START + args.scale_budget_s)


@step("score")
def score(args, model_dir, reviews, peak_tflops, params):
    out_path = os.path.join(args.work, "preds.jsonl")
    dtype = "bf16" if args.device.startswith("cuda") else "f32"
    out, wall = run([args.bin, "predict", "--model", model_dir, "--input", reviews, "--text-col", "text",
                     "--out", out_path, "--format", "jsonl", "--batch-size", str(args.score_batch),
                     "--max-len", str(args.seq), "--device", args.device, "--dtype", dtype])
    n = sum(1 for _ in open(out_path))
    import re
    m_rate = re.search(r"([0-9.]+) rows/s, ([0-9.]+) tokens/s, padding ([0-9.]+)%", out + run.last_stderr)
    st_rows = float(m_rate.group(1)) if m_rate else None
    # Reference: a transformers forward over the same number of rows, batched, last-position logits.
    tdtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    m = ref_model(args, model_dir, tdtype)
    seq = args.seq
    B = args.score_batch
    ids = torch.randint(0, 150000, (B, seq), device=args.device)
    times = []
    with torch.no_grad():
        for i in range(5):
            t0 = time.perf_counter()
            if args.hf:
                lg = m(input_ids=ids, logits_to_keep=1).logits[:, -1]
            else:
                lg = torch.nn.functional.linear(m.hidden(ids)[:, -1], m.lm_head)
            torch.softmax(lg[:, [15, 16]].float(), -1).cpu()
            sync(args.device)
            if i >= 1:
                times.append(time.perf_counter() - t0)
    times.sort()
    ref_rows = B / times[len(times) // 2]
    del m
    r = {"rows": n, "sentitune_wall_s": wall, "sentitune_rows_per_s": st_rows, "sentitune_rows_per_s_wall": n / wall,
         "reference_rows_per_s": ref_rows, "reference_seq": seq, "predict_log": (out + run.last_stderr)[-600:]}
    if st_rows:
        r["speedup_vs_reference"] = st_rows / ref_rows
        r["sentitune_mfu"] = st_rows * seq * mfu_flops_per_token(params, seq, False) / (peak_tflops * 1e12)
        r["reference_mfu"] = ref_rows * seq * mfu_flops_per_token(params, seq, False) / (peak_tflops * 1e12)
    return r


@step("peft_loads_adapter")
def peft_adapter(args, model_dir, ids):
    adapter = os.path.join(args.work, "run", "adapter")
    got = st_logits(args, model_dir, ids, "f32", adapter=adapter)
    if args.hf:
        from peft import PeftModel
        base = ref_model(args, model_dir, torch.float32)
        m = PeftModel.from_pretrained(base, adapter).to(args.device)
        m.eval()
        with torch.no_grad():
            ref = m(torch.tensor([ids], device=args.device)).logits[0].float().cpu()
        base_only = st_logits(args, model_dir, ids, "f32")
        r = compare(got, ref)
        r["adapter_effect_max_abs"] = float((got - base_only).abs().max())
        r["pass"] = r["rel_l2"] <= 1e-3 and r["adapter_effect_max_abs"] > 0
        return r
    return {"note": "peft not installed here; checked only that sentitune loads its own adapter", "shape": list(got.shape)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "sentitune"))
    p.add_argument("--out", default=os.environ.get("OUT") or os.path.join(ROOT, "gpu-results"))
    p.add_argument("--work", default=os.path.join(ROOT, ".gpu", "work"))
    p.add_argument("--cpu", action="store_true", help="dry run on CPU with the tiny shape")
    p.add_argument("--shape", default=None)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--seq", type=int, default=None)
    p.add_argument("--train-steps", type=int, default=None)
    p.add_argument("--score-batch", type=int, default=None)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--scale-shapes", default=None, help="shapes of the scale step, comma-separated (GPU: 0.5b,1.5b,7b; --cpu: tiny)")
    p.add_argument("--scale-budget-s", type=float, default=330, help="a scale shape starts only this many seconds into the check (the 8-minute budget; a loaded CPU rehearsal needs more)")
    args = p.parse_args()
    args.device = "cpu" if args.cpu else "cuda:0"
    args.shape = args.shape or ("tiny" if args.cpu else "0.5b")
    args.batch = args.batch or (4 if args.cpu else 16)
    args.seq = args.seq or (64 if args.cpu else 512)
    args.train_steps = args.train_steps or (6 if args.cpu else 30)
    args.score_batch = args.score_batch or (16 if args.cpu else 64)
    args.rows = args.rows or (64 if args.cpu else 4096)
    args.hf = have_hf()
    os.makedirs(args.out, exist_ok=True)
    os.makedirs(args.work, exist_ok=True)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch: run with --cpu for the dry run")

    results["machine"] = {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
                          "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or "cpu",
                          "reference": "transformers+peft" if args.hf else "torch_ref.py (no transformers here)"}
    if args.hf:
        import transformers
        import peft
        results["machine"]["transformers"] = transformers.__version__
        results["machine"]["peft"] = peft.__version__
    results["args"] = {k: v for k, v in vars(args).items()}
    results["out"] = args.out

    tok_dir = os.path.join(args.work, "tok")
    shutil.rmtree(tok_dir, ignore_errors=True)
    run([args.bin, "init-model", "--preset", "tiny", "--seed", "0", "--out", tok_dir])
    model_dir = os.path.join(args.work, "model")
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    peak = matmul_peak(args.device, dtype).get("tflops") or 1.0
    selftest(args)
    mm = make_model(args, model_dir, tok_dir)
    params = mm.get("params") or sum_params(model_dir)
    ids = [9707, 11, 1879, 0, 151644, 872, 198, 16, 15, 151645, 198, 151644, 77091, 198]
    logits_f32(args, model_dir, ids)
    logits_bf16(args, model_dir, ids)
    arch_conformance(args, ids)

    reviews = os.path.join(args.work, "reviews.jsonl")
    # ~4 tokens per 3 words; reviews long enough to fill --seq after the prompt template.
    write_reviews(reviews, args.rows, words=int(args.seq * 0.6))
    prep_dir = os.path.join(args.work, "prep")
    shutil.rmtree(prep_dir, ignore_errors=True)
    run([args.bin, "prep", "--input", reviews, "--out", prep_dir, "--test-ratio", "0.1", "--seed", "1"])
    train(args, model_dir, prep_dir, peak, params)
    score(args, model_dir, reviews, peak, params)
    peft_adapter(args, model_dir, ids)
    scale_step(args, tok_dir, prep_dir, peak)

    with open(os.path.join(args.out, "gpu-check.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    with open(os.path.join(args.out, "gpu-check.md"), "w") as f:
        f.write(markdown(results))
    print(markdown(results))
    failed = [k for k, v in results["steps"].items() if not v.get("ok") or v.get("pass") is False]
    if failed:
        log("FAILED steps: " + ", ".join(failed))
        sys.exit(1)


def fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def markdown(r):
    s = r["steps"]
    lines = ["# sentitune GPU check", "", f"- device: {r['machine']['device']}", f"- torch: {r['machine']['torch']}",
             f"- reference: {r['machine']['reference']}", ""]
    lines += ["| step | ok | seconds | key numbers |", "|---|---|---|---|"]
    for k, v in s.items():
        keys = {kk: vv for kk, vv in v.items() if isinstance(vv, (int, float, bool)) and kk not in ("ok", "seconds")}
        lines.append(f"| {k} | {v.get('ok')} | {v.get('seconds')} | " + ", ".join(f"{kk}={fmt(vv)}" for kk, vv in keys.items()) + " |")
    st = s.get("selftest", {})
    if st.get("checks"):
        lines += ["", "## sentitune selftest on this device", "", "| check | pass | max rel. error | detail |", "|---|---|---|---|"]
        lines += [f"| {c['name']} | {c['pass']} | {fmt(c.get('max_rel_err'))} | {c.get('detail', '')} |" for c in st["checks"]]
    a = s.get("arch_conformance", {})
    if a.get("archs"):
        lines += ["", "## Architectures (init-model --arch, f32 logits vs the reference)", "",
                  "| arch | pass | max abs diff / max abs logit | rel. L2 |", "|---|---|---|---|"]
        lines += [f"| {k} | {v.get('pass')} | {fmt(v.get('rel_max'))} | {fmt(v.get('rel_l2'))} |" if "skipped" not in v
                  else f"| {k} | skipped | {v['skipped']} | |" for k, v in a["archs"].items()]
    t = s.get("train", {})
    if t.get("ok"):
        st, ref = t["sentitune"], t["reference"]
        lines += ["", "## LoRA training", "", "| | tokens/s | peak memory | MFU |", "|---|---|---|---|",
                  f"| sentitune | {fmt(st.get('tokens_per_s'))} | {fmt(st.get('peak_mem_bytes'))} | {fmt(t.get('sentitune_mfu'))} |",
                  f"| {ref.get('impl')} | {fmt(ref.get('tokens_per_s'))} | {fmt(ref.get('peak_mem_bytes'))} | {fmt(t.get('reference_mfu'))} |",
                  "", f"speedup: {fmt(t.get('speedup_vs_reference'))}×"]
        if st.get("profile_table"):
            lines += ["", "## sentitune step profile (finetune --profile)", "", "```", st["profile_table"].rstrip(), "```"]
    sc = s.get("scale", {})
    for shape, rows in (sc.get("shapes") or {}).items():
        lines += ["", f"## Scale: {shape} (batch × seq as above, {sc.get('steps_per_run')} steps a run)", ""]
        if "skipped" in rows:
            lines += [f"skipped: {rows['skipped']}"]
            continue
        lines += ["| run | tokens/s | peak memory | --dry-run plan / peak | MFU | launches/step | autograd nodes/step | host reads/step |", "|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            if not isinstance(r, dict):
                continue
            if "error" in r:
                lines += [f"| {name} | error: {r['error'][-120:].replace(chr(10), ' ')} | | | | | | |"]
                continue
            a = r.get("aten_per_step") or {}
            tot = a.get("step") or {k: sum((v or {}).get(k, 0) for v in a.values()) for k in ("launches", "autograd_nodes", "host_reads")}
            cnt = [fmt(tot.get(k)) if a else "" for k in ("launches", "autograd_nodes", "host_reads")]
            lines += [f"| {name} | {fmt(r.get('tokens_per_s'))} | {fmt(r.get('peak_mem_bytes'))} | {fmt(r.get('plan_over_measured'))} | {fmt(r.get('mfu'))} | " + " | ".join(cnt) + " |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
