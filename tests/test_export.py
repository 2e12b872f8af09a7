"""ONNX export: three files with metadata, onnxruntime parity with PyTorch, dynamic batch (and time) axes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import aekit
from aekit.cli import main
from conftest import tiny_config

pytest.importorskip("onnxruntime")
from aekit.apps.export import export_onnx, metadata, run_onnx  # noqa: E402


def _series() -> np.ndarray:
    s = np.sin(np.linspace(0, 50, 3000)).astype(np.float32)
    return np.stack([s[i:i + 16] for i in range(0, 2900, 8)])[:, :, None]  # (363, 16, 1)


@pytest.mark.parametrize("arch,variant", [("mlp", "vanilla"), ("conv", "vae"), ("conv", "rate"), ("rnn", "vanilla")])
def test_parity_with_a_dynamic_batch_of_1_and_7(digits, tmp_path, arch, variant):
    x = _series() if arch == "rnn" else digits.train.x.numpy()
    kw = {"channels": (8,)} if arch == "conv" else {"rnn_hidden": 8} if arch == "rnn" else {}
    model = aekit.fit(tiny_config(arch=arch, variant=variant, epochs=1, **kw), x[:300], quiet=True).model
    res = export_onnx(model, tmp_path, x[:5], threshold=0.25)
    assert res.max_abs_diff < 1e-4
    for n in (1, 7):
        xb = x[100:100 + n]
        rec, score = run_onnx(res.paths["autoencoder"], xb)
        (code,) = run_onnx(res.paths["encoder"], xb)
        (dec,) = run_onnx(res.paths["decoder"], code)
        with torch.no_grad():
            want = model.reconstruct(torch.from_numpy(xb)).numpy()
        assert rec.shape == xb.shape and score.shape == (n,) and code.shape == (n, *model.code_shape)
        np.testing.assert_allclose(rec, want, atol=1e-4)
        np.testing.assert_allclose(dec, want, atol=1e-4)
        np.testing.assert_allclose(score, ((want - xb) ** 2).reshape(n, -1).mean(1), atol=1e-5)
    if arch == "rnn":  # the time axis is dynamic too
        rec, _ = run_onnx(res.paths["autoencoder"], x[:3, :10])
        assert rec.shape == (3, 10, 1)
    meta = metadata(res.paths["autoencoder"])
    assert json.loads(meta["input_shape"]) == list(model.input_shape) and meta["anomaly_threshold"] == "0.25"
    assert json.loads(meta["config"])["variant"] == variant and meta["aekit_version"] == aekit.__version__


def test_export_command(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--arch", "mlp", "--hidden", "16", "--latent-dim", "4", "--epochs", "1",
                 "--out", str(run), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    assert "largest absolute difference" in out
    assert sorted(p.name for p in (run / "onnx").iterdir()) == ["autoencoder.onnx", "decoder.onnx", "encoder.onnx"]
    assert float(metadata(run / "onnx" / "encoder.onnx")["anomaly_threshold"]) > 0


def test_a_missing_extra_is_named(tmp_path, capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_onnx(name, *a, **k):
        if name.startswith("onnx"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "pip install 'aekit[export]'" in capsys.readouterr().err
