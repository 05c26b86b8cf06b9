#!/usr/bin/python3
"""Golden values for eval.ComputeMulticlass, computed with scikit-learn.

Run from the repository root with Debian's python3-sklearn (1.2.1):
    /usr/bin/python3 eval/testdata/multiclass_golden.py
It rewrites eval/testdata/multiclass_golden.json. Undefined per-class values are null; the
averages use zero_division=0, as ComputeMulticlass does.
"""
import json
import os

import numpy as np
from sklearn import metrics as skm

HERE = os.path.dirname(os.path.abspath(__file__))


def case(name, labels, y, p, probs, ordered):
    k = len(labels)
    ks = list(range(k))
    cm = skm.confusion_matrix(y, p, labels=ks)
    pr, rc, f1, sup = skm.precision_recall_fscore_support(y, p, labels=ks, zero_division=0)
    per = []
    for c in ks:
        tp, col, row = cm[c, c], cm[:, c].sum(), cm[c, :].sum()
        auc = None
        if probs is not None and 0 < row < len(y):
            auc = float(skm.roc_auc_score(y == c, np.asarray(probs)[:, c]))
        per.append({
            "label": labels[c],
            "precision": None if col == 0 else float(pr[c]),
            "recall": None if row == 0 else float(rc[c]),
            "f1": None if row + col == 0 else float(f1[c]),
            "support": int(sup[c]),
            "roc_auc": auc,
        })
    avg = lambda a: {m: float(v) for m, v in zip(("precision", "recall", "f1"),
                                                  skm.precision_recall_fscore_support(y, p, labels=ks, average=a, zero_division=0)[:3])}
    want = {
        "n": len(y), "labels": labels, "confusion": cm.tolist(),
        "accuracy": float(skm.accuracy_score(y, p)),
        "per_class": per, "macro": avg("macro"), "micro": avg("micro"), "weighted": avg("weighted"),
        "cohen_kappa": float(skm.cohen_kappa_score(y, p, labels=ks)),
    }
    if ordered:
        want["mae"] = float(skm.mean_absolute_error(y, p))
        want["quadratic_weighted_kappa"] = float(skm.cohen_kappa_score(y, p, labels=ks, weights="quadratic"))
    if probs is not None:
        aucs = [c["roc_auc"] for c in per if c["roc_auc"] is not None]
        want["roc_auc_ovr_macro"] = float(np.mean(aucs))
        if len(aucs) == k:  # sklearn's own multi-class OvR macro agrees when every class is present
            assert abs(want["roc_auc_ovr_macro"] - skm.roc_auc_score(y, probs, multi_class="ovr", labels=ks)) < 1e-12
    return {"name": name, "ordered": ordered, "y": [int(v) for v in y], "pred": [int(v) for v in p],
            "probs": None if probs is None else np.asarray(probs).tolist(), "want": want}


def noisy(rng, n, k, acc):
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < acc, y, rng.integers(0, k, n))
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), p] += 2
    logits = np.round(logits, 1)  # ties among scores
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return y, p, probs


def main():
    rng = np.random.default_rng(20)
    cases = []
    y, p, probs = noisy(rng, 200, 3, 0.7)
    cases.append(case("three classes", ["negative", "neutral", "positive"], y, p, probs, False))
    y, p, probs = noisy(rng, 300, 5, 0.5)
    cases.append(case("five stars", ["1", "2", "3", "4", "5"], y, p, probs, True))
    y = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    p = np.array([0, 1, 1, 1, 1, 0, 0, 0])  # class 2 never predicted
    cases.append(case("a class never predicted", ["negative", "neutral", "positive"], y, p, None, True))
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0, 1, 1, 0, 0, 1])  # class 2 neither a label nor predicted
    probs = np.array([[.6, .3, .1], [.2, .5, .3], [.1, .8, .1], [.5, .4, .1], [.7, .2, .1], [.3, .6, .1]])
    cases.append(case("an absent class", ["negative", "neutral", "positive"], y, p, probs, True))
    with open(os.path.join(HERE, "multiclass_golden.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")  # a case a line


if __name__ == "__main__":
    main()
