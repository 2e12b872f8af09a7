"""A run killed at any point (between any two file writes, or in the middle of one) resumes from a consistent epoch
and ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import aekit
from aekit import checkpoint as ckpt
from aekit import files
from conftest import tiny_config


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs (not even `except Exception` handlers)."""


def _cfg():
    # validation + patience: the best weights are part of the state; onecycle: so is the scheduler
    return tiny_config(epochs=3, val_fraction=0.2, patience=5, schedule="onecycle", variant="vae+denoising")


def _weights(run_dir) -> dict[str, torch.Tensor]:
    return ckpt.load(run_dir).state_dict()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, digits):
    data = aekit.DataSplits(aekit.Split(digits.train.x[:200]), digits.test, "200 digits")
    out = tmp_path_factory.mktemp("ref") / "run"
    writes = []
    real = files.os.replace
    files.os.replace = lambda a, b: (writes.append(os.path.basename(b)), real(a, b))[1]
    try:
        res = aekit.fit(_cfg(), data, out_dir=out, quiet=True, checkpoint_every=0)  # a checkpoint every epoch
    finally:
        files.os.replace = real
    return data, res, writes


def test_the_training_state_is_written_before_the_files_made_from_it(reference):
    _, _, writes = reference
    assert writes[:4] == [ckpt.STATE, ckpt.CONFIG, ckpt.WEIGHTS, ckpt.HISTORY]  # nothing before the first epoch
    # 3 epochs; then the best epoch's weights (config + weights), and the sampler fitted to those weights' codes
    assert len(writes) == 3 * 4 + 2 + 1 and writes[-1] == ckpt.SAMPLER


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_at_every_write_resumes_bit_identically(reference, tmp_path, monkeypatch, when):
    data, full, writes = reference
    real = files.os.replace
    for k in range(len(writes)):
        count = [0]

        def replace(src, dst):
            count[0] += 1
            if count[0] - 1 == k and when == "before":
                raise Killed  # the new file was written under its temporary name, never renamed
            real(src, dst)
            if count[0] - 1 == k and when == "after":
                raise Killed  # renamed, and the next file never written

        out = tmp_path / f"{when}{k}"
        monkeypatch.setattr(files.os, "replace", replace)
        with pytest.raises(Killed):
            aekit.fit(_cfg(), data, out_dir=out, quiet=True, checkpoint_every=0)
        monkeypatch.setattr(files.os, "replace", real)
        resumed = aekit.fit(_cfg(), data, out_dir=out, resume=True, quiet=True)
        assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in full.history], (when, k)
        on_disk, straight = _weights(out), full.model.state_dict()
        assert all(torch.equal(on_disk[n], straight[n]) for n in straight), (when, k, writes[k])
        assert ckpt.read_history(out) == resumed.history


def test_a_real_kill_of_a_training_process(reference, tmp_path):
    """os._exit in a subprocess right after the training state of epoch 2 was renamed into place: no handler, no
    cleanup runs; the resume here ends where the uninterrupted run did."""
    data, full, _ = reference
    out = tmp_path / "killed"
    np.save(tmp_path / "x.npy", data.train.x.numpy())
    script = textwrap.dedent(f"""
        import os, numpy as np, torch, aekit
        from aekit import files
        from conftest import tiny_config
        real, n = files.os.replace, [0]
        def replace(a, b):
            real(a, b)
            if str(b).endswith("{ckpt.STATE}"):
                n[0] += 1
                if n[0] == 2:
                    os._exit(9)
        files.os.replace = replace
        x = torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r}))
        cfg = tiny_config(epochs=3, val_fraction=0.2, patience=5, schedule="onecycle", variant="vae+denoising")
        aekit.fit(cfg, aekit.Split(x), out_dir={str(out)!r}, quiet=True, checkpoint_every=0)
    """)
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert ckpt.load_state(out)["epoch"] == 2
    resumed = aekit.fit(_cfg(), data, out_dir=out, resume=True, quiet=True)
    assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in full.history]
    straight = full.model.state_dict()
    assert all(torch.equal(_weights(out)[n], straight[n]) for n in straight)


def test_a_resumed_run_that_had_stopped_early_stays_stopped(tmp_path, small_digits):
    cfg = tiny_config(epochs=30, val_fraction=0.3, patience=1, lr=0.5)  # a large lr: validation loss soon rises
    res = aekit.fit(cfg, small_digits, out_dir=tmp_path / "r", quiet=True)
    assert res.stopped_early
    again = aekit.fit(cfg, small_digits, out_dir=tmp_path / "r", resume=True, quiet=True)
    assert again.stopped_early and len(again.history) == len(res.history)
    assert all(torch.equal(a, b) for a, b in zip(again.model.state_dict().values(), res.model.state_dict().values()))


def test_resume_checks_the_saved_configuration(tmp_path, small_digits):
    aekit.fit(tiny_config(), small_digits, out_dir=tmp_path / "r", quiet=True)
    with pytest.raises(ValueError, match="cannot resume .* with latent_dim=5"):
        aekit.fit(tiny_config(latent_dim=5), small_digits, out_dir=tmp_path / "r", resume=True, quiet=True)
    with pytest.raises(ValueError, match="already holds a run"):
        aekit.fit(tiny_config(), small_digits, out_dir=tmp_path / "r", quiet=True)
    res = aekit.fit(tiny_config(epochs=3), small_digits, out_dir=tmp_path / "r", resume=True, quiet=True)
    assert [r["epoch"] for r in res.history] == [1, 2, 3]


