"""Figures of arrays, one function per kind of figure; each returns a :class:`~aekit.viz.canvas.Figure` (a PIL image
and the strings drawn on it), drawn by :mod:`aekit.viz.canvas` without a plotting library."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.splits import label_text  # figures name labels as the data does
from .canvas import TAB10, Figure, Panel, chart
from .canvas import image_grid as _grid


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write fig as a PNG atomically."""
    return fig.save(path)


def _as_image(x: np.ndarray) -> np.ndarray:
    """(C, H, W) with C in (1, 3), (H, W) or a flattened square (D,) -> (H, W) or (H, W, 3)."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] in (1, 3):
        x = x[0] if x.shape[0] == 1 else np.transpose(x, (1, 2, 0))
    if x.ndim == 1:
        side = int(round(np.sqrt(x.size)))
        if side * side == x.size:
            x = x.reshape(side, side)
    return x


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
    """A grid of images: rows[r] is (n, *image_shape), values in [0, 1]."""
    return _grid([np.stack([_as_image(img) for img in row]) for row in rows], row_titles, col_titles, title)


def _lines(rows: Sequence[np.ndarray], row_titles: Sequence[str], title: str, xlabel: str) -> Figure:
    """Overlaid lines, one panel per sample (one y range): rows[r][i] is (T,) or (T, F) (one line per feature)."""
    styles = ["-", "--", ":"]
    panels = []
    for i in range(len(rows[0])):
        p = Panel(title=f"sample {i}", xlabel=xlabel, legend="upper right" if i == 0 else None, xinteger=True)
        for r, (row, name) in enumerate(zip(rows, row_titles)):
            y = np.asarray(row[i])
            y = y.reshape(len(y), -1) if y.ndim > 1 else y[:, None]  # (T, F)
            for f in range(y.shape[1]):
                p.line(np.arange(len(y)), y[:, f], TAB10[f % 10], styles[r % 3], label=name if f == 0 else None,
                       width=1.2)
        panels.append(p)
    return chart(panels, title, panel_size=(260, 240), sharey=True)


def _natural(v) -> tuple:
    """Sort key: numbers by value, text with its numbers by value ("label 2" before "label 10")."""
    if not isinstance(v, str):
        return (0, float(v), "")
    import re

    return (1, 0.0, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", v)])


def reconstructions(originals: np.ndarray, recons: np.ndarray, labels: Sequence | None = None,
                    mse: float | None = None, note: str = "") -> Figure:
    """Originals above their reconstructions (images), or overlaid lines (sequences, tabular rows); ``note`` is
    added to the title (e.g. the scale)."""
    extra = ", ".join(filter(None, [f"test MSE {mse:.4f}" if mse is not None else "", note.lstrip(", ")]))
    title = "Originals and reconstructions" + (f" ({extra})" if extra else "")
    if is_image(originals.shape[1:]):
        cols = [label_text(lab) for lab in labels] if labels is not None else None
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
    """Every named loss part, train and validation, per epoch: one panel per part (log scale when positive)."""
    parts = sorted({k.split("/", 1)[1] for r in history for k in r if "/" in k},
                   key=lambda p: (p != "loss", p))
    epochs = [r["epoch"] for r in history]
    panels = []
    for part in parts:
        p = Panel(title=part, xlabel="epoch", ylog=all((r.get(f"train/{part}") or 1) > 0 for r in history),
                  xinteger=True)
        for split, style, marker, color in (("train", "-", "o", "blue"), ("val", "--", "s", "orange")):
            ys = [r.get(f"{split}/{part}") for r in history]
            if any(y is not None for y in ys):
                p.line(epochs, [np.nan if y is None else y for y in ys], color, style, marker, split, size=2.2)
        panels.append(p)
    return chart(panels, "Loss curves", panel_size=(340, 280))


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
    name = {"pca": "PCA", "tsne": "t-SNE"}.get(method, method)
    p = Panel(title=f"Test codes ({codes.shape[1]}-d) in 2-D by {name}", xlabel=f"{name} 1", ylabel=f"{name} 2")
    if labels is None:
        p.scatter(xy[:, 0], xy[:, 1], "blue")
    else:
        labels = list(np.asarray(labels).tolist())
        classes = sorted(set(labels), key=_natural)
        order = {c: k for k, c in enumerate(classes)}
        colors = np.array(TAB10)[np.array([order[v] for v in labels]) % 10]
        p.scatter(xy[:, 0], xy[:, 1], colors)  # in the data's order, so that no class hides the others
        for k, c in enumerate(classes[:10]):  # the legend: one entry per label (the first ten)
            p.line([np.nan], [np.nan], TAB10[k % 10], "", "o", label_text(c))
        if len(classes) > 10:
            p.line([np.nan], [np.nan], "gray", "", None, f"... {len(classes) - 10} more (colours repeat)")
    return chart([p], panel_size=(520, 440))


def _hist(p: Panel, values: np.ndarray, bins, color, label: str | None, range_=None) -> None:
    counts, edges = np.histogram(values, bins=bins, range=range_)
    p.bars(edges, counts, color, 0.6, label)


def sparsity_histogram(mean_activation: np.ndarray, rho: float) -> Figure:
    """Histogram of the code units' mean activations, with the target rho marked."""
    p = Panel(title="Sparsity: code units' mean activations", xlabel="mean activation of a code unit (test set)",
              ylabel="units")
    _hist(p, mean_activation, min(30, max(5, len(mean_activation))), "blue", None, (0, 1))
    p.vline(rho, "red", "--", f"target rho = {rho:g}")
    return chart([p], panel_size=(500, 320))


