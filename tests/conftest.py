from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import aekit
from aekit.data import DataSplits, Split

@pytest.fixture(autouse=True)
def _seed_and_offline(monkeypatch):
    torch.manual_seed(0)
    np.random.seed(0)
    monkeypatch.setenv("AEKIT_OFFLINE", "1")  # never reach a real host from the tests
    monkeypatch.delenv("AEKIT_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def digits() -> DataSplits:
    return aekit.load_data(aekit.DataConfig(dataset="digits"))


@pytest.fixture
def small_digits(digits) -> DataSplits:
    """300 training and 100 test digits (1, 8, 8)."""
    return DataSplits(Split(digits.train.x[:300], digits.train.y[:300]), Split(digits.test.x[:100], digits.test.y[:100]),
                      "small digits")


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """A trained vanilla MLP on the digits (aekit train, one epoch, no report); tests copy it before changing it."""
    from aekit.cli import main

    out = tmp_path_factory.mktemp("good") / "run"
    assert main(["train", "--data", "digits", "--arch", "mlp", "--out", str(out), "--hidden", "16", "--latent-dim",
                 "3", "--epochs", "1", "--quiet", "--no-report"]) == 0
    return out


@pytest.fixture
def copy(run, tmp_path):
    """A copy of :func:`run` to change."""
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(run, dst)
    return dst


def tiny_config(**kw) -> aekit.Config:
    base = dict(arch="mlp", hidden=(32,), latent_dim=4, epochs=2, batch_size=32, val_fraction=0.0)
    base.update(kw)
    return aekit.Config().override(**base)


def modules_imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code`` (which must succeed)."""
    script = code + "\nimport sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def cli_error(capsys, argv: list[str]) -> str:
    """Run the command; it must exit 2 with one 'aekit CMD: error: ...' line (or argparse's usage + error)."""
    from aekit.cli import main

    try:
        code = main(argv)
    except SystemExit as e:  # argparse: usage line + error line
        code = e.code
        err = capsys.readouterr().err
        assert code == 2 and "error:" in err and "Traceback" not in err, err
        return err
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}: {err}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"aekit {argv[0]}: error: "), err
    return lines[0]
