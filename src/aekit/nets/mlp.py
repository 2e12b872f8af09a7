"""Fully connected encoder and decoder (tabular data and flattened images)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ModelConfig
from ..registry import ARCHITECTURES
from .activations import activation


def _stack(sizes: list[int], act: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation(act)]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    def __init__(self, in_dim: int, hidden: tuple[int, ...], act: str) -> None:
        super().__init__()
        self.net = _stack([in_dim, *hidden], act)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.flatten(1))  # (B, *shape) -> (B, D) -> (B, hidden[-1])


class MLPDecoder(nn.Module):
    def __init__(self, latent_dim: int, hidden: tuple[int, ...], out_shape: tuple[int, ...], act: str) -> None:
        super().__init__()
        self.out_shape = out_shape
        self.net = _stack([latent_dim, *hidden[::-1]], act)
        self.out = nn.Linear(hidden[0] if hidden else latent_dim, math.prod(out_shape))

    def forward(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        return self.out(self.net(z)).view(-1, *self.out_shape)  # (B, L) -> (B, D) -> (B, *shape)


@ARCHITECTURES.register("mlp", options=("hidden",))
def build_mlp(cfg: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    in_dim = math.prod(cfg.input_shape)
    enc = MLPEncoder(in_dim, cfg.hidden, cfg.activation)
    dec = MLPDecoder(cfg.latent_dim, cfg.hidden, cfg.input_shape, cfg.activation)
    return enc, (cfg.hidden[-1] if cfg.hidden else in_dim), dec
