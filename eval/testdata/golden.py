#!/usr/bin/python3
"""Golden values for package eval, computed independently with scikit-learn and SciPy.

Run from the repository root with Debian's python3-sklearn:
    /usr/bin/python3 eval/testdata/golden.py
It rewrites eval/testdata/metrics_golden.json, mcnemar_golden.json and baseline_golden.json.
Undefined values are null (the Go side must report null, never NaN).
"""
import json
import math
import os

import numpy as np
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn import metrics as skm

HERE = os.path.dirname(os.path.abspath(__file__))


def none_if(cond, fn):
    return None if cond else float(fn())


def wilson(k, n):
    if n == 0:
        return None
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return {"low": float(ci.low), "high": float(ci.high)}


def best_thresholds(y, p):
    """Brute force: every distinct prob ascending, predict 1 when prob >= t, first maximum wins."""
    pos = int(y.sum())
    best_f1 = best_acc = None
    for t in np.unique(p):
        yp = (p >= t).astype(int)
        tp = int(((yp == 1) & (y == 1)).sum())
        fp = int(((yp == 1) & (y == 0)).sum())
        fn = pos - tp
        acc = float((yp == y).mean())
        f1 = None if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        if f1 is not None and (best_f1 is None or f1 > best_f1["f1"]):
            best_f1 = {"threshold": float(t), "accuracy": acc, "f1": f1}
        if best_acc is None or acc > best_acc["accuracy"]:
            best_acc = {"threshold": float(t), "accuracy": acc, "f1": f1}
    all_neg = float((y == 0).mean())
    if all_neg > best_acc["accuracy"]:
        best_acc = {"threshold": float(np.nextafter(p.max(), np.inf)), "accuracy": all_neg,
                    "f1": 0.0 if pos > 0 else None}
    if pos == 0:
        best_f1 = None
    return best_f1, best_acc


def expected(y, yp, p):
    tp = int(((yp == 1) & (y == 1)).sum())
    fp = int(((yp == 1) & (y == 0)).sum())
    tn = int(((yp == 0) & (y == 0)).sum())
    fn = int(((yp == 0) & (y == 1)).sum())
    pos, neg = tp + fn, tn + fp
    both = pos > 0 and neg > 0
    zd = dict(zero_division=0)
    e = {
        "n": len(y), "positives": pos, "negatives": neg, "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "accuracy": float(skm.accuracy_score(y, yp)),
        "precision": none_if(tp + fp == 0, lambda: skm.precision_score(y, yp, **zd)),
        "recall": none_if(pos == 0, lambda: skm.recall_score(y, yp, **zd)),
        "f1": none_if(2 * tp + fp + fn == 0, lambda: skm.f1_score(y, yp, **zd)),
        "specificity": none_if(neg == 0, lambda: skm.recall_score(y, yp, pos_label=0, **zd)),
        "balanced_accuracy": none_if(not both, lambda: skm.balanced_accuracy_score(y, yp)),
        "mcc": none_if((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn) == 0,
                       lambda: skm.matthews_corrcoef(y, yp)),
    }
    pr, rc, f1, sup = skm.precision_recall_fscore_support(y, yp, labels=[0, 1], **zd)
    undefined = {
        0: {"precision": tn + fn == 0, "recall": neg == 0, "f1": 2 * tn + fp + fn == 0},
        1: {"precision": tp + fp == 0, "recall": pos == 0, "f1": 2 * tp + fp + fn == 0},
    }
    per = {}
    for c in (0, 1):
        per[str(c)] = {
            "precision": None if undefined[c]["precision"] else float(pr[c]),
            "recall": None if undefined[c]["recall"] else float(rc[c]),
            "f1": None if undefined[c]["f1"] else float(f1[c]),
            "support": int(sup[c]),
        }
    e["per_class"] = per
    for key in ("precision", "recall", "f1"):
        vals = [per[c][key] for c in ("0", "1")]
        macro = {"precision": "macro_precision", "recall": "macro_recall", "f1": "macro_f1"}[key]
        e[macro] = None if None in vals else float(
            skm.precision_recall_fscore_support(y, yp, labels=[0, 1], average="macro", **zd)[
                ("precision", "recall", "f1").index(key)])
    e["accuracy_ci95"] = wilson(tp + tn, len(y))
    e["precision_ci95"] = wilson(tp, tp + fp)
    e["recall_ci95"] = wilson(tp, pos)
    e["majority_baseline"] = {"class": 0 if neg > pos else 1, "accuracy": max(pos, neg) / len(y)}
    if p is None:
        return e
    e["roc_auc"] = none_if(not both, lambda: skm.roc_auc_score(y, p))
    e["pr_auc"] = none_if(pos == 0, lambda: skm.average_precision_score(y, p))
    e["log_loss"] = float(skm.log_loss(y, p, labels=[0, 1]))
    e["brier"] = float(skm.brier_score_loss(y, p, pos_label=1))
    # Reliability: scikit-learn's uniform bins; ECE from the same bin assignment.
    frac_pos, mean_prob = calibration_curve(y, p, n_bins=10, strategy="uniform")
    edges = np.linspace(0.0, 1.0, 11)
    ids = np.searchsorted(edges[1:-1], p)
    counts = np.bincount(ids, minlength=10)
    bins, k = [], 0
    for b in range(10):
        if counts[b] == 0:
            bins.append({"count": 0, "mean_prob": None, "frac_positive": None})
        else:
            bins.append({"count": int(counts[b]), "mean_prob": float(mean_prob[k]),
                         "frac_positive": float(frac_pos[k])})
            k += 1
    e["calibration"] = bins
    e["ece"] = float(sum(b["count"] / len(y) * abs(b["frac_positive"] - b["mean_prob"])
                         for b in bins if b["count"]))
    e["best_f1_threshold"], e["best_accuracy_threshold"] = best_thresholds(y, p)
    return e


