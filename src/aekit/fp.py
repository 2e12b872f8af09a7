"""Denormal floats, flushed to zero while aekit trains and infers, and only then; and the one CPU thread a table's
work runs on (:func:`table_threads`).

Late in training tiny gradients and Adam moments become denormals, which x86 CPUs process far more slowly (measured
here: the reference MLP's epochs went from 0.15 s to 0.23 s; ``aekit demo --arch conv``'s last epochs from about
2.2 s to 2.7 s with ``AEKIT_KEEP_DENORMALS=1``, one run each). aekit's training loop and inference run inside
:func:`denormals_flushed`, which turns flushing on for the calling thread and restores what it was after: the user's
own code keeps IEEE arithmetic. The setting is per thread, and a thread created while it is on inherits it for good,
so :func:`prepare` (at ``import aekit``) makes torch's worker threads first, with the process's own setting: in a
user's process only aekit's thread flushes, and only while aekit works. The ``aekit`` program itself runs no one
else's code, so there every thread flushes, from the start. (One pair of runs of the conv demo: 46.3 s of training
called from Python against 48.9 s in the program; within this machine's noise.) ``AEKIT_KEEP_DENORMALS=1`` turns
the flushing off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator

import torch


def flushing() -> bool:
    """Whether the calling thread flushes denormals (a denormal times 1 is 0 then)."""
    return bool(torch.tensor([1e-40]) * 1.0 == 0)


def is_the_aekit_program() -> bool:
    """Whether this process is the ``aekit`` command (or ``python -m aekit.cli``): then no one else's code runs."""
    argv0 = Path(sys.argv[0] if sys.argv else "")
    return argv0.name == "aekit" or argv0.parts[-2:] == ("cli", "__main__.py")


def prepare() -> None:
    """Precompute numpy's float limits (its finfo warns when computed while flushing) and start torch's worker
    threads now: flushing in the ``aekit`` program (so that they inherit it), outside any flushing elsewhere (so
    that none of them does)."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for t in (np.float16, np.float32, np.float64, np.longdouble):
            np.finfo(t).smallest_subnormal
    if is_the_aekit_program() and not os.environ.get("AEKIT_KEEP_DENORMALS"):
        torch.set_flush_denormal(True)
    torch.ones(1 << 17).sum()  # large enough to run on the intra-op thread pool, which starts it


@contextlib.contextmanager
def denormals_flushed() -> Iterator[None]:
    """Flush denormals to zero on this thread inside the block, and restore the thread's setting after."""
    if os.environ.get("AEKIT_KEEP_DENORMALS") or flushing():
        yield
        return
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


TABLE_THREADS = 1  # torch's CPU threads while a table's model trains or generates (see table_threads)


@contextlib.contextmanager
def table_threads(table: bool) -> Iterator[None]:
    """Inside the block, torch works on TABLE_THREADS CPU threads when ``table`` (a table's data or model), else on
    as many as it had; restored after (nested blocks leave it alone). A table's loss and generation are many small
    operations (gathers, a cross-entropy and a softmax over each category's levels) on batches of 64 rows, and on
    two threads each pays for waking the second one. Measured (benchmarks/README.md), alternating in
    one process: ``aekit train`` then ``aekit generate`` on census 0.18 -> 0.12 s (its 42 states); training alone
    on one thread, Exam 0.58 -> 0.48 s, Default 1.15 -> 0.94 s, CPS1988's 14,000 rows 1.45 -> 1.24 s. Over issue
    29's ten halvings, 14.0 times as fast as SDV's TVAE (11.7 before). Numbers alone (an MLP on an array of 2,000
    rows of 60 columns, the same layers) trained 1.16 times slower on one thread (wider, 1.5), so they keep what torch
    has. The choice depends on the run alone: a resumed run takes the same one, and so gives the same floats.
    Torch's worker threads are not made anew (its pool is kept), so they keep the process's floating-point setting
    (tests/test_optim.py checks it)."""
    before = torch.get_num_threads()
    few = table and before > TABLE_THREADS
    if few:
        torch.set_num_threads(TABLE_THREADS)
    try:
        yield
    finally:
        if few:
            torch.set_num_threads(before)
