"""Batched inference: codes, reconstructions, decoded codes and reconstruction errors of a trained model.

All take and return numpy arrays (or tensors) with the sample axis first, and run in eval mode without gradients, in
chunks of a fixed size so that a sample's result does not depend on which other samples came with it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import CHUNK, Autoencoder, batched  # noqa: F401  (batched: part of this module's API)
from ..terms import elementwise_error


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
    return model.reconstructions(x, batch_size)


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
    standardised scale (the data's own scale for models without standardisation). For a table model: each row's
    loss per column (N, columns) with per_feature (the columns that make a row unusual), else its mean (N,)."""
    if model.table is not None:
        def by_column(xb: torch.Tensor) -> torch.Tensor:
            parts = model.table.loss_matrix(model.reconstruct(xb), xb)  # (B, columns)
            return parts if per_feature else parts.mean(1)

        return batched(model, x, by_column, batch_size)

    def fn(xb: torch.Tensor) -> torch.Tensor:
        err, count = elementwise_error(model.normalize(model.reconstruct(xb)), model.normalize(xb), kind)
        return err.view(xb.shape) if per_feature else err.sum(1) / count

    return batched(model, x, fn, batch_size)


def table_errors(model: Autoencoder, x: np.ndarray, x_hat: np.ndarray) -> str:
    """Words for how well a table model rebuilt encoded rows ``x`` (N, width) as ``x_hat``: the RMSE of observed
    numbers (in standard-normal units of the quantile transform) and the error rate of categories."""
    codec = model.table
    sq, n_num, wrong, n_cat = 0.0, 0, 0, 0
    for c, (a, b) in zip(codec.schema.columns, codec.slices):
        if c.onehot:
            wrong += int((x_hat[:, a:b].argmax(1) != x[:, a:b].argmax(1)).sum())
            n_cat += len(x)
        else:
            seen = x[:, a + 1] == 0 if c.missing else np.ones(len(x), dtype=bool)
            sq += float(((x_hat[seen, a] - x[seen, a]) ** 2).sum())
            n_num += int(seen.sum())
    out = []
    if n_num:
        out.append(f"RMSE of numbers {np.sqrt(sq / n_num):.4f} (standard units)")
    if n_cat:
        out.append(f"category error rate {wrong / n_cat:.4f}")
    return ", ".join(out)
