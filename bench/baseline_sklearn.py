#!/usr/bin/python3
"""scikit-learn's fit of sentitune's TF-IDF baseline, for bench/baseline.go (runBaselineBench).

    /usr/bin/python3 bench/baseline_sklearn.py TRAIN.csv TEST.csv

Reads CSVs of id,review,label, fits TfidfVectorizer(ngram_range=(1, 2)) + LogisticRegression(C=10,
lbfgs, tol 1e-4, max_iter 1000: scikit-learn's defaults but for enough iterations to converge) and
prints one JSON line: accuracy on TEST, vocabulary size, fit seconds, iterations.
"""
import csv
import json
import sys
import time

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["review"] for r in rows], [int(r["label"]) for r in rows]


def main():
    xtr, ytr = read(sys.argv[1])
    xte, yte = read(sys.argv[2])
    t0 = time.time()
    vec = TfidfVectorizer(ngram_range=(1, 2))
    m = vec.fit_transform(xtr)
    clf = LogisticRegression(C=10.0, tol=1e-4, max_iter=1000).fit(m, ytr)
    secs = time.time() - t0
    acc = float(clf.score(vec.transform(xte), yte))
    print(json.dumps({"sklearn": sklearn.__version__, "vocabulary": len(vec.vocabulary_), "accuracy": acc,
                      "fit_seconds": secs, "iterations": int(clf.n_iter_[0]),
                      "solver": "lbfgs, tol 1e-4, max_iter 1000"}))


if __name__ == "__main__":
    main()
