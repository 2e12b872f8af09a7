"""The recipe search behind AutoencoderOutlierDetector's defaults (issue 13): candidate recipes side by side on
one half of ADBench's sets, with bench_adbench.py's split and standardisation, one thread. Each recipe is a JSON
object of choices, defaults in brackets:

    score      reconstruction | combined | knn | knn+tails ["reconstruction"]  k      neighbours of the knn score [10]
    maxref     reference samples kept by the scorer (null: all) [null]  std      robust | none (aekit's) ["none"]
    scale      "robust": a median / IQR scaling done here instead      clip     clip training inputs at +-clip
    hidden     [h] | "auto" (2d, 16-256) | "d1" (d)  ["auto"]           latent   L | "auto" (d/3, 2-16) | "d2" (d/2)
    steps      gradient steps (epochs = steps x bs / n, 1-200) [3000]   bs       batch size [256]
    ens        models with other seeds, scores averaged [1]             refit    re-fits without the `trim` fraction
    variant, noise, lr, wd, sched: training options                              of largest errors [0]

    cd benchmarks && python adbench_recipes.py '[{"score": "knn"}, {"score": "knn", "k": 30}]' selection
    (the last argument: selection, report, all, or set names separated by commas)

The figures of the table in benchmarks/README.md came from this script (then a scratch copy of it, with the same
code), run on the selection half; the seeds of the models differ from bench_adbench.py's (seed x 100 + member).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench_adbench import DEFAULT_DIR, halves, list_sets, split


def robust(xtr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    med = np.median(xtr, 0)
    q1, q3 = np.percentile(xtr, [25, 75], 0)
    s, sd = (q3 - q1) / 1.349, xtr.std(0)
    return med, np.where(s > 1e-12, s, np.where(sd > 1e-12, sd, 1.0))


def scores(rec: dict, xtr: np.ndarray, xte: np.ndarray, seed: int) -> np.ndarray:
    import aekit
    from aekit import apps

    if rec.get("scale") == "robust":
        m, s = robust(xtr)
        xtr, xte = (xtr - m) / s, (xte - m) / s
    clip = rec.get("clip")
    xfit = np.clip(xtr, -clip, clip) if clip else xtr
    n, d = xtr.shape
    bs = rec.get("bs", 256)
    epochs = int(np.clip(round(rec.get("steps", 3000) * bs / n), 1, 200))
    lat, hid = rec.get("latent", "auto"), rec.get("hidden", "auto")
    latent = int(np.clip(d // 3, 2, 16)) if lat == "auto" else int(np.clip(d // 2, 2, 32)) if lat == "d2" else lat
    hidden = ((int(np.clip(2 * d, 16, 256)),) if hid == "auto" else (int(np.clip(d, 16, 256)),) if hid == "d1"
              else tuple(hid))
    out = []
    for k in range(rec.get("ens", 1)):
        cfg = aekit.Config().override(arch="mlp", hidden=hidden, latent_dim=latent, epochs=epochs, batch_size=bs,
                                      lr=rec.get("lr", 1e-3), val_fraction=0.0, seed=seed * 100 + k,
                                      output_activation="identity", variant=rec.get("variant", "vanilla"),
                                      noise_level=rec.get("noise", 0.1), schedule=rec.get("sched", "none"),
                                      weight_decay=rec.get("wd", 0.0), standardize=rec.get("std", "none"))
        model = aekit.fit(cfg, xfit.astype(np.float32), quiet=True).model
        for _ in range(rec.get("refit", 0)):
            e = apps.reconstruction_error(model, xfit.astype(np.float32))
            keep = e <= np.quantile(e, 1 - rec.get("trim", 0.1))
            model = aekit.fit(cfg, xfit[keep].astype(np.float32), quiet=True).model
        sc = apps.AnomalyScorer(model, xtr.astype(np.float32), rec.get("score", "reconstruction"),
                                n_neighbors=rec.get("k", 10), max_reference=rec.get("maxref"))
        s_te = sc.score(xte.astype(np.float32))
        if rec.get("ens", 1) > 1:  # each member on the scale of its training scores
            s_te = (s_te - np.median(sc.reference_scores)) / (np.std(sc.reference_scores) + 1e-12)
        out.append(s_te)
    return np.mean(out, 0)


def main() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    from sklearn.metrics import roc_auc_score

    torch.set_num_threads(1)
    recs = json.loads(sys.argv[1])
    half = sys.argv[2] if len(sys.argv) > 2 else "selection"
    sets = list_sets(Path(os.environ.get("ADBENCH_DIR", DEFAULT_DIR)))
    sets = sets if half == "all" else halves(sets)[half] if half in ("selection", "report") else \
        [p for p in sets if p.stem in half.split(",")]
    res, secs = [[] for _ in recs], [0.0 for _ in recs]
    for p in sets:
        d = np.load(p)
        line = f"{p.stem:18s}"
        for i, rec in enumerate(recs):
            aucs = []
            for seed in (0, 1, 2):
                xtr, xte, yte = split(d["X"].astype(np.float64), d["y"].astype(int), seed)
                t = time.perf_counter()
                aucs.append(roc_auc_score(yte, scores(rec, xtr, xte, seed)))
                secs[i] += time.perf_counter() - t
            res[i].append(float(np.mean(aucs)))
            line += f" {res[i][-1]:.3f}"
        print(line, flush=True)
    for i, rec in enumerate(recs):
        print(f"{i} mean AUROC {np.mean(res[i]):.4f}, {secs[i]:.0f} s: {json.dumps(rec)}")


if __name__ == "__main__":
    main()
