"""Figures of a trained model on its data: each made by one function that the commands, the demo and the report all
call, so that a figure means the same wherever it appears. The pure plotting is in :mod:`aekit.viz.figures`."""

from __future__ import annotations

import numpy as np
import torch

from .. import apps
from ..model import Autoencoder
from . import figures as F
from .canvas import Figure

MAX_MAP_POINTS = 2000  # codes in the 2-D map


def reconstruction_view(model: Autoencoder, x: np.ndarray, labels: np.ndarray | None = None,
                        mse: float | None = None, n: int = 8) -> Figure:
    """The first ``n`` inputs of x (N, *input_shape) above their reconstructions; ``mse`` for the title. Rows of
    numbers: the first four, on the standardised scale the model learns on (where the model standardises), so
    that a feature in the thousands does not flatten the others."""
    x = np.asarray(x[:n])
    r = apps.reconstruct(model, x)
    note = ""
    if not F.is_image(x.shape[1:]) and x.ndim == 2:
        x, r = x[:4], r[:4]
        if model.standardizer is not None:
            x, r = (model.normalize(torch.from_numpy(np.ascontiguousarray(a)).float()).numpy() for a in (x, r))
            note = ", standardised"
    return F.reconstructions(x, r, None if labels is None else labels[:len(x)], mse, note)


def interpolation_pair(labels: np.ndarray | None, look: int = 50) -> tuple[int, int]:
    """Indices of two inputs to interpolate between: 0 and the first of another label among the first ``look``."""
    if labels is not None and len(set(np.asarray(labels[:look]).tolist())) > 1:
        return 0, int(np.argmax(np.asarray(labels[:look]) != labels[0]))
    return 0, 1


def interpolation_view(model: Autoencoder, x: np.ndarray, labels: np.ndarray | None = None, steps: int = 5,
                       method: str = "linear", a: int | None = None, b: int | None = None) -> Figure:
    """Decoded points on the path between the codes of inputs ``a`` and ``b`` of x (by default two of different
    labels)."""
    if a is None or b is None:
        a, b = interpolation_pair(labels)
    strip = apps.interpolate(model, np.asarray(x[a]), np.asarray(x[b]), steps, method)
    what = f"{F.label_text(labels[a])} -> {F.label_text(labels[b])}" if labels is not None else f"sample {a} -> {b}"
    return F.interpolation_strip(strip, title=f"{method.capitalize()} interpolation between two codes ({what})")


def samples_view(model: Autoencoder, n: int = 16, seed: int = 0, sampler: str | None = None,
                 label: int | None = None) -> Figure:
    """``n`` new samples (at most 32 shown) from ``sampler`` (the model's default when None), of one class with
    ``label``."""
    from ..sampler import describe

    of = f" of class {label}" if label is not None else ""
    return F.sample_grid(apps.sample(model, n, seed=seed, sampler=sampler, label=label)[:32],
                         title=f"Samples{of} from {describe(model, sampler)}")


def class_samples_view(model: Autoencoder, per_class: int = 8, seed: int = 0) -> Figure:
    """A row of ``per_class`` samples for each class of a sampler fitted to labelled codes (at most 20 classes)."""
    classes = model.sampler.classes[:20]
    rows = [apps.sample(model, per_class, seed=seed, label=c) for c in classes]
    title = "Samples by class (one row per class)"
    if not F.is_image(rows[0].shape[1:]):
        return F.sample_grid(np.concatenate(rows), title)
    return F.image_grid(rows, [f"class {c}" for c in classes], None, title)


def code_map_view(model: Autoencoder, x: np.ndarray, labels: np.ndarray | None = None) -> Figure:
    """The codes of (up to MAX_MAP_POINTS of) x in 2-D by PCA, coloured by label."""
    codes = apps.encode(model, x[:MAX_MAP_POINTS])
    return F.code_map(codes.reshape(len(codes), -1), None if labels is None else labels[:MAX_MAP_POINTS])


def sparsity_view(model: Autoencoder, x: np.ndarray) -> Figure:
    """The code units' mean activations on x against the target rho."""
    return F.sparsity_histogram(apps.encode(model, x[:MAX_MAP_POINTS]).reshape(min(len(x), MAX_MAP_POINTS), -1).mean(0),
                                model.config.loss.rho)


def denoising_view(result: apps.Denoised, n: int = 8) -> Figure:
    """Noisy / denoised / clean triplets of a :func:`aekit.apps.denoise` result (noisy / denoised without clean)."""
    if result.clean is None:
        return F.reconstructions(result.noisy[:n], result.denoised[:n])
    return F.denoising_triplets(result.noisy[:n], result.denoised[:n], result.clean[:n], result.psnr)


def detection_view(result: apps.Detection, labels: np.ndarray | None = None) -> Figure:
    """The histogram of a :func:`aekit.apps.detect` result's scores with its threshold (split by 0/1 labels)."""
    return F.anomaly_histogram(result.scores, result.threshold, labels)


def rate_distortion_view(model: Autoencoder, x: np.ndarray) -> Figure:
    """A rate model's point (bits per pixel of one file holding the images, PSNR of its decoding) on images x
    (N, 1 or 3, H, W) against JPEG and WebP at several qualities on the same images, each image its own file."""
    from ..apps import codec

    pixels = len(x) * x.shape[2] * x.shape[3]
    blob = codec.compress(model, x)
    curves = {"aekit (this run)": [(8 * len(blob) / pixels, apps.psnr(x, codec.decompress(model, blob)))],
              "JPEG": [codec.pillow_point(x, "JPEG", quality=q) for q in (10, 30, 50, 70, 90)],
              "WebP": [codec.pillow_point(x, "WEBP", quality=q) for q in (0, 10, 40, 80)]}
    return F.rate_distortion(curves, f"Rate-distortion on {len(x)} test images")


def associations(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """(C, C) association between a table model's columns in encoded rows x (N, width): for each pair the largest
    absolute correlation between their encoded values (a number's quantile score, a category's one-hot units)."""
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(0)
    z = np.where(sd > 0, (x - x.mean(0)) / np.where(sd > 0, sd, 1), 0.0)
    corr = np.abs(z.T @ z / len(z))  # (width, width)
    spans = model.table.slices
    out = np.eye(len(spans))
    for i, (a, b) in enumerate(spans):
        for j, (c, d) in enumerate(spans):
            if i != j:
                out[i, j] = corr[a:b, c:d].max()
    return np.clip(out, 0.0, 1.0)


def table_views(model: Autoencoder, x: np.ndarray, n: int = 1000, seed: int = 0) -> list[tuple[str, str, Figure]]:
    """A table run's figures of real rows x (N, width, encoded) against ``n`` synthetic rows: each column's
    distribution, and the associations between columns."""
    real = model.table.decode(x)
    synth, _ = apps.sample_rows(model, n, seed)
    synth_x = model.table.encode({k: np.array(v, dtype=object) for k, v in synth.items()}, "the synthetic rows")
    names = model.table.schema.names
    return [("table_columns.png", f"Each column of {len(x)} test rows (blue) and {n} synthetic rows (orange).",
             F.table_columns(real, synth, model.table.schema)),
            ("table_associations.png", "How strongly each pair of columns goes together (the largest correlation "
             "between their encoded values) in the test rows and in the synthetic rows, and how much that differs; "
             f"rows and columns of each map in the order {', '.join(names)}.",
             F.association_maps(associations(model, x), associations(model, synth_x), names))]
