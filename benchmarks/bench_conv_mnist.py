"""Convolutional vs MLP autoencoders vs PCA on MNIST: test MSE at latent 2, 8 and 32, with training times.

The conv model is aekit's `conv` demo recipe (stride-2 conv stages 32-64-128, linear to and from the code, Adam
with a one-cycle schedule to 2e-3, batch 64, 20 epochs); the MLP is the reference 784-128-64-L MLP trained with
aekit's `best` recipe; PCA keeps L components. Trained on the 10,000 training images, tested on the 10,000 test
images.
"""

from __future__ import annotations

import time

from sklearn.decomposition import PCA

import aekit
from aekit.config import RECIPES
from common import header, parser


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--latents", default="2,8,32")
    p.add_argument("--conv-epochs", type=int, default=RECIPES["conv"]["epochs"])
    args = p.parse_args()
    header("MNIST: conv vs MLP vs PCA")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    xtr, xte = data.train.x.flatten(1).numpy(), data.test.x.flatten(1).numpy()
    rows = []
    for L in (int(v) for v in args.latents.split(",")):
        pca = PCA(L, random_state=0).fit(xtr)
        pca_mse = float(((pca.inverse_transform(pca.transform(xte)) - xte) ** 2).mean())
        res = {}
        for name, recipe in (("mlp", {**RECIPES["best"]}), ("conv", {**RECIPES["conv"], "epochs": args.conv_epochs})):
            cfg = aekit.Config().override(**{**recipe, "latent_dim": L})
            t0 = time.perf_counter()
            model = aekit.fit(cfg, data, quiet=True).model
            res[name] = (aekit.evaluate(model, data.test)["mse"], time.perf_counter() - t0)
            print(f"latent {L:2d} {name:4s}: test MSE {res[name][0]:.5f} in {res[name][1]:.1f} s", flush=True)
        rows.append((L, pca_mse, res))
    print("\n| latent | PCA | MLP (best recipe) | conv | conv / PCA |")
    print("|---|---|---|---|---|")
    for L, pca_mse, res in rows:
        print(f"| {L} | {pca_mse:.5f} | {res['mlp'][0]:.5f} ({res['mlp'][1]:.0f} s) | "
              f"{res['conv'][0]:.5f} ({res['conv'][1]:.0f} s) | {res['conv'][0] / pca_mse:.2f} |")


if __name__ == "__main__":
    main()
