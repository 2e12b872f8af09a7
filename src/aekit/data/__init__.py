"""Data: MNIST (IDX, verified download), sklearn's digits, arrays from files, sliding windows over a series.

Every loader returns :class:`DataSplits` of float32 tensors; images are (N, C, H, W) scaled to [0, 1].
"""

from __future__ import annotations

from ..config import DataConfig
from ..registry import DATASETS
from ..batch import Batch, class_labels, check_labels  # noqa: F401  (the label rules, read with the data)
from .splits import DataSplits, Split, as_float32, as_images, check_array, split_off, to_split  # noqa: F401


def load_data(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    """Load the data a DataConfig names (mnist, digits, file, series) as float32 :class:`DataSplits`; images are
    (N, C, H, W) in [0, 1]. ``seed`` fixes the held-out split of a single file; ``download`` allows fetching MNIST."""
    data = DATASETS.get(cfg.dataset)(cfg, seed=seed, download=download)
    return as_images(data, cfg.image_shape) if cfg.image_shape else data  # rows read as images, where asked


from . import arrays, digits, images, mnist, series, table  # noqa: E402,F401  (register the datasets)
