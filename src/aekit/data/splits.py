"""Samples in memory or on disk, split into training and test sets, checked like files are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..batch import check_labels
from ..config import SPLITS


@dataclass
class Split:
    x: torch.Tensor  # (N, *sample_shape) float32, or a StreamedArray for data read from disk batch by batch
    y: np.ndarray | None = None  # (N,) labels when known
    lengths: torch.Tensor | None = None  # (N,) valid steps of padded sequences
    names: list[str] | None = None  # (N,) where each sample came from (image files), for output names
    table: object | None = None  # an aekit.table.TableCodec: x holds a table's rows encoded by it

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, idx: torch.Tensor) -> "Split":
        """The samples at ``idx`` (a 1-D index tensor), with their labels and lengths."""
        x = self.x.subset(idx) if hasattr(self.x, "subset") else self.x[idx]  # a StreamedArray stays on disk
        return Split(x, None if self.y is None else self.y[idx.numpy()],
                     None if self.lengths is None else self.lengths[idx],
                     None if self.names is None else [self.names[i] for i in idx.tolist()], self.table)


@dataclass
class DataSplits:
    """A training and a test :class:`Split`, and a name saying what was loaded."""

    train: Split
    test: Split
    name: str  # what was loaded, for messages ("MNIST from /path", "sklearn digits")
    # config fields the loader resolved that the config left open (MNIST's folder, found through $AEKIT_DATA_DIR or
    # the cache): a run stores them, so that it finds the same data later without the environment it trained in
    source: dict | None = None
    classes: list[str] | None = None  # the name of each class index, where the data names them (image subfolders)

    def label_names(self, y) -> list[str] | None:
        """Labels (N,) as the figures name them: the class's name (or its index), "unlabelled" for -1."""
        if y is None:
            return None
        names = self.classes or []
        return [label_text(names[int(v)] if 0 <= int(v) < len(names) else int(v)) for v in np.asarray(y)]

    @classmethod
    def from_arrays(cls, x_train, x_test=None, y_train=None, y_test=None, test_fraction: float = 0.2,
                    seed: int = 0, split: str = "by-label") -> "DataSplits":
        """Splits from arrays or tensors (N, *sample_shape), checked like files are (NaN, inf, empty, complex...).
        Without ``x_test``, a ``test_fraction`` of x_train is held out (seeded; ``split``: by label, or random, as
        :func:`split_off` draws it)."""
        train = to_split(_numpy(x_train), None if y_train is None else _numpy(y_train), "the training data")
        if x_test is None:
            train, test = split_off(train, test_fraction, seed, split)
        else:
            test = to_split(_numpy(x_test), None if y_test is None else _numpy(y_test), "the test data")
            if test.x.shape[1:] != train.x.shape[1:]:
                raise ValueError(f"test samples have shape {tuple(test.x.shape[1:])}, "
                                 f"training samples {tuple(train.x.shape[1:])}")
        return cls(train, test, f"arrays ({len(train)} train, {len(test)} test)")


def as_images(data: "DataSplits", shape: tuple[int, ...]) -> "DataSplits":
    """Rows of numbers (N, C * H * W) in both splits read as images (N, C, H, W); splits already of that shape stay.
    A ValueError when the rows hold another number of values or are not rows in memory."""
    shape = tuple(int(v) for v in shape)
    out = []
    for what, s in (("training", data.train), ("test", data.test)):
        if tuple(s.x.shape[1:]) == shape:
            out.append(s)
            continue
        if not torch.is_tensor(s.x) or s.x.ndim != 2 or s.x.shape[1] != int(np.prod(shape)):
            raise ValueError(f"image_shape {shape} holds {int(np.prod(shape))} values, but the {what} samples of "
                             f"{data.name} have shape {tuple(s.x.shape[1:])}"
                             + ("" if torch.is_tensor(s.x) else " and are streamed"))
        out.append(Split(s.x.reshape(len(s.x), *shape), s.y, s.lengths, s.names, s.table))
    return DataSplits(out[0], out[1], data.name, data.source, data.classes)


def label_text(label) -> str:
    """How a label is named for people: a class name as it is, an index as "label k", -1 as "unlabelled"."""
    if isinstance(label, str):
        return label
    return "unlabelled" if int(label) < 0 else f"label {int(label)}"


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if torch.is_tensor(a) else np.asarray(a)


def as_float32(x: np.ndarray) -> np.ndarray:
    """float32, with uint8 data (images) scaled to [0, 1]."""
    return x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32)


def check_array(x: np.ndarray, what: str) -> np.ndarray:
    """Raise a clear ValueError for a scalar, empty, non-numeric, complex, NaN or infinite data; return x as
    float32."""
    if x.ndim == 0:
        raise ValueError(f"{what} holds a single number, not an array of samples (N, ...)")
    if x.size == 0 or x.shape[0] == 0:
        raise ValueError(f"{what} is empty (shape {x.shape})")
    if np.iscomplexobj(x):
        raise ValueError(f"{what} holds complex numbers (dtype {x.dtype}); aekit trains on real values: pass the "
                         "real and imaginary parts as separate features")
    if x.dtype.kind not in "biuf":  # numbers; not timedelta64, datetime64, strings or objects
        raise ValueError(f"{what} is not numeric (dtype {x.dtype})")
    x = as_float32(x)
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(x[tuple(first)]) else "inf"
        raise ValueError(f"{what} contains {int(bad.sum())} NaN or inf value(s); the first ({kind}) is at index "
                         f"{tuple(int(i) for i in first)}")
    return x


def to_split(x: np.ndarray, y: np.ndarray | None, what: str) -> Split:
    """A Split of checked samples (:func:`check_array`) and checked class labels (:func:`aekit.batch.check_labels`:
    one per sample, whole numbers from -1), or a ValueError naming ``what``."""
    x = check_array(np.asarray(x), what)
    return Split(torch.from_numpy(x), None if y is None else check_labels(y, len(x), what))


def split_off(split: Split, fraction: float, seed: int, rule: str = "random") -> tuple[Split, Split]:
    """A (rest, held-out) split with a fixed seed; held-out has round(fraction * N) >= 1 samples.

    ``rule`` (:attr:`aekit.config.DataConfig.split`): "random", the first k of a seeded permutation; "by-label",
    from the same permutation floor(fraction x its count) labelled rows of each class (so that a class keeps at
    least 1 - fraction of its labels, and every label where it has fewer than 1 / fraction), then unlabelled rows,
    then other labelled rows, until there are k. Without labels the two are the same split."""
    if rule not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {rule!r}")
    n = len(split)
    k = max(1, int(round(fraction * n)))
    if n - k < 1:
        raise ValueError(f"cannot hold out {fraction:.0%} of {n} sample(s) and keep any for training")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if rule == "random" or split.y is None or not (np.asarray(split.y) >= 0).any():
        return split.subset(perm[k:]), split.subset(perm[:k])
    y = np.asarray(split.y)[perm.numpy()]  # (n,) labels in the permutation's order
    held = np.zeros(n, dtype=bool)
    for c in np.unique(y[y >= 0]):
        rows = np.flatnonzero(y == c)
        held[rows[:int(np.floor(fraction * len(rows) + 1e-9))]] = True
    for pool in (np.flatnonzero(y < 0), np.flatnonzero(y >= 0)):  # the rest: unlabelled rows first
        free = pool[~held[pool]]
        held[free[:max(0, k - int(held.sum()))]] = True
    keep = torch.from_numpy(held)
    return split.subset(perm[~keep]), split.subset(perm[keep])
