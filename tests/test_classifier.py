"""The classifier variant: semi-supervised training (labels of -1 are unknown), the classify command, and its bad
input."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import aekit
from aekit import apps
from aekit import checkpoint as ckpt
from aekit.cli import main
from aekit.data.splits import split_off
from conftest import cli_error, tiny_config


def _few_labels(y: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), per_class, replace=False) for c in np.unique(y)])
    out = np.full(len(y), -1)
    out[keep] = y[keep]
    return out


def test_few_labels_and_many_unlabelled_samples_train_a_classifier(small_digits):
    partial = _few_labels(small_digits.train.y, 5)  # 50 of 300 labelled
    cfg = tiny_config(variant="classifier", hidden=(64,), latent_dim=16, epochs=20, lr=3e-3, label_batch=32)
    res = aekit.fit(cfg, aekit.Split(small_digits.train.x, partial))
    model = res.model
    assert model.config.model.classes == 10  # from the labels
    assert {"train/recon", "train/classify", "train/consistency"} <= set(res.history[-1])
    acc = np.mean(apps.classify(model, small_digits.test.x) == small_digits.test.y)
    assert acc > 0.7  # 10 classes from 5 labels each
    p = apps.predict_proba(model, small_digits.test.x[:5])
    assert p.shape == (5, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    # evaluate: the accuracy on the labelled test samples (the unlabelled ones do not count), no consistency
    y = small_digits.test.y.copy()
    y[::2] = -1
    m = aekit.evaluate(model, aekit.Split(small_digits.test.x, y))
    known = y >= 0
    right = np.mean(apps.classify(model, small_digits.test.x)[known] == y[known])
    # (evaluate's batches are not classify's: a near tie may fall the other way, so one sample may differ)
    assert abs(m["accuracy"] - right) <= 1 / known.sum() + 1e-12
    assert "consistency" not in m and "accuracy" not in aekit.evaluate(model, small_digits.test.x)


def test_classify_command(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--variant", "classifier", "--arch", "mlp", "--hidden", "32",
                 "--epochs", "3", "--out", str(out), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["classify", str(out), "--out", str(tmp_path / "labels.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Classified" in printed and "accuracy" in printed  # the digits' test set has labels
    rows = list(csv.reader((tmp_path / "labels.csv").open()))
    assert rows[0] == ["index", "label", "probability"]  # classes without names: no "class" column
    model = ckpt.load(out)
    data = aekit.load_data(model.config.data, seed=model.config.train.seed)
    assert [int(r[1]) for r in rows[1:]] == apps.classify(model, data.test.x).tolist()


def test_classifier_bad_input(small_digits, tmp_path, capsys, run):
    x, y = small_digits.train.x, small_digits.train.y
    cfg = tiny_config(variant="classifier", epochs=1)
    with pytest.raises(ValueError, match="needs labels"):
        aekit.fit(cfg, x)
    with pytest.raises(ValueError, match="300 samples but 299 labels"):
        aekit.fit(cfg, aekit.Split(x, y[:299]))
    with pytest.raises(ValueError, match="label 9 .* not a class"):
        aekit.fit(tiny_config(variant="classifier", epochs=1, classes=3), aekit.Split(x, y))
    with pytest.raises(ValueError, match="whole numbers"):
        aekit.fit(cfg, aekit.Split(x, y + 0.5))
    with pytest.raises(ValueError, match="-1 for unknown; row [0-9]+ holds -2"):
        aekit.fit(cfg, aekit.Split(x, np.where(y == 0, -2, y)))
    with pytest.raises(ValueError, match="no known label"):
        aekit.fit(cfg, aekit.Split(x, np.full(len(y), -1)))
    err = cli_error(capsys, ["classify", str(run), "--out", str(tmp_path / "l.csv")])
    assert "no classifier" in err and not (tmp_path / "l.csv").exists()


def test_a_class_labelled_only_in_the_test_split_is_a_class_checked_before_training(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = np.full(40, -1)
    y[:6] = [0, 1, 0, 1, 0, 1]
    np.savez(tmp_path / "train.npz", x=x, y=y)
    np.savez(tmp_path / "test.npz", x=x[:5], y=np.array([2, 0, -1, 1, -1]))  # class 2: labelled in the test split only
    out = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "train.npz"), "--test-path", str(tmp_path / "test.npz"), "--variant",
            "classifier", "--epochs", "1", "--no-report"]
    assert main([*argv, "--out", str(out)]) == 0  # it was an error after training: label 2 not a class of the model
    assert "labelled: 6 of the training split, 3 of the test split" in capsys.readouterr().out
    assert ckpt.load(out).config.model.classes == 3
    err = cli_error(capsys, [*argv, "--classes", "2", "--out", str(tmp_path / "r2")])
    assert "label 2 of the test data is not a class of this model (classes 0..1)" in err
    assert not (tmp_path / "r2").exists()  # refused before training: no run folder
    # one file, --split random: the seeded 20 % held out as its test split takes every label of a class
    held = split_off(aekit.Split(torch.arange(40.0)[:, None], np.full(40, -1)), 0.2, 0)[1].x[:, 0].long().numpy()
    kept = np.setdiff1d(np.arange(40), held)
    y = np.full(40, -1)
    y[kept[:4]], y[held[0]] = [0, 1, 0, 1], 2  # class 2: its one label held out
    np.savez(tmp_path / "one.npz", x=x, y=y)
    one = ["train", "--data", str(tmp_path / "one.npz"), "--variant", "classifier", "--epochs", "1", "--no-report"]
    assert main([*one, "--split", "random", "--out", str(tmp_path / "r3")]) == 0
    assert "Note: class 2 has labels only in the held-out test split: the model cannot learn it" in \
        capsys.readouterr().out
    assert main([*one, "--out", str(tmp_path / "r5")]) == 0  # by label (the default): every label kept
    assert "Note:" not in (said := capsys.readouterr().out) and "labelled: 5 of the training split, 0 of" in said
    test_line = said.split("Test: ")[1].splitlines()[0]  # no labelled test row: no cross-entropy, no accuracy
    assert "recon" in test_line and "classify" not in test_line and "accuracy" not in test_line
    assert "No labelled row in the test split, so no accuracy: give a labelled test file (--test-path)" in said
    r5 = ckpt.load(tmp_path / "r5").config
    assert r5.data.split == "by-label" and r5.train.val_fraction == 0.0  # the recipe: no validation split either
    y[kept[:4]] = 0  # and the training split keeps labels of class 0 alone: refused before training
    np.savez(tmp_path / "one.npz", x=x, y=y)
    err = cli_error(capsys, [*one, "--split", "random", "--out", str(tmp_path / "r4")])
    assert "class 2 has labels only in the test split" in err and "--split by-label" in err
    assert not (tmp_path / "r4").exists()


def test_the_by_label_split_keeps_scarce_labels_by_hand_and_old_runs_keep_their_random_split():
    y = np.array([0] * 5 + [1] * 2 + [-1] * 13)  # 20 rows: k = 4 held out
    x = torch.arange(20.0)[:, None]
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0)).numpy()  # split_off's own permutation
    train, test = split_off(aekit.Split(x, y), 0.2, 0, "by-label")
    first0 = next(i for i in perm if y[i] == 0)  # class 0 gives floor(0.2 x 5) = 1 row: its first in the permutation
    unlabelled = [i for i in perm if y[i] < 0][:3]  # class 1 (2 labels) none; the other 3 from unlabelled rows
    assert sorted(test.x[:, 0].long().tolist()) == sorted([first0, *unlabelled])
    assert sorted(train.y.tolist()) == sorted([0] * 4 + [1] * 2 + [-1] * 10)
    assert sorted(train.x[:, 0].long().tolist() + test.x[:, 0].long().tolist()) == list(range(20))
    for labels in (None, np.full(20, -1)):  # without labels: the random split itself
        assert torch.equal(split_off(aekit.Split(x, labels), 0.2, 0, "by-label")[1].x,
                           split_off(aekit.Split(x, labels), 0.2, 0, "random")[1].x)
    full = np.repeat([0, 1, 2], [10, 6, 4])  # every row labelled: floors 2, 1, 0, then one more labelled row
    _, held = split_off(aekit.Split(x, full), 0.2, 0, "by-label")
    assert len(held) == 4 and (held.y == 0).sum() >= 2 and (held.y == 1).sum() >= 1
    # the validation split inside fit follows the same rule: class 1's two labels stay in training
    from aekit.train import _prepare_data

    cfg = aekit.Config().override(variant="classifier", arch="mlp", val_fraction=0.2)
    for rule, kept in (("by-label", 2), ("random", int((split_off(aekit.Split(x, y), 0.2, 0)[0].y == 1).sum()))):
        _, tr, val, _ = _prepare_data(cfg.override(split=rule), aekit.Split(x, y))
        assert len(val) == 4 and int((tr.y == 1).sum()) == kept
    # a run's stored config without the field (trained before it existed) recomputes the random split it had
    stored = aekit.Config().to_dict()
    del stored["data"]["split"]
    assert aekit.Config.from_run(stored).data.split == "random"
    assert aekit.Config.from_dict(stored).data.split == "by-label"  # a config file: today's default


def test_labels_from_a_csv_column(tmp_path, capsys):
    """--label-column takes a CSV column (by header name or index) out of the features as the labels: a
    classifier trains on it and the sampler generates by its classes."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-2, 0.4, size=(60, 3)), rng.normal(2, 0.4, size=(60, 3))])
    y = np.repeat([0, 1], 60)
    lines = ["u,v,kind,w"] + [f"{a:.4f},{b:.4f},{k},{c:.4f}" for (a, b, c), k in zip(x, y)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    data = aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "t.csv"), label_column="kind"))
    assert data.train.x.shape[1:] == (3,) and set(np.unique(data.train.y)) == {0.0, 1.0}
    out = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--label-column", "kind", "--variant", "classifier",
                 "--arch", "mlp", "--hidden", "16", "--latent-dim", "2", "--epochs", "30", "--batch-size", "16",
                 "--lr", "0.01",
                 "--label-batch", "16", "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    model = ckpt.load(out)
    assert model.config.model.classes == 2 and model.sampler.classes == [0, 1]
    assert np.mean(apps.classify(model, data.test.x) == data.test.y) > 0.9
    by_index = aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "t.csv"), label_column="2"))
    assert np.array_equal(by_index.train.y, data.train.y)
    with pytest.raises(ValueError, match="no label column 'type'.*u, v, kind, w"):
        aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "t.csv"), label_column="type"))


