"""Rate-distortion on MNIST: aekit's rate models (trained on the 10,000 training images, one per lambda) against PNG,
JPEG and WebP (Pillow, each image its own file) and PCA with uniformly quantised coefficients entropy-coded by the
same range coder, on the first --n test images. Bits per pixel come from real file sizes; PSNR from the decoded
images, as 10 log10(1 / MSE) with the MSE over all the images' pixels (the conservative average). aekit's rate is
given for one file holding the set and for one file per image (each with its own header).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA

import aekit
from aekit import apps
from aekit.apps import codec
from aekit.bottleneck import EntropyTables
from common import header, parser


def table_from_histogram(values: np.ndarray, precision: int = 24) -> EntropyTables:
    """Integer tables from training histograms (add-one smoothing), for integer values (N, L)."""
    lo, hi = values.min(0), values.max(0)
    width = hi - lo + 1
    counts = np.zeros((values.shape[1], int(width.max()) + 2), dtype=np.int64)
    for j in range(values.shape[1]):
        h = np.bincount(values[:, j] - lo[j], minlength=width[j]) + 1
        counts[j, 1:width[j] + 1] = np.maximum(1, np.floor(h / h.sum() * 2 ** precision))
        counts[j, 0] = counts[j, width[j] + 1] = 1
    return EntropyTables(lo.astype(np.int64), counts)


def pca_point(train: np.ndarray, test: np.ndarray, k: int, step: float) -> tuple[float, float]:
    pca = PCA(k, random_state=0).fit(train)
    q_train = np.rint(pca.transform(train) / step).astype(np.int64)
    q_test = np.rint(pca.transform(test) / step).astype(np.int64)
    tables = table_from_histogram(q_train)
    data = codec.compress_codes(tables, q_test, b"pca-base", (784,))
    rec = np.clip(pca.inverse_transform(q_test * step), 0, 1)
    return 8 * len(data) / test.size, apps.psnr(test, rec)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--n", type=int, default=10000, help="test images (default: the whole test set)")
    p.add_argument("--lambdas", default="0.002,0.005,0.01,0.02,0.05")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--channels", default="32,64,128")
    p.add_argument("--quant", default="noise", choices=["noise", "ste"])
    p.add_argument("--spatial", action="store_true", help="a spatial code: --latent channels per position")
    p.add_argument("--augment-shift", type=int, default=0, help="random translations of up to this many pixels in "
                   "training (0: none)")
    p.add_argument("--code-prior", default="auto", choices=["auto", "channel", "position"],
                   help="the prior's densities (auto: one per channel and position for a spatial code)")
    p.add_argument("--per-image", type=int, default=2000, help="images compressed one file each (rate per file)")
    p.add_argument("--baselines", action="store_true", help="also PNG, JPEG, WebP and PCA")
    p.add_argument("--save", help="write the table as JSON here")
    args = p.parse_args()
    header("Rate-distortion on MNIST")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    test = data.test.x[:args.n].numpy()  # (n, 1, 28, 28) in [0, 1]
    rows = []
    if args.baselines:
        b, q = codec.pillow_point(test, "PNG", optimize=True)
        rows.append({"method": "PNG (lossless)", "bpp": b, "psnr": q})
        for quality in (5, 10, 20, 30, 50, 70, 90):
            b, q = codec.pillow_point(test, "JPEG", quality=quality)
            rows.append({"method": f"JPEG q{quality}", "bpp": b, "psnr": q})
        for quality in (0, 5, 10, 20, 40, 60, 80):
            b, q = codec.pillow_point(test, "WEBP", quality=quality)
            rows.append({"method": f"WebP q{quality}", "bpp": b, "psnr": q})
        train_flat = data.train.x.flatten(1).numpy()
        for k, step in ((8, 0.5), (16, 0.5), (16, 0.3), (32, 0.3), (32, 0.2), (64, 0.15), (64, 0.1), (128, 0.08)):
            b, q = pca_point(train_flat, test.reshape(len(test), -1), k, step)
            rows.append({"method": f"PCA-{k} step {step}", "bpp": b, "psnr": q})
        for r in rows:
            print(f"  {r['method']:<22} {r['bpp']:.3f} bpp  {r['psnr']:.2f} dB", flush=True)
    channels = tuple(int(c) for c in args.channels.split(","))
    for lam in (float(v) for v in args.lambdas.split(",") if v):
        cfg = aekit.Config().override(variant="rate", arch="conv", channels=channels, latent_dim=args.latent,
                                      rate_lambda=lam, train_quantization=args.quant, epochs=args.epochs,
                                      spatial_code=args.spatial, code_prior=args.code_prior,
                                      augment_shift=args.augment_shift,
                                      batch_size=64, lr=2e-3, schedule="onecycle", val_fraction=0.0,
                                      output_activation="sigmoid")
        t0 = time.perf_counter()
        model = aekit.fit(cfg, data, quiet=True).model
        took = time.perf_counter() - t0
        t0 = time.perf_counter()
        blob = apps.compress(model, test)
        t_enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = apps.decompress(model, blob)
        t_dec = time.perf_counter() - t0
        k = min(len(test), args.per_image)
        per_image_bpp = 8 * sum(len(apps.compress(model, test[i:i + 1])) for i in range(k)) / (k * 784) if k else 0.0
        kind = f"spatial {args.latent}x{'x'.join(map(str, model.code_shape[1:]))} {model.config.model.code_prior} " \
            f"prior" if args.spatial else f"flat {args.latent}"
        kind += f", shift {args.augment_shift}" if args.augment_shift else ""
        row = {"method": f"aekit conv {kind} {args.quant} lambda {lam:g}", "bpp": 8 * len(blob) / test[:, 0].size,
               "bpp_per_image_files": per_image_bpp, "psnr": apps.psnr(test, out), "train_s": took,
               "encode_img_s": len(test) / t_enc, "decode_img_s": len(test) / t_dec}
        rows.append(row)
        print(f"  {row['method']:<30} {row['bpp']:.4f} bpp (one file; {per_image_bpp:.3f} as one file per image) "
              f"{row['psnr']:.2f} dB  train {took:.0f} s, encode {row['encode_img_s']:.0f} img/s, decode "
              f"{row['decode_img_s']:.0f} img/s", flush=True)
    if args.save:
        Path(args.save).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
