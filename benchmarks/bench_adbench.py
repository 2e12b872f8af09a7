"""Tabular anomaly detection on ADBench's 28 classical data sets (../shared/data/adbench), ADBench's unsupervised
protocol: for each set and seed 0, 1, 2 a stratified 70/30 split, features standardised with the training part's
statistics, each detector fitted on the training part as it is (anomalies included, no labels), AUROC of its scores
on the test part; the mean over seeds, then over sets, and each method's mean rank (1 = best) over the sets.

Methods, side by side in one run: aekit's default ``AutoencoderOutlierDetector()``, sklearn's ``IsolationForest()``
and, from PyOD (the ``bench`` extra), ``KNN()``, ``ECOD()`` and ``AutoEncoder()``, each with its defaults. Every
method runs on one thread (``--threads``), so that the fit + score times compare like with like on this 2-core
machine.

The sets are split in two halves by their position in ADBench's order (1_ALOI, 2_annthyroid, 4_breastw, ...):
the 1st, 3rd, 5th, ... form the *selection* half, on which aekit's default recipe was chosen, the others the
*report* half, which the recipe never saw. Results are appended to a JSON-lines cache (``--cache``) keyed by method,
parameters, set and seed, so an interrupted run continues where it stopped; ``--fresh`` ignores the cache.

    cd benchmarks && python bench_adbench.py                       # everything (long: PyOD's KNN and AE on the
                                                                   # 200k-600k-row sets take most of it)
    python bench_adbench.py --half selection --methods aekit --aekit '{"epochs": 20}'   # try a recipe
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adbench"
METHODS = ("aekit", "IForest", "KNN", "ECOD", "PyOD-AE")


def list_sets(data_dir: Path) -> list[Path]:
    """The .npz files in ADBench's order (by the index before the name)."""
    return sorted(data_dir.glob("*.npz"), key=lambda p: int(p.stem.split("_")[0]))


def halves(sets: list[Path]) -> dict[str, list[Path]]:
    return {"selection": sets[0::2], "report": sets[1::2]}


