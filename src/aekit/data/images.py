"""Folders of image files (PNG, JPEG, BMP, TIFF), read with Pillow.

Layout: ``root/<class>/<...>/image.png`` (one subfolder per class, as torchvision's ImageFolder) or images directly
in ``root``. Files are found recursively and sorted by their path relative to the root, so the order is stable.
Subfolder names become labels (class indices in the sorted order of the names) when every image is in a subfolder.
Files that are not images (by suffix) are skipped with a warning; hidden files silently. Grayscale or RGB is decided
from the files (RGB when any image has color) unless ``channels`` is given; all images must share one size unless
``size=(H, W)`` is given, which resizes each image (keeping its aspect ratio) to cover H x W and crops the centre.

A folder that fits in memory is decoded once into one uint8 array (N, C, H, W), cached on disk (in
``~/.cache/aekit/images``, keyed by the files' paths, sizes and modification times and the options), so that the
next command reads one file; a larger one is streamed: each batch is decoded when it is needed, in the training
loop's background thread.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import limits
from ..config import DataConfig
from ..registry import DATASETS
from .splits import DataSplits, Split, as_float32, split_off
from .arrays import DataFileError

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


@dataclass
class ImageFolder:
    """The images under a root: their paths (sorted), class labels (or None) and class names."""

    root: Path
    paths: list[Path]
    labels: np.ndarray | None  # (N,) int64 class indices
    classes: list[str]

    @property
    def names(self) -> list[str]:
        """Each image's path relative to the root (for output file names)."""
        return [str(p.relative_to(self.root)) for p in self.paths]


def _files(root: Path):
    """The files under root, at any depth, skipping hidden files and folders and not following links to folders;
    a :class:`aekit.limits.TooLarge` after ``LIMITS["files"]`` entries (a folder such as / is not scanned whole)."""
    from ..limits import LIMITS, TooLarge

    seen = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        seen += len(dirs) + len(names)
        if seen > LIMITS["files"]:
            raise TooLarge(f"{root} holds more than {LIMITS['files']:,} files and folders: point at the folder of "
                           "the images themselves")
        for name in names:
            if not name.startswith("."):
                p = Path(folder) / name
                if p.is_file():
                    yield p


def is_image_folder(path: str | Path) -> bool:
    """Whether a folder holds at least one image file (at any depth)."""
    path = Path(path)
    return path.is_dir() and any(p.suffix.lower() in SUFFIXES for p in _files(path))


def scan(root: str | Path) -> ImageFolder:
    """Find the images under ``root``; raise for a missing or empty folder."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    paths, skipped = [], []
    for p in sorted(_files(root), key=lambda q: q.relative_to(root).as_posix()):
        (paths if p.suffix.lower() in SUFFIXES else skipped).append(p)
    if skipped:
        warnings.warn(f"{root}: skipped {len(skipped)} file(s) that are not images ({', '.join(SUFFIXES)}), e.g. "
                      f"{skipped[0].relative_to(root)}", stacklevel=2)
    if not paths:
        raise DataFileError(f"{root} holds no image files ({', '.join(SUFFIXES)})")
    tops = [p.relative_to(root).parts for p in paths]
    labels, classes = None, []
    if all(len(t) > 1 for t in tops):  # every image in a class subfolder
        classes = sorted({t[0] for t in tops})
        index = {c: i for i, c in enumerate(classes)}
        labels = np.array([index[t[0]] for t in tops], dtype=np.int64)
    return ImageFolder(root, paths, labels, classes)


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()  # decode now: a truncated or damaged file fails here, not later
        return img
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataFileError(f"cannot read image {path}: {' '.join(str(e).split()) or type(e).__name__}") from None


def image_channels(folder: ImageFolder) -> int:
    """1 when every image is grayscale, else 3 (read from the headers only)."""
    from PIL import Image

    for p in folder.paths:
        try:
            with Image.open(p) as img:
                if img.mode not in _GRAY_MODES:
                    return 3
        except Exception as e:  # noqa: BLE001  (Pillow's errors vary; the file is named either way)
            raise DataFileError(f"cannot read image {p}: {' '.join(str(e).split()) or type(e).__name__}") from None
    return 1


def decode(path: Path, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (channels, H, W): converted to grayscale or RGB, resized and centre-cropped to ``size``."""
    from PIL import Image

    img = _open(path)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grayscale: scale to 8 bits
        a = np.asarray(img, dtype=np.float64)
        if not np.isfinite(a).all():
            raise DataFileError(f"image {path} holds NaN or infinite pixel values")
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    img = img.convert("L" if channels == 1 else "RGB")
    if size is not None and (img.height, img.width) != tuple(size):
        h, w = size
        scale = max(h / img.height, w / img.width)  # cover H x W, keeping the aspect ratio
        rh, rw = max(h, round(img.height * scale)), max(w, round(img.width * scale))
        img = img.resize((rw, rh), Image.BILINEAR)
        top, left = (rh - h) // 2, (rw - w) // 2
        img = img.crop((left, top, left + w, top + h))
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W) | (H, W, 3) -> (C, H, W)


