"""The GPU check's scale step (issue 14 section 3): for each shape, sentitune finetune with
--gradient-checkpointing off and on (and --quantization-bit 4 where the binary has it), each traced
(--trace, 5 steps), against transformers+PEFT (bf16, SDPA) with its gradient checkpointing off and
on: tokens/s, MFU, peak memory; ATen op counts per step of both (finetune --profile, and the
reference under torch's profiler counted the same way). Each sentitune row also carries its
finetune --dry-run plan beside the measured peak, and a --static-shapes row (eager) runs where the
binary has it. Called by gpu_check.py."""
import json
import os
import re
import shutil
import subprocess
import time

import torch

from torch_ref import PhaseCounter


def sentitune_run(g, args, model_dir, prep_dir, name, steps, extra):
    """One finetune run; tokens/s over the steps after the warm-up ones, as gpu_check's train step."""
    run_dir = os.path.join(args.work, "scale-run-" + name)
    shutil.rmtree(run_dir, ignore_errors=True)
    dtype = "bf16" if args.device.startswith("cuda") else "f32"
    _, wall = g.run([args.bin, "finetune", "--model", model_dir, "--data", prep_dir, "--out", run_dir,
                     "--max-steps", str(steps), "--batch-size", str(args.batch), "--max-len", str(args.seq),
                     "--lora-r", "8", "--lora-alpha", "16", "--lora-dropout", "0", "--lora-target", "all",
                     "--lr", "1e-4", "--device", args.device, "--dtype", dtype, "--save-every", "0", "--seed", "0",
                     "--eval-every", "0", "--val-ratio", "0"] + extra)
    rj = json.load(open(os.path.join(run_dir, "run.json")))
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "train_log.jsonl")) if '"train"' in l]
    steady = lines[min(2, len(lines) - 2):]
    toks = sum(l["tokens"] for l in steady[1:])
    secs = steady[-1]["elapsed_s"] - steady[0]["elapsed_s"]
    rows = sum(l["examples"] for l in steady[1:])
    r = {"wall_s": round(wall, 1), "tokens_per_s": toks / secs if secs > 0 else None,
         "seq_mean": toks / rows if rows else None, "peak_mem_bytes": g.find_number(rj, ["peak_memory_bytes"])}
    prof = (rj.get("timings") or {}).get("profile")
    if prof:
        r["aten_per_step"] = {p["phase"]: p.get("aten") for p in prof}
    if args.dry_run_plan:
        r.update(memory_plan(g, args, model_dir, dtype, extra, r["peak_mem_bytes"]))
    shutil.rmtree(run_dir, ignore_errors=True)
    return r


UNITS = {"MiB": 1 << 20, "GiB": 1 << 30}


def memory_plan(g, args, model_dir, dtype, extra, measured):
    """finetune --dry-run for the same run: the planned total and runtime (bytes), and plan / measured.
    On CUDA the measured peak is the caching allocator's, which has no runtime: it is compared with
    the plan less its runtime line."""
    extra = [a for i, a in enumerate(extra) if a not in ("--trace", "--profile") and (i == 0 or extra[i - 1] != "--trace")]
    out, _ = g.run([args.bin, "finetune", "--model", model_dir, "--batch-size", str(args.batch), "--max-len", str(args.seq),
                    "--lora-r", "8", "--lora-dropout", "0", "--lora-target", "all", "--device", args.device,
                    "--dtype", dtype, "--dry-run"] + extra)
    part = {}
    for key, label in (("total", "total (peak)"), ("runtime", "runtime")):
        m = re.search(re.escape(label) + r"\s+([0-9.]+) (MiB|GiB)", out)
        if m:
            part[key] = int(float(m.group(1)) * UNITS[m.group(2)])
    r = {"plan_total_bytes": part.get("total"), "plan_runtime_bytes": part.get("runtime")}
    want = part.get("total")
    if want and args.device.startswith("cuda") and part.get("runtime"):
        want -= part["runtime"]
    if want and measured:
        r["plan_over_measured"] = want / measured
    return r


