"""Input corruptions for denoising training (each takes (x, level) and returns a corrupted copy of x), and the random
shifts, rotations and scalings of images that augmentation and the classifier's views use."""

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


def affine(x: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W), each rotated by its own ``angle`` (B,) in radians (clockwise as the image is shown, row 0
    at the top) and enlarged by its own ``scale`` (B,) about its centre, by bilinear interpolation, zeros filling in:
    (B, C, H, W)."""
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale  # (B,) each: output -> input coordinates
    theta = torch.stack([torch.stack([cos, sin, torch.zeros_like(cos)], 1),
                         torch.stack([-sin, cos, torch.zeros_like(cos)], 1)], 1)  # (B, 2, 3)
    grid = torch.nn.functional.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, align_corners=False)


def random_affine(x: torch.Tensor, degrees: float, scale: float) -> torch.Tensor:
    """Images (B, C, H, W), each rotated by its own uniform angle in -degrees..degrees and scaled by its own factor
    in 1 - scale..1 + scale (:func:`affine`): (B, C, H, W)."""
    u = torch.rand(2, len(x), device=x.device) * 2 - 1  # (2, B) in -1..1
    return affine(x, u[0] * degrees * torch.pi / 180, 1 + u[1] * scale)
