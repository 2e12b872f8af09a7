"""Bottlenecks: features (B, F) -> code (B, L). Deterministic, or Gaussian with the reparameterisation trick."""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from .nets.activations import activation


@dataclass
class BottleneckOutput:
    z: torch.Tensor  # (B, L) the code the decoder sees
    mu: torch.Tensor | None = None  # (B, L) Gaussian only
    logvar: torch.Tensor | None = None  # (B, L) Gaussian only
    bits: torch.Tensor | None = None  # (B,) quantising only: -log2 p(code) under the learned prior


def projection(in_dim: int, out_dim: int, spatial: bool) -> nn.Module:
    """Features -> code: a linear layer (B, F) -> (B, L), or for a spatial code a 1x1 convolution
    (B, F, h, w) -> (B, L, h, w)."""
    return nn.Conv2d(in_dim, out_dim, 1) if spatial else nn.Linear(in_dim, out_dim)


class Deterministic(nn.Module):
    gaussian = False

    def __init__(self, in_dim: int, latent_dim: int, code_activation: str = "identity", spatial: bool = False) -> None:
        super().__init__()
        self.fc = projection(in_dim, latent_dim, spatial)
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


class FactorizedPrior(nn.Module):
    """A learned density for each of L code dimensions, convolved with the unit box (Ballé et al. 2018, "Variational
    image compression with a scale hyperprior", appendix 6.1): each dimension's cumulative c(x) is a small monotone
    network (filters 1-3-3-3-1, positive weights through softplus, tanh gates), and the probability of an integer
    value y is c(y + 1/2) - c(y - 1/2)."""

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0) -> None:
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.gates = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(dims) - 2:
                self.gates.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """(L, 1, N) values -> (L, 1, N) logits of each dimension's cumulative distribution at them."""
        for i, (m, b) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(m), x) + b  # (L, f_out, f_in) @ (L, f_in, N)
            if i < len(self.gates):
                x = x + torch.tanh(self.gates[i]) * torch.tanh(x)
        return x

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """(B, L) values -> (B, L) probability of the unit interval around each (>= 1e-9)."""
        v = y.t().unsqueeze(1)  # (B, L) -> (L, 1, B)
        lower, upper = self.logits_cdf(v - 0.5), self.logits_cdf(v + 0.5)
        sign = -torch.sign(lower + upper).detach()  # compute in the tail where the sigmoids are not saturated
        p = (torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower)).abs()
        return p.squeeze(1).t().clamp_min(1e-9)


def prior_rows(codes, densities: int):
    """Codes (B, L) or (B, L, *positions) (a tensor or an array) as the rows the prior's ``densities`` densities
    see: (B * positions, L) when there is one density per channel, (B, L * positions) when there is one per channel
    and position (channel-major, as the code's own layout)."""
    if codes.ndim == 2 or densities != codes.shape[1]:
        if math.prod(codes.shape[1:]) != densities:
            raise ValueError(f"codes of shape {tuple(codes.shape[1:])} do not fit a prior of {densities} densities")
        return codes.reshape(codes.shape[0], -1)
    moved = codes.movedim(1, -1) if torch.is_tensor(codes) else np.moveaxis(codes, 1, -1)
    return moved.reshape(-1, codes.shape[1])


