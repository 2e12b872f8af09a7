"""Robust per-feature standardisation of tables: statistics by hand, units that do not matter, reconstructions on
the data's own scale, statistics saved with the run and used by every command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aekit
from aekit import apps
from aekit import checkpoint as ckpt
from aekit.cli import main
from aekit.model import Standardizer
from conftest import tiny_config


def test_statistics_by_hand():
    x = torch.tensor([[1.0, 0.0, 7.0], [2.0, 0.0, 7.0], [3.0, 0.0, 7.0], [4.0, 0.0, 7.0], [5.0, 1.0, 7.0]])
    s = Standardizer((3,))
    s.fit(x)
    # column 0: median 3, quartiles 2 and 4 -> IQR 2; column 1 (binary, IQR 0): its standard deviation,
    # sqrt((4 * 0.2^2 + 0.8^2) / 5) = 0.4; column 2 (constant): 1
    assert s.center.tolist() == [3.0, 0.0, 7.0]
    assert s.scale.tolist() == pytest.approx([2 / 1.349, 0.4, 1.0], rel=1e-6)
    u = s(x)
    assert u[:, 0].tolist() == pytest.approx([-1.349, -0.6745, 0.0, 0.6745, 1.349], rel=1e-5)
    assert torch.allclose(s.inverse(u), x, atol=1e-6)


def test_image_channels_and_sequence_features_get_one_statistic_each():
    img = Standardizer((2, 1, 1))
    x = torch.zeros(4, 2, 3, 3)
    x[:, 1] = torch.arange(4.0).view(4, 1, 1)  # channel 1: values 0..3, nine times each
    img.fit(x)
    assert img.center.flatten().tolist() == [0.0, 1.5]
    seq = Standardizer((2,))
    seq.fit(torch.stack([torch.arange(10.0), torch.full((10,), 5.0)], 1).view(2, 5, 2))  # (N, T, F)
    assert seq.center.tolist() == [4.5, 5.0]


def _table(n: int = 300, seed: int = 0) -> np.ndarray:
    """Correlated features on very different scales (as sklearn's wine table: 0.1 ... 1,680)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    x = np.c_[z[:, 0], z[:, 0] + 0.1 * z[:, 1], z[:, 1], z[:, 0] - z[:, 1]]
    return (x * [0.1, 3.0, 400.0, 1.0] + [0.5, 10.0, 1000.0, -2.0]).astype(np.float32)


def test_tables_are_standardised_by_default_and_units_do_not_matter():
    x = _table()
    a = aekit.fit(tiny_config(epochs=3, standardize="auto"), x).model
    assert a.config.model.standardize == "robust" and a.config.model.output_activation == "identity"
    k = np.array([1000.0, 0.01, 1.0, 50.0], dtype=np.float32)  # the same table in other units
    b = aekit.fit(tiny_config(epochs=3, standardize="auto"), x * k).model
    # Both models see the same standardised numbers (up to rounding), so they score the samples alike.
    ea, eb = apps.reconstruction_error(a, x), apps.reconstruction_error(b, x * k)
    assert np.allclose(ea, eb, rtol=1e-2, atol=1e-4)
    # Reconstructions come back on the data's own scale.
    r = apps.reconstruct(b, x * k)
    assert np.allclose(r.mean(0), (x * k).mean(0), rtol=0.2, atol=0.2 * (x * k).std(0))
    # Without standardisation the large feature dominates the error.
    c = aekit.fit(tiny_config(epochs=3, standardize="none"), x * k).model
    assert c.standardizer is None and apps.reconstruction_error(c, x * k).mean() > 100 * eb.mean()


def test_images_and_unit_interval_data_are_left_alone(small_digits):
    m = aekit.fit(tiny_config(epochs=1), small_digits).model  # (1, 8, 8) images in [0, 1]
    assert m.config.model.standardize == "none" and m.standardizer is None
    flat = small_digits.train.x.flatten(1).numpy()  # vectors, but in [0, 1]
    assert aekit.fit(tiny_config(epochs=1), flat).model.standardizer is None
    with pytest.raises(ValueError, match="bce"):
        aekit.fit(tiny_config(epochs=1, standardize="robust", recon="bce"), flat)


def test_statistics_are_saved_and_restored(tmp_path):
    x = _table()
    res = aekit.fit(tiny_config(epochs=2), x, out_dir=tmp_path / "run")
    back = ckpt.load(tmp_path / "run")
    assert torch.equal(back.standardizer.center, res.model.standardizer.center)
    assert torch.equal(back.standardizer.scale, res.model.standardizer.scale)
    assert np.array_equal(apps.reconstruct(back, x), apps.reconstruct(res.model, x))


def test_the_command_line_standardises_a_raw_table(tmp_path, capsys):
    from sklearn.datasets import load_wine

    x = load_wine().data  # features from 0.13 to 1,680
    csv = tmp_path / "wine.csv"
    np.savetxt(csv, x, delimiter=",", fmt="%.5g")
    run, plain = tmp_path / "run", tmp_path / "plain"
    for out, extra in ((run, []), (plain, ["--standardize", "none"])):
        assert main(["train", "--data", str(csv), "--recipe", "config", "--epochs", "30", "--out", str(out),
                     "--quiet", "--no-report"] + extra) == 0
    assert json.loads((run / "config.json").read_text())["model"]["standardize"] == "robust"
    assert json.loads((plain / "config.json").read_text())["model"]["standardize"] == "none"
    capsys.readouterr()
    thresholds = []
    for r in (run, plain):
        assert main(["detect", str(r), "--input", str(csv), "--score", "reconstruction",
                     "--out", str(tmp_path / f"{r.name}.csv")]) == 0
        thresholds.append(float(capsys.readouterr().out.split("Threshold ")[1].split()[0]))
    # On the standardised scale the threshold is a few units; on the raw scale it is dominated by the
    # feature in the thousands.
    assert thresholds[0] < 10 < 1000 < thresholds[1]
    assert main(["reconstruct", str(run), "--input", str(csv), "--out", str(tmp_path / "rec.npy")]) == 0
    rec = np.load(tmp_path / "rec.npy")
    assert rec.shape == x.shape and abs(rec[:, 12].mean() - x[:, 12].mean()) < 0.2 * x[:, 12].std()


def test_detector_recipe_by_hand():
    from aekit.apps import detector_recipe

    # Hepatitis' training part (56 x 19): 2 x 19 hidden units, a code of 19 // 3, at most 200 epochs of one batch
    assert detector_recipe(56, (19,)) == {"hidden": (38,), "latent_dim": 6, "epochs": 200, "batch_size": 256}
    # donors' (433,528 x 10): one epoch (1000 x 256 / 433,528 rounds to 1), the smallest hidden layer, a code of 3
    assert detector_recipe(433_528, (10,)) == {"hidden": (20,), "latent_dim": 3, "epochs": 1, "batch_size": 256}
    # InternetAds (1,376 x 1,555): the largest hidden layer and code; 1000 x 256 / 1376 = 186 epochs
    assert detector_recipe(1376, (1555,)) == {"hidden": (256,), "latent_dim": 16, "epochs": 186, "batch_size": 256}


def test_degenerate_tables():
    from aekit.sklearn import AutoencoderOutlierDetector

    # All-constant features: every training sample scores the same and none is flagged; a sample off the constant
    # is flagged.
    det = AutoencoderOutlierDetector(random_state=0).fit(np.full((50, 4), 3.0))
    assert np.ptp(det.score_samples(np.full((5, 4), 3.0))) == 0
    assert (det.predict(np.full((5, 4), 3.0)) == 1).all()
    assert det.predict(np.array([[3.0, 3.0, 3.0, 10.0]]))[0] == -1
    # A single row: a clear error for the default knn score; the reconstruction score alone can fit it.
    with pytest.raises(ValueError, match="at least 2 training samples, got 1 sample"):
        AutoencoderOutlierDetector(random_state=0).fit(np.ones((1, 4)))
    one = AutoencoderOutlierDetector(anomaly_score="reconstruction", random_state=0).fit(np.ones((1, 4)))
    assert one.predict(np.ones((1, 4)))[0] == 1


def test_train_recipe_anomaly(tmp_path):
    x = _table(400)
    np.save(tmp_path / "t.npy", x)
    assert main(["train", "--data", str(tmp_path / "t.npy"), "--recipe", "anomaly", "--latent-dim", "2", "--out",
                 str(tmp_path / "r"), "--quiet", "--no-report"]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    # 320 training rows (20 % held out as the test set): 1000 x 256 / 320 = 800 -> 200 epochs; the flag wins
    assert cfg["model"]["hidden"] == [16] and cfg["model"]["latent_dim"] == 2
    assert cfg["train"]["epochs"] == 200 and cfg["train"]["batch_size"] == 256 and cfg["train"]["val_fraction"] == 0


def test_train_takes_the_demos_recipes_by_name_and_flags_win(tmp_path, capsys):
    from aekit.config import RECIPES

    assert main(["train", "--data", "digits", "--recipe", "best", "--epochs", "1", "--out", str(tmp_path / "r"),
                 "--quiet", "--no-report"]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    best = RECIPES["best"]
    assert cfg["train"]["lr"] == best["lr"] and cfg["train"]["schedule"] == best["schedule"]
    assert tuple(cfg["model"]["hidden"]) == best["hidden"] and cfg["model"]["latent_dim"] == best["latent_dim"]
    assert cfg["train"]["epochs"] == 1  # the flag, not the recipe's 80


def test_the_data_recipe_by_hand_and_flags_win(tmp_path, capsys):
    from aekit.config import data_recipe

    # 96 photos: batches of an eighth of the rows (12 -> 8), at least 16; 1,000 steps of 16 over 96 rows: 167 epochs
    assert data_recipe(96, (3, 32, 32)) == {"batch_size": 16, "epochs": 167}
    # MNIST's 8,000 training images: the defaults (128, and 20 epochs are already 1,250 steps)
    assert data_recipe(8000, (1, 28, 28)) == {"batch_size": 128, "epochs": 20}
    # 142 rows of 13 numbers: 17.75 -> 16 a batch, ceil(16,000 / 142) = 113 epochs, layers of 52 and 26, a code of 4
    assert data_recipe(142, (13,)) == {"batch_size": 16, "epochs": 113, "hidden": (52, 26), "latent_dim": 4}
    assert data_recipe(10 ** 6, (3,))["epochs"] == 20 and data_recipe(2, (3,))["epochs"] == 500  # the bounds
    x = np.random.default_rng(0).normal(size=(178, 13)).astype(np.float32)
    np.save(tmp_path / "t.npy", x)  # 142 train rows after the 20 % test split
    assert main(["train", "--data", str(tmp_path / "t.npy"), "--latent-dim", "2", "--epochs", "1", "--out",
                 str(tmp_path / "r"), "--quiet", "--no-report"]) == 0
    assert "Recipe data: batch_size 16, hidden (52, 26)" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["model"]["latent_dim"] == 2 and cfg["train"]["epochs"] == 1 and cfg["train"]["batch_size"] == 16
