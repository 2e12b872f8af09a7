"""Upper bounds on every size aekit takes from a user, a file or a request, checked before anything is allocated.

Two kinds: a documented limit per value (:data:`LIMITS`, checked where the value enters: the config's validation,
the commands' arguments, the service), and an estimate of the memory a model and its batches need against what the
machine has (:func:`check_model_memory`, :func:`check_batch_memory`), whose error names the value that makes it too
large. The limits are far above any model that trains on one machine and far below what would exhaust one.
"""

from __future__ import annotations

import math
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
    from .data.stream import available_memory as avail

    return avail()


def _gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB"


def parameter_count(config) -> int:
    """Parameters of the model a resolved config describes, counted on PyTorch's meta device (nothing allocated)."""
    import torch

    from .model import build_model

    with torch.device("meta"):
        model = build_model(config, checked=False)
    return sum(p.numel() for p in model.parameters())


def _biggest(m) -> str:
    """The size fields of a model config with their values, largest first, for an error message."""
    fields = {"input_shape": math.prod(m.input_shape), "hidden": max(m.hidden, default=0), "latent_dim": m.latent_dim}
    if m.arch == "conv":
        fields["channels"] = max(m.channels)
    if m.arch == "rnn":
        fields["rnn_hidden"] = m.rnn_hidden
        fields["rnn_layers"] = m.rnn_layers
    shown = {"input_shape": tuple(m.input_shape), "hidden": m.hidden, "channels": m.channels}
    order = sorted(fields, key=lambda k: -fields[k])
    return ", ".join(f"{k} {shown.get(k, fields[k])}" for k in order if k != "hidden" or m.arch == "mlp")


def check_model_memory(config, training: bool = False) -> int:
    """The parameter count of a resolved config's model; a :class:`TooLarge` when it passes :data:`PARAMETERS` or
    its weights (with gradients and Adam's two moments when ``training``) would need more memory than is
    available."""
    m = config.model
    n = parameter_count(config)
    need = n * 4 * (4 if training else 1)
    avail = available_memory()
    if n > PARAMETERS or (avail and need > 0.8 * avail):
        raise TooLarge(f"the model would have {n:,} parameters ({_gib(need)} of memory"
                       f"{' to train' if training else ''}; {_gib(avail)} available, limit {PARAMETERS:,} "
                       f"parameters): reduce its sizes ({_biggest(m)})")
    return n


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
                       f"{_gib(need)} ({_gib(per)} per sample{f', {steps:,} steps' if steps else ''}) of the "
                       f"{_gib(avail)} available")
