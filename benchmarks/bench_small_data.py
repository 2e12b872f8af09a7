"""Small data at aekit train's defaults (issue 32): the data recipe (``--recipe auto``: batch size, epochs and, for rows
of few numbers, widths from the data's size and shape; aekit.config.data_recipe) against the fixed config defaults it
replaced (``--recipe config``: batches of 128, 20 epochs, hidden 128-64, a code of 32), each as a user types it, and
PCA with the same code size as a yardstick. Test MSE on the run's standardised scale (the scale the loss is on) for
tables, on [0, 1] pixels for images.

Data: sklearn's wine (178 rows of 13 numbers), breast cancer (569 x 30) and digits (1,797 8 x 8 images) with the
command line's seeded 20 % test split, and 96 tiles of 32 x 32 pixels cut from sklearn's two sample photos (a folder
of PNG files; 24 more for testing). The recipe's constants were set before measuring, not tuned on these.

    python benchmarks/bench_small_data.py
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_breast_cancer, load_sample_images, load_wine
from sklearn.decomposition import PCA

import aekit
from aekit.cli import main as aekit_main
from common import header


def photo_tiles(root: Path, train: int = 96, test: int = 24) -> None:
    k = 0
    for path in load_sample_images().filenames:
        img = Image.open(path).convert("RGB")
        for x0 in range(0, img.width - 32, 40):
            for y0 in range(0, img.height - 32, 40):
                part = "train" if k % 5 else "test"
                folder = root / part / "tiles"
                folder.mkdir(parents=True, exist_ok=True)
                if len(list(folder.iterdir())) < (train if part == "train" else test):
                    img.crop((x0, y0, x0 + 32, y0 + 32)).save(folder / f"{k:04d}.png")
                k += 1


def run(data: list[str], out: Path, recipe: str) -> tuple[float, float, dict]:
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        assert aekit_main(["train", *data, "--recipe", recipe, "--out", str(out), "--quiet", "--no-report"]) == 0
    secs = time.perf_counter() - t
    model = aekit.load(out)
    split = aekit.load_data(model.config.data, seed=model.config.train.seed)
    mse = aekit.evaluate(model, split.test)["mse"]
    line = next((ln for ln in buf.getvalue().splitlines() if ln.startswith("Recipe")), "")
    return mse, secs, {"recipe": line, "latent": model.config.model.latent_dim, "split": split}


def pca_mse(split, k: int, model) -> float:
    """PCA with k components, on the scale the model's loss is on (its standardiser, if it has one)."""
    def flat(x):
        x = x[:] if not hasattr(x, "numpy") else x
        x = x.numpy().reshape(len(x), -1)
        if model.standardizer is not None:
            import torch

            x = model.standardizer(torch.from_numpy(x)).numpy()
        return x

    tr, te = flat(split.train.x), flat(split.test.x)
    p = PCA(min(k, tr.shape[1], len(tr))).fit(tr)
    return float(((p.inverse_transform(p.transform(te)) - te) ** 2).mean())


def main() -> None:
    header("Small data at train's defaults: the data recipe against the fixed config defaults")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.savetxt(tmp / "wine.csv", load_wine().data, delimiter=",", fmt="%.6g")
        np.savetxt(tmp / "cancer.csv", load_breast_cancer().data, delimiter=",", fmt="%.6g")
        photo_tiles(tmp / "photos")
        cases = {
            "wine (142 train rows x 13)": ["--data", str(tmp / "wine.csv")],
            "breast cancer (455 x 30)": ["--data", str(tmp / "cancer.csv")],
            "digits (1,437 x 8 x 8)": ["--data", "digits"],
            "digits, sparse+denoising": ["--data", "digits", "--variant", "sparse+denoising"],
            "96 photo tiles (32 x 32 RGB)": ["--data", str(tmp / "photos" / "train"), "--test-path",
                                             str(tmp / "photos" / "test")],
        }
        rows = []
        for name, data in cases.items():
            res = {}
            for recipe in ("config", "auto"):  # alternating, one after the other on the same data
                mse, secs, info = run(data, tmp / f"{len(rows)}-{recipe}", recipe)
                res[recipe] = (mse, secs, info)
            model = aekit.load(tmp / f"{len(rows)}-auto")
            base = pca_mse(res["auto"][2]["split"], res["auto"][2]["latent"], model)
            row = {"data": name, "mse_config": res["config"][0], "mse_auto": res["auto"][0], "pca_same_code": base,
                   "seconds_config": res["config"][1], "seconds_auto": res["auto"][1],
                   "recipe": res["auto"][2]["recipe"]}
            rows.append(row)
            print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        print("\n| data | test MSE, --recipe config | test MSE, default (data recipe) | PCA, same code | seconds |")
        print("|---|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['data']} | {r['mse_config']:.4f} | {r['mse_auto']:.4f} | {r['pca_same_code']:.4f} | "
                  f"{r['seconds_config']:.1f} / {r['seconds_auto']:.1f} |")


if __name__ == "__main__":
    main()
