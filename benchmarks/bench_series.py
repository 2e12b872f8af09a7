"""Recurrent autoencoder on a real recorded series: KDD-TSAD 135 (UCR anomaly archive, "Internal Bleeding 16",
a patient's heart-rate record), shipped inside aeon (`pip install aeon`, a benchmark extra).

Sliding windows (length 64) are standardised with the normal training part's statistics. A GRU autoencoder, aekit's
MLP autoencoder on the flattened windows and PCA, at the same code size, are fitted on the training windows; each
reconstructs the test windows. The labelled anomaly marks the windows that overlap it; the report gives each method's reconstruction MSE
on the normal test windows, the rank of the first anomalous window by reconstruction error (1 = highest error) and
the window-level AUROC.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

import aekit
from aekit import apps
from aekit.data.series import sliding_windows
from common import header, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--latent", type=int, default=8)
    p.add_argument("--epochs", type=int, default=150, help="GRU epochs")
    p.add_argument("--rnn-hidden", type=int, default=128)
    p.add_argument("--mlp-epochs", type=int, default=100)
    args = p.parse_args()
    try:
        from aeon.datasets import load_kdd_tsad_135
    except ImportError:
        raise SystemExit("this benchmark needs aeon: pip install aeon (or pip install -e '.[bench]')")
    header("KDD-TSAD 135: recurrent and MLP autoencoders vs PCA")
    train_series, _ = load_kdd_tsad_135(split="train")
    test_series, labels = load_kdd_tsad_135(split="test")
    mu, sd = train_series.mean(), train_series.std()
    w = args.window
    xtr = sliding_windows((train_series - mu) / sd, w, 1).astype(np.float32)  # (N, w, 1)
    xte = sliding_windows((test_series - mu) / sd, w, 1).astype(np.float32)
    win_label = sliding_windows(labels.astype(float), w, 1)[:, :, 0].max(1) > 0  # overlaps the anomaly
    print(f"series: train {len(train_series)} points, test {len(test_series)} points, anomaly at "
          f"{np.flatnonzero(labels)[[0, -1]].tolist()}; windows of {w}: {len(xtr)} train, {len(xte)} test, "
          f"{win_label.sum()} anomalous")

    common = dict(latent_dim=args.latent, batch_size=64, lr=3e-3, schedule="onecycle", val_fraction=0.0)
    err, times = {}, []
    for name, kw in (("GRU autoencoder", dict(arch="rnn", rnn_hidden=args.rnn_hidden, epochs=args.epochs)),
                     ("MLP autoencoder (windows flattened)", dict(arch="mlp", hidden=(128, 64), epochs=args.mlp_epochs))):
        t0 = time.perf_counter()
        model = aekit.fit(aekit.Config().override(**common, **kw), aekit.Split(torch.from_numpy(xtr)), quiet=True).model
        times.append(f"{name} trained in {time.perf_counter() - t0:.1f} s ({kw['epochs']} epochs)")
        err[name] = apps.reconstruction_error(model, xte)
    flat_tr, flat_te = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    pca = PCA(args.latent, random_state=0).fit(flat_tr)
    err[f"PCA ({args.latent} components)"] = ((pca.inverse_transform(pca.transform(flat_te)) - flat_te) ** 2).mean(1)
    print("\n".join(times) + "\n")
    print(f"| method (code size {args.latent}) | MSE, normal test windows | rank of first anomalous window | AUROC |")
    print("|---|---|---|---|")
    for name, e in err.items():
        order = np.argsort(-e)
        rank = int(np.flatnonzero(win_label[order])[0]) + 1
        print(f"| {name} | {e[~win_label].mean():.4f} | {rank} of {len(e)} | {roc_auc_score(win_label, e):.4f} |")


if __name__ == "__main__":
    main()