def test_the_classifier_recipe_by_hand_and_image_shape(small_digits, tmp_path, capsys):
    from aekit.apps import classifier_recipe
    from aekit.sklearn import AutoencoderClassifier

    # 10,000 MNIST images in [0, 1]: the conv recipe (two convolutions a stage in the encoder, a quarter of each
    # batch reconstructed) with pseudo-labels, batches of 128, ceil(2,400 x 128 / 10,000) = 31 epochs
    r = classifier_recipe(10_000, (1, 28, 28), unit_range=True)
    assert (r["arch"], r["channels"], r["conv_depth"], r["recon_share"], r["latent_dim"], r["recon"], r["epochs"],
            r["batch_size"], r["lr"], r["schedule"], r["pseudo_weight"], r["view_degrees"], r["view_noise"],
            r["neighbour_share"]) == ("conv", (32, 64, 128), 2, 0.25, 32, "bce", 31, 128, 2e-3, "onecycle", 3.0, 15.0,
                                      0.1, 0.5)
    # 569 rows of 30 numbers: an MLP of 120 and 60 units, a code of 15; batches of 569 / 8 -> 64; 4,800 steps
    # would be 540 epochs: at most 300
    r = classifier_recipe(569, (30,), unit_range=True)
    assert (r["arch"], r["hidden"], r["latent_dim"], r["recon"], r["batch_size"], r["epochs"], r["pseudo_weight"],
            r["view_degrees"], r["view_noise"], r["neighbour_share"]) == ("mlp", (120, 60), 15, "mse", 64, 300, 3.0,
                                                                          0.0, 0.3, 0.0)
    assert classifier_recipe(10_000, (784,))["epochs"] == 31  # ceil(4,800 x 64 / 10,000)
    assert classifier_recipe(10 ** 7, (3,))["epochs"] == 5 and classifier_recipe(10, (3,))["epochs"] == 300
    x = small_digits.train.x.numpy()  # (300, 1, 8, 8) in [0, 1]
    rows = x.reshape(len(x), -1)
    y = np.full(len(x), -1)
    y[:40] = small_digits.train.y[:40]
    clf = AutoencoderClassifier(image_shape=(1, 8, 8), epochs=2, random_state=0).fit(rows, y)
    m = clf.config_.model
    assert m.arch == "conv" and m.input_shape == (1, 8, 8) and clf.config_.loss.recon == "bce"
    assert m.conv_depth == 2 and clf.config_.loss.recon_share == 0.25  # the recipe's
    assert clf.config_.loss.neighbour_share == 0.5
    assert clf.predict(rows[:5]).shape == (5,) and clf.n_features_in_ == 64
    assert clf.image_shape_ == (1, 8, 8)
    seen = AutoencoderClassifier(epochs=1, random_state=0).fit(rows, y)  # "auto": the digits' rows are images
    assert seen.image_shape_ == (1, 8, 8) and seen.config_.model.arch == "conv"
    assert seen.predict_proba(rows[:3]).shape == (3, 10)
    flat = AutoencoderClassifier(image_shape=None, epochs=2, random_state=0).fit(rows, y)
    assert flat.config_.model.arch == "mlp" and flat.config_.model.hidden == (256, 128) and flat.image_shape_ is None
    with pytest.raises(ValueError, match="image_shape must be 'auto', None or"):
        AutoencoderClassifier(image_shape="square", epochs=1).fit(rows, y)
    with pytest.raises(ValueError, match=r"image_shape \(1, 9, 9\) holds 81 values, but each row of X has 64"):
        AutoencoderClassifier(image_shape=(1, 9, 9), epochs=1).fit(rows, y)
    # the command line's --variant classifier gets the same recipe
    np.savez(tmp_path / "l.npz", x=x, y=y)
    assert main(["train", "--data", str(tmp_path / "l.npz"), "--variant", "classifier", "--epochs", "1", "--out",
                 str(tmp_path / "r"), "--quiet", "--no-report"]) == 0
    assert "Recipe classifier: arch conv, channels (32, 64, 128), conv_depth 2, latent_dim 32" in \
        capsys.readouterr().out


