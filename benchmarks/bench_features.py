"""Feature learning on MNIST: linear-probe (standardised logistic regression) test accuracy on 32-d autoencoder
codes (the `best` MLP recipe and the `conv` recipe), against PCA-32 codes and the raw 784 pixels. The probe is
fitted on the 10,000 training images' features and labels, scored on the 10,000 test images."""

from __future__ import annotations

from aekit import Config, DataConfig, apps, fit, load_data
from aekit.config import RECIPES
from common import header, parser


def main() -> None:
    args = parser(__doc__).parse_args()
    header("MNIST linear probe")
    data = load_data(DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    xtr, ytr, xte, yte = data.train.x.numpy(), data.train.y, data.test.x.numpy(), data.test.y
    print("| features | test accuracy |\n|---|---|")
    for name in ("best", "conv"):
        model = fit(Config().override(**RECIPES[name]), data, quiet=True).model
        res = apps.probe(model, xtr, ytr, xte, yte)
        print(f"| aekit {name} recipe, {model.config.model.arch} codes (32-d) | {res['codes_32d']:.4f} |", flush=True)
    print(f"| PCA (32-d) | {res['pca_32d']:.4f} |\n| raw pixels (784-d) | {res['raw_784d']:.4f} |")


if __name__ == "__main__":
    main()