def cases():
    rng = np.random.default_rng(20261127)
    out = []

    def add(name, y, yp, p):
        y = np.asarray(y, dtype=int)
        yp = np.asarray(yp, dtype=int)
        p = None if p is None else np.asarray(p, dtype=float)
        out.append({"name": name, "labels": y.tolist(), "preds": yp.tolist(),
                    "probs": None if p is None else p.tolist(), "expected": expected(y, yp, p)})

    y = rng.integers(0, 2, 200)
    p = np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25, 200), 0, 1)
    add("random_200", y, (p >= 0.5).astype(int), p)
    y = rng.integers(0, 2, 300)
    p = np.round(np.clip(0.5 + (y - 0.5) * 0.3 + rng.normal(0, 0.3, 300), 0, 1), 1)
    add("ties_rounded_300", y, (p >= 0.5).astype(int), p)
    y = (rng.random(400) < 0.1).astype(int)
    p = rng.beta(1 + 3 * y, 4 - 2 * y)
    add("imbalanced_400", y, (p >= 0.5).astype(int), p)
    y = rng.integers(0, 2, 150)
    p = rng.random(150)
    yp = np.where(rng.random(150) < 0.3, 1 - y, y)
    add("pred_independent_of_prob", y, yp, p)
    add("prob_extremes_and_bin_edges", [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
        [1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 0],
        [1.0, 1.0, 0.0, 0.0, 0.1, 0.1, 0.2, 0.3, 0.7, 0.9, 0.5, 0.5])
    add("all_same_prob", [1, 0, 1, 0, 0], [1, 1, 1, 1, 1], [0.5] * 5)
    add("all_one_class_positive", [1, 1, 1, 1], [1, 0, 1, 1], [0.9, 0.4, 0.8, 0.6])
    add("all_one_class_negative", [0, 0, 0], [0, 1, 0], [0.1, 0.7, 0.2])
    add("no_positive_predictions", [1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0.4, 0.1, 0.3, 0.2, 0.45])
    add("all_positive_predictions", [1, 0, 1, 0], [1, 1, 1, 1], [0.9, 0.6, 0.7, 0.8])
    add("perfect", [0, 0, 1, 1], [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    add("n1_correct", [1], [1], [0.8])
    add("n1_wrong", [0], [1], [0.8])
    add("no_prob", [1, 0, 1, 1, 0, 0], [1, 0, 0, 1, 1, 0], None)
    return out


def mcnemar_cases():
    out = []
    for a_only, b_only, both_right, both_wrong in [(3, 10, 50, 5), (0, 0, 10, 2), (12, 13, 100, 4),
                                                   (40, 20, 500, 30), (7, 0, 20, 1), (30, 45, 200, 10), (15, 15, 60, 3)]:
        d = a_only + b_only
        if d == 0:
            method, stat, pval = "none", None, 1.0
        elif d < 25:
            method, stat = "exact", None
            pval = float(stats.binomtest(min(a_only, b_only), d, 0.5).pvalue)
        else:
            method = "chi2"
            stat = max(0, abs(a_only - b_only) - 1) ** 2 / d
            pval = float(stats.chi2.sf(stat, 1))
        out.append({"a_only": a_only, "b_only": b_only, "both_correct": both_right,
                    "both_wrong": both_wrong, "method": method, "statistic": stat, "p_value": pval})
    return out


def baseline():
    """TF-IDF features from scikit-learn; the L2 logistic regression solved to a tight optimum with
    SciPy's L-BFGS-B (scikit-learn's own lbfgs stops early, |grad| ~ 4e-3, and moves probs ~1e-4)."""
    from scipy.optimize import minimize
    rows = [json.loads(l) for l in open(os.path.join(HERE, "..", "..", "data", "amazon.jsonl"))]
    train = [r for i, r in enumerate(rows) if i % 5 != 0]
    test = [r for i, r in enumerate(rows) if i % 5 == 0]
    vec = TfidfVectorizer(ngram_range=(1, 2))
    xtr = vec.fit_transform([r["text"] for r in train])
    ytr = np.array([r["label"] for r in train])
    C = 10.0
    sk = LogisticRegression(C=C, max_iter=10000).fit(xtr, ytr)
    xte = vec.transform([r["text"] for r in test])
    yte = np.array([r["label"] for r in test])
    ys = 2 * ytr - 1

    def f(x):
        w, b = x[:-1], x[-1]
        z = xtr @ w + b
        g = -ys / (1 + np.exp(ys * z)) * C
        return (C * np.sum(np.logaddexp(0, -ys * z)) + 0.5 * w @ w,
                np.append(xtr.T @ g + w, g.sum()))

    x0 = np.append(sk.coef_[0], sk.intercept_[0])
    res = minimize(f, x0, jac=True, method="L-BFGS-B",
                   options={"maxiter": 100000, "ftol": 1e-15, "gtol": 1e-10})
    z = xte @ res.x[:-1] + res.x[-1]
    prob = 1 / (1 + np.exp(-z))
    return {"split": "test = rows whose 0-based index % 5 == 0", "C": C,
            "vocabulary": len(vec.vocabulary_),
            "accuracy": float(np.mean((prob >= 0.5).astype(int) == yte)),
            "sklearn_lbfgs_accuracy": float(sk.score(xte, yte)),
            "objective": float(res.fun), "max_abs_grad": float(np.abs(res.jac).max()),
            "probs": prob.tolist()}


def write(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    write("metrics_golden.json", cases())
    write("mcnemar_golden.json", mcnemar_cases())
    write("baseline_golden.json", baseline())
