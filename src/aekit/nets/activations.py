"""The activation functions, by name (the registry feeds the flags, the config's validation and the tests)."""

from __future__ import annotations

from torch import nn

from ..registry import ACTIVATIONS

ACTIVATIONS.add("relu", nn.ReLU)
ACTIVATIONS.add("leaky_relu", nn.LeakyReLU)
ACTIVATIONS.add("gelu", nn.GELU)
ACTIVATIONS.add("silu", nn.SiLU, "swish")
ACTIVATIONS.add("elu", nn.ELU)
ACTIVATIONS.add("tanh", nn.Tanh)
ACTIVATIONS.add("sigmoid", nn.Sigmoid)
ACTIVATIONS.add("identity", nn.Identity, "linear", "none")


def activation(name: str) -> nn.Module:
    return ACTIVATIONS.get(name)()
