"""Folders of real image files (PNG, JPEG, BMP, TIFF) as data for every command."""

from __future__ import annotations

import csv

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import aekit
from aekit.cli import main
from aekit.data import images as I
from conftest import tiny_config


def _save(path: Path, a: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, format=fmt)
    return path


def make_folder(root: Path, n: int = 6, size=(12, 10), rgb_in=(), seed: int = 0) -> Path:
    """root/a/*.png and root/b/*.png (grayscale; RGB for the indices in rgb_in), and a non-image file."""
    rng = np.random.default_rng(seed)
    for cls in ("b", "a"):  # written out of order: reading sorts
        for i in range(n):
            shape = (*size, 3) if i in rgb_in else size
            _save(root / cls / f"img{i}.png", rng.integers(0, 256, shape, dtype=np.uint8))
    (root / "README.txt").write_text("not an image")
    (root / ".DS_Store").write_bytes(b"\0")
    return root


def test_scan_finds_images_in_order_with_labels_and_skips_other_files(tmp_path):
    root = make_folder(tmp_path / "f", n=3)
    with pytest.warns(UserWarning, match="skipped 1 file.*README.txt"):
        folder = I.scan(root)
    assert folder.names == ["a/img0.png", "a/img1.png", "a/img2.png", "b/img0.png", "b/img1.png", "b/img2.png"]
    assert folder.classes == ["a", "b"] and folder.labels.tolist() == [0, 0, 0, 1, 1, 1]
    flat = tmp_path / "flat"
    _save(flat / "x.png", np.zeros((4, 4), np.uint8))
    assert I.scan(flat).labels is None  # images directly in the root: no classes


def test_png_pixels_are_read_exactly_and_channels_come_from_the_files(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    _save(tmp_path / "g" / "0.png", gray)
    s, _ = I.load_image_split(tmp_path / "g")
    assert s.x.shape == (1, 1, 4, 5) and np.array_equal(np.rint(s.x[0, 0].numpy() * 255), gray)
    _save(tmp_path / "g" / "1.png", rgb)
    s, _ = I.load_image_split(tmp_path / "g")  # one color image: all become RGB
    assert s.x.shape == (2, 3, 4, 5)
    assert np.array_equal(np.rint(s.x[0].numpy() * 255), np.stack([gray] * 3))
    s, _ = I.load_image_split(tmp_path / "g", channels=1)  # --image-channels 1 converts to grayscale
    assert np.rint(s.x[1, 0, 0, 0].item() * 255) == 76  # ITU-R 601-2 luma: 255 * 299 / 1000


def test_image_size_resizes_keeping_the_aspect_ratio_then_crops_the_centre(tmp_path):
    a = np.arange(32, dtype=np.uint8).reshape(4, 8) * 7
    _save(tmp_path / "r" / "wide.png", a)
    s, _ = I.load_image_split(tmp_path / "r", size=(4, 4))  # scale 1 covers 4 x 4: only the centre crop
    assert np.array_equal(np.rint(s.x[0, 0].numpy() * 255), a[:, 2:6])
    _save(tmp_path / "c" / "flat.png", np.full((10, 20), 200, np.uint8))
    s, _ = I.load_image_split(tmp_path / "c", size=(4, 6))  # scaled to 4 x 8, then cropped to 4 x 6
    assert s.x.shape == (1, 1, 4, 6) and np.allclose(s.x.numpy(), 200 / 255)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("BMP", ".bmp"), ("TIFF", ".tif")])
def test_other_formats(tmp_path, fmt, suffix):
    a = np.full((8, 8, 3), (10, 200, 60), np.uint8)
    _save(tmp_path / "f" / f"x{suffix}", a, fmt)
    s, _ = I.load_image_split(tmp_path / "f")
    assert s.x.shape == (1, 3, 8, 8)
    assert np.abs(s.x[0].numpy() * 255 - a.transpose(2, 0, 1)).max() <= (4 if fmt == "JPEG" else 0)


def test_a_16_bit_grayscale_png_is_scaled_to_8_bits(tmp_path):
    a = np.array([[0, 65535], [257 * 100, 257 * 200]], dtype=np.uint16)
    _save(tmp_path / "d" / "x.png", a)
    s, _ = I.load_image_split(tmp_path / "d")
    assert np.rint(s.x[0, 0].numpy() * 255).tolist() == [[0, 255], [100, 200]]


def _empty(d: Path) -> Path:
    (d / "empty").mkdir()
    return d / "empty"


