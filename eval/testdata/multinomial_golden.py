#!/usr/bin/python3
"""Golden values for eval.FitMultinomialBaseline, from scikit-learn's TF-IDF and SciPy.

Run from the repository root with Debian's python3-sklearn (1.2.1):
    /usr/bin/python3 eval/testdata/multinomial_golden.py
It rewrites eval/testdata/multinomial_golden.json. The three classes are made up for the
solver check only: a review's 0/1 label, except every third review (index % 3 == 0) is class 2.
"""
import json
import os

import numpy as np
from scipy.optimize import minimize
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

HERE = os.path.dirname(os.path.abspath(__file__))
C, K = 10.0, 3


def main():
    rows = [json.loads(l) for l in open(os.path.join(HERE, "..", "..", "data", "amazon.jsonl"))]
    y = np.array([2 if i % 3 == 0 else r["label"] for i, r in enumerate(rows)])
    tr = [i for i in range(len(rows)) if i % 5 != 0]
    te = [i for i in range(len(rows)) if i % 5 == 0]
    vec = TfidfVectorizer(ngram_range=(1, 2))
    xtr = vec.fit_transform([rows[i]["text"] for i in tr])
    xte = vec.transform([rows[i]["text"] for i in te])
    ytr = y[tr]
    onehot = np.eye(K)[ytr]
    d = xtr.shape[1]
    sk = LogisticRegression(C=C, multi_class="multinomial", max_iter=10000).fit(xtr, ytr)

    def f(v):
        w, b = v[:K * d].reshape(K, d), v[K * d:]
        z = xtr @ w.T + b
        top = z.max(1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(z - top).sum(1))
        p = np.exp(z - lse[:, None])
        g = C * (p - onehot)
        return (C * np.sum(lse - z[np.arange(len(ytr)), ytr]) + 0.5 * np.sum(w * w),
                np.concatenate([(xtr.T @ g).T.ravel() + w.ravel(), g.sum(0)]))

    res = minimize(f, np.concatenate([sk.coef_.ravel(), sk.intercept_]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 100000, "ftol": 1e-15, "gtol": 1e-10})
    w, b = res.x[:K * d].reshape(K, d), res.x[K * d:]
    z = xte @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out = {"classes": "label, or 2 when index % 3 == 0", "split": "test = index % 5 == 0", "C": C,
           "vocabulary": len(vec.vocabulary_), "objective": float(res.fun),
           "max_abs_grad": float(np.abs(res.jac).max()),
           "sklearn_lbfgs_max_prob_diff": float(np.abs(sk.predict_proba(xte) - p).max()),
           "probs": p.tolist()}
    with open(os.path.join(HERE, "multinomial_golden.json"), "w") as fh:
        json.dump(out, fh, allow_nan=False)
        fh.write("\n")


if __name__ == "__main__":
    main()