def reference_run(args, model_dir, seq, steps, checkpointing, count_ops):
    """transformers + PEFT the way LLaMA-Factory runs it (bf16 autocast, SDPA, LoRA on all linears)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation="sdpa").to(args.device)
    if checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.enable_input_require_grads()
    base.train()
    m = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
    for n, p in m.named_parameters():
        if "lora_" in n:
            p.data = p.data.float()
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.randint(0, 150000, (args.batch, seq), device=args.device)
    labels = torch.full_like(ids, -100)
    labels[:, -2:] = ids[:, -2:]
    torch.cuda.reset_peak_memory_stats()
    counter, times = PhaseCounter(False), []

    def forward():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return m(input_ids=ids, labels=labels).loss

    for i in range(steps + (1 if count_ops else 0)):
        counter.on = count_ops and i == steps  # one counted step after the timed ones
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = counter.run("forward, loss", forward)
        counter.run("backward", loss.backward)
        counter.run("clip grad norm", lambda: torch.nn.utils.clip_grad_norm_(params, 1.0))
        counter.run("optimizer step", opt.step)
        counter.run("zero grad, lr", lambda: opt.zero_grad(set_to_none=True))
        torch.cuda.synchronize()
        if counter.on:
            counter.steps += 1
        elif i >= 2:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    r = {"tokens_per_s": args.batch * seq / med, "step_s_median": med, "peak_mem_bytes": torch.cuda.max_memory_allocated()}
    if count_ops:
        r["aten_per_step"] = counter.per_step()
    del m, base, opt
    torch.cuda.empty_cache()
    return r


def make_hf_model(cfg, model_dir, tok_dir):
    """Random weights made by transformers from the config, on the device, saved as bf16."""
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    with torch.device("cuda"):
        m = Qwen2ForCausalLM(Qwen2Config(**cfg, torch_dtype="bfloat16")).to(torch.bfloat16)
    m.save_pretrained(model_dir, safe_serialization=True)
    del m
    torch.cuda.empty_cache()
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tok_dir, f), os.path.join(model_dir, f))


def has_flag(binary, cmd, flag):
    p = subprocess.run([binary, cmd, "--help"], capture_output=True, text=True)
    return flag in p.stdout + p.stderr


def scale(g, args, tok_dir, prep_dir, peak_tflops, shapes, deadline):
    """Rows per shape; a shape is skipped (and said) when the check's time budget is spent."""
    cuda = args.device.startswith("cuda")
    steps = 8 if cuda else 4
    quant = has_flag(args.bin, "finetune", "--quantization-bit")
    static = has_flag(args.bin, "finetune", "--static-shapes")
    args.dry_run_plan = has_flag(args.bin, "finetune", "--dry-run")
    out = {"steps_per_run": steps, "quantization_bit_available": quant, "static_shapes_available": static,
           "dry_run_plan_available": args.dry_run_plan, "shapes": {}}
    for shape in shapes:
        if time.time() > deadline:
            out["shapes"][shape] = {"skipped": "time budget spent"}
            continue
        rows = out["shapes"].setdefault(shape, {})
        model_dir = os.path.join(args.work, "scale-" + shape)
        shutil.rmtree(model_dir, ignore_errors=True)
        t0 = time.time()
        if cuda and args.hf:
            make_hf_model(g.SHAPES[shape], model_dir, tok_dir)
        else:
            g.run([args.bin, "init-model", "--preset", shape, "--seed", "0", "--out", model_dir])
        rows["make_model_s"] = round(time.time() - t0, 1)
        params = g.sum_params(model_dir)
        runs = [("gc-off", ["--gradient-checkpointing", "off"]), ("gc-on", ["--gradient-checkpointing", "on"])]
        if quant:
            runs.append(("4bit-gc-on", ["--gradient-checkpointing", "on", "--quantization-bit", "4"]))
        if static:  # eager static shapes: the shapes --cuda-graphs would capture, same loss as dynamic
            runs.append(("static-gc-on", ["--gradient-checkpointing", "on", "--static-shapes"]))
        for name, extra in runs:
            trace = os.path.join(args.out, f"trace-{shape}-{name}.json")
            try:
                rows["sentitune " + name] = sentitune_run(g, args, model_dir, prep_dir, f"{shape}-{name}", steps, extra + ["--trace", trace])
            except Exception as e:  # one failed row (OOM) must not hide the others
                rows["sentitune " + name] = {"error": str(e)[-800:]}
        try:  # op counts: a short run with --profile (synchronized phases, so not timed above)
            prof = sentitune_run(g, args, model_dir, prep_dir, f"{shape}-profile", 3, ["--gradient-checkpointing", "off", "--profile"])
            prof.pop("tokens_per_s", None)  # synchronized phases and 3 steps: not a speed
            rows["sentitune profile"] = prof
        except Exception as e:
            rows["sentitune profile"] = {"error": str(e)[-800:]}
        seq = int(round(rows.get("sentitune gc-off", {}).get("seq_mean") or args.seq))
        if cuda and args.hf:
            for gc in (False, True):
                key = "transformers+peft gc-" + ("on" if gc else "off")
                try:
                    rows[key] = reference_run(args, model_dir, seq, steps, gc, count_ops=not gc)
                except Exception as e:
                    rows[key] = {"error": str(e)[-800:]}
                    torch.cuda.empty_cache()
        fpt = g.mfu_flops_per_token(params, seq, True)
        for r in rows.values():
            if isinstance(r, dict) and r.get("tokens_per_s"):
                r["mfu"] = r["tokens_per_s"] * fpt / (peak_tflops * 1e12)
        shutil.rmtree(model_dir, ignore_errors=True)
    return out
