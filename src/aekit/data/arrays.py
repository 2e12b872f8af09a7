"""Arrays from .npy / .npz / .csv / IDX files."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..config import DataConfig
from ..registry import DATASETS
from . import DataSplits, Split, split_off, to_split

SUFFIXES = (".npy", ".npz", ".csv", ".idx", ".gz", "-ubyte")


class Arrays(NamedTuple):
    x: np.ndarray
    y: np.ndarray | None = None  # labels
    lengths: np.ndarray | None = None  # valid steps of padded sequences (N,)


def read_array(path: str | Path) -> Arrays:
    """Read a data file. .npz: x from key 'x' / 'X' / 'data' (else the first array), labels from 'y' / 'labels' /
    'target', sequence lengths from 'lengths'. .csv: numbers, with or without a header row. IDX: gz or raw."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    name = path.name.lower()
    try:
        if name.endswith(".npy"):
            return Arrays(np.load(path, allow_pickle=False))
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if not keys:
                    raise ValueError(f"{path} holds no arrays")
                xk = next((k for k in ("x", "X", "data") if k in keys), keys[0])
                yk = next((k for k in ("y", "labels", "target") if k in keys and k != xk), None)
                return Arrays(z[xk], z[yk] if yk else None, z["lengths"] if "lengths" in keys else None)
        if name.endswith(".csv"):
            return Arrays(_read_csv(path))
        if name.endswith((".idx", ".gz", "-ubyte")) or "idx" in name:
            from .mnist import read_idx

            return Arrays(read_idx(path))
    except (OSError, EOFError) as e:  # np.load raises these on a corrupt file
        raise ValueError(f"cannot read {path}: {e}") from None
    raise ValueError(f"unsupported data format {path.suffix or path.name!r}: use .npy, .npz, .csv or IDX")


def _read_csv(path: Path) -> np.ndarray:
    with open(path) as f:
        first = f.readline()
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
        skip = 0
    except ValueError:
        skip = 1  # a header row
    try:
        x = np.loadtxt(path, delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(f"{path}: not a numeric CSV ({e})") from None
    return x


def _split(a: Arrays, what: str) -> Split:
    split = to_split(a.x, a.y, what)
    if a.lengths is not None:
        lengths = np.asarray(a.lengths).astype(np.int64)
        if split.x.ndim != 3 or lengths.shape != (len(split),):
            raise ValueError(f"{what}: 'lengths' must be (N,) for sequences (N, T, F); got lengths {lengths.shape} "
                             f"for data {tuple(split.x.shape)}")
        if lengths.min() < 1 or lengths.max() > split.x.shape[1]:
            raise ValueError(f"{what}: lengths must be in [1, T={split.x.shape[1]}], got [{lengths.min()}, "
                             f"{lengths.max()}]")
        split.lengths = torch.from_numpy(lengths)
    return split


@DATASETS.register("file")
def load_file(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    if not cfg.path:
        raise ValueError("dataset 'file' needs a path (--path FILE)")
    if cfg.stream or Path(cfg.path).is_dir():
        from .stream import StreamedArray

        train = Split(StreamedArray(cfg.path))
        test = Split(StreamedArray(cfg.test_path)) if cfg.test_path else None
        if test is None:
            train, test = split_off(train, 0.2, seed)
        return DataSplits(train, test, f"{cfg.path}, streamed from disk ({len(train)} train, {len(test)} test)")
    if str(cfg.path).lower().endswith(".npy") and Path(cfg.path).is_file():
        from .stream import check_fits_in_memory

        check_fits_in_memory(cfg.path)
    train = _split(read_array(cfg.path), str(cfg.path))
    if cfg.test_path:
        test = _split(read_array(cfg.test_path), str(cfg.test_path))
        if test.x.shape[1:] != train.x.shape[1:]:
            raise ValueError(f"test samples have shape {tuple(test.x.shape[1:])}, "
                             f"training samples {tuple(train.x.shape[1:])}")
    else:
        train, test = split_off(train, 0.2, seed)
    return DataSplits(train, test, f"{cfg.path} ({len(train)} train, {len(test)} test)")


__all__ = ["Arrays", "read_array", "load_file"]
