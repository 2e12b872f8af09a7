"""Semi-supervised learning on mixed tables (issue 31, item 3): the development tables of the table issue (issue 29:
numbers, categories, integers and holes), 5 % of the training rows labelled, through aekit's command line as a user
types it, against scikit-learn's ``LabelSpreading(kernel="knn")`` and
``SelfTrainingClassifier(HistGradientBoostingClassifier())`` at their defaults, and the majority class of the
labelled rows.

Protocol, per table and label draw: the halving of ``bench_tables.py`` (seed = the draw), the target column of its
ML efficacy as the class (its levels, sorted, as 0, 1, ...); 5 % of the train half labelled (at least one row of each
class, drawn with the draw's seed), -1 for the rest; test error on the holdout half, less its rows with a category
or a hole that the train half lacks (aekit refuses a category it never saw, and a hole where training had none:
census loses a few states' rows, CreditRisk a few rows with a hole).

- aekit: ``aekit train --data train.csv --label-column TARGET --variant classifier --out RUN`` (the table recipe),
  then ``aekit classify RUN --input holdout.csv --out labels.csv``, in this process (``aekit.cli.main``).
- aekit's estimator: ``AutoencoderClassifier(random_state=0).fit(train_frame, labels)`` on the DataFrame itself (a
  table, with the same recipe), then ``predict`` on the holdout's.
- the peers: numbers standardised by the train half (holes 0), categories one-hot (``bench_tables._matrix``).

    python benchmarks/bench_semisup_tables.py                 # draws 1-5, the ten tables
    python benchmarks/bench_semisup_tables.py --draws 0 --tables CPS1985
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

from aekit.cli import main as aekit_main
from aekit.sklearn import AutoencoderClassifier
from bench_tables import DEV_TABLES, _matrix, load
from common import header, parser

LABELLED = 0.05


def partial_labels(y: np.ndarray, draw: int) -> np.ndarray:
    """y (n,) class indices -> the same with all but a 5 % share (at least one row of each class) set to -1."""
    rng = np.random.default_rng(draw)
    pick = rng.choice(len(y), max(2, round(LABELLED * len(y))), replace=False)
    for c in np.unique(y):
        if not (y[pick] == c).any():
            pick = np.r_[pick, rng.choice(np.flatnonzero(y == c))]
    out = np.full(len(y), -1)
    out[pick] = y[pick]
    return out


def aekit_error(train, hold, target: str, part: np.ndarray, yt: np.ndarray, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = train.copy()
        t[target] = part
        t.to_csv(tmp / "train.csv", index=False)
        hold.drop(columns=[target]).to_csv(tmp / "holdout.csv", index=False)
        with contextlib.redirect_stdout(io.StringIO()):
            if aekit_main(["train", "--data", str(tmp / "train.csv"), "--label-column", target, "--variant",
                           "classifier", "--out", str(tmp / "run"), "--quiet", "--no-report", *extra]) != 0:
                raise SystemExit("aekit train failed")
            if aekit_main(["classify", str(tmp / "run"), "--input", str(tmp / "holdout.csv"), "--out",
                           str(tmp / "labels.csv")]) != 0:
                raise SystemExit("aekit classify failed")
        pred = np.loadtxt(tmp / "labels.csv", delimiter=",", skiprows=1, usecols=1, dtype=np.int64, ndmin=1)
    return float((pred != yt).mean())


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--tables", nargs="+", default=list(DEV_TABLES), choices=list(DEV_TABLES))
    p.add_argument("--draws", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--aekit-args", default="", help="more flags for aekit train, e.g. \"--epochs 10\"")
    args = p.parse_args()
    header("Semi-supervised learning on mixed tables, 5 % labels: aekit's command line against scikit-learn's")
    warnings.filterwarnings("ignore")
    methods = ["aekit", "AutoencoderClassifier (DataFrame)", "LabelSpreading (knn)", "SelfTraining(HGB)",
               "majority class"]
    rows = []
    for name in args.tables:
        res: dict[str, list[float]] = {m: [] for m in methods}
        secs = []
        for draw in args.draws:
            train, hold, target = load(name, draw)
            for c in train.drop(columns=[target]):  # holdout rows with a category or a hole the train half lacks
                if not np.issubdtype(train[c].dtype, np.number):
                    hold = hold[hold[c].astype(str).isin(set(train[c].astype(str)))]
                if not train[c].isna().any():
                    hold = hold[hold[c].notna()]
            levels = sorted(train[target].astype(str).unique())
            y = train[target].astype(str).map(levels.index).to_numpy()
            yt = hold[target].astype(str).map(lambda v: levels.index(v) if v in levels else -1).to_numpy()
            part = partial_labels(y, draw)
            t = time.perf_counter()
            res["aekit"].append(aekit_error(train, hold, target, part, yt, args.aekit_args.split()))
            secs.append(time.perf_counter() - t)
            feats = train.drop(columns=[target])
            est = AutoencoderClassifier(random_state=0).fit(feats, part)
            res["AutoencoderClassifier (DataFrame)"].append(float((est.predict(hold.drop(columns=[target])) != yt)
                                                                  .mean()))
            xa, xb = _matrix(feats, feats), _matrix(hold.drop(columns=[target]), feats)
            for m, est in [("LabelSpreading (knn)", LabelSpreading(kernel="knn")),
                           ("SelfTraining(HGB)", SelfTrainingClassifier(HistGradientBoostingClassifier()))]:
                res[m].append(float((est.fit(xa, part).predict(xb) != yt).mean()))
            res["majority class"].append(float((yt != np.bincount(y[part >= 0]).argmax()).mean()))
            print(json.dumps({"table": name, "draw": draw, **{m: round(v[-1], 4) for m, v in res.items()},
                              "aekit seconds": round(secs[-1], 1)}), flush=True)
        rows.append((name, {m: 100 * np.mean(v) for m, v in res.items()}, np.mean(secs)))
    print("\n| table | " + " | ".join(methods) + " | seconds (aekit) |")
    print("|---|" + "---:|" * (len(methods) + 1))
    for name, err, s in rows:
        best = min(err[m] for m in methods[:4])
        cells = [f"**{err[m]:.1f} %**" if m != "majority class" and err[m] == best else f"{err[m]:.1f} %"
                 for m in methods]
        print(f"| {name} | " + " | ".join(cells) + f" | {s:.1f} |")
    means = {m: np.mean([err[m] for _, err, _ in rows]) for m in methods}
    print("| **mean** | " + " | ".join(f"{means[m]:.1f} %" for m in methods) + " | |")
    wins = {m: sum(err["aekit"] < err[m] for _, err, _ in rows) for m in methods[2:]}
    print("aekit lower than: " + ", ".join(f"{m} on {k} of {len(rows)}" for m, k in wins.items()))


if __name__ == "__main__":
    main()
