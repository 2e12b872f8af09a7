"""Data larger than memory: rows of a memory-mapped .npy file, or of a folder of .npy shards, read on demand."""

from __future__ import annotations

import tokenize
from pathlib import Path

import numpy as np
import torch

from .. import limits
from .splits import as_float32, check_array


class StreamedArray:
    """A read-only (N, *shape) array over memory-mapped .npy files. Indexing with a slice, an index array or a tensor
    returns a float32 tensor of those rows (uint8 data scaled to [0, 1], as in memory). ``subset`` makes a view."""

    def __init__(self, path: str | Path, rows: np.ndarray | None = None) -> None:
        self.path = Path(path)
        files = sorted(self.path.glob("*.npy")) if self.path.is_dir() else [self.path]
        if not files or not all(f.is_file() for f in files):
            raise FileNotFoundError(f"{self.path} holds no data: no .npy files, and no images (png, jpg, bmp, tif)")
        self.parts = [open_memmap(f) for f in files]
        shapes = {a.shape[1:] for a in self.parts}
        for f, a in zip(files, self.parts):  # the dtype and shape checks of in-memory data, on one row
            check_array(np.asarray(a if a.ndim == 0 else a[:1]), str(f))
        if len(shapes) != 1 or any(a.ndim < 2 for a in self.parts):
            raise ValueError(f"{self.path}: shards must be (n_i, *shape) with one shape, got {sorted(shapes)}")
        self.offsets = np.cumsum([0] + [len(a) for a in self.parts])
        self.rows = np.arange(self.offsets[-1]) if rows is None else rows
        self.shape = (len(self.rows), *self.parts[0].shape[1:])
        if self.shape[0] == 0:
            raise ValueError(f"{self.path} is empty")
        self._range: tuple[float, float] | None = None

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def subset(self, idx: torch.Tensor | np.ndarray) -> "StreamedArray":
        view = StreamedArray.__new__(StreamedArray)
        view.__dict__.update(self.__dict__)
        view.rows = self.rows[np.asarray(idx)]
        view.shape = (len(view.rows), *self.shape[1:])
        view._range = None
        return view

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Rows idx (logical) as a float32 array, in idx's order."""
        phys = self.rows[idx]
        # Allocated by torch (64-byte aligned, from its cache): training on numpy-allocated batches ran ~30 % slower.
        out = torch.empty((len(idx), *self.shape[1:]), dtype=torch.float32).numpy()
        if len(self.parts) == 1 and self.parts[0].dtype == np.float32:
            np.take(self.parts[0], phys, axis=0, out=out, mode="clip")  # one copy, straight into the batch
        else:
            part = np.searchsorted(self.offsets, phys, side="right") - 1
            for k in np.unique(part):
                m = part == k
                out[m] = as_float32(self.parts[k][phys[m] - self.offsets[k]])
        if not np.isfinite(out).all():
            bad = phys[~np.isfinite(out.reshape(len(out), -1)).all(1)]
            raise ValueError(f"{self.path} contains NaN or inf values (row {int(bad.min())} is the first read)")
        return out

    def __getitem__(self, key) -> torch.Tensor:
        if isinstance(key, slice):
            idx = np.arange(*key.indices(len(self)))
        else:
            idx = key.cpu().numpy() if torch.is_tensor(key) else np.asarray(key)
        return torch.from_numpy(self.take(idx))

    def _minmax(self, chunk: int = 8192) -> tuple[float, float]:
        if self._range is None:
            lo, hi = np.inf, -np.inf
            for i in range(0, len(self), chunk):
                block = self.take(np.arange(i, min(i + chunk, len(self))))
                lo, hi = min(lo, float(block.min())), max(hi, float(block.max()))
            self._range = (lo, hi)
        return self._range

    def min(self) -> float:
        return self._minmax()[0]

    def max(self) -> float:
        return self._minmax()[1]


def open_memmap(path: str | Path) -> np.ndarray:
    """A .npy file memory-mapped read-only; a damaged or empty file raises a ValueError naming it."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, EOFError, ValueError, SyntaxError, tokenize.TokenError) as e:
        raise ValueError(f"cannot read {path}: {' '.join(str(e).split()) or type(e).__name__}") from None


def check_fits_in_memory(path: str | Path, fraction: float = 0.8) -> None:
    """Raise a clear error when loading a .npy file as float32 would not fit in memory."""
    a = open_memmap(path)
    need = a.size * 4
    avail = limits.available_memory()
    if avail and need > fraction * avail:
        raise MemoryError(f"{path} needs {need / 2**30:.1f} GiB as float32 in memory, {avail / 2**30:.1f} GiB are "
                          "available: stream it from disk instead (--stream, or DataConfig(stream=True))")
