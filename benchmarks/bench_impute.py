"""Imputation: aekit's masking recipe against scikit-learn's imputers and miceforest, on the complete rows of the
development tables (and, with ``--adbench``, on ten numeric ADBench tables of ``../shared/data/adbench``).

Protocol (issue 30's): each table of ``bench_tables.DEV_TABLES`` (R's row names left out), its rows without holes (at
most 2,000); entries of every column but the table's target hidden (seed 0) in five settings: completely at random
(MCAR) at 10, 30 and 50 %; at random given an observed column (MAR, 30 % on average: the first column other than the
target stays complete, and an entry is hidden with a probability rising linearly with that column's rank in its
row, from 0 to 60 %); and not at random (MNAR, 30 % on average: an entry above its column's median is hidden with
probability 45 %, one at or below with 15 %; categories by a random half of their levels). Every imputer sees the
incomplete table and fills it (fit and transform on the same rows, as imputation is used). Scores on the hidden
entries: numbers by RMSE in standard deviations of the complete column, categories by error rate; downstream, the
5-fold accuracy of HistGradientBoosting predicting the target from the imputed table; and seconds. Mean rank (by
RMSE) over every table and setting. Peers on numbers scaled to unit variance and categories one-hot (a filled
category: the level with the largest filled one-hot value): SimpleImputer (mean / most frequent), KNNImputer,
IterativeImputer (BayesianRidge: MICE), and IterativeImputer with random forests (MissForest's method; 50 trees, 5
rounds to keep it to minutes); miceforest (LightGBM, 5 iterations) on the table as it is (categories as pandas
categories).

aekit: ``aekit train --data incomplete.csv --variant denoising --noise masking --noise-level 0.3 --out RUN`` then
``aekit impute RUN --input incomplete.csv --out filled.csv``.

    python benchmarks/bench_impute.py                                   # every setting, every method
    python benchmarks/bench_impute.py --settings mcar30 --coverage      # one setting, with aekit's coverage
    python benchmarks/bench_impute.py --adbench --settings mcar30 --out benchmarks/results/impute_adbench.json
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

SETTINGS = ("mcar10", "mcar30", "mcar50", "mar30", "mnar30")


ADBENCH = ("4_breastw", "39_vertebral", "47_yeast", "45_wine", "43_WDBC", "37_Stamps", "2_annthyroid",
           "7_Cardiotocography", "28_pendigits", "22_magic.gamma")  # --adbench: numeric tables no recipe was chosen on
ADBENCH_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"


def complete_table(name: str):
    """A development table's complete rows, or (a name of ADBENCH) an ADBench set's rows as a table of numbers
    f0, f1, ... and its anomaly label y (the downstream target)."""
    import pandas as pd

    if name in ADBENCH:
        d = np.load(ADBENCH_DIR / f"{name}.npz", allow_pickle=False)
        df = pd.DataFrame(d["X"], columns=[f"f{j}" for j in range(d["X"].shape[1])])
        df["y"] = np.where(d["y"] > 0, "anomaly", "normal")
        return df.dropna().reset_index(drop=True)
    train, hold, _ = load(name)
    return pd.concat([train, hold], ignore_index=True).dropna().reset_index(drop=True)


def target_of(name: str) -> str:
    return "y" if name in ADBENCH else DEV_TABLES[name][2]


def hide(df, setting: str = "mcar30", seed: int = 0, keep: str | None = None):
    """The table with entries hidden by ``setting`` (see the protocol), and the (rows, columns) mask of them; the
    column ``keep`` (the target) is never hidden."""
    rng = np.random.default_rng(seed)
    n, m = df.shape
    u = rng.random((n, m))
    cols = list(df.columns)
    if setting.startswith("mcar"):
        p = np.full((n, m), int(setting[4:]) / 100)
    elif setting == "mar30":
        driver = next(c for c in cols if c != keep)
        rank = df[driver].rank(method="average").to_numpy() / n  # (0, 1]
        p = np.repeat((0.6 * rank)[:, None], m, 1)
        p[:, cols.index(driver)] = 0.0
    elif setting == "mnar30":
        p = np.zeros((n, m))
        for j, c in enumerate(cols):
            if np.issubdtype(df[c].dtype, np.number):
                high = (df[c] > df[c].median()).to_numpy()
            else:
                levels = sorted(df[c].astype(str).unique())
                chosen = set(rng.permutation(levels)[:max(1, len(levels) // 2)])
                high = df[c].astype(str).isin(chosen).to_numpy()
            p[:, j] = np.where(high, 0.45, 0.15)
    else:
        raise ValueError(f"unknown setting {setting!r}: one of {SETTINGS}")
    mask = u < p
    if keep is not None:
        mask[:, cols.index(keep)] = False
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
    elif kind == "miceforest":
        return _miceforest(inc)
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


def _miceforest(inc):
    import miceforest as mf

    df = inc.copy()
    cats = [c for c in df.columns if not np.issubdtype(df[c].dtype, np.number)]
    for c in cats:
        df[c] = df[c].astype(str).where(inc[c].notna()).astype("category")
    k = mf.ImputationKernel(df, random_state=0)
    k.mice(5)
    out = k.complete_data(0)
    for c in cats:
        out[c] = out[c].astype(str)
    return out


def downstream(filled, target: str) -> float:
    """5-fold accuracy of HistGradientBoosting predicting ``target`` from the other (imputed) columns."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    x = pd.get_dummies(filled.drop(columns=[target]).apply(
        lambda s: pd.to_numeric(s, errors="coerce") if np.issubdtype(s.dtype, np.number) else s.astype(str)),
        dtype=float)
    return float(cross_val_score(HistGradientBoostingClassifier(random_state=0), x, filled[target].astype(str),
                                 cv=5).mean())


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
    p.add_argument("--methods", nargs="+", default=["aekit", "simple", "knn", "mice", "missforest", "miceforest"])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=SETTINGS)
    p.add_argument("--aekit-args", default="", help="more flags for aekit train (for choosing a recipe)")
    p.add_argument("--coverage", action="store_true", help="also the 90 %% interval coverage of aekit's 20 draws")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/impute.json"))
    p.add_argument("--tables", nargs="+", default=list(DEV_TABLES), choices=[*DEV_TABLES, *ADBENCH])
    p.add_argument("--adbench", action="store_true", help="the numeric ADBench tables of ../shared/data/adbench "
                   "instead (no recipe was chosen on them)")
    args = p.parse_args()
    if args.adbench:
        args.tables = list(ADBENCH)

    warnings.filterwarnings("ignore")
    rows = []
    for name in args.tables:
        full = complete_table(name)
        if len(full) > 2000:
            full = full.sample(2000, random_state=0).reset_index(drop=True)
        target = target_of(name)
        for setting in args.settings:
            inc, mask = hide(full, setting, keep=target)
            for method in args.methods:
                t0 = time.perf_counter()
                cover = float("nan")
                with tempfile.TemporaryDirectory() as tmp:
                    try:
                        filled = run_aekit(inc, Path(tmp), args.aekit_args.split()) if method == "aekit" else \
                            peer(method, inc, full)
                    except Exception as e:  # a peer that fails on a table is reported as such, not a stop
                        print(json.dumps({"table": name, "setting": setting, "method": method,
                                          "failed": " ".join(str(e).split())[:200]}), flush=True)
                        continue
                    secs = time.perf_counter() - t0
                    if method == "aekit" and args.coverage:
                        cover = coverage(inc, full, mask, Path(tmp))
                for c in full.columns:  # as read back: numbers as numbers
                    if np.issubdtype(full[c].dtype, np.number):
                        filled[c] = pd.to_numeric(filled[c], errors="coerce")
                rmse, err = scores(filled, full, mask)
                rows.append({"table": name, "setting": setting, "method": method, "rmse": rmse, "cat_error": err,
                             "downstream": downstream(filled, target), "coverage90": cover, "seconds": secs})
                print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}),
                      flush=True)
    df = pd.DataFrame(rows)
    df["rank"] = df.groupby(["table", "setting"])["rmse"].rank()
    cols = ["rmse", "rank", "cat_error", "downstream", "coverage90", "seconds"]
    print(df.groupby(["setting", "method"])[cols].mean().round(3).to_string())
    print(df.groupby("method")[cols].mean().round(3).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
