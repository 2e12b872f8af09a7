"""Figures, each returning a matplotlib Figure (for notebooks), and :func:`save_figure` (atomic PNG)."""

from __future__ import annotations

from .figures import (  # noqa: F401
    anomaly_histogram,
    code_map,
    denoising_triplets,
    image_grid,
    interpolation_strip,
    loss_curves,
    reconstructions,
    roc_curve,
    sample_grid,
    save_figure,
    sparsity_histogram,
)
