"""Semi-supervised learning at its defaults (issue 31): ``AutoencoderClassifier()`` as a scikit-learn user types it,
against scikit-learn's ``LabelSpreading`` (knn kernel; on 50 PCA components for MNIST, as the issue measured it) and
``SelfTrainingClassifier(HistGradientBoostingClassifier())`` at their defaults (for MNIST both on 50 PCA components,
which keeps self-training's ten rounds of boosting to seconds).

Data and labels (mean and sd over label draws 1-5; draw 0 is the one the recipe's settings were looked at on):

- MNIST: the 10,000 training images as rows of 784 pixels, 10 labels per class, the rest -1; test error on the 10,000
  test images. aekit twice: with no arguments (which reads the rows as 1 x 28 x 28 images, ``image_shape="auto"``),
  and with ``image_shape=None`` (the rows kept as rows).
- digits: scikit-learn's 1,797 8 x 8 images as rows of 64, a seeded half for training with 10 labels per class, the
  other half for testing; aekit with no arguments (read as 8 x 8 images) and with ``image_shape=None``.
- breast cancer: 569 rows of 30 numbers, a seeded half for training with 5 % of it labelled (at least one per
  class), the other half for testing; aekit with no arguments.
- wine: 178 rows of 13 numbers, three classes, the same way (5 % of 89 training rows: 4 labels, at least one per
  class).

    python benchmarks/bench_semisup_defaults.py                    # draws 1-5, every data set
    python benchmarks/bench_semisup_defaults.py --data digits --draws 0
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import make_pipeline
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

import aekit
from aekit.sklearn import AutoencoderClassifier
from common import header, parser


def per_class(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])


def share(y: np.ndarray, frac: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(y), max(2, int(round(frac * len(y)))), replace=False)
    for c in np.unique(y):  # at least one of each class
        if not (y[pick] == c).any():
            pick = np.r_[pick, rng.choice(np.flatnonzero(y == c))]
    return pick


def datasets(name: str, data_dir: str, draw: int):
    """(X train, y with -1 for the unlabelled, X test, y test, image shape)."""
    if name == "mnist":
        d = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=data_dir), download=False)
        x, y = d.train.x.numpy().reshape(len(d.train.x), -1), np.asarray(d.train.y)
        xt, yt = d.test.x.numpy().reshape(len(d.test.x), -1), np.asarray(d.test.y)
        known, shape = per_class(y, 10, draw), (1, 28, 28)
    else:
        loader = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}[name]
        x_all, y_all = loader(return_X_y=True)
        x_all = (x_all / 16.0 if name == "digits" else x_all).astype(np.float32)
        perm = np.random.default_rng(100 + draw).permutation(len(x_all))
        half = len(x_all) // 2
        x, y, xt, yt = x_all[perm[:half]], y_all[perm[:half]], x_all[perm[half:]], y_all[perm[half:]]
        known = per_class(y, 10, draw) if name == "digits" else share(y, 0.05, draw)
        shape = (1, 8, 8) if name == "digits" else None
    partial = np.full(len(y), -1)
    partial[known] = y[known]
    return x, partial, xt, yt, shape


FORMER = dict(latent_dim=8, hidden=(64,), epochs=50, batch_size=64, lr=1e-3, schedule="none", recon="mse",
              channels=(32, 64))  # the estimator's fixed defaults before the recipe


def methods(shape):
    out = {"aekit": lambda: AutoencoderClassifier(random_state=0),
           "aekit, former defaults": lambda: AutoencoderClassifier(random_state=0, **FORMER)}
    if shape is not None:  # images as rows: no arguments reads them as images (image_shape="auto"); as rows
        out["aekit, image_shape=None"] = lambda: AutoencoderClassifier(image_shape=None, random_state=0)
    wide = shape is not None and np.prod(shape) > 100  # MNIST: the peers on 50 PCA components (as the issue ran them)

    def reduced(est):
        return make_pipeline(PCA(50, random_state=0), est) if wide else est

    out["LabelSpreading (knn)"] = lambda: reduced(LabelSpreading(kernel="knn"))
    out["SelfTraining(HGB)"] = lambda: reduced(SelfTrainingClassifier(HistGradientBoostingClassifier()))
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--data", nargs="+", default=["digits", "breast_cancer", "wine", "mnist"])
    p.add_argument("--draws", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--methods", nargs="+", help="only these (names as printed; 'aekit, former defaults' runs only "
                   "when named)")
    args = p.parse_args()
    header("Semi-supervised learning at the defaults: AutoencoderClassifier() against scikit-learn's")
    warnings.filterwarnings("ignore")
    for name in args.data:
        res: dict[str, list[tuple[float, float]]] = {}
        for draw in args.draws:
            x, y, xt, yt, shape = datasets(name, args.data_dir, draw)
            for m, make in methods(shape).items():
                if (args.methods and m not in args.methods) or (not args.methods and m == "aekit, former defaults"):
                    continue
                t = time.perf_counter()
                err = 1.0 - float((make().fit(x, y).predict(xt) == yt).mean())
                secs = time.perf_counter() - t
                res.setdefault(m, []).append((err, secs))
                print(json.dumps({"data": name, "draw": draw, "method": m, "error": round(err, 4),
                                  "seconds": round(secs, 1)}), flush=True)
        print(f"\n{name}: | method | test error, mean ± sd | seconds a draw |")
        for m, v in res.items():
            e = np.array([a for a, _ in v]) * 100
            print(f"| {m} | {e.mean():.2f} % ± {e.std(ddof=1) if len(e) > 1 else 0:.2f} | "
                  f"{np.mean([b for _, b in v]):.0f} |")


if __name__ == "__main__":
    main()
