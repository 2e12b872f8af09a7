"""Scale: torchrun / DistributedDataParallel on CPU (gloo), and data streamed from memory-mapped files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import aekit
from aekit.data.stream import StreamedArray, check_fits_in_memory

SCRIPT = textwrap.dedent("""
    import json, os, sys, torch, aekit
    cfg = aekit.Config.from_dict(json.loads(sys.argv[1]))
    data = aekit.load_data(cfg.data)
    res = aekit.fit(cfg, data, out_dir=sys.argv[2] if len(sys.argv) > 2 else None)
    rank = int(os.environ.get("RANK", "0"))
    flat = torch.cat([p.detach().flatten() for p in res.model.parameters()])
    torch.save({"params": flat, "history": res.history}, os.path.join(os.environ["OUT"], f"rank{rank}.pt"))
""")


def _run(tmp_path, cfg, nproc, out_dir=None):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    res_dir = tmp_path / f"out{nproc}"
    res_dir.mkdir(exist_ok=True)
    env = {**os.environ, "OUT": str(res_dir), "OMP_NUM_THREADS": "1", "AEKIT_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", str(script),
           cfg.to_json()] + ([str(out_dir)] if out_dir else [])
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    if p.returncode != 0 and "terminate called without an active exception" in p.stderr:
        # a rank aborted in C++ as the launch tore down (seen once in CI, in gloo's shutdown; not reproduced in 35
        # runs since): run once more, afresh, so that a crash that happens every time still fails the test
        if out_dir:
            shutil.rmtree(out_dir, ignore_errors=True)
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-3000:]
    return [torch.load(res_dir / f"rank{r}.pt") for r in range(nproc)]


@pytest.fixture
def cfg():
    return aekit.Config().override(dataset="digits", arch="mlp", hidden=(32,), latent_dim=4, epochs=3, batch_size=64,
                                   lr=3e-3, val_fraction=0.1)


def test_two_process_gloo_matches_single_process(tmp_path, cfg):
    two = _run(tmp_path, cfg, 2, tmp_path / "run2")
    assert torch.equal(two[0]["params"], two[1]["params"])  # DDP keeps the ranks identical
    assert two[0]["history"][-1]["train/loss"] == two[1]["history"][-1]["train/loss"]  # metrics all-reduced
    one = _run(tmp_path, cfg, 1)
    # The same global batch of 64 split 32 + 32 gives the same gradient up to float summation order; the epoch's
    # last batch (13 samples, split 7 + 6) is averaged per rank, a slightly different weighting. Tolerance: 0.1 %.
    assert two[0]["history"][-1]["train/loss"] == pytest.approx(one[0]["history"][-1]["train/loss"], rel=1e-3)
    # (Adam divides by sqrt of tiny second moments, so single weights may drift more; compare the whole vector.)
    assert (two[0]["params"] - one[0]["params"]).norm() < 1e-2 * one[0]["params"].norm()
    # only rank 0 wrote the run directory, and it loads
    assert aekit.load(tmp_path / "run2").latent_dim == 4
    assert len((tmp_path / "run2" / "history.jsonl").read_text().splitlines()) == 3


def test_resume_with_a_different_number_of_processes(tmp_path, cfg):
    """Interrupted with 2 processes after 2 epochs, resumed in 1: the same as 3 epochs in one go."""
    _run(tmp_path, cfg.override(epochs=2), 2, tmp_path / "run")
    state = aekit.checkpoint.load_state(tmp_path / "run")
    assert state["epoch"] == 2
    resumed = aekit.fit(cfg, aekit.load_data(cfg.data), out_dir=tmp_path / "run", resume=True)
    straight = aekit.fit(cfg, aekit.load_data(cfg.data))
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    assert resumed.history[-1]["train/loss"] == pytest.approx(straight.history[-1]["train/loss"], rel=1e-3)


def test_streaming_from_memmap_equals_in_memory(tmp_path, digits):
    x = digits.train.x.numpy()
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "shards").mkdir()
    for i, part in enumerate(np.array_split(x, 3)):
        np.save(tmp_path / "shards" / f"part{i}.npy", part)
    base = dict(arch="mlp", hidden=(32,), latent_dim=4, epochs=2, batch_size=64, val_fraction=0.1, seed=5,
                variant="denoising")
    mem = aekit.fit(aekit.Config().override(**base), aekit.Split(torch.from_numpy(x)))
    for path in (tmp_path / "x.npy", tmp_path / "shards"):
        s = aekit.fit(aekit.Config().override(**base), aekit.Split(StreamedArray(path)))
        assert [r["train/loss"] for r in s.history] == [r["train/loss"] for r in mem.history]
        for a, b in zip(s.model.parameters(), mem.model.parameters()):
            assert torch.equal(a, b)


def test_streamed_dataset_config_and_errors(tmp_path):
    np.save(tmp_path / "x.npy", np.random.rand(50, 6).astype(np.float32))
    d = aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "x.npy"), stream=True))
    assert isinstance(d.train.x, StreamedArray) and (len(d.train), len(d.test)) == (40, 10)
    assert d.test.x[np.array([0, 1])].shape == (2, 6)
    bad = np.random.rand(10, 3)
    bad[7, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(ValueError, match="NaN or inf.*row 7"):
        StreamedArray(tmp_path / "bad.npy")[np.arange(10)]
    with pytest.raises(FileNotFoundError):
        StreamedArray(tmp_path / "missing.npy")


def test_too_big_for_memory_names_the_streaming_option(tmp_path, monkeypatch):
    np.save(tmp_path / "x.npy", np.zeros((1000, 100), dtype=np.float32))
    monkeypatch.setattr("aekit.limits.available_memory", lambda: 100_000)
    with pytest.raises(MemoryError, match="--stream"):
        check_fits_in_memory(tmp_path / "x.npy")
    with pytest.raises(MemoryError, match="--stream"):
        aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "x.npy")))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here (GPU checks run with the device tool)")
def test_gpu_fast_path_bf16_and_compile(digits):
    cfg = aekit.Config().override(arch="mlp", hidden=(32,), latent_dim=4, epochs=2, device="cuda", amp="bf16",
                                  compile=True)
    res = aekit.fit(cfg, digits)
    assert next(res.model.parameters()).is_cuda and np.isfinite(res.history[-1]["train/loss"])


def test_bf16_autocast_on_cpu_trains_close_to_float32(digits):
    """bf16 autocast changes the rounding of the forward pass (so the losses differ), not what is learnt."""
    base = dict(arch="mlp", hidden=(32,), latent_dim=4, epochs=3, val_fraction=0.0, device="cpu")
    fp32 = aekit.fit(aekit.Config().override(**base), digits).history
    bf16 = aekit.fit(aekit.Config().override(amp="bf16", **base), digits).history
    a, b = fp32[-1]["train/loss"], bf16[-1]["train/loss"]
    assert a != b and abs(a - b) < 0.01 * a
    assert bf16[-1]["train/loss"] < bf16[0]["train/loss"]
