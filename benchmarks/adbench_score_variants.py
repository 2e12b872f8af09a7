"""The score search behind ``anomaly_score="knn+tails"`` (issue 13): ways of scoring with the default detector's
model, all computed from one trained model per set and seed, on one half of ADBench's sets, with AUROC and the mean
rank against the baselines cached by bench_adbench.py (run that first). One thread.

    cd benchmarks && python adbench_score_variants.py selection      # or: report, all

Variants (parts standardised by mean / sd, or robustly by median / IQR / 1.349 where it says "robust"):
    knn               error + code distance (the previous default)
    knn robust        the same, standardised robustly
    + tails           knn + tails of the inputs (per feature: -log of the left and of the right tail probability among
                      the reference samples, summed over features, as ECOD)
    + tails robust    the three parts standardised robustly: what ``knn+tails`` is
    + tails max       knn + per feature the larger of the two tails, robust
    + residual tails  knn + the tails of the absolute reconstruction residuals instead of the inputs, robust
    + 0.5 tails       knn + half the tails part
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from bench_adbench import DEFAULT_DIR, halves, key, list_sets, load_cache, split

BASELINES = ["IForest", "KNN", "ECOD", "PyOD-AE"]


def tails(ref: np.ndarray, x: np.ndarray, combine=np.add) -> np.ndarray:
    """(M, D) reference, (N, D) samples -> (N,): per feature combine(-log P(ref <= x), -log P(ref >= x)), summed."""
    m = len(ref)
    out = np.zeros(len(x))
    for j in range(ref.shape[1]):
        s = np.sort(ref[:, j])
        below = np.searchsorted(s, x[:, j], side="right")
        above = m - np.searchsorted(s, x[:, j], side="left")
        out += combine(-np.log((below + 1) / (m + 1)), -np.log((above + 1) / (m + 1)))
    return out


def std(a: np.ndarray, ref: np.ndarray, robust: bool) -> np.ndarray:
    """a standardised by ref's (median, IQR / 1.349) or (mean, sd), as AnomalyScorer standardises its parts."""
    from aekit.apps.anomaly import _center_and_scale

    center, scale = _center_and_scale(ref, robust)
    return (a - center) / scale


def variants(det, xtr: np.ndarray, xte: np.ndarray) -> dict[str, np.ndarray]:
    import torch

    from aekit import apps

    knn = apps.AnomalyScorer(det.model_, xtr, "knn", n_neighbors=det.n_neighbors, max_reference=det.max_reference)
    keep = np.sort(np.random.default_rng(0).choice(len(xtr), 500, replace=False)) if len(xtr) > 500 else \
        np.arange(len(xtr))
    ref = xtr[keep]  # the scorer's reference samples
    e_r, z_r = knn._error_and_code(ref)
    e_t, z_t = knn._error_and_code(xte)
    d_r, d_t = knn._code_distance(z_r), knn._code_distance(z_t)

    def residual(x: np.ndarray) -> np.ndarray:
        model = det.model_
        with torch.no_grad():
            t = torch.from_numpy(x)
            return np.abs((model.normalize(t) - model.normalize(torch.from_numpy(apps.reconstruct(model, x))))
                          .numpy().reshape(len(x), -1))

    t_r, t_t = tails(ref, ref), tails(ref, xte)
    m_r, m_t = tails(ref, ref, np.maximum), tails(ref, xte, np.maximum)
    res_ref = residual(ref)
    r_r, r_t = tails(res_ref, res_ref), tails(res_ref, residual(xte))

    def knn_part(robust: bool) -> np.ndarray:
        return std(e_t, e_r, robust) + std(d_t, d_r, robust)

    return {"knn": knn_part(False), "knn robust": knn_part(True),
            "+ tails": knn_part(False) + std(t_t, t_r, False),
            "+ tails robust": knn_part(True) + std(t_t, t_r, True),
            "+ tails max": knn_part(True) + std(m_t, m_r, True),
            "+ residual tails": knn_part(True) + std(r_t, r_r, True),
            "+ 0.5 tails": knn_part(False) + 0.5 * std(t_t, t_r, False)}


def main() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    from scipy.stats import rankdata
    from sklearn.metrics import roc_auc_score

    from aekit.sklearn import AutoencoderOutlierDetector

    torch.set_num_threads(1)
    half = sys.argv[1] if len(sys.argv) > 1 else "selection"
    sets = list_sets(DEFAULT_DIR)
    sets = sets if half == "all" else halves(sets)[half]
    cache = load_cache(Path(__file__).resolve().parent / "adbench_results.jsonl")
    aucs: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    for p in sets:
        d = np.load(p)
        per: dict[str, list[float]] = {}
        for seed in (0, 1, 2):
            xtr, xte, yte = split(d["X"].astype(np.float64), d["y"].astype(int), seed)
            xtr, xte = xtr.astype(np.float32), xte.astype(np.float32)
            torch.manual_seed(seed)
            det = AutoencoderOutlierDetector(random_state=seed).fit(xtr)
            for name, s in variants(det, xtr, xte).items():
                per.setdefault(name, []).append(roc_auc_score(yte, s))
        aucs[p.stem] = {k: float(np.mean(v)) for k, v in per.items()}
        print(f"{p.stem:20s} " + " ".join(f"{v:.3f}" for v in aucs[p.stem].values()), flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")
    for name in next(iter(aucs.values())):
        rows = np.array([[aucs[s][name]] + [np.mean([cache[key(m, {}, s, sd)]["auroc"] for sd in (0, 1, 2)])
                                            for m in BASELINES] for s in aucs])  # (sets, 1 + baselines)
        ranks = np.array([rankdata(-r) for r in rows])
        print(f"{name:18s} mean AUROC {rows[:, 0].mean():.4f}, mean rank {ranks[:, 0].mean():.2f} "
              f"(IForest {ranks[:, 1].mean():.2f}, ECOD {ranks[:, 3].mean():.2f})")


if __name__ == "__main__":
    main()
