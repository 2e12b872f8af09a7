"""matplotlib figures of a model and its run. Inputs are numpy arrays; every function returns a Figure."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display needed; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..files import atomic_write  # noqa: E402


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write fig as a PNG atomically, then close it."""
    try:
        return atomic_write(path, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format="png"))
    finally:
        plt.close(fig)


def _as_image(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, H, W) or (H, W) -> something imshow takes, and a colormap."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] in (1, 3):
        x = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))
    if x.ndim == 1:
        side = int(round(np.sqrt(x.size)))
        if side * side == x.size:
            x = x.reshape(side, side)
    return (np.clip(x, 0, 1) if x.ndim == 3 else x), ("gray" if x.ndim == 2 else None)


def is_image(shape: Sequence[int]) -> bool:
    """True for (C, H, W) with C in (1, 3), or (H, W) / (D,) with D a perfect square (flattened images)."""
    shape = tuple(shape)
    if len(shape) == 3:
        return shape[0] in (1, 3)
    if len(shape) == 1:
        return shape[0] >= 16 and int(round(np.sqrt(shape[0]))) ** 2 == shape[0]
    return False


def image_grid(rows: Sequence[np.ndarray], row_titles: Sequence[str], col_titles: Sequence[str] | None = None,
               title: str = "") -> Figure:
    """A grid of images: rows[r] is (n, *image_shape)."""
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.45 * len(rows)), squeeze=False)
    for r, (row, name) in enumerate(zip(rows, row_titles)):
        for c in range(n):
            ax = axes[r][c]
            img, cmap = _as_image(row[c])
            ax.imshow(img, cmap=cmap, vmin=None if cmap is None else 0, vmax=None if cmap is None else 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _lines(rows: Sequence[np.ndarray], row_titles: Sequence[str], title: str, xlabel: str) -> Figure:
    """Overlaid lines, one panel per sample: rows[r][i] is (T,) or (T, F) (features plotted in turn)."""
    n = len(rows[0])
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.4), squeeze=False, sharey=True)
    styles = ["-", "--", ":"]
    for i in range(n):
        ax = axes[0][i]
        for r, (row, name) in enumerate(zip(rows, row_titles)):
            y = np.asarray(row[i])
            y = y.reshape(len(y), -1) if y.ndim > 1 else y  # (T, F...) -> one line per feature
            ax.plot(y, styles[r % 3], lw=1.2, label=name if i == 0 else None, alpha=0.9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_title(f"sample {i}", fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def reconstructions(originals: np.ndarray, recons: np.ndarray, labels: Sequence | None = None,
                    mse: float | None = None) -> Figure:
    """Originals above their reconstructions (images), or overlaid lines (sequences, tabular rows)."""
    title = "Originals and reconstructions" + (f" (test MSE {mse:.4f})" if mse is not None else "")
    if is_image(originals.shape[1:]):
        cols = [f"label {l}" for l in labels] if labels is not None else None
        return image_grid([originals, recons], ["original", "reconstruction"], cols, title)
    xlabel = "time step" if originals.ndim == 3 else "feature"
    return _lines([originals, recons], ["original", "reconstruction"], title, xlabel)


def interpolation_strip(images: np.ndarray, alphas: Sequence[float] | None = None,
                        title: str = "Interpolation between two codes") -> Figure:
    """Decoded points along a path between two codes: images (S, *shape)."""
    alphas = alphas if alphas is not None else np.linspace(0, 1, len(images))
    cols = [f"t={a:.2f}" for a in alphas]
    if is_image(images.shape[1:]):
        return image_grid([images], ["decoded"], cols, title)
    return _lines([images[[0, -1]], images[[len(images) // 2] * 2]], ["ends", "midpoint"], title, "step")


def sample_grid(samples: np.ndarray, title: str = "Samples from the prior N(0, I)") -> Figure:
    n = len(samples)
    if not is_image(samples.shape[1:]):
        return _lines([samples[: min(n, 6)]], ["sample"], title, "step" if samples.ndim == 3 else "feature")
    cols = min(n, 8)
    rows = [samples[i:i + cols] for i in range(0, n - n % cols or n, cols)]
    return image_grid(rows, [""] * len(rows), None, title)


def denoising_triplets(noisy: np.ndarray, denoised: np.ndarray, clean: np.ndarray,
                       psnr: tuple[float, float] | None = None) -> Figure:
    title = "Noisy / denoised / clean"
    if psnr is not None:
        title += f" (PSNR {psnr[0]:.1f} dB -> {psnr[1]:.1f} dB)"
    if is_image(clean.shape[1:]):
        return image_grid([noisy, denoised, clean], ["noisy", "denoised", "clean"], None, title)
    return _lines([noisy, denoised, clean], ["noisy", "denoised", "clean"], title, "step")


def loss_curves(history: list[dict]) -> Figure:
    """Every named loss part, train and validation, per epoch: one panel per part."""
    parts = sorted({k.split("/", 1)[1] for r in history for k in r if "/" in k},
                   key=lambda p: (p != "loss", p))
    fig, axes = plt.subplots(1, len(parts), figsize=(3.4 * len(parts), 3), squeeze=False)
    epochs = [r["epoch"] for r in history]
    for ax, part in zip(axes[0], parts):
        for split, style in (("train", "-o"), ("val", "--s")):
            ys = [r.get(f"{split}/{part}") for r in history]
            if any(y is not None for y in ys):
                ax.plot(epochs, [np.nan if y is None else y for y in ys], style, ms=3, label=split)
        ax.set_title(part)
        ax.set_xlabel("epoch")
        if all((r.get(f"train/{part}") or 1) > 0 for r in history):
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.suptitle("Loss curves")
    fig.tight_layout()
    return fig


def code_map(codes: np.ndarray, labels: np.ndarray | None = None, method: str = "pca") -> Figure:
    """A 2-D map of codes (B, L) by PCA (or t-SNE), coloured by label when given."""
    if codes.shape[1] > 2:
        if method == "tsne":
            from sklearn.manifold import TSNE

            xy = TSNE(2, init="pca", random_state=0).fit_transform(codes)
        else:  # the top two principal components, by SVD (no scikit-learn import for the report's one map)
            c = codes - codes.mean(0)
            _, _, vt = np.linalg.svd(c.astype(np.float64), full_matrices=False)
            xy = c @ vt[:2].T
    else:
        xy = np.pad(codes, ((0, 0), (0, 2 - codes.shape[1])))
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    if labels is not None:
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=5, alpha=0.7)
        fig.colorbar(sc, ax=ax, label="label")
    else:
        ax.scatter(xy[:, 0], xy[:, 1], color="tab:blue", s=5, alpha=0.7)
    name = {"pca": "PCA", "tsne": "t-SNE"}.get(method, method)
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    ax.set_title(f"Test codes ({codes.shape[1]}-d) in 2-D by {name}")
    fig.tight_layout()
    return fig


def sparsity_histogram(mean_activation: np.ndarray, rho: float) -> Figure:
    """Histogram of the code units' mean activations, with the target rho marked."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(mean_activation, bins=min(30, max(5, len(mean_activation))), range=(0, 1), color="tab:blue")
    ax.axvline(rho, color="tab:red", ls="--", label=f"target rho = {rho:g}")
    ax.set_xlabel("mean activation of a code unit (test set)")
    ax.set_ylabel("units")
    ax.set_title("Sparsity: code units' mean activations")
    ax.legend()
    fig.tight_layout()
    return fig


def anomaly_histogram(scores: np.ndarray, threshold: float, labels: np.ndarray | None = None) -> Figure:
    """Histogram of anomaly scores (reconstruction errors) with the threshold; split by label when given
    (labels: 1 = anomaly)."""
    fig, ax = plt.subplots(figsize=(5.4, 3.4))
    bins = np.histogram_bin_edges(scores, bins=50)
    if labels is None:
        ax.hist(scores, bins=bins, color="tab:blue", alpha=0.8, label="all")
    else:
        ax.hist(scores[labels == 0], bins=bins, alpha=0.6, label="normal", color="tab:blue")
        ax.hist(scores[labels == 1], bins=bins, alpha=0.6, label="anomaly", color="tab:red")
    ax.axvline(threshold, color="k", ls="--", label=f"threshold {threshold:.4g}")
    ax.set_xlabel("anomaly score (reconstruction error)")
    ax.set_ylabel("samples")
    ax.set_title("Anomaly scores")
    ax.legend()
    fig.tight_layout()
    return fig


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> Figure:
    """ROC curve of scores (higher = more anomalous) against labels (1 = anomaly), with its AUROC."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as _roc

    fpr, tpr, _ = _roc(labels, scores)
    auc = roc_auc_score(labels, scores)
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.plot(fpr, tpr, label=f"AUROC = {auc:.3f}")
    ax.plot([0, 1], [0, 1], ":", color="gray")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC curve")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def rate_distortion(curves: dict[str, list[tuple[float, float]]], title: str = "Rate-distortion") -> Figure:
    """PSNR (dB) against bits per pixel (log scale), one line per method: ``{name: [(bpp, psnr), ...]}``."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, points in curves.items():
        pts = sorted(p for p in points if np.isfinite(p[1]))
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-" if len(pts) > 1 else "*", label=name,
                    ms=5 if len(pts) > 1 else 14)
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel (real file sizes)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

