"""The floor under the demo: the reference recipe written as lean as PyTorch allows, and nothing else. Torch's import,
MNIST's training images from IDX into one tensor, 20 epochs of the MLP 784-128-64-32 and back (Adam 1e-3, batch 128,
MSE) on slices of a per-epoch permutation, the parameters in one flat buffer stepped by torch's fused Adam kernel,
denormals flushed; no test set, no files, no figures. It does not import aekit.

    python benchmarks/lean_loop.py MNIST_DIR
"""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data[4 + 4 * ndim:], np.uint8).reshape(shape)


def main() -> None:
    torch.set_flush_denormal(True)
    x = torch.from_numpy(read_idx(Path(sys.argv[1]) / "train-images-idx3-ubyte.gz").reshape(-1, 784)
                         .astype(np.float32) / 255)  # (N, 784)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 32),
                          nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 784),
                          nn.Sigmoid())
    params = list(model.parameters())
    flat = nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))  # one buffer, one Adam step
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        p.data = flat.data[offset:offset + p.numel()].view_as(p)
        p.grad = flat.grad[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    m, v, step = torch.zeros_like(flat), torch.zeros_like(flat), torch.zeros(())
    for epoch in range(20):
        perm = torch.randperm(len(x))
        total = torch.zeros(())
        for i in range(0, len(x), 128):
            xb = x.index_select(0, perm[i:i + 128])
            loss = nn.functional.mse_loss(model(xb), xb)
            flat.grad.zero_()
            loss.backward()
            step += 1
            torch._fused_adam_([flat], [flat.grad], [m], [v], [], [step], lr=1e-3, beta1=0.9, beta2=0.999,
                               weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False)
            total += loss.detach() * len(xb)
        print(f"Epoch {epoch + 1}/20, Loss: {float(total) / len(x):.4f}")


if __name__ == "__main__":
    main()
