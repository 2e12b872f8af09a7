"""The reference demo as a conventional PyTorch script (what the seed's code does, without torchvision): the MLP
784-128-64-32 and back, Adam 1e-3, batch 128, 20 epochs, MSE, on MNIST read per item through a Dataset and a
DataLoader (uint8 -> PIL image -> float tensor, as torchvision's ToTensor); per-epoch loss, latent shape, test MSE,
a figure of reconstructions and a 5-step interpolation. It does not import aekit.

    python benchmarks/reference_demo.py MNIST_DIR OUT_DIR
"""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402


def read_idx(path: Path) -> np.ndarray:
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data[4 + 4 * ndim:], np.uint8).reshape(shape)


class MNIST(torch.utils.data.Dataset):
    def __init__(self, folder: Path, train: bool) -> None:
        prefix = "train" if train else "t10k"
        self.data = torch.from_numpy(read_idx(folder / f"{prefix}-images-idx3-ubyte.gz").copy())
        self.targets = torch.from_numpy(read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.fromarray(self.data[i].numpy(), mode="L")
        x = torch.from_numpy(np.array(img, np.uint8, copy=True)).view(1, 28, 28).float().div(255)  # ToTensor
        return x, int(self.targets[i])


class Autoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                     nn.Linear(64, 32))
        self.decoder = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                                     nn.Linear(128, 784), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x)).view(-1, 1, 28, 28)


def main() -> None:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    train, test = MNIST(folder, True), MNIST(folder, False)
    loader = torch.utils.data.DataLoader(train, batch_size=128, shuffle=True)
    model = Autoencoder()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()
    for epoch in range(20):
        total = 0.0
        for x, _ in loader:
            loss = loss_fn(model(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        print(f"Epoch {epoch + 1}/20, Loss: {total / len(train):.4f}")
    model.eval()
    test_loader = torch.utils.data.DataLoader(test, batch_size=1000)
    with torch.no_grad():
        codes, err = [], 0.0
        for x, _ in test_loader:
            z = model.encoder(x)
            codes.append(z)
            err += ((model.decoder(z).view_as(x) - x) ** 2).mean().item() * len(x)
        print(f"Latent shape: {tuple(torch.cat(codes).shape)}")
        print(f"Average Reconstruction MSE: {err / len(test):.6f}")
        x = torch.stack([test[i][0] for i in range(8)])
        recon = model(x)
        fig, axes = plt.subplots(2, 8, figsize=(12, 3))
        for i in range(8):
            axes[0, i].imshow(x[i, 0], cmap="gray")
            axes[1, i].imshow(recon[i, 0], cmap="gray")
            axes[0, i].axis("off")
            axes[1, i].axis("off")
        fig.savefig(out / "reconstructions.png")
        za, zb = model.encoder(x[:2])
        path = torch.stack([(1 - t) * za + t * zb for t in torch.linspace(0, 1, 5)])
        images = model.decoder(path).view(-1, 28, 28)
        fig, axes = plt.subplots(1, 5, figsize=(8, 2))
        for i in range(5):
            axes[i].imshow(images[i], cmap="gray")
            axes[i].axis("off")
        fig.savefig(out / "interpolation.png")


if __name__ == "__main__":
    main()
