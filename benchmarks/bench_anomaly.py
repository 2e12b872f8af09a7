"""One-class anomaly detection on MNIST: for each digit, train on that digit's training images only, score all
10,000 test images, and compute sklearn's AUROC with the other nine digits as anomalies. aekit's scores: the
reconstruction error, + Mahalanobis distance of the code ("combined"), + mean distance to the 10 nearest training
codes ("knn"), and "knn" with the error measured as the largest mean squared error over any W x W patch
(`--error-window`, default 7). Baselines in the same run: IsolationForest (score_samples) and PCA-32 reconstruction
error.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

import aekit
from aekit import apps
from common import header, parser

# aekit's recipe for one-class detection (see benchmarks/README.md for the alternatives tried).
RECIPE = dict(arch="conv", channels=(32, 64, 128), latent_dim=8, epochs=30, batch_size=64, lr=2e-3,
              schedule="onecycle", val_fraction=0.0, variant="denoising", noise="masking", noise_level=0.3)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--recipe", default="{}", help="JSON overrides of the aekit recipe")
    p.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--error-window", type=int, default=7, help="patch size of the local error (default 7)")
    p.add_argument("--swap", action="store_true",
                   help="a check on data the recipe was not chosen on: train on the test images of each digit and "
                        "score the 10,000 training images")
    args = p.parse_args()
    recipe = {**RECIPE, **json.loads(args.recipe)}
    header(f"MNIST one-class anomaly detection, aekit recipe {recipe}")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    xtr, ytr, xte, yte = data.train.x.numpy(), data.train.y, data.test.x.numpy(), data.test.y
    if args.swap:
        xtr, ytr, xte, yte = xte, yte, xtr, ytr
    cfg = aekit.Config().override(**recipe)
    rows = []
    for d in (int(v) for v in args.digits.split(",")):
        normal = xtr[ytr == d]
        anomaly = (yte != d).astype(int)
        t0 = time.perf_counter()
        model = aekit.fit(cfg, aekit.Split(torch.from_numpy(normal)), quiet=True).model
        scores = [(f"aekit {m}", m, None) for m in apps.AnomalyScorer.METHODS]
        scores.append((f"aekit knn, local {args.error_window}x{args.error_window}", "knn", args.error_window))
        # the scorer's settings of the figures below (the library's defaults were later chosen for tables)
        auc = {name: roc_auc_score(anomaly, apps.AnomalyScorer(model, normal, m, n_neighbors=10, max_reference=None,
                                                               error_window=w).score(xte))
               for name, m, w in scores}
        t = time.perf_counter() - t0
        if not args.no_baselines:
            flat_n, flat_te = normal.reshape(len(normal), -1), xte.reshape(len(xte), -1)
            pca = PCA(32, random_state=0).fit(flat_n)
            pca_sq = (pca.inverse_transform(pca.transform(flat_te)) - flat_te) ** 2  # (N, 784)
            auc["PCA-32"] = roc_auc_score(anomaly, pca_sq.mean(1))
            local = apps.local_error(torch.from_numpy(pca_sq), xte.shape[1:], args.error_window).numpy()
            auc[f"PCA-32 local {args.error_window}x{args.error_window}"] = roc_auc_score(anomaly, local)
            iso = IsolationForest(random_state=0).fit(flat_n)
            auc["IsolationForest"] = roc_auc_score(anomaly, -iso.score_samples(flat_te))
        rows.append((d, auc))
        print(f"digit {d} ({len(normal)} training images, aekit {t:.0f} s): "
              + ", ".join(f"{k} {v:.4f}" for k, v in auc.items()), flush=True)
    names = list(rows[0][1])
    print("\n| digit | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for d, auc in rows:
        print(f"| {d} | " + " | ".join(f"{auc[n]:.4f}" for n in names) + " |")
    print("| **mean** | " + " | ".join(f"**{np.mean([a[n] for _, a in rows]):.4f}**" for n in names) + " |")


if __name__ == "__main__":
    main()
