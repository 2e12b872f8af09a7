"""Upper bounds on every size aekit takes from a user, a file or a request, checked before anything is allocated.

Two kinds: a documented limit per value (:data:`LIMITS`, checked where the value enters: the config's validation,
the commands' arguments, the service), and an estimate of the memory a model and its batches need against what the
machine has (:func:`aekit.model.check_model_memory`, :func:`check_batch_memory`), whose error names the value that makes it too
large. The limits are far above any model that trains on one machine and far below what would exhaust one.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

LIMITS: dict[str, int] = {
    "latent_dim": 65_536,
    "hidden": 65_536,  # each hidden size
    "channels": 8_192,  # each conv stage
    "layers": 64,  # hidden sizes, conv stages, recurrent layers
    "rnn_hidden": 65_536,
    "input_elements": 2 ** 27,  # numbers in one sample (a 4096 x 4096 RGB image has 2 ** 25.6)
    "image_side": 16_384,  # image_size H and W
    "steps": 1_000_000,  # time steps of one sequence, window
    "epochs": 1_000_000,
    "batch_size": 1_048_576,
    "seed": 2 ** 63 - 1,
    "column": 1_000_000,
    "samples": 1_000_000,  # aekit generate -n
    "path_steps": 10_000,  # aekit interpolate --steps
    "files": 1_000_000,  # entries scanned under an image folder
    "components": 10_000,  # a sampler's mixture components
    "classes": 10_000,  # a classifier's classes
}
PARAMETERS = 2 ** 31  # 8 GiB of float32 weights


class TooLarge(ValueError):
    """A size above its limit, or a model or batch that would not fit in memory."""


def check(name: str, value: Any, limit_name: str | None = None, what: str | None = None) -> None:
    """A :class:`TooLarge` when ``value`` (an int, or each int of a tuple) exceeds ``LIMITS[limit_name or name]``."""
    limit = LIMITS[limit_name or name]
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if isinstance(v, int) and v > limit:
            raise TooLarge(f"{what or name} {v:,} is too large: the limit is {limit:,}")


def available_memory() -> int:
    """Bytes of memory available now (Linux: MemAvailable), or 0 when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB"


def activation_elements(m, steps: int | None = None) -> int:
    """An upper estimate of the numbers one sample's forward pass keeps (inputs, every layer's output, both
    halves): what the backward pass holds per sample, and what inference needs at its peak."""
    shape = tuple(m.input_shape)
    size = math.prod(shape)
    if m.arch == "conv":
        c, h, w = shape
        per = c * h * w
        for i, ch in enumerate(m.channels):
            h, w = (h + 1) // 2, (w + 1) // 2
            per += 3 * ch * h * w  # conv, norm, activation
        return 2 * per + 4 * m.latent_dim
    if m.arch == "rnn":
        t = steps or shape[0]
        return 2 * t * (shape[-1] + 4 * m.rnn_hidden * m.rnn_layers) + 4 * m.latent_dim
    return 2 * (size + 3 * sum(m.hidden)) + 4 * m.latent_dim


def check_batch_memory(config, batch: int, what: str = "batch_size", steps: int | None = None,
                       training: bool = True) -> None:
    """A :class:`TooLarge` naming ``what`` when ``batch`` samples' activations would not fit in the memory
    available (two thirds of it)."""
    need = batch * activation_elements(config.model, steps) * 4 * (2 if training else 1)
    avail = available_memory()
    if avail and need > 0.66 * avail:
        per = need / batch
        raise TooLarge(f"{what} {batch:,} is too large for this model and input: its activations would need "
                       f"{gib(need)} ({gib(per)} per sample{f', {steps:,} steps' if steps else ''}) of the "
                       f"{gib(avail)} available")
