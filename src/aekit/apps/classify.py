"""Classification by a model trained with the classifier variant (a head on the code, learned from the labelled
samples, -1 = unknown, and from the agreement of two views of every sample)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import torch

from ..config import small_batch
from ..model import NO_CLASSIFIER, Autoencoder
from ..terms import VIEW_DEGREES
from .infer import CHUNK, batched


def predict_proba(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """Class probabilities of the inputs.

    Parameters
    ----------
    model : a model trained with the classifier variant.
    x : (N, *input_shape) inputs.

    Returns
    -------
    (N, C) float32 probabilities (softmax of the head's scores), rows summing to 1.
    """
    if model.classifier is None:
        raise ValueError(NO_CLASSIFIER.format(model.config.variant_name))
    return batched(model, x, lambda xb: torch.softmax(model.classify(xb), 1), batch_size)


def classify(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """(N, *input_shape) -> (N,) int64 predicted class indices (the most probable class)."""
    return predict_proba(model, x, batch_size).argmax(1).astype(np.int64)


CLASSIFIER_STEPS = 2400  # gradient steps of the image recipe (31 epochs of 10,000 images in batches of 128)
CLASSIFIER_RECON_SHARE = 0.25  # of each batch reconstructed in the image recipe (the decoder: most of a step's time)
ROW_STEPS = 4800  # and of the row recipe (30 epochs of 10,000 rows in batches of 64: MLP steps are cheap)
NEIGHBOUR_SHARE = 0.5  # of the image recipe's steps (the first) whose targets take in a near training image
ROW_VIEW_NOISE = 0.3  # the noise of the row recipe's views (a weak view's: terms.WEAK_NOISE)


def classifier_recipe(n_samples: int, sample_shape: tuple[int, ...], unit_range: bool = False) -> dict:
    """The classifier variant's default settings, from the data's size and shape (as ``detector_recipe`` is the
    detector's): for images (C, H, W) the recipe that reached 3.4 % error on MNIST with 100 labels (a conv net of
    32-64-128 channels, a code of 32, one-cycle Adam to 2e-3; benchmarks/bench_semisup.py), with pseudo-labels
    and 1,800 steps instead of 2,400 (on MNIST's label draw 0: 4.01 % -> 3.67 %, 224 -> 169 s), their weight
    (``pseudo_weight``) 3 since their targets come from a weak view (draw 0: 2.14 % at 1, 2.02 at 2, 1.98 at 3, 2.06
    at 5), and views rotated by up to VIEW_DEGREES and scaled by up to 10 % (``view_degrees``; the digits' 8 x 8
    too); since then, an encoder of two convolutions a stage (``conv_depth`` 2: the stride-2 one and one of stride 1)
    that reconstructs only a quarter of each batch (``recon_share``, CLASSIFIER_RECON_SHARE: the decoder's
    transposed convolutions were the costliest part of a step) for CLASSIFIER_STEPS (2,400) steps (draw 0: 1.98 ->
    1.74 % at 1,800 steps in 119 s, 1.64 % at 2,200 and at 2,400, 1.48 % at 2,500 in 176 s; 2,400 keeps a draw
    under 3 minutes; draws 1-5: 2.24 -> 1.70 %); since then, targets that for the first half of the steps
    (``neighbour_share``, NEIGHBOUR_SHARE) are the mean of the image's and of one of its 10 nearest training
    images' weak views, so that a class spreads through the data's neighbourhoods before the model's own
    predictions settle (chosen on MNIST's draws 0 and 6-9: 1.79 -> 1.49 %, and the digits': 2.76 -> 2.38 %;
    MNIST's draws 1-5: 1.70 -> 1.39 %, the digits' 2.15 -> 2.35 %);
    for rows an MLP of 4 d and 2 d units (at most 512 and 256), a code of d / 2 (2 to 32) and squared error, with
    pseudo-labels too (weight 3), and views noised by ROW_VIEW_NOISE on the standardised scale (``view_noise``; the
    weak view, the targets', by terms.WEAK_NOISE): chosen on digits and MNIST read as rows (label draw 0: 10.2 ->
    3.2 % and 24.1 -> 14.6 %) and breast cancer and wine (draws 0 and 6-9: 14.7 -> 8.5 % and 18.4 -> 16.9 %).
    Batches of 128 for images and 64 for rows (smaller for small data: an eighth of the rows, at least 16) and about
    CLASSIFIER_STEPS (images) or ROW_STEPS (rows) gradient steps (5 to 300 epochs). ``unit_range``: images in
    [0, 1] get a Bernoulli decoder (``recon="bce"``). No validation split (``val_fraction`` 0, as the estimator
    has it): every labelled row trains. Chosen on MNIST's label draw 0 (benchmarks/README.md).
    Returns config fields."""
    images = len(sample_shape) == 3 and min(sample_shape[1:]) >= 8
    most, steps = (128, CLASSIFIER_STEPS) if images else (64, ROW_STEPS)
    batch = small_batch(n_samples, most)
    epochs = int(np.clip(math.ceil(steps * batch / max(n_samples, 1)), 5, 300))
    if images:
        return {"arch": "conv", "channels": (32, 64, 128), "conv_depth": 2, "latent_dim": 32, "hidden": (64,),
                "recon": "bce" if unit_range else "mse", "recon_share": CLASSIFIER_RECON_SHARE, "epochs": epochs,
                "batch_size": batch, "lr": 2e-3,
                "schedule": "onecycle", "pseudo_weight": 3.0, "view_degrees": VIEW_DEGREES, "view_noise": 0.1,
                "neighbour_share": NEIGHBOUR_SHARE, "val_fraction": 0.0}
    d = math.prod(sample_shape)
    return {"arch": "mlp", "hidden": (int(min(512, max(32, 4 * d))), int(min(256, max(16, 2 * d)))),
            "latent_dim": int(min(32, max(2, d // 2))), "channels": (32, 64), "recon": "mse", "epochs": epochs,
            "batch_size": batch, "lr": 1e-3, "schedule": "none", "pseudo_weight": 3.0, "view_degrees": 0.0,
            "view_noise": ROW_VIEW_NOISE, "neighbour_share": 0.0, "val_fraction": 0.0}


IMAGE_ROWS = 1000  # rows that image_rows reads (evenly spaced)


def image_rows(x: np.ndarray, min_side: int = 8, min_ratio: float = 2.0,
               min_peak: float = 1.5) -> tuple[int, int, int] | None:
    """The (C, H, W) of square images that rows x (N, D) hold, or None when they are not read as images.

    Rows are read as images when D is C x S x S (C 1 or 3, S at least ``min_side``) and the pixels one row apart in
    that grid go together far more than other columns do: the mean absolute correlation r(S) of vertical neighbours
    (j, j + S), over at most IMAGE_ROWS rows, is at least 0.3, at least ``min_ratio`` times r(D / 2C) (pairs half
    an image apart), and at least ``min_peak`` times r(S - 2) and r(S + 2) (the pixels two columns either side of
    the one below). Vertical neighbours tell an image from a table, in which column j + S has nothing to do with
    column j; the peak at S tells it from a window of a series, in which nearer in time always goes together more
    (r(S - 2) > r(S))."""
    if x.ndim != 2 or len(x) < 3:
        return None
    sample = np.asarray(x[np.unique(np.linspace(0, len(x) - 1, min(len(x), IMAGE_ROWS)).astype(np.int64))],
                        dtype=np.float64)  # (n, D)
    d = sample.shape[1]
    for c in (1, 3):
        side = math.isqrt(d // c) if d % c == 0 else 0
        if side < min_side or c * side * side != d:
            continue
        grid = sample.reshape(len(sample), c, side * side)
        near = _pair_correlation(grid, side)
        far = _pair_correlation(grid, side * side // 2)
        flank = max(_pair_correlation(grid, side - 2), _pair_correlation(grid, side + 2))
        if near >= 0.3 and near >= min_ratio * far and near >= min_peak * flank:
            return c, side, side
    return None


def _pair_correlation(grid: np.ndarray, offset: int) -> float:
    """The mean absolute correlation over rows of the pixels (j, j + offset) of each channel, grid (n, C, P); pairs
    with a constant pixel are left out (0 when none is left)."""
    a, b = grid[:, :, :-offset], grid[:, :, offset:]  # (n, C, P - offset)
    a, b = a - a.mean(0), b - b.mean(0)
    sa, sb = np.sqrt((a * a).mean(0)), np.sqrt((b * b).mean(0))
    ok = (sa > 1e-12) & (sb > 1e-12)
    if not ok.any():
        return 0.0
    r = (a * b).mean(0)[ok] / (sa[ok] * sb[ok])
    return float(np.abs(r).mean())


def class_names(model: Autoencoder) -> list[str]:
    """The names of a labelled run's classes, by index: a table's text labels, the class subfolders of the image
    folder it was trained on, else the indices themselves ("0", "1", ...; a classifier's count of them)."""
    n = model.config.model.classes
    d = model.config.data
    if d.label_levels:  # a table's text labels, as training named them
        from ..data.table import stored_levels

        return stored_levels(d)
    if d.dataset == "images" and d.path and Path(d.path).is_dir():
        from ..data.images import scan

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (files that are not images: said when it trained)
            names = scan(d.path).classes
        if len(names) == n or (not n and names):  # (a run without a classifier: the folder's classes)
            return names
    return [str(i) for i in range(n)]


def label_value(model: Autoencoder, index: int) -> str | int:
    """What a run's label column holds for class ``index`` (a generated row's, by ``generate --label`` or the
    service's /generate): the class's name where training stored a table's text classes, else the index itself."""
    names = class_names(model) if model.config.data.label_levels else []
    return names[index] if 0 <= index < len(names) else index
