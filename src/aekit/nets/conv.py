"""Convolutional encoder and decoder for images (C, H, W) of any size.

Each stage halves H and W with a stride-2 convolution (rounding up), followed by ``conv_depth - 1`` convolutions of
stride 1 in the encoder (a deeper encoder, for the classifier's image recipe); the decoder mirrors the stages with
transposed convolutions whose output_padding is chosen per stage so that the output has exactly the input's size,
also when H or W is odd.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ModelConfig
from ..registry import ARCHITECTURES
from .activations import activation


def _stage_sizes(h: int, w: int, n: int) -> list[tuple[int, int]]:
    sizes = [(h, w)]
    for _ in range(n):
        h, w = (h + 1) // 2, (w + 1) // 2  # conv k=3, s=2, p=1: ceil(h / 2)
        sizes.append((h, w))
    return sizes


class ConvEncoder(nn.Module):
    def __init__(self, in_ch: int, channels: tuple[int, ...], act: str, spatial: bool = False,
                 depth: int = 1) -> None:
        super().__init__()
        self.spatial = spatial
        layers: list[nn.Module] = []
        prev = in_ch
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, stride=2, padding=1), nn.GroupNorm(min(8, c), c), activation(act)]
            for _ in range(depth - 1):  # (B, c, h, w) -> (B, c, h, w)
                layers += [nn.Conv2d(c, c, 3, stride=1, padding=1), nn.GroupNorm(min(8, c), c), activation(act)]
            prev = c
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = self.net(x)  # (B, C, H, W) -> (B, c_last, h, w)
        return h if self.spatial else h.flatten(1)  # -> (B, c_last*h*w) for a flat code


class ConvDecoder(nn.Module):
    def __init__(self, latent_dim: int, out_ch: int, channels: tuple[int, ...],
                 sizes: list[tuple[int, int]], act: str, spatial: bool = False) -> None:
        super().__init__()
        self.top = (channels[-1], *sizes[-1])
        # a flat code (B, L) through a linear layer, a spatial one (B, L, h, w) through a 1x1 convolution
        head = nn.Conv2d(latent_dim, channels[-1], 1) if spatial else nn.Linear(latent_dim, math.prod(self.top))
        self.fc = nn.Sequential(head, activation(act))
        layers: list[nn.Module] = []
        rev = channels[::-1]
        outs = [*rev[1:], out_ch]
        for i, (c_in, c_out) in enumerate(zip(rev, outs)):
            (hi, wi), (ho, wo) = sizes[-1 - i], sizes[-2 - i]
            pad = (ho - (2 * hi - 1), wo - (2 * wi - 1))  # 0 or 1: lands exactly on the encoder's size
            last = i == len(rev) - 1
            layers.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad))
            if not last:
                layers += [nn.GroupNorm(min(8, c_out), c_out), activation(act)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        h = self.fc(z).view(-1, *self.top)  # (B, L) or (B, L, h, w) -> (B, c_last, h, w)
        return self.net(h)  # -> (B, C, H, W)


def code_shape(cfg: ModelConfig) -> tuple[int, ...]:
    """(L,) for a flat code; (L, h, w) for a spatial one, h and w the last stage's size."""
    if not cfg.spatial_code:
        return (cfg.latent_dim,)
    return (cfg.latent_dim, *_stage_sizes(*cfg.input_shape[1:], len(cfg.channels))[-1])


@ARCHITECTURES.register("conv", options=("channels", "spatial_code", "conv_depth"))
def build_conv(cfg: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    if len(cfg.input_shape) != 3:
        raise ValueError(f"conv needs image samples (C, H, W), got shape {cfg.input_shape}")
    c, h, w = cfg.input_shape
    sizes = _stage_sizes(h, w, len(cfg.channels))
    enc = ConvEncoder(c, cfg.channels, cfg.activation, cfg.spatial_code, cfg.conv_depth)
    dec = ConvDecoder(cfg.latent_dim, c, cfg.channels, sizes, cfg.activation, cfg.spatial_code)
    feat = cfg.channels[-1] if cfg.spatial_code else cfg.channels[-1] * math.prod(sizes[-1])
    return enc, feat, dec
