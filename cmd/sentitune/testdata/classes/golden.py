#!/usr/bin/python3
"""K-class predictions files and their scikit-learn metrics, for TestEvalClassPredictions.

Run from the repository root with Debian's python3-sklearn (1.2.1):
    /usr/bin/python3 cmd/sentitune/testdata/classes/golden.py
It rewrites, in this folder:
  reviews3-preds.csv   a made-up 3-class classifier on every other review of data/reviews3.jsonl
                       (id, label, pred, prob_negative, prob_neutral, prob_positive, text)
  stars5-preds.jsonl   a made-up 1-5 star classifier, class names only (no probabilities)
  golden.json          each file's metrics as scikit-learn computes them (eval/testdata's
                       multiclass_golden.case, the same definitions ComputeMulticlass is checked on)
"""
import csv
import importlib.util
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..", "..")

spec = importlib.util.spec_from_file_location("mg", os.path.join(ROOT, "eval", "testdata", "multiclass_golden.py"))
mg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mg)


def three_classes(rng):
    names = ["negative", "neutral", "positive"]
    with open(os.path.join(ROOT, "data", "reviews3.jsonl")) as f:
        reviews = [json.loads(l) for l in f]
    rows = [(i + 1, r) for i, r in enumerate(reviews) if i % 2 == 0]
    y = np.array([names.index(r["label"]) for _, r in rows])
    pred = np.where(rng.random(len(y)) < 0.7, y, rng.integers(0, 3, len(y)))
    logits = rng.normal(size=(len(y), 3))
    logits[np.arange(len(y)), pred] += 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    with open(os.path.join(HERE, "reviews3-preds.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "label", "pred"] + ["prob_" + n for n in names] + ["text"])
        for (rid, r), yy, pp, pr in zip(rows, y, pred, probs):
            w.writerow([rid, names[yy], names[pp]] + [repr(float(v)) for v in pr] + [r["text"]])
    # The file's probabilities as Go reads them back: the decimal text written above.
    probs = np.array([[float(repr(float(v))) for v in pr] for pr in probs])
    return mg.case("reviews3-preds.csv", names, y, pred, probs, True)


def five_stars(rng):
    names = ["1", "2", "3", "4", "5"]
    y = rng.integers(0, 5, 50)
    pred = np.clip(y + rng.integers(-1, 2, 50), 0, 4)
    with open(os.path.join(HERE, "stars5-preds.jsonl"), "w") as f:
        for i, (yy, pp) in enumerate(zip(y, pred)):
            f.write(json.dumps({"id": "s%d" % (i + 1), "label": names[yy], "pred": names[pp]}) + "\n")
    return mg.case("stars5-preds.jsonl", names, y, pred, None, True)


def main():
    rng = np.random.default_rng(2026)
    cases = [three_classes(rng), five_stars(rng)]
    for c in cases:  # the files hold the rows; golden.json only what sklearn says of them
        del c["y"], c["pred"], c["probs"]
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        f.write("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")


if __name__ == "__main__":
    main()
