"""Batched inference: codes, reconstructions, decoded codes and reconstruction errors of a trained model.

All take and return numpy arrays (or tensors) with the sample axis first, and run in eval mode without gradients, in
chunks of a fixed size so that a sample's result does not depend on which other samples came with it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..fp import denormals_flushed
from ..model import Autoencoder
from ..terms import elementwise_error

CHUNK = 32  # rows of every inference forward pass (small: one sample costs a forward of CHUNK rows)


def batched(model: Autoencoder, x: np.ndarray | torch.Tensor, fn, batch_size: int = CHUNK,
            check: bool = True) -> np.ndarray:
    """Apply fn to x in chunks on the model's device, in eval mode without gradients; concatenate as numpy.

    ``check``: x must fit the model's input (off for codes).
    Every call of fn sees exactly ``batch_size`` rows: the last chunk is padded with copies of its first row, and
    the padding's outputs are dropped. Kernels (matrix products, convolutions) pick their algorithm by shape, so a
    sample's result would otherwise depend on how many other samples came with it (on some CPUs by ~1e-7); with one
    shape for every call it is the same whichever samples share its call.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x, dtype=torch.float32)
    if check:
        model.check_input(x)
    was = model.training
    if was:  # (eval() walks every module: ~30 us, a tenth of a small request's cost)
        model.eval()
    dev = model.device
    outs = []
    try:
        with torch.no_grad(), denormals_flushed():
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size]
                k = len(xb)
                if k < batch_size:  # (k, ...) -> (batch_size, ...)
                    xb = torch.cat([xb, xb[:1].expand(batch_size - k, *xb.shape[1:])])
                outs.append(fn(xb.to(dev).contiguous())[:k].cpu().numpy())  # one memory layout, one kernel
    finally:
        if was:
            model.train()
    return np.concatenate(outs) if outs else np.empty((0,))


def encode(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """Codes of the inputs: dimensionality reduction, features.

    Parameters
    ----------
    model : a trained autoencoder.
    x : (N, *input_shape) inputs (numpy or torch).
    batch_size : rows of every forward pass (the last chunk is padded).

    Returns
    -------
    (N, L) float32 codes (the posterior mean for a VAE).
    """
    return batched(model, x, model.encode, batch_size)


def reconstruct(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """Reconstructions ``decode(encode(x))`` of the inputs.

    Parameters
    ----------
    x : (N, *input_shape) inputs.

    Returns
    -------
    (N, *input_shape) float32 reconstructions.
    """
    return batched(model, x, model.reconstruct, batch_size)


def decode(model: Autoencoder, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """Decode codes.

    Parameters
    ----------
    z : (N, L) codes.

    Returns
    -------
    (N, *input_shape) float32 outputs (after the output activation).
    """
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if tuple(z.shape[1:]) != tuple(model.code_shape):
        want = ", ".join(map(str, model.code_shape))
        raise ValueError(f"codes of shape {tuple(z.shape)} do not fit: expected (N, {want})")
    return batched(model, z, model.decode, check=False)


def reconstruction_error(model: Autoencoder, x: np.ndarray | torch.Tensor, kind: str = "mse",
                         per_feature: bool = False, batch_size: int = CHUNK) -> np.ndarray:
    """Per-sample mean error (N,), or per-element error (N, *input_shape) with per_feature=True, on the model's
    standardised scale (the data's own scale for models without standardisation)."""
    def fn(xb: torch.Tensor) -> torch.Tensor:
        err, count = elementwise_error(model.normalize(model.reconstruct(xb)), model.normalize(xb), kind)
        return err.view(xb.shape) if per_feature else err.sum(1) / count

    return batched(model, x, fn, batch_size)
