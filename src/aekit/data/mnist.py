"""MNIST in IDX format: reading, finding, and a verified download."""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..config import DataConfig
from ..registry import DATASETS
from .splits import DataSplits, to_split
from .idx import read_idx

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# MD5 of the official gzip files.
MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aekit" / "mnist"


def _file_in(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_mnist(data_dir: str | Path | None = None) -> Path | None:
    """The first folder holding all four IDX files: data_dir, $AEKIT_DATA_DIR (or its mnist/), the user cache."""
    env = os.environ.get("AEKIT_DATA_DIR")
    candidates = [Path(data_dir)] if data_dir else []
    if env:
        candidates += [Path(env), Path(env) / "mnist"]
    candidates.append(cache_dir())
    for folder in candidates:
        if all(_file_in(folder, s) for s in FILES.values()):
            return folder
    return None


def download(dest: str | Path, mirrors: tuple[str, ...] = MIRRORS, md5: dict[str, str] = MD5,
             timeout: float = 5.0, quiet: bool = False) -> Path:
    """Fetch the four gzip files into dest, each verified by MD5. A mismatch deletes the file and raises.

    Says on stderr what it tries (unless quiet); each connection or read that stalls for ``timeout`` seconds moves
    on to the next mirror, and when every mirror failed a ConnectionError gives each one's reason on one line."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, digest in md5.items():
        target = dest / name
        if target.is_file() and _md5(target) == digest:
            continue
        errors = []
        for mirror in mirrors:
            if not quiet:
                print(f"Downloading {name} from {mirror} (timeout {timeout:g} s)...", file=sys.stderr, flush=True)
            try:
                _fetch(mirror + name, target, timeout, quiet)
                break
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                errors.append(f"{mirror}{name}: {' '.join(str(reason).split()) or type(e).__name__}")
        else:
            raise ConnectionError("could not download MNIST (" + "; ".join(errors) + ")")
        got = _md5(target)
        if got != digest:
            target.unlink()
            raise ValueError(f"MD5 mismatch for {name}: expected {digest}, got {got}; the file was deleted")
    return dest


def _fetch(url: str, target: Path, timeout: float, quiet: bool) -> None:
    tmp = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name,
                      disable=quiet or not sys.stderr.isatty()) as bar:
                while chunk := r.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_mnist_arrays(data_dir: str | Path | None = None, download_ok: bool = True,
                      quiet: bool = False) -> tuple[dict[str, np.ndarray], Path]:
    """The four arrays by key (see FILES) and the folder they came from."""
    folder = find_mnist(data_dir)
    if folder is None and data_dir:
        missing = [s for s in FILES.values() if not _file_in(Path(data_dir), s)]
        raise FileNotFoundError(f"MNIST IDX file(s) missing in {data_dir}: {', '.join(m + '[.gz]' for m in missing)}")
    if folder is None:
        if not download_ok or os.environ.get("AEKIT_OFFLINE"):
            raise FileNotFoundError("MNIST not found locally (--data-dir, $AEKIT_DATA_DIR, "
                                    f"{cache_dir()}) and downloading is off")
        folder = download(cache_dir(), quiet=quiet)
    arrays = {k: read_idx(_file_in(folder, s)) for k, s in FILES.items()}
    for part in ("train", "test"):
        n_img, n_lab = len(arrays[f"{part}_images"]), len(arrays[f"{part}_labels"])
        if n_img != n_lab:
            raise ValueError(f"MNIST {part}: {n_img} images but {n_lab} labels in {folder}")
    return arrays, folder


@DATASETS.register("mnist", options=("data_dir",))
def load_mnist(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    a, folder = load_mnist_arrays(cfg.data_dir, download)
    train = to_split(a["train_images"][:, None], a["train_labels"], "MNIST training images")  # (N, 1, 28, 28)
    test = to_split(a["test_images"][:, None], a["test_labels"], "MNIST test images")
    return DataSplits(train, test, f"MNIST from {folder} ({len(train)} train, {len(test)} test)",
                      {"data_dir": str(Path(folder).resolve())})