def from_prior_rows(rows: np.ndarray, count: int, code_shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`prior_rows` for arrays: rows -> codes (count, *code_shape)."""
    if rows.shape[1] != code_shape[0] or len(code_shape) == 1:
        return rows.reshape(count, *code_shape)
    return np.ascontiguousarray(np.moveaxis(rows.reshape(count, *code_shape[1:], code_shape[0]), -1, 1))


@dataclass
class EntropyTables:
    """Per code dimension j: values ``offset[j] .. offset[j] + width[j] - 1`` are symbols 1..width[j] of
    ``counts[j]``; symbol 0 and symbol width[j] + 1 are the escapes below and above."""

    offset: np.ndarray  # (L,) int64
    counts: np.ndarray  # (L, W + 2) int64, zero-padded past each dimension's width + 2

    @property
    def width(self) -> np.ndarray:
        return (self.counts > 0).sum(1) - 2

    def digest(self) -> bytes:
        return hashlib.sha256(self.offset.astype("<i8").tobytes() + self.counts.astype("<i8").tobytes()).digest()


def integer_tables(prior: "FactorizedPrior", precision: int = 24, tail: float = 1e-6,
                   max_range: int = 2048) -> EntropyTables:
    """Integer tables from a learned prior (evaluated once, in float64): per dimension, the integer range that holds
    all but ``tail`` of the mass at each end, counts floor(p * 2^precision) (at least 1), and the two escapes."""
    L = prior.matrices[0].shape[0]
    grid = torch.arange(-max_range, max_range + 1, dtype=torch.float64)
    with torch.no_grad():
        p = copy.deepcopy(prior).double().cpu().likelihood(grid[:, None].expand(-1, L)).t().numpy()  # (L, 2R + 1)
    offsets, rows = [], []
    for j in range(L):
        pj = p[j] / p[j].sum()
        c = np.cumsum(pj)
        lo = int(np.searchsorted(c, tail))  # first index whose cumulative mass exceeds the lower tail
        hi = int(np.searchsorted(c, 1 - tail))
        hi = min(max(hi, lo), len(pj) - 1)
        core = np.maximum(1, np.floor(pj[lo:hi + 1] * 2 ** precision)).astype(np.int64)
        rows.append(np.concatenate([[1], core, [1]]))
        offsets.append(lo - max_range)
    counts = np.zeros((L, max(len(r) for r in rows)), dtype=np.int64)
    for j, r in enumerate(rows):
        counts[j, :len(r)] = r
    return EntropyTables(np.array(offsets, dtype=np.int64), counts)


class Quantizing(nn.Module):
    """The rate variant's bottleneck: features -> code z (B, L) (or (B, L, h, w) for a spatial code), quantised to
    integers with a learned prior: one density per code channel, or with ``positions`` = h x w one per channel and
    position (``code_prior="position"``), so that a position that is nearly always the same (an image's empty border)
    costs nearly nothing.

    In training the decoder sees z + U(-1/2, 1/2) (``train_quantization="noise"``) or round(z) with the gradient
    passed straight through (``"ste"``); the rate is -log2 p(z + u) under the prior, a differentiable stand-in for the
    bits of round(z). At inference the code is round(z) and ``bits`` its exact cost under the prior."""

    gaussian = False

    def __init__(self, in_dim: int, latent_dim: int, code_activation: str = "identity",
                 train_quantization: str = "noise", spatial: bool = False, positions: int = 1) -> None:
        super().__init__()
        self.fc = projection(in_dim, latent_dim, spatial)
        self.act = activation(code_activation)
        self.prior = FactorizedPrior(latent_dim * positions)
        self.train_quantization = train_quantization

    def bits(self, z: torch.Tensor) -> torch.Tensor:
        """(B, L) or (B, L, h, w) values -> (B,) -log2 of their probability under the prior."""
        rows = prior_rows(z, self.prior.matrices[0].shape[0])
        return -torch.log2(self.prior.likelihood(rows)).reshape(z.shape[0], -1).sum(1)

    def forward(self, h: torch.Tensor) -> BottleneckOutput:
        z = self.act(self.fc(h))  # (B, F) -> (B, L), or (B, F, h, w) -> (B, L, h, w)
        if self.training:
            noisy = z + torch.empty_like(z).uniform_(-0.5, 0.5)
            seen = noisy if self.train_quantization == "noise" else z + (torch.round(z) - z).detach()
            return BottleneckOutput(seen, bits=self.bits(noisy))
        q = torch.round(z)
        return BottleneckOutput(q, bits=self.bits(q))

    def integer_tables(self) -> EntropyTables:
        """The entropy coder's integer tables for this prior (see :func:`integer_tables`)."""
        return integer_tables(self.prior)

