"""Real photographs as a folder of JPEG files: the two photos that ship with scikit-learn (china.jpg, flower.jpg,
427 x 640 RGB), cut into 64 x 64 tiles (the left 70 % of each photo for training, the right 30 % for testing), read
through `aekit train --data FOLDER --image-size S S`; test MSE of a conv autoencoder against PCA with the same code
size and the mean tile. The same recipe as tests/test_images.py::test_real_photographs, with --epochs and --size.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PIL import Image
from sklearn.datasets import load_sample_images
from sklearn.decomposition import PCA

import aekit
from aekit.cli import main as aekit_main
from aekit.data.images import load_image_split
from common import header, parser


def tiles(root: Path) -> None:
    for path in load_sample_images().filenames:
        img = Image.open(path)
        for part, (lo, hi) in (("train", (0, int(0.7 * img.width))), ("test", (int(0.7 * img.width), img.width))):
            folder = root / part / Path(path).stem
            folder.mkdir(parents=True)
            for k, x0 in enumerate(range(lo, hi - 64, 24)):
                for j, y0 in enumerate(range(0, img.height - 64, 48)):
                    img.crop((x0, y0, x0 + 64, y0 + 64)).save(folder / f"{k}_{j}.jpg")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--latent", type=int, default=16)
    args = p.parse_args()
    header("Real photographs: conv autoencoder vs PCA")
    root = Path(tempfile.mkdtemp(prefix="aekit-photos-"))
    tiles(root)
    s = str(args.size)
    t0 = time.perf_counter()
    aekit_main(["train", "--data", str(root / "train"), "--test-path", str(root / "test"), "--image-size", s, s,
                "--arch", "conv", "--channels", "16,32", "--latent-dim", str(args.latent), "--epochs",
                str(args.epochs), "--lr", "2e-3", "--schedule", "onecycle", "--batch-size", "32", "--val-fraction", "0",
                "--out", str(root / "run"), "--quiet", "--no-report", "--overwrite"])
    took = time.perf_counter() - t0
    train, _ = load_image_split(root / "train", 3, (args.size, args.size))
    test, _ = load_image_split(root / "test", 3, (args.size, args.size))
    xtr, xte = train.x.flatten(1).numpy(), test.x.flatten(1).numpy()
    pca = PCA(args.latent, random_state=0).fit(xtr)
    pca_mse = float(((pca.inverse_transform(pca.transform(xte)) - xte) ** 2).mean())
    ae_mse = aekit.evaluate(aekit.load(root / "run"), test)["mse"]
    mean_mse = float(((xte - xtr.mean(0)) ** 2).mean())
    print(f"{len(train)} training tiles, {len(test)} test tiles, {args.size}x{args.size} RGB, code {args.latent}")
    print(f"  conv autoencoder  test MSE {ae_mse:.5f}  ({took:.1f} s, {args.epochs} epochs, incl. decoding)")
    print(f"  PCA-{args.latent:<13} test MSE {pca_mse:.5f}")
    print(f"  mean tile         test MSE {mean_mse:.5f}")


if __name__ == "__main__":
    main()