def _shape(folder: ImageFolder, channels: int, size: tuple[int, int] | None) -> tuple[int, int, int]:
    """(C, H, W) of every image; without ``size`` all images must share one (checked from the headers)."""
    from PIL import Image

    if size is not None:
        return (channels, *size)
    first = None
    for p in folder.paths:
        try:
            with Image.open(p) as img:
                wh = img.size
        except Exception as e:  # noqa: BLE001
            raise DataFileError(f"cannot read image {p}: {' '.join(str(e).split()) or type(e).__name__}") from None
        if first is None:
            first = (p, wh)
        elif wh != first[1]:
            raise DataFileError(f"{folder.root}: images of different sizes, {first[0].relative_to(folder.root)} is "
                                f"{first[1][1]}x{first[1][0]} and {p.relative_to(folder.root)} is {wh[1]}x{wh[0]} "
                                "(H x W): give --image-size H W to resize them")
    return (channels, first[1][1], first[1][0])


class StreamedImages:
    """Images decoded on demand: indexing with a slice, an index array or a tensor returns a float32 tensor of those
    images in [0, 1]. Quacks like :class:`aekit.data.stream.StreamedArray` for the training loop."""

    def __init__(self, folder: ImageFolder, channels: int, size: tuple[int, int] | None,
                 rows: np.ndarray | None = None, sample: tuple[int, int, int] | None = None) -> None:
        self.folder, self.channels, self.size = folder, channels, size
        sample = sample or _shape(folder, channels, size)  # (C, H, W): read from the headers once, then passed on
        self.rows = np.arange(len(folder.paths)) if rows is None else rows
        self.shape = (len(self.rows), *sample)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def subset(self, idx) -> "StreamedImages":
        return StreamedImages(self.folder, self.channels, self.size, self.rows[np.asarray(idx)], self.shape[1:])

    def __getitem__(self, key) -> torch.Tensor:
        idx = np.arange(*key.indices(len(self))) if isinstance(key, slice) else (
            key.cpu().numpy() if torch.is_tensor(key) else np.asarray(key))
        out = torch.empty((len(idx), *self.shape[1:]), dtype=torch.float32)
        for i, r in enumerate(self.rows[idx]):
            out[i] = torch.from_numpy(as_float32(decode(self.folder.paths[r], self.channels, self.size)))
        return out

    def min(self) -> float:
        return 0.0  # uint8 images scaled to [0, 1]

    def max(self) -> float:
        return 1.0


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aekit" / "images"