def test_image_rows_tells_square_images_from_tables(digits):
    from sklearn.datasets import load_breast_cancer

    from aekit.apps import image_rows
    from aekit.apps.classify import _pair_correlation

    rows = digits.train.x.numpy().reshape(len(digits.train.x), -1)  # (N, 64): 8 x 8 images
    assert image_rows(rows) == (1, 8, 8)
    assert image_rows(np.concatenate([rows, rows * 0.5, rows ** 2], 1)) == (3, 8, 8)  # 3 channels of 8 x 8
    rng = np.random.default_rng(0)
    assert image_rows(rows[:, rng.permutation(64)]) is None  # the same values, columns in another order
    assert image_rows(rng.normal(size=(500, 64))) is None  # 64 unrelated numbers
    steps = np.cumsum(rng.normal(size=(500, 64)), 1)  # windows of 64 steps of a random walk: not 8 x 8 images
    assert image_rows(steps) is None
    t = np.arange(64)
    waves = np.sin(2 * np.pi * rng.uniform(0.01, 0.1, (500, 1)) * t + rng.uniform(0, 6.3, (500, 1)))  # nor sines
    assert image_rows(waves + 0.1 * rng.normal(size=(500, 64))) is None
    assert image_rows(load_breast_cancer().data) is None  # 30 columns: not C x S x S
    assert image_rows(rows[:, :49]) is None and image_rows(rows[:2]) is None  # 7 x 7 is too small; 2 rows
    # the correlation by hand: pixel 0 and pixel 1 of three images; a constant pixel is left out
    grid = np.array([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 5.0, 5.0]])[:, None, :]  # (3 rows, 1, 3 pixels)
    r01 = np.corrcoef([1.0, 2.0, 3.0], [2.0, 4.0, 5.0])[0, 1]
    assert _pair_correlation(grid, 1) == pytest.approx(r01)  # the pair (1, 2) has a constant pixel 2
    assert _pair_correlation(np.ones((3, 1, 3)), 1) == 0.0  # nothing but constant pixels


