"""Encoders and decoders by data shape. Each module registers an architecture builder.

A builder takes the resolved :class:`~aekit.config.ModelConfig` and returns ``(encoder, feature_dim, decoder)``:
``encoder(x, lengths) -> (B, feature_dim)`` and ``decoder(z, steps) -> (B, *input_shape)`` before the output
activation.
"""

from __future__ import annotations

from .activations import activation


def choose_arch(sample_shape: tuple[int, ...]) -> str:
    """mlp for vectors (D,), rnn for sequences (T, F), conv for images (C, H, W)."""
    return {1: "mlp", 2: "rnn", 3: "conv"}.get(len(sample_shape)) or _bad_shape(sample_shape)


def _bad_shape(shape: tuple[int, ...]) -> str:
    raise ValueError(f"cannot choose an architecture for samples of shape {shape}: "
                     "expected (D,) vectors, (T, F) sequences or (C, H, W) images")


from . import conv, mlp, recurrent  # noqa: E402,F401  (register the builders)

__all__ = ["activation", "choose_arch"]
