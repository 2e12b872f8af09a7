"""Semi-supervised MNIST with 100 labels, and data augmentation with class-conditional samples.

Protocol: the 10,000 training images, of which 100 keep their label (10 per class, drawn at random with the draw's
seed); the rest are unlabelled (-1). Test error on the 10,000 test images. Settings were chosen on label draw 0
(Oliver et al. 2018: no labelled validation set larger than the 100 labels); draws 1-5 are reported, mean and
spread. Baselines in the same harness: logistic regression on pixels and on 50 PCA components (fitted on all 10,000
training images), with the same 100 labels. Published with 50,000 unlabelled images: M1+TSVM 11.82 %, M2 11.97 %,
M1+M2 3.33 % (Kingma et al. 2014).

aekit: the classifier variant, a conv autoencoder (channels 32-64-128, code 32, Bernoulli decoder) with a linear head
on the code, trained on the reconstruction of every image, the cross-entropy of the labelled ones (64 labelled rows
added to each step) and the agreement of two random views (shifts of up to 2 pixels, rotations of up to 15 degrees,
scalings of up to 10 %, and noise) of every image;
one-cycle Adam to 2e-3, batch 128, 30 epochs.

Augmentation: a plain MLP autoencoder (784-512-256-32, 100 epochs) is trained on all 10,000 images without labels;
a sampler is then fitted by class to the codes of the 100 labelled images alone, and N samples per class are added
to the 100 labelled images to train logistic regression on pixels. The gain is the test accuracy with them minus
without them.

    python benchmarks/bench_semisup.py                 # draws 1-5
    python benchmarks/bench_semisup.py --draws 0       # the draw the settings were chosen on
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

import aekit
from aekit import apps
from aekit.sampler import fit_sampler
from common import header, parser

CLASSIFIER = dict(arch="conv", channels=(32, 64, 128), latent_dim=32, recon="bce", epochs=30, batch_size=128,
                  lr=2e-3, schedule="onecycle", val_fraction=0.0, variant="classifier", sampler="none",
                  view_degrees=15.0)
PLAIN = dict(arch="mlp", hidden=(512, 256), latent_dim=32, recon="bce", epochs=100, batch_size=128, lr=1e-3,
             val_fraction=0.0, sampler="none")


def label_draw(y: np.ndarray, seed: int, per_class: int = 10) -> np.ndarray:
    """The indices of the labelled images: ``per_class`` of each class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in range(10)])


def logistic(x: np.ndarray, y: np.ndarray, xt: np.ndarray, yt: np.ndarray) -> float:
    """Test error of logistic regression."""
    return 1.0 - LogisticRegression(max_iter=3000).fit(x, y).score(xt, yt)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--draws", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    p.add_argument("--augment", type=int, nargs="+", default=[10, 100, 1000], help="samples per class to add")
    args = p.parse_args()
    header("Semi-supervised MNIST, 100 labels; augmentation with class-conditional samples")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    x, y, xt, yt = data.train.x, data.train.y, data.test.x, data.test.y
    flat, flat_t = x.reshape(len(x), -1).numpy(), xt.reshape(len(xt), -1).numpy()
    pca = PCA(50, random_state=0).fit(flat)
    rows: dict[str, list[float]] = {}
    for draw in args.draws:
        lab = label_draw(y, draw)
        partial = np.full(len(y), -1)
        partial[lab] = y[lab]
        rows.setdefault("logistic regression on pixels", []).append(logistic(flat[lab], y[lab], flat_t, yt))
        rows.setdefault("logistic regression on 50 PCA components", []).append(
            logistic(pca.transform(flat[lab]), y[lab], pca.transform(flat_t), yt))
        t0 = time.perf_counter()
        model = aekit.fit(aekit.Config().override(**CLASSIFIER, seed=draw), aekit.Split(x, partial), quiet=True).model
        sec = time.perf_counter() - t0
        err = float(np.mean(apps.classify(model, xt) != yt))
        rows.setdefault("aekit classifier variant (conv)", []).append(err)
        print(f"draw {draw}: aekit {100 * err:.2f} % in {sec:.0f} s; pixels "
              f"{100 * rows['logistic regression on pixels'][-1]:.2f} %", flush=True)
        # augmentation: samples of each class from a plain autoencoder's codes of the 100 labelled images
        plain = aekit.fit(aekit.Config().override(**PLAIN, seed=draw), aekit.Split(x), quiet=True).model
        fit_sampler(plain, x, y=partial)
        for n in args.augment:
            gen = np.concatenate([apps.sample(plain, n, seed=1000 * draw + c, label=c) for c in range(10)])
            xa = np.concatenate([flat[lab], gen.reshape(len(gen), -1)])
            ya = np.concatenate([y[lab], np.repeat(np.arange(10), n)])
            rows.setdefault(f"logistic regression on pixels, + {n} generated per class", []).append(
                logistic(xa, ya, flat_t, yt))
    print(f"\n| test error, {len(args.draws)} label draws ({', '.join(map(str, args.draws))}) | mean | spread (sd) |"
          "\n|---|---:|---:|")
    for name, errs in rows.items():
        e = 100 * np.asarray(errs)
        print(f"| {name} | {e.mean():.2f} % | {e.std(ddof=1) if len(e) > 1 else 0:.2f} |")


if __name__ == "__main__":
    main()
