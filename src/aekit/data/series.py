"""Sliding windows over a long series (a CSV column or a .npy array)."""

from __future__ import annotations

import numpy as np
import torch

from ..config import DataConfig
from ..registry import DATASETS
from .splits import DataSplits, Split, check_array
from .arrays import read_array


def sliding_windows(series: np.ndarray, window: int, stride: int) -> np.ndarray:
    """(T,) or (T, F) -> (N, window, F) with N = (T - window) // stride + 1."""
    s = series[:, None] if series.ndim == 1 else series
    if s.shape[0] < window:
        raise ValueError(f"series of length {s.shape[0]} is shorter than the window ({window})")
    starts = np.arange(0, s.shape[0] - window + 1, stride)
    return np.stack([s[i:i + window] for i in starts])


@DATASETS.register("series", options=("path", "window", "stride", "column"))
def load_series(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    """The series in cfg.path (a CSV's column ``cfg.column``, or a 1-D / 2-D .npy), standardised with the first
    80 %'s statistics; windows from the first 80 % train, from the last 20 % test (chronological split)."""
    if not cfg.path:
        raise ValueError("dataset 'series' needs a path (--path FILE)")
    x = read_array(cfg.path).x
    if x.ndim == 2 and str(cfg.path).lower().endswith(".csv"):
        if cfg.column >= x.shape[1]:
            raise ValueError(f"{cfg.path} has {x.shape[1]} column(s); column {cfg.column} does not exist")
        x = x[:, cfg.column]
    x = check_array(np.asarray(x), str(cfg.path))
    if x.ndim > 2:
        raise ValueError(f"a series must be (T,) or (T, F), got shape {x.shape}")
    cut = int(0.8 * len(x))
    mu, sd = x[:cut].mean(0), x[:cut].std(0) + 1e-8
    z = (x - mu) / sd
    tr, te = sliding_windows(z[:cut], cfg.window, cfg.stride), sliding_windows(z[cut:], cfg.window, cfg.stride)
    return DataSplits(Split(torch.from_numpy(tr).float()), Split(torch.from_numpy(te).float()),
                      f"series {cfg.path}: {len(tr)} train / {len(te)} test windows of {cfg.window}")
