"""The IDX format (MNIST's): a magic number (0, 0, type code, number of dimensions), the dimensions as big-endian
uint32, then the data. Read gzip-compressed or raw; written raw or gzip-compressed."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from ..files import atomic_write_bytes

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into an array of the shape its header gives."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: damaged gzip data ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: wrong magic number {data[:4].hex() or '(empty)'} "
                         "(expected 0000 followed by a type code and the number of dimensions)")
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: IDX header truncated")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = data[4 + 4 * ndim:]
    need = math.prod(shape) * dtype.itemsize  # Python ints: a crafted header cannot overflow
    if len(body) < need:
        raise ValueError(f"{path}: IDX body has {len(body)} bytes, the header's shape {shape} needs {need}")
    return np.frombuffer(body[:need], dtype=dtype).reshape(shape)


def write_idx(path: str | Path, arr: np.ndarray, gz: bool | None = None) -> Path:
    """Write arr as an IDX file (gzip-compressed when gz, or by default when the name ends in .gz), atomically."""
    arr = np.asarray(arr)
    for code, t in IDX_DTYPES.items():
        dtype = np.dtype(t)  # big-endian where it has more than one byte
        if (dtype.kind, dtype.itemsize) == (arr.dtype.kind, arr.dtype.itemsize):
            break
    else:
        raise ValueError(f"IDX cannot hold an array of dtype {arr.dtype}")
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"IDX holds arrays of 1 to 255 dimensions, not {arr.ndim}")
    data = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(dtype).tobytes()
    path = Path(path)
    gz = path.name.endswith(".gz") if gz is None else gz
    return atomic_write_bytes(path, gzip.compress(data, mtime=0) if gz else data)