def split(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The protocol's split and standardisation: (train X, test X, test y)."""
    from sklearn.model_selection import train_test_split

    xtr, xte, _, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    mu, sd = xtr.mean(0), xtr.std(0)
    sd[sd == 0] = 1.0  # constant columns stay constant (0) instead of dividing by zero
    return (xtr - mu) / sd, (xte - mu) / sd, yte


def make(method: str, seed: int, params: dict):
    """An unfitted detector and a function from (fitted detector, X) to anomaly scores (higher = more anomalous)."""
    if method == "aekit":
        from aekit.sklearn import AutoencoderOutlierDetector

        return AutoencoderOutlierDetector(random_state=seed, **params), lambda m, x: -m.score_samples(x)
    if method == "IForest":
        from sklearn.ensemble import IsolationForest

        return IsolationForest(random_state=seed), lambda m, x: -m.score_samples(x)
    try:
        if method == "KNN":
            from pyod.models.knn import KNN as cls
        elif method == "ECOD":
            from pyod.models.ecod import ECOD as cls
        else:
            from pyod.models.auto_encoder import AutoEncoder as cls
    except ImportError:
        sys.exit("PyOD is missing: pip install -e '.[bench]'")
    kw = {"random_state": seed, "verbose": 0} if method == "PyOD-AE" else {}
    return cls(**kw), lambda m, x: m.decision_function(x)


def run_one(method: str, params: dict, path: Path, seed: int) -> dict:
    import torch
    from sklearn.metrics import roc_auc_score

    d = np.load(path)
    xtr, xte, yte = split(d["X"].astype(np.float64), d["y"].astype(int), seed)
    if method == "aekit":
        xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
    torch.manual_seed(seed)
    det, score = make(method, seed, params)
    t0 = time.perf_counter()
    det.fit(xtr)
    s = np.asarray(score(det, xte), dtype=np.float64)
    t = time.perf_counter() - t0
    if not np.all(np.isfinite(s)):
        raise RuntimeError(f"{int((~np.isfinite(s)).sum())} non-finite scores")
    return {"auroc": float(roc_auc_score(yte, s)), "seconds": t}


def key(method: str, params: dict, name: str, seed: int) -> str:
    return json.dumps([method, params if method == "aekit" else {}, name, seed], sort_keys=True)


def load_cache(path: Path) -> dict[str, dict]:
    """The cached results by key; of several lines with one key, the last (newest) wins."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["key"]] = rec
    return out


def table(results: dict, methods: list[str], names: list[str]) -> tuple[str, dict]:
    """A markdown table (set x method AUROC, mean over seeds) with the mean, mean rank and total seconds."""
    from scipy.stats import rankdata

    auc = np.array([[results[(m, n)]["auroc"] for m in methods] for n in names])  # (sets, methods)
    secs = np.array([[results[(m, n)]["seconds"] for m in methods] for n in names])
    ranks = np.array([rankdata(-row) for row in auc])  # 1 = best; ties share the mean rank
    lines = ["| set | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for n, row in zip(names, auc):
        best = row.max()
        cells = [f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in row]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    summary = {"mean AUROC": auc.mean(0), "mean rank": ranks.mean(0), "fit+score s": secs.sum(0)}
    for label, vals in summary.items():
        fmt = "{:.1f}" if label.startswith("fit") else "{:.3f}" if label == "mean AUROC" else "{:.2f}"
        lines.append(f"| *{label}* | " + " | ".join(fmt.format(v) for v in vals) + " |")
    return "\n".join(lines), summary


def full_fit(path: Path) -> None:
    """The 'fits within 60 s' check: the default detector on a whole set, raw (its own standardisation only)."""
    import torch

    from aekit.sklearn import AutoencoderOutlierDetector
    from common import header

    header(f"default AutoencoderOutlierDetector on all of {path.name}")
    X = np.load(path)["X"].astype(np.float32)
    t0 = time.perf_counter()
    det = AutoencoderOutlierDetector(random_state=0).fit(X)
    t1 = time.perf_counter()
    det.score_samples(X)
    t2 = time.perf_counter()
    print(f"{X.shape[0]} rows x {X.shape[1]} features, {torch.get_num_threads()} threads: fit {t1 - t0:.1f} s "
          f"({det.config_.train.epochs} epochs of batch {det.config_.train.batch_size}), "
          f"score of every row {t2 - t1:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=str(DEFAULT_DIR))
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, from {','.join(METHODS)}")
    p.add_argument("--half", choices=("all", "selection", "report"), default="all")
    p.add_argument("--sets", default="", help="comma-separated set names (e.g. 4_breastw), instead of --half")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--aekit", default="{}", help="JSON parameters for aekit's detector (default: its defaults)")
    p.add_argument("--threads", type=int, default=1, help="threads for every method (default 1)")
    p.add_argument("--cache", default="adbench_results.jsonl")
    p.add_argument("--fresh", action="store_true", help="ignore cached results")
    p.add_argument("--recompute", default="", metavar="METHODS",
                   help="comma-separated methods whose cached results are ignored and recomputed (e.g. aekit after "
                        "a change of its defaults); the new lines are appended to the cache, and the newest wins")
    p.add_argument("--full-fit", metavar="SET", help="instead: time a default fit + score of aekit's detector on "
                   "every row of SET (e.g. 11_donors), with torch's default threads")
    args = p.parse_args()
    if args.full_fit:
        return full_fit(Path(args.data_dir) / f"{args.full_fit}.npz")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    from common import header

    methods = args.methods.split(",")
    params = json.loads(args.aekit)
    data_dir = Path(args.data_dir)
    sets = list_sets(data_dir)
    if not sets:
        sys.exit(f"no .npz files in {data_dir}")
    parts = halves(sets)
    if args.sets:
        chosen = [s for s in sets if s.stem in args.sets.split(",")]
    else:
        chosen = sets if args.half == "all" else parts[args.half]
    seeds = [int(s) for s in args.seeds.split(",")]
    header(f"ADBench unsupervised anomaly detection, {len(chosen)} sets, seeds {seeds}, aekit parameters {params}")
    cache_path = Path(args.cache)
    cache = {} if args.fresh else load_cache(cache_path)
    redo = set(filter(None, args.recompute.split(",")))
    cache = {k: v for k, v in cache.items() if json.loads(k)[0] not in redo}
    results: dict[tuple[str, str], dict] = {}
    for path in chosen:
        for m in methods:
            recs = []
            for seed in seeds:
                k = key(m, params, path.stem, seed)
                if k not in cache:
                    try:
                        rec = run_one(m, params, path, seed)
                    except Exception as e:  # a method that fails on a set is reported, not hidden
                        traceback.print_exc()
                        rec = {"auroc": float("nan"), "seconds": float("nan"), "error": repr(e)}
                    cache[k] = {"key": k, **rec}
                    with cache_path.open("a") as f:
                        f.write(json.dumps(cache[k]) + "\n")
                recs.append(cache[k])
            results[(m, path.stem)] = {"auroc": float(np.mean([r["auroc"] for r in recs])),
                                       "seconds": float(np.sum([r["seconds"] for r in recs]))}
            print(f"{path.stem:20s} {m:8s} AUROC {results[(m, path.stem)]['auroc']:.3f}  "
                  f"{results[(m, path.stem)]['seconds']:8.1f} s", flush=True)
    for label, group in (("all", chosen), ("selection half", [s for s in chosen if s in parts["selection"]]),
                         ("report half", [s for s in chosen if s in parts["report"]])):
        if group and (label == "all" or len(group) < len(chosen)):
            text, _ = table(results, methods, [s.stem for s in group])
            print(f"\n## {label} ({len(group)} sets; AUROC mean over seeds {seeds}; time summed over seeds)\n")
            print(text)


if __name__ == "__main__":
    main()
