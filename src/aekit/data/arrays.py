"""Arrays from .npy / .npz / .csv / IDX files."""

from __future__ import annotations

import csv
import io
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..config import DataConfig
from ..registry import DATASETS
from ..batch import check_labels
from .splits import DataSplits, Split, split_off, to_split
from ..files import atomic_write, atomic_write_text
from .idx import read_idx

SUFFIXES = (".npy", ".npz", ".csv", ".idx", ".gz", "-ubyte")


class Arrays(NamedTuple):
    x: np.ndarray
    y: np.ndarray | None = None  # labels
    lengths: np.ndarray | None = None  # valid steps of padded sequences (N,)


class DataFileError(ValueError):
    """A data file that cannot be read: damaged, truncated, of another format, or without the expected arrays."""


X_KEYS, Y_KEYS = ("x", "X", "data"), ("y", "labels", "target")


def read_array(path: str | Path, label_column: str | None = None) -> Arrays:
    """Read a data file.

    .npy: one array (never a pickle). .npz: samples from key 'x' / 'X' / 'data' (a file with a single array may use
    any key), labels from 'y' / 'labels' / 'target', sequence lengths from 'lengths'. .csv: numbers, with or without
    a header row; ``label_column`` (a header name, or a 0-based index) is taken out of the features as the labels.
    IDX: gz or raw. Anything unreadable raises :class:`DataFileError` naming the file.
    """
    path = Path(path)
    if label_column is not None and not path.name.lower().endswith(".csv"):
        raise ValueError(f"label_column names a column of a CSV file; {path} is not one (an .npz holds labels as y)")
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
                    raise DataFileError(f"{path} holds no arrays")
                xk = next((k for k in X_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
                if xk is None:
                    raise DataFileError(f"{path} holds arrays {keys}, none of them named {' / '.join(X_KEYS)}: "
                                        "name the samples 'x'")
                yk = next((k for k in Y_KEYS if k in keys and k != xk), None)
                x = z[xk]
                y = check_labels(z[yk], len(x) if x.ndim else None, f"{path}, array {yk!r}") if yk else None
                return Arrays(x, y, z["lengths"] if "lengths" in keys else None)
        if name.endswith(".csv"):
            x, header = _read_csv(path)
            if label_column is None:
                return Arrays(x)
            j = _column(label_column, header, x.shape[1], path)
            where = f"{path}, column {header[j]!r}" if header else f"{path}, column {j}"
            return Arrays(np.delete(x, j, axis=1), check_labels(x[:, j], len(x), where))
        if name.endswith((".idx", ".gz", "-ubyte")) or "idx" in name:
            return Arrays(read_idx(path))
    except DataFileError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError, SyntaxError,
            tokenize.TokenError) as e:
        # np.load / zipfile / gzip raise all of these on damaged files (a garbled .npy header: SyntaxError, TokenError)
        detail = " ".join(str(e).split())[:200] or type(e).__name__
        raise DataFileError(detail if str(path) in detail else f"cannot read {path}: {detail}") from None
    raise DataFileError(f"unsupported data format {path.suffix or path.name!r} ({path}): use .npy, .npz, .csv "
                        "or IDX")


def _read_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise DataFileError(f"{path} is not a text CSV file (it holds bytes that are not UTF-8)") from None
    lines = text.splitlines()
    first = lines[0] if lines else ""
    header = None
    try:
        [float(v) for v in first.strip().split(",") if v.strip()]
        skip = 0
    except ValueError:
        skip = 1  # a header row
        header = [v.strip().strip('"') for v in first.split(",")]
    if not any(line.strip() for line in lines[skip:]):
        raise DataFileError(f"{path} holds no rows of numbers")
    try:
        x = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=skip, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise DataFileError(f"{path}: not a numeric CSV ({' '.join(str(e).split())})") from None
    return x, header


def _column(name: str, header: list[str] | None, width: int, path: Path) -> int:
    """The index of a CSV column given by its header name or its 0-based index."""
    if header is not None and name in header:
        at = [i for i, h in enumerate(header) if h == name]
        if len(at) > 1:
            raise DataFileError(f"{path}: the label column {name!r} is ambiguous: {len(at)} columns have that name "
                                f"(0-based {', '.join(map(str, at))}); rename them or give the column's index")
        return at[0]
    if name.isdigit() and int(name) < width:
        return int(name)
    known = f"its columns are {', '.join(header)}" if header else f"it has {width} columns (0 to {width - 1})"
    raise DataFileError(f"{path}: no label column {name!r}: {known}")


ARRAY_SUFFIXES = (".npy", ".npz", ".csv")


def check_output(path: str | Path | None, suffixes: tuple[str, ...] = ARRAY_SUFFIXES) -> None:
    """Before any work: an output path must have one of ``suffixes`` and not be a directory."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"output {path} is a directory: give a file name ({', '.join(suffixes)})")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"output {path}: use a {', '.join(suffixes[:-1])}{' or ' if len(suffixes) > 1 else ''}"
                         f"{suffixes[-1]} name")


def save_array(path: str | Path, arr: np.ndarray, names: list[str] | None = None) -> Path:
    """Write .npy, .npz (key 'x') or .csv atomically, by the path's suffix. ``names`` (one per row: the input files
    the rows came from) go with them: an .npz's 'names', a .csv's first column (with a header row), or beside an
    .npy as ``<name>.names.txt``, one per line."""
    check_output(path)
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.save would append .npy to the temporary name
                if suffix == ".npy":
                    np.save(f, arr)
                else:
                    np.savez(f, x=arr, **({"names": np.array(names, dtype=str)} if names else {}))

        if names and suffix == ".npy":
            atomic_write_text(path.with_name(path.name + ".names.txt"), "".join(n + "\n" for n in names))
        return atomic_write(path, write)
    if suffix == ".csv":
        buf = io.StringIO()
        flat = arr.reshape(len(arr), -1)
        if names:
            w = csv.writer(buf)
            w.writerow(["file", *range(flat.shape[1])])
            w.writerows([n, *(f"{v:.7g}" for v in row)] for n, row in zip(names, flat))
        else:
            np.savetxt(buf, flat, delimiter=",", fmt="%.7g")
        return atomic_write_text(path, buf.getvalue())
    raise AssertionError(suffix)  # check_output let only these suffixes through


def _split(a: Arrays, what: str) -> Split:
    split = to_split(a.x, a.y, what)
    if a.lengths is not None:
        split.lengths = torch.from_numpy(check_lengths(a.lengths, tuple(split.x.shape), what))
    return split


def check_lengths(lengths: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Sequence lengths (N,) as int64, each in [1, T] for sequences of ``shape`` (N, T, F); else a ValueError."""
    raw = np.asarray(lengths)
    if raw.dtype.kind not in "iu" and not (raw.dtype.kind == "f" and np.all(np.mod(raw, 1) == 0)):
        raise ValueError(f"{what}: 'lengths' must be whole numbers, got dtype {raw.dtype}")
    lengths = raw.astype(np.int64)
    if len(shape) != 3 or lengths.shape != (shape[0],):
        raise ValueError(f"{what}: 'lengths' must be (N,) for sequences (N, T, F); got lengths {lengths.shape} "
                         f"for data {tuple(shape)}")
    if lengths.min() < 1 or lengths.max() > shape[1]:
        raise ValueError(f"{what}: lengths must be in [1, T={shape[1]}], got [{lengths.min()}, {lengths.max()}]")
    return lengths


