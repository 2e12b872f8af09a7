"""Experiment tracking: a run's training curves and image grids as TensorBoard event files (the ``tensorboard``
extra), written while it trains (``aekit train --tensorboard DIR``) or afterwards from its ``history.jsonl``
(``aekit tensorboard RUN --out DIR``).

Scalars, at step = epoch: every named loss part, ``train/<part>`` and ``val/<part>``, the learning rate ``lr`` and the
epoch's seconds ``time_s``. Images (image models only): ``reconstructions`` (8 inputs above their reconstructions)
at most every ``IMAGES_EVERY`` seconds and after the last epoch, and ``samples`` from the run's sampler at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

IMAGES_EVERY = 30.0  # seconds of training between two image grids
EXTRA_HELP = "TensorBoard logging needs the tensorboard package: pip install 'aekit[tensorboard]'"


def require() -> type:
    """torch.utils.tensorboard's SummaryWriter class, or an ImportError naming the extra."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(EXTRA_HELP) from None
    return SummaryWriter


def summary_writer(log_dir: str | Path):
    """A SummaryWriter writing into ``log_dir`` (made if missing)."""
    return require()(str(log_dir))


def check_log_dir(log_dir: str | Path) -> Path | None:
    """Before a run touches anything: ``log_dir`` must be named, be a folder (made if missing) and take a file. A
    clear ValueError or OSError otherwise, with nothing left behind. Returns the topmost folder it made (or None)."""
    from . import files

    if str(log_dir).strip() == "":
        raise ValueError("the TensorBoard folder is empty: give a folder name (--tensorboard DIR)")
    path = Path(log_dir)
    if os.path.lexists(path) and not path.is_dir():
        raise ValueError(f"TensorBoard folder {path} exists and is not a folder")
    made = None
    try:
        made = files.make_dirs(path)
        fd, probe = tempfile.mkstemp(prefix=files.temp_prefix("probe"), suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        raise OSError(f"cannot write TensorBoard events into {path}: {e.strerror or e}") from None
    return made


def _quiet_writer_threads(args) -> None:
    """threading.excepthook: a TensorBoard writer thread's failure (a full disk) is reported once, as one line, by
    the next write on the training thread (:class:`TensorBoardLog`); every other thread's as Python would."""
    if type(args.thread).__name__ == "_AsyncWriterThread" and isinstance(args.exc_value, Exception):
        return
    _previous_hook(args)


_previous_hook = threading.excepthook


def _image_like(x: torch.Tensor | np.ndarray) -> bool:
    return x.ndim == 4 and x.shape[1] in (1, 3)


class TensorBoardLog:
    """Writes each epoch's record (called with it) and image grids to ``log_dir``.

    ``model`` and ``x``: the model whose reconstructions of a few inputs (N, *input_shape) are drawn (images only;
    None: no images)."""

    def __init__(self, log_dir: str | Path, model=None, x: torch.Tensor | np.ndarray | None = None,
                 images_every: float = IMAGES_EVERY) -> None:
        self.log_dir = Path(log_dir)
        threading.excepthook = _quiet_writer_threads
        with self._writing():
            self.writer = summary_writer(log_dir)
        self.x = None if x is None or not _image_like(x) else torch.as_tensor(np.asarray(x[:8], dtype=np.float32))
        self.model = model
        self.images_every = images_every
        self._drawn_at = -np.inf

    @contextlib.contextmanager
    def _writing(self):
        """An OSError of the writer (its thread's, surfacing here) as one line naming the folder."""
        try:
            yield
        except OSError as e:
            raise OSError(f"cannot write TensorBoard events into {self.log_dir}: {e.strerror or e}") from None

    def __call__(self, record: dict) -> None:
        step = int(record["epoch"])
        with self._writing():
            for k, v in record.items():
                if k != "epoch" and isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, step)
            if self.model is not None and time.perf_counter() - self._drawn_at >= self.images_every:
                self.images(self.model, step)
            self.writer.flush()  # each epoch on disk: a run that stops keeps its curves

    def images(self, model, step: int, samples: bool = False) -> None:
        """Reconstructions of the inputs (and, with ``samples``, 16 samples from the model's sampler) at ``step``."""
        from .model import batched

        self._drawn_at = time.perf_counter()
        if self.x is None:
            return
        r = torch.from_numpy(batched(model, self.x, model.reconstruct))
        self.writer.add_images("reconstructions", torch.cat([self.x, r]).clamp(0, 1), step)
        if samples and model.default_sampler() is not None:
            model.eval()
            with torch.no_grad():
                s = model.sample(16, torch.Generator().manual_seed(0)).cpu()
            self.writer.add_images("samples", s.clamp(0, 1), step)

    def close(self, step: int | None = None) -> None:
        """The final images (with samples) at ``step``, then flush and close the files."""
        try:
            with self._writing():
                if self.model is not None and step is not None:
                    self.images(self.model, step, samples=True)
                self.writer.close()
        finally:
            threading.excepthook = _previous_hook

    def discard(self) -> None:
        """Close the writer and remove its event file: the run it logged failed before its first checkpoint."""
        name = getattr(getattr(self.writer.file_writer, "event_writer", None), "_file_name", None)
        with contextlib.suppress(OSError):
            self.writer.close()
        threading.excepthook = _previous_hook
        if name:
            with contextlib.suppress(OSError):
                os.unlink(name)


def history_to_tensorboard(history: list[dict], log_dir: str | Path, model=None,
                           x: torch.Tensor | np.ndarray | None = None) -> int:
    """Write a trained run's history (its ``history.jsonl``) and, given its model and inputs ``x``, the final
    image grids as TensorBoard events in ``log_dir``. Returns the number of epochs written."""
    log = TensorBoardLog(log_dir, model, x, images_every=np.inf)
    for r in history:
        log(r)
    log.close(len(history))
    return len(history)
