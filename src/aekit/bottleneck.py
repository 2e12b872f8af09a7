"""Bottlenecks: features (B, F) -> code (B, L). Deterministic, or Gaussian with the reparameterisation trick."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .nets import activation


@dataclass
class BottleneckOutput:
    z: torch.Tensor  # (B, L) the code the decoder sees
    mu: torch.Tensor | None = None  # (B, L) Gaussian only
    logvar: torch.Tensor | None = None  # (B, L) Gaussian only


class Deterministic(nn.Module):
    gaussian = False

    def __init__(self, in_dim: int, latent_dim: int, code_activation: str = "identity") -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, latent_dim)
        self.act = activation(code_activation)

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        return BottleneckOutput(self.act(self.fc(h)))


class Gaussian(nn.Module):
    """q(z|x) = N(mu, diag(exp(logvar))); z = mu + sigma * eps in training, mu at inference."""

    gaussian = True

    def __init__(self, in_dim: int, latent_dim: int, code_activation: str = "identity") -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, 2 * latent_dim)
        self.act = activation(code_activation)

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        mu, logvar = self.fc(h).chunk(2, dim=1)  # (B, 2L) -> 2 x (B, L)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if self.training else mu
        return BottleneckOutput(self.act(z), mu, logvar)