def _cache_key(folder: ImageFolder, channels: int, size: tuple[int, int] | None) -> str:
    h = hashlib.sha256(json.dumps([str(folder.root.resolve()), channels, size]).encode())
    for p in folder.paths:
        st = p.stat()
        h.update(f"{p.relative_to(folder.root).as_posix()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def decode_all(folder: ImageFolder, channels: int, size: tuple[int, int] | None, cache: bool = True,
               shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """Every image as one uint8 array (N, C, H, W), from the on-disk cache when the files have not changed."""
    from ..files import atomic_write

    shape = shape or _shape(folder, channels, size)
    key = _cache_key(folder, channels, size) if cache else None
    cached = cache_dir() / f"{key}.npy" if key else None
    if cached is not None and cached.is_file():
        try:
            x = np.load(cached, allow_pickle=False)
            if x.shape == (len(folder.paths), *shape) and x.dtype == np.uint8:
                return x
        except (OSError, ValueError):
            pass  # a damaged cache file is decoded anew and replaced
    x = np.empty((len(folder.paths), *shape), dtype=np.uint8)
    for i, p in enumerate(folder.paths):
        x[i] = decode(p, channels, size)
    if cached is not None:
        try:
            buf = io.BytesIO()
            np.save(buf, x)
            atomic_write(cached, lambda t: Path(t).write_bytes(buf.getvalue()))
        except OSError as e:  # a read-only home: no cache, no failure
            print(f"note: could not cache the decoded images ({e})", file=sys.stderr)
    return x


def load_image_split(root: str | Path, channels: int = 0, size: tuple[int, ...] = (), stream: bool = False,
                     classes: list[str] | None = None) -> tuple[Split, ImageFolder]:
    """A Split of the images under root (float32 (N, C, H, W) in [0, 1], labels from subfolders), in memory or
    streamed. ``channels``: 1 or 3, or 0 to decide from the files; ``size``: (H, W) or () to keep the files' size.
    ``classes``: the class names of another split, so that a test folder's labels use the same indices."""
    folder = scan(root)
    if classes is not None and folder.labels is not None:
        unknown = sorted(set(folder.classes) - set(classes))
        if unknown:
            raise DataFileError(f"{folder.root}: class folder(s) {unknown} are not among the training classes")
        index = {c: i for i, c in enumerate(classes)}
        folder.labels = np.array([index[folder.classes[k]] for k in folder.labels], dtype=np.int64)
        folder.classes = list(classes)
    if channels not in (0, 1, 3):
        raise ValueError(f"image_channels must be 1, 3 or 0 (from the files), got {channels}")
    if size and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"image_size must be two positive integers H W, got {tuple(size)}")
    ch = channels or image_channels(folder)
    sz = tuple(size) if size else None
    sample = _shape(folder, ch, sz)  # every header read once (and every size checked) here
    if not stream:
        need = len(folder.paths) * int(np.prod(sample)) * 5  # uint8 decoded + float32 in memory
        avail = limits.available_memory()
        stream = bool(avail) and need > 0.5 * avail
    if stream:
        split = Split(StreamedImages(folder, ch, sz, sample=sample), folder.labels)
    else:
        split = Split(torch.from_numpy(as_float32(decode_all(folder, ch, sz, shape=sample))), folder.labels)
    split.names = folder.names
    return split, folder


def write_images(images: np.ndarray, names: list[str], out: str | Path) -> Path:
    """Write images (N, C, H, W) with values in [0, 1] (C = 1 or 3) as PNG files ``out/<name>``, all at once: they are
    written into a temporary folder beside ``out`` that then replaces ``out`` (which must not exist, or be an empty
    folder), so a failure leaves no partial folder (see :func:`aekit.files.new_folder`)."""
    from PIL import Image

    from ..files import WriteError, new_folder

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"PNG files hold images (N, 1 or 3, H, W); these samples have shape {images.shape[1:]}")
    out = Path(out)
    with new_folder(out) as tmp:
        for img, name in zip(images, names):
            a = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
            target = tmp / name
            if not target.resolve().is_relative_to(tmp.resolve()):
                raise ValueError(f"an output name leaves {out}: {name!r}")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)).save(target, format="PNG")
            except OSError as e:
                raise WriteError(f"cannot write {out / name}: {e.strerror or e}") from e
    return out


@DATASETS.register("images", options=("path", "test_path", "stream", "image_channels", "image_size",
                                     "split"))
def load_images(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    """A folder of images (``path``), and a test folder (``test_path``) or 20 % of ``path`` held out."""
    if not cfg.path:
        raise ValueError("dataset 'images' needs a folder (--data DIR)")
    train, folder = load_image_split(cfg.path, cfg.image_channels, cfg.image_size, cfg.stream)
    if cfg.test_path:
        test, _ = load_image_split(cfg.test_path, train.x.shape[1], cfg.image_size or tuple(train.x.shape[2:]),
                                   cfg.stream, folder.classes if folder.labels is not None else None)
    else:
        train, test = split_off(train, 0.2, seed, cfg.split)
    c, h, w = train.x.shape[1:]
    kinds = f", classes {', '.join(folder.classes)}" if folder.classes else ""
    return DataSplits(train, test, f"images in {cfg.path} ({len(train)} train, {len(test)} test, {c}x{h}x{w}{kinds})",
                      classes=list(folder.classes) if folder.labels is not None else None)
