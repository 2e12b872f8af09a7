"""Anomaly detection on mixed tables: aekit's default detector against IsolationForest on one-hot columns.

Protocol (issue 29): each development table (``bench_tables.DEV_TABLES``) split 50/50 (seed 0). In the holdout half,
10 % of the rows become anomalies whose joint pattern is broken while every column keeps its marginal: a third of
their columns (at least one) take the value of another random row, each column from its own row, so categories are
swapped between rows and numbers leave their joint pattern. The detector is fitted on the train half (all normal)
and scores the holdout; AUROC against the planted labels.

- aekit: its default command line, ``aekit train --data train.csv --out RUN`` then ``aekit detect RUN --input
  holdout.csv --out scores.csv`` (the table model, its recipe and default score);
- IsolationForest (scikit-learn defaults, random_state 0) on the columns one-hot encoded (pandas' get_dummies) with
  numbers as they are and holes filled by the train median.

    python benchmarks/bench_table_anomaly.py                  # aekit detect's default score
    python benchmarks/bench_table_anomaly.py --score reconstruction
"""

from __future__ import annotations

import csv
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from bench_tables import AEKIT, DEV_TABLES, load


def plant(hold, share: float = 0.1, seed: int = 0):
    """A copy of ``hold`` with ``share`` of its rows made anomalous (see the module's docstring), and the labels."""
    rng = np.random.default_rng(seed)
    out = hold.copy()
    n, cols = len(hold), list(hold.columns)
    bad = rng.choice(n, max(1, int(share * n)), replace=False)
    for i in bad:
        for c in rng.choice(cols, max(1, len(cols) // 3), replace=False):
            j = rng.integers(n)
            while hold[c].iloc[j] == hold[c].iloc[i] and hold[c].nunique() > 1:
                j = rng.integers(n)
            out.iloc[i, cols.index(c)] = hold[c].iloc[j]
    labels = np.zeros(n, dtype=int)
    labels[bad] = 1
    return out, labels


def aekit_scores(train, test, work: Path, score: str = "auto") -> np.ndarray:
    train.to_csv(work / "train.csv", index=False)
    test.to_csv(work / "test.csv", index=False)
    subprocess.run([AEKIT, "train", "--data", str(work / "train.csv"), "--out", str(work / "run"), "--quiet",
                    "--no-report"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([AEKIT, "detect", str(work / "run"), "--input", str(work / "test.csv"), "--out",
                    str(work / "s.csv"), "--score", score], check=True, stdout=subprocess.DEVNULL)
    with open(work / "s.csv") as f:
        return np.array([float(r["score"]) for r in csv.DictReader(f)])


def iforest_scores(train, test) -> np.ndarray:
    import pandas as pd
    from sklearn.ensemble import IsolationForest

    both = pd.get_dummies(pd.concat([train, test]), dummy_na=False).astype(float)
    both = both.fillna(both.iloc[:len(train)].median())
    clf = IsolationForest(random_state=0).fit(both.iloc[:len(train)])
    return -clf.score_samples(both.iloc[len(train):])


def main() -> None:
    import argparse

    from sklearn.metrics import roc_auc_score

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--score", default="auto", help="aekit detect's --score (auto: the run's default)")
    args = p.parse_args()

    rows = []
    for name in DEV_TABLES:
        train, hold, _ = load(name)
        test, labels = plant(hold)
        with tempfile.TemporaryDirectory() as tmp:
            a = roc_auc_score(labels, aekit_scores(train, test, Path(tmp), args.score))
        b = roc_auc_score(labels, iforest_scores(train, test))
        rows.append({"table": name, "aekit": a, "iforest": b})
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
    print(f"mean AUROC: aekit {np.mean([r['aekit'] for r in rows]):.3f}, IsolationForest on one-hot "
          f"{np.mean([r['iforest'] for r in rows]):.3f}; aekit higher on "
          f"{sum(r['aekit'] > r['iforest'] for r in rows)} of {len(rows)}")


if __name__ == "__main__":
    main()