def anomaly_histogram(scores: np.ndarray, threshold: float, labels: np.ndarray | None = None) -> Figure:
    """Histogram of anomaly scores (reconstruction errors) with the threshold; split by label when given
    (labels: 1 = anomaly)."""
    p = Panel(title="Anomaly scores", xlabel="anomaly score (reconstruction error)", ylabel="samples")
    bins = np.histogram_bin_edges(scores, bins=50)
    if labels is None:
        _hist(p, scores, bins, "blue", "all")
    else:
        _hist(p, scores[labels == 0], bins, "blue", "normal")
        _hist(p, scores[labels == 1], bins, "red", "anomaly")
    p.vline(threshold, "black", "--", f"threshold {threshold:.4g}")
    return chart([p], panel_size=(540, 340))


def roc_curve(scores: np.ndarray, labels: np.ndarray) -> Figure:
    """ROC curve of scores (higher = more anomalous) against labels (1 = anomaly), with its AUROC."""
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as _roc

    fpr, tpr, _ = _roc(labels, scores)
    auc = roc_auc_score(labels, scores)
    p = Panel(title="ROC curve", xlabel="false positive rate", ylabel="true positive rate", legend="lower right",
              xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    p.line(fpr, tpr, "blue", label=f"AUROC = {auc:.3f}")
    p.line([0, 1], [0, 1], "gray", ":")
    return chart([p], panel_size=(420, 400))


def rate_distortion(curves: dict[str, list[tuple[float, float]]], title: str = "Rate-distortion") -> Figure:
    """PSNR (dB) against bits per pixel (log scale), one line per method: ``{name: [(bpp, psnr), ...]}``."""
    p = Panel(title=title, xlabel="bits per pixel (real file sizes)", ylabel="PSNR (dB)", xlog=True, grid=True,
              legend="lower right")
    for name, points in curves.items():
        pts = sorted(pt for pt in points if np.isfinite(pt[1]))
        if pts:
            many = len(pts) > 1
            p.line([q[0] for q in pts], [q[1] for q in pts], None, "-" if many else "", "o" if many else "*", name,
                   size=2.5 if many else 7)
    return chart([p], panel_size=(600, 400))


def table_columns(real: dict[str, list], synthetic: dict[str, list], schema, max_columns: int = 12) -> Figure:
    """One panel per column (the first ``max_columns``): numbers as histograms of the real and the synthetic rows
    on the same bins, categories as the share of each level side by side (holes: a level "(missing)")."""
    panels = []
    for c in schema.columns[:max_columns]:
        r, s = real[c.name], synthetic[c.name]
        if c.onehot:
            levels = c.categories
            names = ["(missing)" if v == "" else v for v in levels]
            key = [c.typed(v) for v in levels]  # as decoded rows hold them
            share_r = np.array([sum(v == k for v in r) for k in key], dtype=np.float64) / max(len(r), 1)
            share_s = np.array([sum(v == k for v in s) for k in key], dtype=np.float64) / max(len(s), 1)
            shown = ", ".join(f"{i}: {n}" for i, n in enumerate(names[:6])) + (", ..." if len(names) > 6 else "")
            p = Panel(title=f"{c.name} ({shown})", xlabel="level", ylabel="share of rows", xinteger=True)
            k = np.arange(len(levels), dtype=np.float64)
            for heights, offset, color, label in ((share_r, -0.4, "blue", "real"), (share_s, 0.0, "orange",
                                                                                   "synthetic")):
                edges = np.ravel(np.column_stack([k + offset, k + offset + 0.4]))  # bar, gap, bar, ...
                p.bars(edges, np.ravel(np.column_stack([heights, np.zeros_like(heights)]))[:-1], color, 0.7, label)
        else:
            rv = np.array([v for v in r if v is not None], dtype=np.float64)
            sv = np.array([v for v in s if v is not None], dtype=np.float64)
            p = Panel(title=f"{c.name} ({c.kind})", xlabel=c.name, ylabel="share of rows")
            bins = np.histogram_bin_edges(np.concatenate([rv, sv]) if len(sv) else rv, bins=30)
            for v, color, label in ((rv, "blue", "real"), (sv, "orange", "synthetic")):
                if len(v):
                    counts, edges = np.histogram(v, bins=bins)
                    p.bars(edges, counts / len(v), color, 0.45, label)
        panels.append(p)
    more = f" (the first {max_columns} of {len(schema.columns)} columns)" if len(schema.columns) > max_columns else ""
    return chart(panels, f"Columns: real rows against synthetic rows{more}", panel_size=(340, 260))


def association_maps(real: np.ndarray, synthetic: np.ndarray, names: Sequence[str]) -> Figure:
    """Three C x C maps of the association between columns: in the real rows, in the synthetic rows (black: none,
    white: perfect), and their difference (white: the same, black: differing by 1). Cell (i, j) is for columns i and
    j in the schema's order: ``names``."""
    diff = 1.0 - np.abs(real - synthetic)
    m = max(1, 220 // len(names))  # cells of ~220 / C pixels: the maps are wider than their titles
    maps = [np.kron(a, np.ones((m, m))) for a in (real, synthetic, diff)]
    return _grid([np.stack(maps)], [""], ["real", "synthetic", "1 - |difference|"], "Column associations")
