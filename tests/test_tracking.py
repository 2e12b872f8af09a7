"""TensorBoard event files: written while training and converted from a run's history, read back."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

import aekit
from aekit import checkpoint as ckpt
from aekit.cli import main
from conftest import cli_error, tiny_config

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def _read(folder) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def test_training_writes_every_loss_part_the_learning_rate_and_image_grids(small_digits, tmp_path):
    res = aekit.fit(tiny_config(variant="vae", epochs=3, val_fraction=0.2), small_digits, out_dir=tmp_path / "run",
                    tensorboard=tmp_path / "tb")
    acc = _read(tmp_path / "tb")
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/recon", "train/kl", "val/loss", "val/kl", "lr", "time_s"} <= tags
    for tag in ("train/loss", "val/kl", "lr"):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], [r[tag] for r in res.history], rtol=1e-6)
    assert {"reconstructions", "samples"} <= set(acc.Tags()["images"])
    assert acc.Images("samples")[-1].step == 3  # the samples at the end, from the fitted sampler


def test_a_finished_run_converts_to_the_same_curves(run, tmp_path, capsys):
    assert main(["tensorboard", str(run), "--out", str(tmp_path / "tb")]) == 0
    assert "TensorBoard events" in capsys.readouterr().out
    acc = _read(tmp_path / "tb")
    history = ckpt.read_history(run)
    events = acc.Scalars("train/loss")
    assert [e.step for e in events] == [r["epoch"] for r in history]
    np.testing.assert_allclose([e.value for e in events], [r["train/loss"] for r in history], rtol=1e-6)
    assert "reconstructions" in acc.Tags()["images"]  # the digits are images


def test_a_missing_extra_is_named(small_digits, tmp_path, capsys, monkeypatch):
    real = builtins.__import__

    def no_tensorboard(name, *a, **kw):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ImportError, match=r"aekit\[tensorboard\]"):
        aekit.fit(tiny_config(epochs=1), small_digits, out_dir=tmp_path / "r", tensorboard=tmp_path / "tb")
    assert not (tmp_path / "r").exists()  # refused before any file was touched
    err = cli_error(capsys, ["train", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "r2"),
                             "--tensorboard", str(tmp_path / "tb"), "--quiet"])
    assert "aekit[tensorboard]" in err and not (tmp_path / "r2").exists()
