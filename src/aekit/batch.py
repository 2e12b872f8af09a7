"""What one training step reads (:class:`Batch`) and the one rule for class labels (:func:`check_labels`).

Small objects below the model: the loss terms, the sampler, the data readers and the training loop all take them
from here, so every label source (a CSV column, an .npz's ``y``, IDX label files, image subfolders, a DataFrame or
the estimators) is held to the same rules, checked before the first epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .limits import LIMITS

UNKNOWN = -1  # the label of a sample whose class is not known (semi-supervised learning)


@dataclass
class Batch:
    """One step's samples and what travels with them, from the data to the model and the loss."""

    x: torch.Tensor  # (B, *sample_shape)
    y: torch.Tensor | None = None  # (B,) int64 class labels, -1 where unknown
    lengths: torch.Tensor | None = None  # (B,) valid steps of padded sequences
    near: torch.Tensor | None = None  # (B, *sample_shape) a near training sample of each (the classifier's targets)

    def to(self, device: torch.device | str) -> "Batch":
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        return Batch(self.x.to(device), move(self.y), move(self.lengths), move(self.near))


def check_labels(y, n: int | None = None, what: str = "the data") -> np.ndarray:
    """Class labels as (N,) int64: class indices 0, 1, ... below ``LIMITS["classes"]``, and -1 for unknown.

    The rule for every label source. A ValueError names ``what`` (the file, and the column where there is one) and
    the first offending row for: labels that are not one per sample (2-D, or not ``n`` of them), not numbers (text,
    objects, complex), NaN or infinite, not whole (3.5), below -1, or not below the class limit (10**12).
    """
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"labels of {what} must be one per sample, shape (N,); got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{what} has {n} samples but {len(a)} labels")
    if a.dtype.kind == "b":
        a = a.astype(np.int64)
    if a.dtype.kind not in "iuf":
        raise ValueError(f"labels of {what} must be class indices (whole numbers 0, 1, ..., -1 for unknown), not "
                         f"{'text' if a.dtype.kind in 'US' else a.dtype}")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a) | (np.isfinite(a) & (a != np.round(np.nan_to_num(a))))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"labels of {what} must be class indices (whole numbers 0, 1, ..., -1 for unknown); "
                             f"row {i} holds {a[i].item()!r}" + (f" ({int(bad.sum())} such rows)" if bad.sum() > 1 else ""))
    limit = LIMITS["classes"]
    out_of_range = (a < UNKNOWN) | (a >= limit)
    if out_of_range.any():
        i = int(np.flatnonzero(out_of_range)[0])
        v = a[i].item()
        raise ValueError(f"labels of {what} must be class indices 0 to {limit - 1:,} or -1 for unknown; row {i} holds "
                         f"{int(v) if float(v).is_integer() else v}")
    return a.astype(np.int64)


def class_labels(y, classes: int = 0, what: str = "the data", n: int | None = None,
                 min_classes: int = 2) -> torch.Tensor:
    """Labels for the classifier variant: :func:`check_labels`, at least ``min_classes`` known classes (two to
    train; one is enough to score a test set), each below ``classes`` when it is given. (N,) int64 tensor, -1 where
    unknown."""
    if y is None:
        raise ValueError(f"the classifier variant needs labels: {what} has none (MNIST, digits, class subfolders of "
                         "images, an .npz with y, a CSV's --label-column; -1 marks an unknown label)")
    a = check_labels(y, n, what)
    known = np.unique(a[a != UNKNOWN])
    if len(known) == 0:
        raise ValueError(f"{what} has no known label (all -1): the classifier needs some labelled samples")
    if len(known) < min_classes:
        raise ValueError(f"{what} has labelled samples of one class only ({int(known[0])}): a classifier needs at "
                         "least two classes")
    if classes and int(known[-1]) >= classes:
        raise ValueError(f"label {int(known[-1])} of {what} is not a class of this model (classes 0..{classes - 1})")
    return torch.from_numpy(a)


__all__ = ["Batch", "UNKNOWN", "check_labels", "class_labels"]