def _mixed_sizes(d: Path) -> Path:
    _save(d / "m" / "a.png", np.zeros((4, 5), np.uint8))
    _save(d / "m" / "b.png", np.zeros((6, 6), np.uint8))
    return d / "m"


def _with(d: Path, name: str, data: bytes) -> Path:
    _save(d / "t" / "a.png", np.zeros((6, 6), np.uint8))
    (d / "t" / name).write_bytes(data)
    return d / "t"


@pytest.mark.parametrize("make,expect", [
    (_empty, "holds no data"),
    (_mixed_sizes, "images of different sizes, a.png is 4x5 and b.png is 6x6"),
    (lambda d: _with(d, "b.png", _png_bytes()[:40]), "cannot read image"),  # truncated
    (lambda d: _with(d, "b.jpg", b"not a jpeg"), "cannot read image"),
])
def test_bad_folders_are_clear_errors(tmp_path, capsys, make, expect):
    root = make(tmp_path)
    out = tmp_path / "run"
    code = main(["train", "--data", str(root), "--arch", "conv", "--epochs", "1", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and expect in err and str(root) in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def _png_bytes() -> bytes:
    import io

    b = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (6, 6), dtype=np.uint8)).save(b, format="PNG")
    return b.getvalue()


def test_decoded_folders_are_cached_and_the_cache_follows_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = make_folder(tmp_path / "f", n=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first, _ = I.load_image_split(root)
        assert len(list((tmp_path / "cache" / "aekit" / "images").glob("*.npy"))) == 1
        monkeypatch.setattr(I, "decode", lambda *a: (_ for _ in ()).throw(AssertionError("decoded again")))
        again, _ = I.load_image_split(root)  # from the cache: no decoding
        assert torch.equal(first.x, again.x)
        _save(root / "a" / "img0.png", np.zeros((12, 10), np.uint8))
        os.utime(root / "a" / "img0.png", ns=(1, 1))
        with pytest.raises(AssertionError, match="decoded again"):  # a changed file: decoded anew
            I.load_image_split(root)


def test_streamed_images_train_exactly_as_in_memory(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "f", n=20, size=(8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem, _ = I.load_image_split(root)
        decoded = []
        real = I.decode
        monkeypatch.setattr(I, "decode", lambda *a: decoded.append(a[0]) or real(*a))
        monkeypatch.setattr(aekit.limits, "available_memory", lambda: 1000)  # too small: streamed without asking
        streamed, _ = I.load_image_split(root)
        monkeypatch.setattr(aekit.limits, "available_memory", lambda: 0)  # (the model's own check: unknown)
        assert decoded == []  # nothing decoded before training asks for a batch
        assert torch.equal(streamed.x[[3, 0]], mem.x[[3, 0]]) and len(decoded) == 2
    assert isinstance(streamed.x, I.StreamedImages) and torch.equal(streamed.x[:], mem.x)
    cfg = tiny_config(arch="conv", channels=(4,), epochs=2, batch_size=8)
    a = aekit.fit(cfg, mem, quiet=True)
    b = aekit.fit(cfg, streamed, quiet=True)
    assert [r["train/loss"] for r in a.history] == [r["train/loss"] for r in b.history]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    root = make_folder(d / "imgs", n=8, size=(12, 10), rgb_in=(1,))
    run = d / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", "--data", str(root), "--arch", "conv", "--channels", "4", "--variant", "vae",
                     "--latent-dim", "3", "--epochs", "2", "--out", str(run), "--quiet", "--no-report"]) == 0
    return root, run


@pytest.mark.filterwarnings("ignore:.*skipped 1 file")
def test_every_command_on_a_folder(image_run, tmp_path, capsys):
    root, run = image_run
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["dataset"] == "images" and cfg["model"]["input_shape"] == [3, 12, 10]
    assert main(["reconstruct", str(run), "--input", str(root), "--out", str(tmp_path / "r.npy"),
                 "--png-dir", str(tmp_path / "pngs")]) == 0
    r = np.load(tmp_path / "r.npy")
    written = sorted(p.relative_to(tmp_path / "pngs").as_posix() for p in (tmp_path / "pngs").rglob("*"))
    assert written == ["a", *[f"a/img{i}.png" for i in range(8)], "b", *[f"b/img{i}.png" for i in range(8)]]
    png = np.asarray(Image.open(tmp_path / "pngs" / "b" / "img3.png")).transpose(2, 0, 1)
    assert np.array_equal(png, np.clip(np.rint(r[11] * 255), 0, 255).astype(np.uint8))  # sample 11 = b/img3
    assert main(["generate", str(run), "-n", "3", "--out", str(tmp_path / "g.npy"), "--png-dir",
                 str(tmp_path / "gen")]) == 0
    assert sorted(p.name for p in (tmp_path / "gen").iterdir()) == [f"sample_{i:05d}.png" for i in range(3)]
    assert main(["denoise", str(run), "--input", str(root), "--noise", "gaussian", "--noise-level", "0.1", "--out",
                 str(tmp_path / "n.npy"), "--png-dir", str(tmp_path / "den")]) == 0
    assert len(list((tmp_path / "den").rglob("*.png"))) == 16
    assert main(["detect", str(run), "--input", str(root), "--anomaly-labels", "b", "--out", str(tmp_path / "d.csv")]) == 0
    assert "AUROC" in capsys.readouterr().out
    names = [f"{c}/img{i}.png" for c in "ab" for i in range(8)]
    rows = list(csv.reader((tmp_path / "d.csv").open()))
    assert rows[0] == ["index", "file", "score", "anomaly"] and [r[1] for r in rows[1:]] == names
    assert main(["encode", str(run), "--data", str(root), "--out", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (16, 3)
    assert (tmp_path / "z.npy.names.txt").read_text().splitlines() == names  # each row's input file
    assert main(["encode", str(run), "--data", str(root), "--out", str(tmp_path / "z.npz")]) == 0
    with np.load(tmp_path / "z.npz") as f:  # no pickle needed for the names
        assert f["names"].tolist() == names and np.array_equal(f["x"], np.load(tmp_path / "z.npy"))
    assert main(["reconstruct", str(run), "--data", str(root), "--out", str(tmp_path / "r.csv")]) == 0
    rows = list(csv.reader((tmp_path / "r.csv").open()))
    assert rows[0][:2] == ["file", "0"] and [r[0] for r in rows[1:]] == names
    assert main(["probe", str(run)]) == 0  # labels from the subfolders
    assert main(["evaluate", str(run), "--data", str(root)]) == 0


@pytest.mark.filterwarnings("ignore:.*skipped 1 file")
def test_png_dir_must_be_new_and_is_written_whole_or_not_at_all(image_run, tmp_path, capsys, monkeypatch):
    root, run = image_run
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["reconstruct", str(run), "--out", str(tmp_path / "r.npy"), "--png-dir", str(tmp_path / "full")]) == 2
    assert "not an empty folder" in capsys.readouterr().err and not (tmp_path / "r.npy").exists()
    calls = [0]
    real = Image.Image.save

    def failing(self, *a, **k):
        calls[0] += 1
        if calls[0] == 3:
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Image.Image, "save", failing)
    assert main(["reconstruct", str(run), "--input", str(root), "--out", str(tmp_path / "r.npy"), "--png-dir",
                 str(tmp_path / "new")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not (tmp_path / "new").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".new")]
    assert not (tmp_path / "r.npy").exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".r.npy")]