def test_a_changed_number_in_the_training_state_header_is_refused(tmp_path, small_digits):
    aekit.fit(tiny_config(epochs=1), small_digits, out_dir=tmp_path / "r", quiet=True)
    path = tmp_path / "r" / ckpt.STATE
    data = path.read_bytes()
    assert b'{\\"epoch\\": 1,' in data  # the JSON of the state, inside the safetensors header
    path.write_bytes(data.replace(b'{\\"epoch\\": 1,', b'{\\"epoch\\": 3,', 1))
    with pytest.raises(ckpt.CorruptFileError, match="is corrupt"):
        ckpt.load_state(tmp_path / "r")


def test_the_background_writer_keeps_order_and_stops_at_the_first_failure():
    done = []

    def fail():
        raise OSError("disk full")

    writer = ckpt.BackgroundWriter()
    writer.submit(lambda: done.append(1))
    writer.submit(fail)
    writer.submit(lambda: done.append(3))  # after a failure nothing more is written
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert done == [1]
    with ckpt.BackgroundWriter() as w:  # leaving the block waits for every write
        for k in range(5):
            w.submit(lambda k=k: done.append(10 + k))
    assert done == [1, 10, 11, 12, 13, 14]


def test_a_write_that_fails_mid_run_stops_training_with_its_error(tmp_path, small_digits, monkeypatch):
    """The checkpoint of epoch 2 cannot be written (full disk): fit raises the error that names the file, the run
    directory keeps epoch 1 whole, and a resume completes the run as if nothing had happened."""
    real, n = files.os.replace, [0]

    def replace(src, dst):
        if str(dst).endswith(ckpt.STATE):
            n[0] += 1
            if n[0] == 2:
                raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(files.WriteError, match=f"cannot write .*{ckpt.STATE}.*No space left"):
        aekit.fit(tiny_config(epochs=4), small_digits, out_dir=tmp_path / "r", quiet=True, checkpoint_every=0)
    monkeypatch.setattr(files.os, "replace", real)
    assert ckpt.load_state(tmp_path / "r")["epoch"] == 1 and len(ckpt.read_history(tmp_path / "r")) == 1
    resumed = aekit.fit(tiny_config(epochs=4), small_digits, out_dir=tmp_path / "r", resume=True, quiet=True)
    straight = aekit.fit(tiny_config(epochs=4), small_digits, quiet=True)
    assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in straight.history]


def _state_writes(monkeypatch) -> list[int]:
    """Record the epoch of every training state written."""
    real, epochs = ckpt.epoch_files, []

    def epoch_files(run_dir, model, opt, sched, epoch, *rest):
        epochs.append(epoch)
        return real(run_dir, model, opt, sched, epoch, *rest)

    monkeypatch.setattr(ckpt, "epoch_files", epoch_files)
    return epochs


def test_checkpoints_are_written_at_most_every_checkpoint_every_seconds_and_after_the_last_epoch(
        tmp_path, small_digits, monkeypatch):
    written = _state_writes(monkeypatch)
    aekit.fit(tiny_config(epochs=4), small_digits, out_dir=tmp_path / "every", quiet=True, checkpoint_every=0)
    assert written == [1, 2, 3, 4]
    written.clear()
    res = aekit.fit(tiny_config(epochs=4), small_digits, out_dir=tmp_path / "last", quiet=True, checkpoint_every=1e9)
    assert written == [4]  # the epochs were shorter than the interval: the last one alone
    assert ckpt.load_state(tmp_path / "last")["epoch"] == 4 and ckpt.read_history(tmp_path / "last") == res.history
    # time passes (a clock that moves 10 s a reading): every epoch is due
    clock = itertools.count(0, 10)
    monkeypatch.setattr(aekit.train.time, "perf_counter", lambda: float(next(clock)))
    written.clear()
    aekit.fit(tiny_config(epochs=3), small_digits, out_dir=tmp_path / "slow", quiet=True, checkpoint_every=5)
    assert written == [1, 2, 3]


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "1"])
def test_checkpoint_every_must_be_seconds(tmp_path, small_digits, bad):
    with pytest.raises(ValueError, match="checkpoint_every must be a number of seconds"):
        aekit.fit(tiny_config(epochs=1), small_digits, out_dir=tmp_path / "r", quiet=True, checkpoint_every=bad)
    assert not (tmp_path / "r").exists()


def test_an_early_stop_writes_its_epoch(tmp_path, small_digits, monkeypatch):
    written = _state_writes(monkeypatch)
    cfg = tiny_config(epochs=30, val_fraction=0.3, patience=1, lr=0.5)
    res = aekit.fit(cfg, small_digits, out_dir=tmp_path / "r", quiet=True, checkpoint_every=1e9)
    assert res.stopped_early and written == [len(res.history)]
    assert ckpt.load_state(tmp_path / "r")["bad_epochs"] >= 1


def test_a_run_killed_before_its_first_checkpoint_resumes_from_the_start(tmp_path, small_digits, monkeypatch):
    def on_epoch(record):
        if record["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        aekit.fit(tiny_config(epochs=3), small_digits, out_dir=tmp_path / "r", quiet=True, on_epoch=on_epoch,
                  checkpoint_every=1e9)
    assert ckpt.load_state(tmp_path / "r") is None  # config.json and the initial weights only
    resumed = aekit.fit(tiny_config(epochs=3), small_digits, out_dir=tmp_path / "r", resume=True, quiet=True)
    straight = aekit.fit(tiny_config(epochs=3), small_digits, quiet=True)
    assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in straight.history]
