"""VAE likelihood on binarized MNIST, in nats.

Method: the 10,000 training and 10,000 test images are binarized once, stochastically (each pixel is 1 with
probability equal to its intensity, seed 0), as in Burda et al. 2016. A VAE with a Bernoulli decoder (MLP
784-512-256-32 and back, ReLU, Adam with a one-cycle schedule) is trained on the training images. On the test images
we report the negative ELBO (the mean of single-sample estimates, k=1, over 10 draws) and the importance-weighted
estimate of -log p(x) with k=1000 samples from q(z|x) (the IWAE bound, which tightens towards -log p(x) as k grows).
Published with the full 60,000 training images: VAE 86.76 nats (Burda et al. 2016).
"""

from __future__ import annotations

import time

import numpy as np
import torch

import aekit
from aekit import apps
from common import header, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--k", type=int, default=1000)
    args = p.parse_args()
    header("Binarized MNIST: VAE negative ELBO and IWAE bound")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    g = torch.Generator().manual_seed(0)
    xtr = torch.bernoulli(data.train.x, generator=g)
    xte = torch.bernoulli(data.test.x, generator=g)
    cfg = aekit.Config().override(arch="mlp", variant="vae", recon="bce", hidden=(512, 256), latent_dim=32,
                                  epochs=args.epochs, batch_size=128, lr=1e-3, schedule="onecycle", val_fraction=0.0)
    t0 = time.perf_counter()
    model = aekit.fit(cfg, aekit.Split(xtr), quiet=True).model
    print(f"trained {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")
    elbo = np.mean([apps.log_likelihood(model, xte, k=1, seed=s).mean() for s in range(10)])
    t0 = time.perf_counter()
    iwae = apps.log_likelihood(model, xte, k=args.k, batch_size=20).mean()
    print(f"test negative ELBO: {-elbo:.2f} nats")
    print(f"test -log p(x), IWAE bound with k={args.k}: {-iwae:.2f} nats ({time.perf_counter() - t0:.0f} s)")
    tr = apps.log_likelihood(model, xtr, k=1, seed=0).mean()
    print(f"(training negative ELBO: {-tr:.2f} nats; the gap to the test value is overfitting on 10k images)")


if __name__ == "__main__":
    main()
