"""Imputation: aekit's masking recipe against scikit-learn's imputers, on the complete rows of the development tables.

Protocol (a first cut of issue 30's): each table of ``bench_tables.DEV_TABLES`` (R's row names left out), its rows
without holes; 30 % of the entries hidden completely at random (MCAR, seed 0). Every imputer sees the incomplete
table and fills it (fit and transform on the same rows, as imputation is used). Scores on the hidden entries:
numbers by RMSE in standard deviations of the complete column, categories by error rate. Peers on numbers scaled to
unit variance and categories one-hot (a filled category: the level with the largest filled one-hot value):
SimpleImputer (mean / most frequent), KNNImputer, IterativeImputer (BayesianRidge: MICE), and IterativeImputer with
random forests (MissForest's method; 50 trees, 5 rounds to keep it to minutes).

aekit: ``aekit train --data incomplete.csv --variant denoising --noise masking --noise-level 0.3 --out RUN`` then
``aekit impute RUN --input incomplete.csv --out filled.csv``.

    python benchmarks/bench_impute.py
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bench_tables import AEKIT, DEV_TABLES, load


def complete_table(name: str):
    import pandas as pd

    train, hold, _ = load(name)
    return pd.concat([train, hold], ignore_index=True).dropna().reset_index(drop=True)


def hide(df, share: float = 0.3, seed: int = 0):
    rng = np.random.default_rng(seed)
    mask = rng.random(df.shape) < share
    return df.mask(mask), mask


def numeric(df):
    return [c for c in df.columns if np.issubdtype(df[c].dtype, np.number)]


def peer(kind: str, inc, full):
    """Fill ``inc`` with a scikit-learn imputer on scaled numbers and one-hot categories; a DataFrame like inc."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    nums = numeric(full)
    cats = [c for c in full.columns if c not in nums]
    sd = full[nums].std().replace(0, 1.0)
    mu = full[nums].mean()
    blocks = [(inc[nums] - mu) / sd]
    levels = {}
    for c in cats:
        levels[c] = sorted(full[c].astype(str).unique())
        oh = np.stack([(inc[c].astype(str) == lv).astype(float) for lv in levels[c]], 1)
        oh[inc[c].isna().to_numpy()] = np.nan
        blocks.append(oh)
    x = np.column_stack([np.asarray(b, dtype=float) for b in blocks])
    if kind == "simple":
        k = len(nums)
        out = x.copy()
        if k:
            out[:, :k] = SimpleImputer(strategy="mean").fit_transform(x[:, :k])
        if x.shape[1] > k:
            out[:, k:] = SimpleImputer(strategy="most_frequent").fit_transform(x[:, k:])
    elif kind == "knn":
        out = KNNImputer().fit_transform(x)
    elif kind == "mice":
        out = IterativeImputer(random_state=0).fit_transform(x)
    else:  # MissForest's method
        out = IterativeImputer(RandomForestRegressor(n_estimators=50, random_state=0, n_jobs=1), max_iter=5,
                               random_state=0).fit_transform(x)
    res = inc.copy()
    for j, c in enumerate(nums):
        res[c] = out[:, j] * sd[c] + mu[c]
    start = len(nums)
    for c in cats:
        w = len(levels[c])
        pick = np.asarray(levels[c], dtype=object)[out[:, start:start + w].argmax(1)]
        res[c] = np.where(inc[c].isna(), pick, inc[c].astype(str))
        start += w
    return res


def run_aekit(inc, work: Path, extra: list[str]):
    import pandas as pd

    inc.to_csv(work / "inc.csv", index=False)
    subprocess.run([AEKIT, "train", "--data", str(work / "inc.csv"), "--variant", "denoising", "--noise", "masking",
                    "--noise-level", "0.3", "--out", str(work / "run"), "--quiet", "--no-report", *extra], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([AEKIT, "impute", str(work / "run"), "--input", str(work / "inc.csv"), "--out",
                    str(work / "f.csv")], check=True, stdout=subprocess.DEVNULL)
    return pd.read_csv(work / "f.csv")


def coverage(inc, full, mask, work: Path, draws: int = 20) -> float:
    """The share of hidden true numbers inside the 90 % interval (5th to 95th percentile) of aekit's ``draws``
    imputations (``aekit impute --draws``), with the run trained in ``work`` by :func:`run_aekit`."""
    import pandas as pd

    subprocess.run([AEKIT, "impute", str(work / "run"), "--input", str(work / "inc.csv"), "--draws", str(draws),
                    "--out", str(work / "d.csv")], check=True, stdout=subprocess.DEVNULL)
    d = pd.read_csv(work / "d.csv")
    inside, n = 0, 0
    for j, c in enumerate(full.columns):
        if c not in numeric(full) or not mask[:, j].any():
            continue
        v = d[c].to_numpy(dtype=float).reshape(draws, len(full))  # (draws, rows)
        lo, hi = np.percentile(v, [5, 95], axis=0)
        t = full[c].to_numpy(dtype=float)
        hid = mask[:, j]
        inside += int(((t >= lo) & (t <= hi))[hid].sum())
        n += int(hid.sum())
    return inside / n if n else float("nan")


def scores(filled, full, mask) -> tuple[float, float]:
    nums = numeric(full)
    sq, n, wrong, m = 0.0, 0, 0, 0
    for j, c in enumerate(full.columns):
        hidden = mask[:, j]
        if not hidden.any():
            continue
        if c in nums:
            sd = full[c].std() or 1.0
            sq += float((((filled[c].astype(float) - full[c]) / sd)[hidden] ** 2).sum())
            n += int(hidden.sum())
        else:
            wrong += int((filled[c].astype(str).to_numpy()[hidden] != full[c].astype(str).to_numpy()[hidden]).sum())
            m += int(hidden.sum())
    return (np.sqrt(sq / n) if n else np.nan), (wrong / m if m else np.nan)


def main() -> None:
    import argparse

    import pandas as pd

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=["aekit", "simple", "knn", "mice", "missforest"])
    p.add_argument("--aekit-args", default="", help="more flags for aekit train (for choosing a recipe)")
    p.add_argument("--coverage", action="store_true", help="also the 90 %% interval coverage of aekit's 20 draws")
    args = p.parse_args()

    warnings.filterwarnings("ignore")
    rows = []
    for name in DEV_TABLES:
        full = complete_table(name)
        if len(full) > 2000:
            full = full.sample(2000, random_state=0).reset_index(drop=True)
        inc, mask = hide(full)
        for method in args.methods:
            t0 = time.perf_counter()
            cover = float("nan")
            with tempfile.TemporaryDirectory() as tmp:
                filled = run_aekit(inc, Path(tmp), args.aekit_args.split()) if method == "aekit" else \
                    peer(method, inc, full)
                secs = time.perf_counter() - t0
                if method == "aekit" and args.coverage:
                    cover = coverage(inc, full, mask, Path(tmp))
            rmse, err = scores(filled, full, mask)
            rows.append({"table": name, "method": method, "rmse": rmse, "cat_error": err, "coverage90": cover,
                         "seconds": secs})
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}),
                  flush=True)
    df = pd.DataFrame(rows)
    df["rank"] = df.groupby("table")["rmse"].rank()
    print(df.groupby("method")[["rmse", "rank", "cat_error", "coverage90", "seconds"]].mean().round(3).to_string())


if __name__ == "__main__":
    main()