@DATASETS.register("file", options=("path", "test_path", "stream", "label_column", "split"))
def load_file(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    if not cfg.path:
        raise ValueError("dataset 'file' needs a path (--path FILE)")
    if cfg.stream or Path(cfg.path).is_dir():
        from .stream import StreamedArray

        train = Split(StreamedArray(cfg.path))
        test = Split(StreamedArray(cfg.test_path)) if cfg.test_path else None
        if test is not None and test.x.shape[1:] != train.x.shape[1:]:
            raise ValueError(f"test samples ({cfg.test_path}) have shape {tuple(test.x.shape[1:])}, training samples "
                             f"({cfg.path}) {tuple(train.x.shape[1:])}")
        if test is None:
            train, test = split_off(train, 0.2, seed, cfg.split)
        return DataSplits(train, test, f"{cfg.path}, streamed from disk ({len(train)} train, {len(test)} test)")
    if str(cfg.path).lower().endswith(".npy") and Path(cfg.path).is_file():
        from .stream import check_fits_in_memory

        check_fits_in_memory(cfg.path)
    train = _split(read_array(cfg.path, cfg.label_column), str(cfg.path))
    if cfg.test_path:
        test = _split(read_array(cfg.test_path, cfg.label_column), str(cfg.test_path))
        if test.x.shape[1:] != train.x.shape[1:]:
            raise ValueError(f"test samples ({cfg.test_path}) have shape {tuple(test.x.shape[1:])}, training samples "
                             f"({cfg.path}) {tuple(train.x.shape[1:])}")
    else:
        train, test = split_off(train, 0.2, seed, cfg.split)
    return DataSplits(train, test, f"{cfg.path} ({len(train)} train, {len(test)} test)")


__all__ = ["ARRAY_SUFFIXES", "Arrays", "DataFileError", "check_output", "load_file", "read_array", "save_array"]
