"""Input corruptions for denoising training. Each takes (x, level) and returns a corrupted copy of x."""

from __future__ import annotations

import torch

from .registry import CORRUPTIONS


@CORRUPTIONS.register("gaussian")
def gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x + sigma * N(0, 1)."""
    return x + sigma * torch.randn_like(x)


@CORRUPTIONS.register("masking", "mask")
def masking(x: torch.Tensor, p: float) -> torch.Tensor:
    """Each entry is set to 0 with probability p."""
    return x * (torch.rand_like(x) >= p)


@CORRUPTIONS.register("salt_pepper", "salt-and-pepper", "salt_and_pepper")
def salt_pepper(x: torch.Tensor, p: float) -> torch.Tensor:
    """Each entry becomes 0 or 1 (equally likely) with probability p."""
    u = torch.rand_like(x)
    out = torch.where(u < p / 2, torch.zeros_like(x), x)
    return torch.where((u >= p / 2) & (u < p), torch.ones_like(x), out)


def corrupt(x: torch.Tensor, kind: str, level: float) -> torch.Tensor:
    return CORRUPTIONS.get(kind)(x, level)
