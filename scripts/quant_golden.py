#!/usr/bin/python3
"""Golden blocks for internal/quant, written independently of the Go code from bitsandbytes'
published definitions (bitsandbytes 0.45 functional.py and csrc/kernels.cu):
  - quantize_4bit(A, blocksize=64, quant_type="nf4", compress_statistics=...): per block of 64
    absmax, x * (1/absmax) mapped by dQuantizeNF4's threshold constants, two codes a byte with
    the first value in the high nibble;
  - compress_statistics: offset = absmax.mean(); quantize_blockwise(absmax - offset,
    code=create_dynamic_map(signed=True), blocksize=256) with the nearest code by argmin;
  - dequantize: code[q] * absmax (+ offset for the double-quantized absmax).
Run: /usr/bin/python3 scripts/quant_golden.py > internal/quant/testdata/nf4_golden.json
"""
import json

import numpy as np
import torch

NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=np.float32)

# dQuantizeNF4's literal thresholds (kernels.cu), in code order.
THRESHOLDS = np.array([-0.8480964004993439, -0.6106329262256622, -0.4599952697753906,
                       -0.33967943489551544, -0.23460740596055984, -0.13791173323988914,
                       -0.045525018125772476, 0.03979014977812767, 0.1202552504837513,
                       0.2035212516784668, 0.2920137718319893, 0.3893125355243683,
                       0.5016634166240692, 0.6427869200706482, 0.8614784181118011], dtype=np.float32)


def linspace32(start, end, n):
    """torch.linspace(start, end, n, dtype=float32) by ATen's scalar formula (RangeFactoriesKernel:
    start + step*i for the first half, end - step*(n-1-i) after). Its AVX path rounds a few points
    1 ulp differently depending on the CPU's vector width, so the golden uses the scalar formula."""
    start, end = np.float32(start), np.float32(end)
    step = (end - start) / np.float32(n - 1)
    out = [start + step * np.float32(i) if i < n // 2 else end - step * np.float32(n - 1 - i) for i in range(n)]
    out = np.array(out, dtype=np.float32)
    ulp = np.spacing(out)
    assert np.all(np.abs(torch.linspace(float(start), float(end), n, dtype=torch.float32).numpy() - out) <= ulp)
    return torch.from_numpy(out)


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    data = []
    non_sign_bits = total_bits - (1 if signed else 1)
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1)
        boundaries = linspace32(0.1, 1, fraction_items)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    data.sort()
    return np.array(data, dtype=np.float32)


DYN = create_dynamic_map()


def quantize_4bit(a, double):
    n = a.size
    nb = (n + 63) // 64
    padded = np.zeros(nb * 64, dtype=np.float32)
    padded[:n] = a
    blocks = padded.reshape(nb, 64)
    absmax = np.abs(blocks).max(axis=1).astype(np.float32)
    inv = np.where(absmax == 0, np.float32(0), np.float32(1) / np.where(absmax == 0, 1, absmax)).astype(np.float32)
    scaled = (blocks * inv[:, None]).astype(np.float32).reshape(-1)
    codes = np.searchsorted(THRESHOLDS, scaled, side="left").astype(np.uint8)  # x > t counts t
    codes = codes[: n + (n % 2)]
    packed = (codes[0::2] << 4) | codes[1::2]
    out = {"packed": bytes(packed).hex(), "absmax": absmax.tolist()}
    scales = absmax
    if double:
        offset = np.float32(absmax.astype(np.float64).mean())
        shifted = (absmax - offset).astype(np.float32)
        nb2 = (nb + 255) // 256
        q = np.zeros(nb, dtype=np.uint8)
        absmax2 = np.zeros(nb2, dtype=np.float32)
        for b in range(nb2):
            blk = shifted[b * 256:(b + 1) * 256]
            absmax2[b] = np.abs(blk).max()
            inv2 = np.float32(1) / absmax2[b] if absmax2[b] != 0 else np.float32(0)
            x = np.clip((blk * inv2).astype(np.float32), -1, 1)
            q[b * 256:(b + 1) * 256] = np.argmin(np.abs(x[:, None] - DYN[None, :]), axis=1)
        scales = (DYN[q] * np.repeat(absmax2, 256)[:nb] + offset).astype(np.float32)
        out.update({"offset": float(offset), "qabsmax": bytes(q).hex(), "absmax2": absmax2.tolist()})
        del out["absmax"]
    codes = codes[:n]
    out["dequantized"] = (NF4[codes] * np.repeat(scales, 64)[:n]).astype(np.float32).tolist()
    return out


def main():
    rng = np.random.default_rng(14)
    cases = []
    normal = rng.standard_normal(64 * 260 + 37).astype(np.float32) * 0.02  # > 256 blocks, short last block
    normal[100] = 0.5  # an outlier block
    normal[64 * 5:64 * 6] = 0  # an all-zero block
    for name, a in [("normal", normal), ("uniform", rng.uniform(-3, 3, 64 * 4 + 1).astype(np.float32)),
                    ("codes", np.tile(NF4, 8) * np.float32(0.7))]:
        for double in (False, True):
            c = quantize_4bit(a, double)
            c.update({"name": name, "double": double, "input": a.tolist()})
            cases.append(c)
    print(json.dumps({"generator": "scripts/quant_golden.py (numpy %s, torch %s for torch.linspace)" % (np.__version__, torch.__version__),
                      "dynamic_map": DYN.tolist(), "cases": cases}))


if __name__ == "__main__":
    main()