def test_real_photographs(tmp_path, capsys):
    """The two JPEG photographs that ship with scikit-learn (427 x 640, RGB), as a user's folder: the conv model
    trained on 32 x 32 tiles of the left part of each reconstructs tiles of the right part far better than the mean
    tile does. (PCA with the same code size still reconstructs them better: see benchmarks/README.md.)"""
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    for path in photos.filenames:
        img = Image.open(path)
        assert img.format == "JPEG" and img.size == (640, 427)
        for part, (lo, hi) in (("train", (0, int(0.7 * img.width))), ("test", (int(0.7 * img.width), img.width))):
            folder = tmp_path / part / Path(path).stem  # train/china, train/flower, test/china, test/flower
            folder.mkdir(parents=True)
            for k, x0 in enumerate(range(lo, hi - 64, 24)):
                for j, y0 in enumerate(range(0, img.height - 64, 48)):
                    img.crop((x0, y0, x0 + 64, y0 + 64)).save(folder / f"{k}_{j}.jpg")
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "train"), "--test-path", str(tmp_path / "test"),
                 "--image-size", "32", "32", "--arch", "conv", "--channels", "16,32", "--latent-dim", "16",
                 "--epochs", "30", "--lr", "2e-3", "--schedule", "onecycle", "--batch-size", "32",
                 "--val-fraction", "0", "--out", str(run), "--quiet", "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "3x32x32, classes china, flower" in out
    test, _ = I.load_image_split(tmp_path / "test", 3, (32, 32))
    mse = aekit.evaluate(aekit.load(run), test)["mse"]
    baseline = float(((test.x - test.x.mean(0)) ** 2).mean())  # predicting the mean tile
    assert mse < 0.35 * baseline, (mse, baseline)
