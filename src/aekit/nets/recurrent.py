"""Recurrent encoder and decoder for sequences (T, F), with variable lengths.

The encoder's feature is the last layer's hidden state at each sequence's own last step (padding is packed away).
The decoder starts from a hidden state computed from the code and receives the code at every step.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..config import ModelConfig
from ..registry import ARCHITECTURES

_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class RNNEncoder(nn.Module):
    def __init__(self, n_features: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.rnn = _CELLS[cfg.cell](n_features, cfg.rnn_hidden, cfg.rnn_layers, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is not None:
            x = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.rnn(x)  # h: (layers, B, H), or (h, c) for an LSTM
        h = h[0] if isinstance(h, tuple) else h
        return h[-1]  # (B, H)


class RNNDecoder(nn.Module):
    def __init__(self, latent_dim: int, n_features: int, steps: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.steps, self.layers, self.hidden = steps, cfg.rnn_layers, cfg.rnn_hidden
        self.lstm = cfg.cell == "lstm"
        self.init = nn.Linear(latent_dim, cfg.rnn_layers * cfg.rnn_hidden)
        self.rnn = _CELLS[cfg.cell](latent_dim, cfg.rnn_hidden, cfg.rnn_layers, batch_first=True)
        self.out = nn.Linear(cfg.rnn_hidden, n_features)

    def forward(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        t = steps or self.steps
        h0 = torch.tanh(self.init(z)).view(-1, self.layers, self.hidden).transpose(0, 1).contiguous()  # (layers, B, H)
        state = (h0, torch.zeros_like(h0)) if self.lstm else h0
        inp = z.unsqueeze(1).expand(-1, t, -1)  # (B, L) -> (B, T, L)
        y, _ = self.rnn(inp, state)  # (B, T, H)
        return self.out(y)  # (B, T, F)


@ARCHITECTURES.register("rnn", options=("cell", "rnn_hidden", "rnn_layers"))
def build_rnn(cfg: ModelConfig) -> tuple[nn.Module, int, nn.Module]:
    if len(cfg.input_shape) != 2:
        raise ValueError(f"rnn needs sequence samples (T, F), got shape {cfg.input_shape}")
    t, f = cfg.input_shape
    return RNNEncoder(f, cfg), cfg.rnn_hidden, RNNDecoder(cfg.latent_dim, f, t, cfg)
