#!/usr/bin/env python3
"""ATen op counts per training step, sentitune against the PyTorch reference, on the same model and
batch (issue 14 section 2's counter). sentitune: `finetune --profile` (the shim's RecordFunction
callback, per phase); the reference: bench/torch_ref.py train --count-ops (torch's profiler, the
same counting rules). Writes OUT/opcounts-DATE.{json,md}.

  bench/opcounts.py --preset small --batch 8 --seq 512 [--steps 3] [--out bench/results]
  bench/opcounts.py --preset 0.5b --batch 1 --seq 128 --before-bin OLD/sentitune --before-lib OLD/libsentitorch.so

--before-bin/--before-lib add the same run of an older build (a binary and its shim) as "before" columns.
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from gpu_check import write_reviews  # noqa: E402

KEYS = ("aten_ops", "launches", "autograd_nodes", "host_reads")


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd[:2])} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "sentitune"))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=3, help="sentitune steps (the first is left out of the counts)")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    p.add_argument("--before-bin", help="an older sentitune binary: its counts become the 'before' columns")
    p.add_argument("--before-lib", help="the older binary's libsentitorch.so (SENTITUNE_TORCH_LIB)")
    p.add_argument("--no-reference", action="store_true", help="leave out the PyTorch reference")
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="opcounts-")
    try:
        model = os.path.join(work, "model")
        run([a.bin, "init-model", "--preset", a.preset, "--seed", "0", "--out", model])
        reviews = os.path.join(work, "reviews.jsonl")
        write_reviews(reviews, max(8 * a.batch, 32), words=int(a.seq * 0.6))  # prep needs a test split
        prep = os.path.join(work, "prep")
        run([a.bin, "prep", "--input", reviews, "--out", prep, "--test-ratio", "0.1", "--seed", "1"])
        st, seq = profile(a, a.bin, None, model, prep, os.path.join(work, "run"))
        before = profile(a, a.before_bin, a.before_lib, model, prep, os.path.join(work, "before"))[0] if a.before_bin else None
        ref = {"aten": {}} if a.no_reference else json.loads(run([
            a.python, os.path.join(HERE, "torch_ref.py"), "train", "--model", model, "--batch", str(a.batch),
            "--seq", str(seq), "--steps", "1", "--warmup", "1", "--threads", "1", "--count-ops"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    date = datetime.date.today().isoformat()
    res = {"command": " ".join(["bench/opcounts.py"] + sys.argv[1:]), "date": date, "preset": a.preset,
           "batch": a.batch, "max_len": a.seq, "mean_seq": seq, "torch": ref.get("torch"),
           "sentitune": st, "reference": ref["aten"]}
    if before:
        res["before"] = before
        res["before_bin"] = a.before_bin
    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, f"opcounts-{a.preset}-{date}")
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=2)
    with open(base + ".md", "w") as f:
        f.write(markdown(res))
    print(markdown(res))


def profile(a, binary, lib, model, prep, rd):
    """Runs finetune --profile with binary (and its shim lib); returns the per-phase counts and the mean
    tokens per row."""
    env = dict(os.environ, **({"SENTITUNE_TORCH_LIB": lib} if lib else {}))
    cmd = [binary, "finetune", "--model", model, "--data", prep, "--out", rd, "--max-steps", str(a.steps),
           "--batch-size", str(a.batch), "--max-len", str(a.seq), "--lora-r", "8", "--lora-alpha", "16",
           "--lora-dropout", "0", "--lora-target", "all", "--val-ratio", "0", "--save-every", "0",
           "--seed", "0", "--threads", "1", "--profile"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{binary} finetune failed ({p.returncode}):\n{p.stderr[-2000:]}")
    rj = json.load(open(os.path.join(rd, "run.json")))
    st = {ph["phase"]: ph.get("aten") for ph in rj["timings"]["profile"]}
    st["step"] = {k: sum((v or {}).get(k, 0) for v in st.values()) for k in KEYS}
    logs = [json.loads(l) for l in open(os.path.join(rd, "train_log.jsonl")) if '"train"' in l]
    seq = round(sum(l["tokens"] for l in logs) / max(1, sum(l["examples"] for l in logs)))
    return st, seq


def markdown(r):
    before = r.get("before")
    lines = [f"# ATen ops per training step: sentitune vs the PyTorch reference ({r['date']})", "",
             f"`{r['command']}` — {r['preset']} preset, batch {r['batch']}, max-len {r['max_len']} "
             f"(mean {r['mean_seq']} tokens; the reference runs that length), CPU, torch {r['torch']}, LoRA r 8 on all linears.",
             "Counts per step: aten ops = every ATen op record; launches = leaf ops that run a kernel (views, "
             "allocation and metadata left out; a multi-tensor `_foreach_` op counts once: CUDA runs it as one "
             "kernel per 36–110 tensors); nodes = autograd nodes run; reads = `.item()` and tensor reads "
             "to the host (each blocks on a GPU).", ""]
    head = ["phase"] + (["before launches", "nodes", "reads"] if before else []) + \
        ["sentitune ops", "launches", "nodes", "reads", "reference ops", "launches", "nodes", "reads"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    phases = [ph for ph in dict.fromkeys(list(before or {}) + list(r["sentitune"]) + list(r["reference"])) if ph != "step"]
    for ph in phases + ["step"]:
        b, s, q = (before or {}).get(ph) or {}, r["sentitune"].get(ph) or {}, r["reference"].get(ph) or {}
        cells = [f"{b[k]:.0f}" if k in b else "" for k in KEYS[1:]] if before else []
        cells += [f"{s[k]:.0f}" if k in s else "" for k in KEYS] + [f"{q[k]:.0f}" if k in q else "" for k in KEYS]
        lines.append(f"| {ph} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
