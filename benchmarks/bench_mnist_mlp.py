"""The seed's MLP on MNIST: aekit's trainer vs a conventional per-item pipeline (speed), and test MSE of the seed
recipe, aekit's best recipe and PCA-32.

The conventional pipeline is what the seed's code does with torchvision's MNIST: a Dataset that returns one image
at a time (uint8 array -> PIL image -> float tensor, as ToTensor), a DataLoader(batch_size=128, shuffle=True), and
a standard loop. Both train the same model (784-128-64-32 and back, ReLU, sigmoid output, Adam 1e-3, MSE) for the
same epochs; the two pipelines alternate, run after run, and the ratio of medians is reported.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from PIL import Image
from sklearn.decomposition import PCA

import aekit
from aekit.config import RECIPES
from common import header, parser


class PerItemMNIST(torch.utils.data.Dataset):
    """As torchvision.datasets.MNIST with transforms.ToTensor(): uint8 tensor -> PIL image -> float tensor."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.data, self.targets = torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img, target = self.data[i], int(self.targets[i])
        img = Image.fromarray(img.numpy(), mode="L")
        return to_tensor(img), target


def to_tensor(pic: Image.Image) -> torch.Tensor:
    """What torchvision's ToTensor does for an 8-bit grayscale PIL image: (H, W) uint8 -> (1, H, W) float in [0, 1]."""
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], 1).permute((2, 0, 1)).contiguous()
    return img.to(dtype=torch.get_default_dtype()).div(255)


def conventional(images: np.ndarray, labels: np.ndarray, cfg: aekit.Config, epochs: int) -> tuple[aekit.Autoencoder, float]:
    torch.manual_seed(cfg.train.seed)
    model = aekit.build_model(aekit.resolve_config(cfg, (1, 28, 28), 0.0, 1.0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(PerItemMNIST(images, labels), batch_size=128, shuffle=True)
    t0 = time.perf_counter()
    for _ in range(epochs):
        for xb, _ in loader:
            loss = torch.nn.functional.mse_loss(model(xb).x_hat, xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval(), time.perf_counter() - t0


def aekit_run(data: aekit.DataSplits, cfg: aekit.Config) -> tuple[aekit.Autoencoder, float]:
    t0 = time.perf_counter()
    res = aekit.fit(cfg, data, quiet=True)
    return res.model, time.perf_counter() - t0


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args()
    header("MNIST MLP: speed and quality")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    raw = aekit.data.mnist.load_mnist_arrays(args.data_dir, download_ok=False)[0]
    seed_cfg = aekit.Config().override(**{**RECIPES["seed"], "epochs": args.epochs})
    n = len(data.train) * args.epochs

    times: dict[str, list[float]] = {"conventional": [], "aekit": []}
    for r in range(args.repeats):  # alternate the two pipelines, in ABBA order
        order = ("conventional", "aekit") if r % 2 == 0 else ("aekit", "conventional")
        for which in order:
            if which == "conventional":
                m_conv, t = conventional(raw["train_images"], raw["train_labels"], seed_cfg, args.epochs)
            else:
                m_ae, t = aekit_run(data, seed_cfg)
            times[which].append(t)
        print(f"repeat {r + 1}: conventional {times['conventional'][-1]:.1f} s, aekit {times['aekit'][-1]:.1f} s")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nspeed ({args.epochs} epochs x {len(data.train)} images, batch 128):")
    for k in med:
        print(f"  {k:13s} {med[k]:7.1f} s  {n / med[k]:9.0f} samples/s")
    print(f"  ratio aekit / conventional: {med['conventional'] / med['aekit']:.2f}x")

    mse = {"seed recipe, conventional pipeline": aekit.evaluate(m_conv, data.test)["mse"],
           "seed recipe, aekit": aekit.evaluate(m_ae, data.test)["mse"]}
    best_cfg = aekit.Config().override(**RECIPES["best"])
    m_best, t_best = aekit_run(data, best_cfg)
    mse["best recipe, aekit"] = aekit.evaluate(m_best, data.test)["mse"]
    xtr, xte = data.train.x.flatten(1).numpy(), data.test.x.flatten(1).numpy()
    pca = PCA(32, random_state=0).fit(xtr)
    mse["PCA, 32 components"] = float(((pca.inverse_transform(pca.transform(xte)) - xte) ** 2).mean())
    wall = {"seed recipe, conventional pipeline": med["conventional"], "seed recipe, aekit": med["aekit"],
            "best recipe, aekit": t_best}
    b = best_cfg.train
    print(f"\ntest MSE on the {len(data.test)} test images (best recipe: batch {b.batch_size}, lr {b.lr:g}, "
          f"{b.schedule}, {b.epochs} epochs):")
    for k, v in mse.items():
        print(f"  {k:36s} {v:.5f}" + (f"   ({wall[k]:.1f} s)" if k in wall else ""))


if __name__ == "__main__":
    main()
