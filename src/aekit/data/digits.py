"""scikit-learn's embedded 8x8 digits (1,797 images): real data that needs no download."""

from __future__ import annotations

import numpy as np

from ..config import DataConfig
from ..registry import DATASETS
from .splits import DataSplits, to_split


@DATASETS.register("digits")
def load_digits(cfg: DataConfig | None = None, seed: int = 0, download: bool = True) -> DataSplits:
    from sklearn.datasets import load_digits as _load  # here, not at import: scikit-learn takes ~0.8 s to import
    from sklearn.model_selection import train_test_split

    d = _load()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=0.2, random_state=0, stratify=d.target)
    return DataSplits(to_split(xtr, ytr, "digits"), to_split(xte, yte, "digits"),
                      f"sklearn digits ({len(xtr)} train, {len(xte)} test, 8x8)")
