"""Denoising: corrupt clean inputs, clean them with a model, and measure the gain in PSNR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model import Autoencoder
from .infer import reconstruct

def psnr(clean: np.ndarray, other: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio of ``other`` against ``clean`` (same shapes), in dB: 10 log10(range^2 / MSE);
    inf when they are equal."""
    mse = float(np.mean((np.asarray(clean, np.float64) - np.asarray(other, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)


@dataclass
class Denoised:
    noisy: np.ndarray  # (N, *input_shape) the model's input
    denoised: np.ndarray  # (N, *input_shape) its output
    clean: np.ndarray | None = None  # (N, *input_shape) when the noise was added here
    psnr: tuple[float, float] | None = None  # (noisy, denoised) against clean, in dB


def denoise(model: Autoencoder, x: np.ndarray, add_noise: str | None = None, level: float = 0.3,
            seed: int = 0) -> Denoised:
    """Clean x with the model. With ``add_noise`` (a corruption name), x is taken as clean, corrupted here with
    ``level`` (seeded), then cleaned, and the PSNR before and after is measured.

    Parameters
    ----------
    model : a trained (preferably denoising) autoencoder.
    x : (N, *input_shape) inputs.
    add_noise : None, or gaussian / masking / salt_pepper.

    Returns
    -------
    :class:`Denoised` with noisy, denoised, clean and psnr.
    """
    if add_noise is None:
        return Denoised(x, reconstruct(model, x))
    from ..config import LossConfig
    from ..corruption import corrupt

    LossConfig(noise=add_noise, noise_level=level)  # a clear error for an unknown noise or a level out of range
    with torch.random.fork_rng(devices=[]):  # seeded noise, without touching the caller's random state
        torch.manual_seed(seed)
        noisy = corrupt(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), add_noise, level).numpy()
    out = reconstruct(model, noisy)
    return Denoised(noisy, out, x, (psnr(x, noisy), psnr(x, out)))
