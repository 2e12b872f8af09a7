"""How bench_compress.py's fifth-session settings were chosen (issue 12): rate models trained on the first 8,000 of
MNIST's 10,000 training images and measured on the last 2,000, never on the test set. Bits are estimated under the
model's prior (the tests hold them within 1 % of the file); PSNR from the decoded images. ``--train-too`` also
measures the first 2,000 training images, which shows how far the model overfits.

    cd benchmarks && python compress_select.py '[{"channels": [64, 128], "epochs": 80, "rate_lambda": 0.004}]'
    python compress_select.py '[{"spatial_code": false, "latent_dim": 32, "channels": [32, 64, 128],
        "rate_lambda": 0.04, "epochs": 80, "augment_shift": 1}]'

Each JSON object overrides these defaults: variant rate, conv, channels 32,64, a spatial code of 8 channels, lambda
0.003, 20 epochs, batch 64, one-cycle lr 2e-3, sigmoid output.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

import aekit
from aekit import apps
from common import header, parser


def measure(model, x: np.ndarray) -> tuple[float, float]:
    """(estimated bits per pixel, PSNR) of images x (N, 1, H, W) through the model's rounded code."""
    bits, recs = 0.0, []
    with torch.no_grad():
        for i in range(0, len(x), 500):
            out = model(torch.from_numpy(x[i:i + 500]))
            bits += float(out.bits.sum())
            recs.append(out.x_hat.numpy())
    return bits / x[:, 0].size, apps.psnr(x, np.concatenate(recs))


def main() -> None:
    p = parser(__doc__)
    p.add_argument("recipes", help="a JSON list of config overrides")
    p.add_argument("--train-too", action="store_true", help="also measure the first 2,000 training images")
    args = p.parse_args()
    header("Compression settings on a validation split of MNIST's training images")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    train, held = data.train.x[:8000], data.train.x[8000:].numpy()
    for rec in json.loads(args.recipes):
        torch.manual_seed(0)
        kw = dict(variant="rate", arch="conv", channels=(32, 64), latent_dim=8, rate_lambda=0.003, epochs=20,
                  spatial_code=True, batch_size=64, lr=2e-3, schedule="onecycle", val_fraction=0.0,
                  output_activation="sigmoid")
        kw.update({k: tuple(v) if isinstance(v, list) else v for k, v in rec.items()})
        t = time.perf_counter()
        model = aekit.fit(aekit.Config().override(**kw), train, quiet=True).model
        took = time.perf_counter() - t
        bpp, psnr = measure(model, held)
        line = f"{json.dumps(rec)}: held-out {bpp:.4f} bpp, {psnr:.2f} dB"
        if args.train_too:
            bpp_t, psnr_t = measure(model, train[:2000].numpy())
            line += f"; training images {bpp_t:.4f} bpp, {psnr_t:.2f} dB"
        print(f"{line} ({took:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
