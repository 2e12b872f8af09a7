"""Input corruptions for denoising training (each takes (x, level) and returns a corrupted copy of x), and the random
shifts of images that augmentation and the classifier's views use."""

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


def random_shift(x: torch.Tensor, s: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images (B, C, H, W), each translated by its own random (dy, dx) in -s..s, zeros filling in: (B, C, H, W)."""
    b, _, h, w = x.shape
    off = torch.randint(0, 2 * s + 1, (2, b), generator=generator).to(x.device)  # crop corners in the padded image
    padded = torch.nn.functional.pad(x, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
    rows = off[0][:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = off[1][:, None] + torch.arange(w, device=x.device)  # (B, W)
    out = padded[torch.arange(b, device=x.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