def test_the_command_line_reads_rows_that_are_images_as_images(tmp_path, capsys):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    y = y.copy()
    y[100:] = -1
    np.savez(tmp_path / "flat.npz", x=(x / 16).astype(np.float32), y=y)  # (1797, 64): 8 x 8 images as rows
    np.save(tmp_path / "new.npy", (x[:5] / 16).astype(np.float32))
    fast = ["--epochs", "1", "--quiet", "--no-report"]
    assert main(["train", "--data", str(tmp_path / "flat.npz"), "--variant", "classifier", "--out",
                 str(tmp_path / "r"), *fast]) == 0
    assert "Rows read as 1 x 8 x 8 images" in capsys.readouterr().out
    model = ckpt.load(tmp_path / "r")
    assert model.input_shape == (1, 8, 8) and model.config.data.image_shape == (1, 8, 8)
    assert model.config.model.arch == "conv"
    assert main(["classify", str(tmp_path / "r"), "--input", str(tmp_path / "new.npy"), "--out",
                 str(tmp_path / "l.csv")]) == 0  # new rows of 64 read as the run's images
    assert len((tmp_path / "l.csv").read_text().splitlines()) == 6
    assert main(["evaluate", str(tmp_path / "r")]) == 0  # the run reloads its data as images
    assert '"test_accuracy"' in capsys.readouterr().out
    assert main(["train", "--data", str(tmp_path / "flat.npz"), "--variant", "classifier", "--arch", "mlp", "--out",
                 str(tmp_path / "rows"), *fast]) == 0  # an architecture given: rows stay rows
    assert ckpt.load(tmp_path / "rows").input_shape == (64,) and "Rows read as" not in capsys.readouterr().out
    line = cli_error(capsys, ["train", "--data", str(tmp_path / "flat.npz"), "--image-shape", "1", "9", "9", "--out",
                              str(tmp_path / "bad"), *fast])
    assert "image_shape (1, 9, 9) holds 81 values" in line and "flat.npz" in line and not (tmp_path / "bad").exists()
