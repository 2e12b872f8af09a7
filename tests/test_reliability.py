"""A run directory is a trained run or refused; --overwrite never loses the old run; temporary files and staged
folders never outlive the command that made them; multi-file outputs appear whole or not at all; nothing is written
through a link."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import aekit
from aekit import checkpoint as ckpt
from aekit import files
from aekit.cli import main
from conftest import cli_error, tiny_config

TINY = ["--hidden", "16", "--latent-dim", "3", "--epochs", "1", "--quiet", "--no-report"]


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs."""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- a failed or killed --overwrite leaves the old run whole ----------------------------------------------------------
def test_a_failed_overwrite_leaves_the_old_run_whole(copy, capsys):
    before = _snapshot(copy)
    line = cli_error(capsys, ["train", "--data", "digits", "--arch", "mlp", "--lr", "1e30", "--out", str(copy),
                              "--overwrite", *TINY])
    assert "training diverged in epoch 1" in line
    assert _snapshot(copy) == before and _hidden(copy.parent) == []  # no staging folder left beside it
    assert main(["evaluate", str(copy)]) == 0


def test_a_killed_overwrite_leaves_the_old_run_whole_and_its_staging_folder_is_swept(copy, small_digits):
    before = _snapshot(copy)

    def kill(record):
        raise Killed

    with pytest.raises(Killed):  # after the first epoch, before its checkpoint (the cadence puts it later)
        aekit.fit(tiny_config(epochs=3), small_digits, out_dir=copy, overwrite=True, quiet=True, on_epoch=kill,
                  checkpoint_every=1e9)
    assert _snapshot(copy) == before
    # a real kill leaves the staging folder: the next run beside it removes it (its process is gone)
    stale = copy.parent / ".copy.aekit-999999999-abcd.new"
    stale.mkdir()
    (stale / ckpt.STATE).write_bytes(b"half")
    aekit.fit(tiny_config(epochs=1), small_digits, out_dir=copy.parent / "other", quiet=True)
    assert not stale.exists() and _snapshot(copy) == before


def test_an_overwrite_replaces_the_run_once_it_has_a_checkpoint(copy, small_digits):
    (copy / "figures").mkdir(exist_ok=True)
    (copy / "figures" / "old.png").write_bytes(b"stale")
    res = aekit.fit(tiny_config(epochs=2, latent_dim=5), small_digits, out_dir=copy, overwrite=True, quiet=True)
    assert not (copy / "figures").exists() and not (copy / ckpt.METRICS).exists()  # the old run's files are gone
    assert aekit.load(copy).latent_dim == 5 and len(ckpt.read_history(copy)) == 2 and res.run_dir == copy
    assert _hidden(copy.parent) == []


def test_overwrite_refuses_a_folder_with_files_that_are_not_a_run(copy, capsys):
    (copy / "notes.txt").write_text("mine")
    line = cli_error(capsys, ["train", "--data", "digits", "--out", str(copy), "--overwrite", *TINY])
    assert "not part of a run (notes.txt)" in line and (copy / "notes.txt").read_text() == "mine"


def test_replacing_a_folder_without_an_atomic_exchange_is_undone_by_the_sweep(tmp_path, monkeypatch):
    """Without renameat2, the old folder is moved aside first: a kill between the two renames leaves no target,
    and the next sweep puts the old folder back (and drops the half-placed new one)."""
    target = tmp_path / "run"
    target.mkdir()
    (target / "a").write_text("old")
    new = files.staging_folder(target)
    (new / "a").write_text("new")
    monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    real = files.os.rename
    calls = []

    def rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise Killed
        real(src, dst)

    monkeypatch.setattr(files.os, "rename", rename)
    with pytest.raises(Killed):
        files.replace_dir(new, target)
    monkeypatch.setattr(files.os, "rename", real)
    assert not target.exists()
    files._mine.clear()  # as in the next process
    files.sweep(tmp_path)
    assert (target / "a").read_text() == "old" and _hidden(tmp_path) == []


def test_the_atomic_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "f").write_text("A")
    (b / "f").write_text("B")
    if not files._exchange(a, b):
        pytest.skip("no renameat2 RENAME_EXCHANGE on this system")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"


def test_a_temporary_file_of_a_killed_process_is_removed_by_the_next_write(tmp_path):
    script = textwrap.dedent(f"""
        import os
        from aekit import files
        def write(tmp):
            open(tmp, "w").write("half")
            os._exit(9)
        files.atomic_write({str(tmp_path / 'run' / 'config.json')!r}, write)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    left = _hidden(tmp_path / "run")
    assert len(left) == 1 and left[0].startswith(".config.json.aekit-")
    files.atomic_write_text(tmp_path / "run" / "history.jsonl", "")
    assert _hidden(tmp_path / "run") == []


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    live = tmp_path / f".x.aekit-{os.getppid()}-abcd.tmp"  # the parent process: alive
    live.write_text("being written")
    files.sweep(tmp_path)
    assert live.exists()


# --- integrity: non-finite weights, crafted training states -------------------------------------------------------------
def test_non_finite_weights_are_refused_even_with_a_valid_checksum(copy, capsys):
    tensors, meta = ckpt.load_tensors(copy / ckpt.WEIGHTS)
    name = next(k for k in tensors if k.endswith("weight"))
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    ckpt.save_tensors(copy / ckpt.WEIGHTS, tensors, meta)  # a recomputed checksum
    for cmd in (["evaluate", str(copy)], ["export", str(copy), "--out", str(copy / "o")]):
        line = cli_error(capsys, cmd)
        assert "NaN or infinite" in line and name in line
    assert not (copy / "o").exists()


def _craft_state(run: Path, change) -> None:
    tensors, meta = ckpt.load_tensors(run / ckpt.STATE)
    info = json.loads(meta["aekit.train_state"])
    change(info)
    meta["aekit.train_state"] = json.dumps(info)
    ckpt.save_tensors(run / ckpt.STATE, tensors, meta)


@pytest.mark.parametrize("change,expect", [
    (lambda s: s.update(epoch=50), "epoch must be an integer from 1 to the 1 epochs"),
    (lambda s: s.update(epoch=-3), "epoch must be an integer from 1"),
    (lambda s: s.update(epoch="1"), "epoch must be an integer"),
    (lambda s: s["history"].append("loss 0.1"), "history must be a list of records"),
    (lambda s: s["history"][0].update({"train/loss": "low"}), "history record 1"),
    (lambda s: s.update(bad_epochs=-1), "bad_epochs"),
    (lambda s: s.update(best_val="x"), "best_val"),
    (lambda s: s["config"]["model"].update(latent_dim=10 ** 12), "latent_dim"),
])
def test_a_crafted_training_state_is_refused_on_resume(copy, capsys, change, expect):
    _craft_state(copy, change)
    line = cli_error(capsys, ["train", "--out", str(copy), "--resume", "--epochs", "3", "--quiet", "--no-report"])
    assert expect in line and str(copy / ckpt.STATE) in line


def test_a_resume_sweeps_the_temporary_files_a_kill_left_in_the_run(copy, small_digits, capsys):
    (copy / ".model.safetensors.aekit-999999999-abcd.tmp").write_bytes(b"half")
    assert main(["train", "--out", str(copy), "--resume", "--epochs", "2", "--quiet", "--no-report"]) == 0
    assert _hidden(copy) == []


# --- links ------------------------------------------------------------------------------------------------------------
def test_the_report_never_writes_through_a_figures_link(copy, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(copy / "figures", ignore_errors=True)
    (copy / "figures").symlink_to(outside)
    line = cli_error(capsys, ["report", str(copy)])
    assert "symbolic link" in line and list(outside.iterdir()) == []


# --- sizes have bounds, checked before anything is allocated ------------------------------------------------------------
@pytest.mark.parametrize("flags,expect", [
    (["--latent-dim", "1000000000"], "latent_dim 1,000,000,000 is too large"),
    (["--hidden", "1000000000"], "hidden 1,000,000,000 is too large"),
    (["--arch", "conv", "--channels", "100000"], "channels 100,000 is too large"),
    (["--arch", "rnn", "--rnn-layers", "100000"], "rnn_layers 100,000 is too large"),
    (["--epochs", "1000000000000"], "epochs 1,000,000,000,000 is too large"),
    (["--seed", str(2 ** 70)], "seed 1,180,591,620,717,411,303,424 is too large"),
    (["--batch-size", "100000000"], "batch_size 100,000,000 is too large"),
    (["--arch", "mlp", "--hidden", "60000,60000,60000"], "the model would have 14,"),  # each size allowed, together too many
])
def test_sizes_from_flags_have_bounds(tmp_path, capsys, flags, expect):
    out = tmp_path / "r"
    line = cli_error(capsys, ["train", "--data", "digits", "--out", str(out), "--quiet", "--no-report", *flags])
    assert expect in line
    assert not out.exists() or list(out.iterdir()) == []


def test_sizes_from_a_config_file_and_an_image_size_have_bounds(tmp_path, capsys):
    (tmp_path / "c.toml").write_text('[model]\nlatent_dim = 1000000000\n')
    line = cli_error(capsys, ["train", "--config", str(tmp_path / "c.toml"), "--out", str(tmp_path / "r")])
    assert "c.toml" in line and "latent_dim 1,000,000,000 is too large" in line
    line = cli_error(capsys, ["train", "--data", "digits", "--image-size", "100000", "100000", "--out",
                              str(tmp_path / "r")])
    assert "image_size side 100,000 is too large" in line


def test_sizes_from_a_received_run_directory_have_bounds(copy, capsys):
    import hashlib

    cfg = json.loads((copy / ckpt.CONFIG).read_text())
    cfg["model"]["hidden"] = [2_000_000_000]
    text = json.dumps(cfg)
    (copy / ckpt.CONFIG).write_text(text)
    tensors, meta = ckpt.load_tensors(copy / ckpt.WEIGHTS)
    meta["aekit.config_sha256"] = hashlib.sha256(text.encode()).hexdigest()  # a consistent, hostile run
    ckpt.save_tensors(copy / ckpt.WEIGHTS, tensors, meta)
    line = cli_error(capsys, ["evaluate", str(copy)])
    assert "hidden 2,000,000,000 is too large" in line and str(copy / ckpt.CONFIG) in line


@pytest.mark.parametrize("argv,expect", [
    (["generate", "RUN", "-n", "100000000", "--out", "s.npy"], "100,000,000 is too large"),
    (["interpolate", "RUN", "--steps", "100000000", "--png", "p.png"], "100,000,000 is too large"),
    (["generate", "RUN", "--seed", str(2 ** 70), "--out", "s.npy"], "a seed must be from 0"),
    (["serve", "RUN", "--port", "70000"], "a port is from 1 to 65535"),
])
def test_sizes_of_commands_have_bounds(copy, capsys, argv, expect):
    argv = [str(copy) if a == "RUN" else a for a in argv]
    assert expect in cli_error(capsys, argv)


def test_a_batch_that_would_not_fit_in_memory_names_the_batch_size(small_digits, monkeypatch):
    monkeypatch.setattr(aekit.limits, "available_memory", lambda: 2 ** 20)
    cfg = tiny_config(hidden=(256,), batch_size=256)
    with pytest.raises(aekit.limits.TooLarge, match="batch_size 256 is too large for this model"):
        aekit.fit(cfg, small_digits)


def test_an_image_folder_scan_has_a_bound(tmp_path, monkeypatch, capsys):
    for i in range(12):
        (tmp_path / "imgs" / f"d{i}").mkdir(parents=True)
    monkeypatch.setitem(aekit.limits.LIMITS, "files", 10)
    line = cli_error(capsys, ["train", "--dataset", "images", "--path", str(tmp_path / "imgs"), "--out",
                              str(tmp_path / "r")])
    assert "more than 10 files and folders" in line


# --- multi-file outputs appear whole or not at all ---------------------------------------------------------------------
def test_an_array_and_its_pngs_appear_together_or_not_at_all(tmp_path, capsys):
    """A table model's reconstructions cannot be PNGs: the .npy written before that check failed is not left."""
    np.save(tmp_path / "t.npy", np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32))
    run = tmp_path / "tab"
    assert main(["train", "--data", str(tmp_path / "t.npy"), "--arch", "mlp", "--out", str(run), *TINY]) == 0
    out = tmp_path / "out"
    line = cli_error(capsys, ["reconstruct", str(run), "--out", str(out / "r.npy"), "--png-dir", str(out / "pngs")])
    assert "PNG files hold images" in line
    assert list(out.iterdir()) == []  # no .npy, no folder, no temporary file


def test_files_together_undoes_the_earlier_renames_when_a_later_one_fails(tmp_path, monkeypatch):
    (tmp_path / "a.txt").write_text("old a")
    real = files.os.replace
    calls = []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(src, dst)

    with pytest.raises(files.WriteError, match="No space left"):
        with files.together():
            files.atomic_write_text(tmp_path / "a.txt", "new a")
            files.atomic_write_text(tmp_path / "b.txt", "new b")
            monkeypatch.setattr(files.os, "replace", replace)
    monkeypatch.setattr(files.os, "replace", real)
    assert (tmp_path / "a.txt").read_text() == "old a" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_export_is_whole_or_nothing_and_its_parity_check_fails_on_nan(copy, tmp_path):
    pytest.importorskip("onnxruntime")
    from aekit.apps.export import ParityError, export_onnx

    model = aekit.load(copy)
    x = np.random.default_rng(0).random((4, *model.input_shape), dtype=np.float32)
    with torch.no_grad():
        next(model.decoder.parameters()).fill_(float("nan"))
    with pytest.raises(ParityError, match="nan"):
        export_onnx(model, tmp_path / "onnx", x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a folder of aekit's ONNX files"):
        export_onnx(aekit.load(copy), tmp_path / "mine", x)
    res = export_onnx(aekit.load(copy), tmp_path / "onnx", x)
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["autoencoder.onnx", "decoder.onnx",
                                                                     "encoder.onnx"]
    assert res.max_abs_diff <= 1e-4 and _hidden(tmp_path) == []


# --- silent wrong answers are clear errors -------------------------------------------------------------------------------
def test_denoise_refuses_an_infinite_noise_level(copy, tmp_path, capsys):
    line = cli_error(capsys, ["denoise", str(copy), "--noise", "gaussian", "--noise-level", "inf", "--out",
                              str(tmp_path / "d.npy")])
    assert "finite number" in line
    with pytest.raises(ValueError, match="noise_level must be a finite number"):
        aekit.Config().override(noise_level=float("inf"))


@pytest.mark.parametrize("labels,expect", [
    (np.full(360, 0.5), "must be 0 (normal) or 1 (anomaly), found 0.5"),
    (np.zeros(360), "every sample has label 0"),
    (np.array(["a"] * 360), "must be 0 (normal) or 1"),
])
def test_detect_refuses_labels_that_are_not_0_and_1(copy, tmp_path, capsys, labels, expect):
    np.save(tmp_path / "y.npy", labels)
    line = cli_error(capsys, ["detect", str(copy), "--anomaly-labels", str(tmp_path / "y.npy"), "--out",
                              str(tmp_path / "s.csv")])
    assert expect in line and not (tmp_path / "s.csv").exists()


def test_a_timedelta_array_is_not_numbers(copy, tmp_path, capsys):
    np.save(tmp_path / "t.npy", np.zeros((3, 64), dtype="timedelta64[s]"))
    line = cli_error(capsys, ["encode", str(copy), "--input", str(tmp_path / "t.npy"), "--out", str(tmp_path / "z.npy")])
    assert "is not numeric (dtype timedelta64[s])" in line


def test_an_aek_file_of_zero_samples_is_refused(tmp_path, digits):
    import struct
    import zlib

    from aekit.apps import codec as C

    model = aekit.fit(tiny_config(variant="rate", latent_dim=3), digits, quiet=True).model
    data = bytearray(C.compress(model, digits.test.x.numpy()[:2]))
    assert data[13] == 2  # the count's varint, after b"AEKC", the version and the 8-byte model digest
    data[13] = 0
    body = bytes(data[:-4])
    crafted = body + struct.pack("<I", zlib.crc32(body))  # a consistent file that says 0 samples
    with pytest.raises(C.CompressedFileError, match="holds 0 samples"):
        C.decompress(model, crafted)


def test_a_recurrent_models_encode_checks_lengths(tmp_path, capsys):
    x = np.random.default_rng(0).random((30, 6, 2), dtype=np.float32)
    np.savez(tmp_path / "seq.npz", x=x, lengths=np.full(30, 6))
    run = tmp_path / "rnn"
    assert main(["train", "--data", str(tmp_path / "seq.npz"), "--arch", "rnn", "--rnn-hidden", "4",
                 "--latent-dim", "2", "--out", str(run), *TINY[4:]]) == 0
    for lengths, expect in ((np.full(30, 9), "lengths must be in [1, T=6]"), (np.full(30, 2.5), "whole numbers"),
                            (np.full(30, 3), "this command reads whole sequences")):
        np.savez(tmp_path / "bad.npz", x=x, lengths=lengths)
        line = cli_error(capsys, ["encode", str(run), "--input", str(tmp_path / "bad.npz"), "--out",
                                  str(tmp_path / "z.npy")])
        assert expect in line


def test_image_files_with_nan_pixels_or_too_many_pixels_are_clear_errors(copy, tmp_path, capsys, monkeypatch):
    from PIL import Image

    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    a = np.ones((8, 8), np.float32)
    a[2, 3] = np.nan
    Image.fromarray(a, "F").save(img_dir / "nan.tif")
    from aekit.data.images import load_image_split

    with pytest.raises(ValueError, match="nan.tif holds NaN or infinite pixel values"):
        load_image_split(img_dir, 1)
    (img_dir / "nan.tif").unlink()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(img_dir / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 64 pixels: more than twice the limit, a "bomb"
    for cmd in ("reconstruct", "detect"):
        out = str(tmp_path / ("r.npy" if cmd == "reconstruct" else "s.csv"))
        line = cli_error(capsys, [cmd, str(copy), "--input", str(img_dir), "--out", out])
        assert "cannot read image" in line and "big.png" in line and "decompression bomb" in line


def test_an_overwrite_never_follows_a_figures_link_out_of_the_run(copy, tmp_path, small_digits):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.png").write_bytes(b"mine")
    shutil.rmtree(copy / "figures", ignore_errors=True)
    (copy / "figures").symlink_to(outside)
    aekit.fit(tiny_config(epochs=1), small_digits, out_dir=copy, overwrite=True, quiet=True)
    assert (outside / "keep.png").read_bytes() == b"mine" and not (copy / "figures").exists()


def test_entropy_tables_of_another_run_are_refused(tmp_path, small_digits):
    runs = []
    for seed in (0, 1):
        cfg = tiny_config(variant="rate", latent_dim=3, epochs=1, seed=seed)
        aekit.fit(cfg, small_digits, out_dir=tmp_path / f"r{seed}", quiet=True)
        runs.append(tmp_path / f"r{seed}")
    assert aekit.load(runs[0]).entropy_tables is not None
    shutil.copy(runs[1] / ckpt.TABLES, runs[0] / ckpt.TABLES)  # valid tables, checksum and all, of another run
    with pytest.raises(ckpt.CorruptFileError, match="not computed from this run's weights"):
        aekit.load(runs[0])


# --- labels: one rule (aekit.batch.check_labels), checked before training, wherever they come from ---------------------
BAD_LABELS = [  # (labels of 40 rows, the words the error must hold)
    (np.where(np.arange(40) == 7, 3.5, np.arange(40) % 2), "row 7 holds 3.5"),
    (np.where(np.arange(40) == 5, np.nan, np.arange(40) % 2), "row 5 holds nan"),
    (np.where(np.arange(40) == 9, np.inf, np.arange(40) % 2), "row 9 holds inf"),
    (np.where(np.arange(40) == 3, -2, np.arange(40) % 2), "row 3 holds -2"),
    (np.where(np.arange(40) == 4, 10 ** 12, np.arange(40) % 2), "row 4 holds 1000000000000"),
    (np.where(np.arange(40) == 0, 100_000, np.arange(40) % 2), "row 0 holds 100000"),
]


def _table(tmp_path: Path, labels, name: str = "kind") -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(labels), 3))
    path = tmp_path / "t.csv"
    rows = [f"{a:.4f},{b:.4f},{c:.4f},{lab}" for (a, b, c), lab in zip(x, labels)]
    path.write_text(f"a,b,c,{name}\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("labels,expect", BAD_LABELS)
@pytest.mark.parametrize("variant", ["vanilla", "classifier"])
def test_bad_labels_from_a_csv_column_are_refused_before_training(tmp_path, capsys, labels, expect, variant):
    path = _table(tmp_path, labels)
    out = tmp_path / "run"
    line = cli_error(capsys, ["train", "--data", str(path), "--label-column", "kind", "--variant", variant,
                              "--out", str(out), *TINY])
    assert expect in line and f"{path}, column 'kind'" in line
    assert not out.exists()  # refused before the run folder was made


@pytest.mark.parametrize("labels,expect", BAD_LABELS + [
    (np.arange(39) % 2, "40 samples but 39 labels"),
    (np.zeros((40, 2)), "one per sample, shape (N,); got shape (40, 2)"),
    (np.array(["a", "b"] * 20), "not text"),
])
def test_bad_labels_in_an_npz_are_refused_before_training(tmp_path, capsys, labels, expect):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(40, 3)), y=labels)
    out = tmp_path / "run"
    line = cli_error(capsys, ["train", "--data", str(path), "--out", str(out), *TINY])
    assert expect in line and f"{path}, array 'y'" in line and not out.exists()


@pytest.mark.parametrize("labels,expect", BAD_LABELS)
def test_bad_labels_from_python_are_refused_before_training(tmp_path, labels, expect):
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=expect.replace("(", r"\(")):
        aekit.fit(tiny_config(), aekit.Split(torch.from_numpy(x), labels), out_dir=tmp_path / "run", quiet=True)
    with pytest.raises(ValueError, match=expect.replace("(", r"\(")):
        aekit.DataSplits.from_arrays(x, y_train=labels)
    assert not (tmp_path / "run").exists()


def test_good_labels_from_every_source_train_with_the_labels_they_show(tmp_path, small_digits):
    from aekit.batch import check_labels

    assert check_labels(np.array([0.0, 2.0, -1.0])).tolist() == [0, 2, -1]  # whole floats are class indices
    assert check_labels(np.array([True, False])).tolist() == [1, 0]
    path = _table(tmp_path, np.arange(40) % 3)
    data = aekit.load_data(aekit.DataConfig(dataset="file", path=str(path), label_column="kind"))
    assert sorted(set(data.train.y.tolist()) | set(data.test.y.tolist())) == [0, 1, 2]


def test_a_label_column_whose_name_appears_twice_is_ambiguous(tmp_path, capsys):
    path = tmp_path / "t.csv"
    path.write_text("kind,a,kind\n" + "".join(f"{i % 2},{i * 0.1:.1f},{(i + 1) % 2}\n" for i in range(20)))
    line = cli_error(capsys, ["train", "--data", str(path), "--label-column", "kind", "--out", str(tmp_path / "r"),
                              *TINY])
    assert "label column 'kind' is ambiguous" in line and "0, 2" in line and str(path) in line


def test_one_known_class_among_unknowns_does_not_train_a_classifier(small_digits):
    y = np.full(len(small_digits.train), -1)
    y[:30] = 3
    with pytest.raises(ValueError, match="one class only \\(3\\)"):
        aekit.fit(tiny_config(variant="classifier", epochs=1), aekit.Split(small_digits.train.x, y))


# --- classify compares like with like ----------------------------------------------------------------------------------
def test_classify_reports_accuracy_only_when_the_input_names_the_runs_classes(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / "f" / cls / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", "--data", "digits", "--variant", "classifier", "--arch", "mlp", "--out", str(run),
                 *TINY]) == 0
    capsys.readouterr()
    assert main(["classify", str(run), "--input", str(tmp_path / "f"), "--out", str(tmp_path / "l.csv")]) == 0
    out = capsys.readouterr().out
    assert "labelled samples" not in out and "no accuracy: the input's classes (a, b) are not among the run's" in out
    assert main(["classify", str(run), "--out", str(tmp_path / "l2.csv")]) == 0  # its own test digits: 0..9
    out = capsys.readouterr().out
    assert "on the 360 labelled samples" in out and "no accuracy" not in out


# --- a sampler file is validated like weights ----------------------------------------------------------------------------
def test_a_sampler_with_huge_means_is_refused_even_with_a_valid_checksum(copy, capsys):
    tensors, meta = ckpt.load_tensors(copy / ckpt.SAMPLER)
    tensors["means"] = torch.full_like(tensors["means"], 3e38)
    ckpt.save_tensors(copy / ckpt.SAMPLER, tensors, meta)  # a recomputed checksum
    line = cli_error(capsys, ["generate", str(copy), "-n", "4", "--out", str(copy / "s.npy")])
    assert str(copy / ckpt.SAMPLER) in line and "at most 1e+12" in line and not (copy / "s.npy").exists()


@pytest.mark.parametrize("kind", ["folder", "device"])
def test_a_sampler_path_that_is_not_a_file_is_named(copy, capsys, kind):
    (copy / ckpt.SAMPLER).unlink()
    if kind == "folder":
        (copy / ckpt.SAMPLER).mkdir()
    else:
        (copy / ckpt.SAMPLER).symlink_to("/dev/zero")
    line = cli_error(capsys, ["generate", str(copy), "-n", "4", "--out", str(copy / "s.npy")])
    assert f"{copy / ckpt.SAMPLER} is not a file" in line


# --- options that do nothing are refused everywhere --------------------------------------------------------------------
@pytest.mark.parametrize("flags,expect", [
    (["--sampler", "none", "--sampler-components", "5"], "--sampler-components sets the components"),
    (["--tensorboard", ""], "an empty path"),
    (["--out", " "], "an empty path"),
])
def test_options_that_would_do_nothing_or_mean_the_current_folder_are_refused(tmp_path, capsys, flags, expect,
                                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--data", "digits", *TINY]
    if "--out" not in flags:
        argv += ["--out", str(tmp_path / "r")]
    line = cli_error(capsys, argv + flags)
    assert expect in line and list(tmp_path.iterdir()) == []


def test_a_json_config_that_gives_a_key_twice_is_refused(tmp_path, capsys):
    (tmp_path / "c.json").write_text('{"epochs": 2, "epochs": 3}')
    line = cli_error(capsys, ["train", "--config", str(tmp_path / "c.json"), "--data", "digits",
                              "--out", str(tmp_path / "r")])
    assert "'epochs' is given twice" in line and str(tmp_path / "c.json") in line and not (tmp_path / "r").exists()


@pytest.mark.parametrize("suffix,text", [(".json", "[" * 10_000 + "]" * 10_000),
                                         (".toml", "a = " + "[" * 10_000 + "]" * 10_000)])
def test_a_config_nested_ten_thousand_levels_deep_is_a_clear_error(tmp_path, capsys, suffix, text):
    (tmp_path / f"c{suffix}").write_text(text)
    line = cli_error(capsys, ["train", "--config", str(tmp_path / f"c{suffix}"), "--out", str(tmp_path / "r")])
    assert str(tmp_path / f"c{suffix}") in line and not (tmp_path / "r").exists()


# --- no empty run folder after a failure ------------------------------------------------------------------------------
def test_a_refused_tensorboard_folder_leaves_no_run_folder(tmp_path, capsys):
    (tmp_path / "tb").write_text("a file")
    for log, expect in ((tmp_path / "tb", "exists and is not a folder"),
                        (Path("/proc/aekit-tb"), "cannot write TensorBoard events into /proc/aekit-tb")):
        line = cli_error(capsys, ["train", "--data", "digits", "--out", str(tmp_path / "r"), "--tensorboard",
                                  str(log), *TINY])
        assert expect in line and not (tmp_path / "r").exists()


def test_a_full_disk_under_tensorboard_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.summary.writer import record_writer

    def full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    line = cli_error(capsys, ["train", "--data", "digits", "--out", str(tmp_path / "r"), "--tensorboard",
                              str(tmp_path / "tb"), *TINY])
    assert "cannot write TensorBoard events into" in line and "No space left on device" in line
    assert "Exception in thread" not in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "tb").exists()


def test_a_streamed_file_with_a_bad_row_leaves_no_run_folder(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(200, 4)).astype(np.float32)
    x[150, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    line = cli_error(capsys, ["train", "--data", str(tmp_path / "x.npy"), "--stream", "--out", str(tmp_path / "r"),
                              *TINY])
    assert "NaN" in line and not (tmp_path / "r").exists()


def test_a_failed_run_removes_only_the_folders_it_made(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    line = cli_error(capsys, ["train", "--data", "digits", "--arch", "mlp", "--lr", "1e30", "--out",
                              str(tmp_path / "mine" / "a" / "b"), *TINY])
    assert "diverged" in line and [p.name for p in tmp_path.iterdir()] == ["mine"]
    assert list((tmp_path / "mine").iterdir()) == []
    empty = tmp_path / "empty"  # an empty folder the user made stays
    empty.mkdir()
    cli_error(capsys, ["train", "--data", "digits", "--arch", "mlp", "--lr", "1e30", "--out", str(empty), *TINY])
    assert empty.is_dir()


# --- the last tracebacks --------------------------------------------------------------------------------------------
def _edit_state(run: Path, tensors_change=None, info_change=None) -> None:
    tensors, meta = ckpt.load_tensors(run / ckpt.STATE)
    if tensors_change:
        tensors_change(tensors)
    if info_change:
        info = json.loads(meta["aekit.train_state"])
        info_change(info)
        meta["aekit.train_state"] = json.dumps(info)
    ckpt.save_tensors(run / ckpt.STATE, tensors, meta)


def _widen(tensors):
    name = next(k for k in tensors if k.startswith("model.") and k.endswith("weight"))
    tensors[name] = torch.zeros(tensors[name].shape[0] + 1, *tensors[name].shape[1:])


def _moment(tensors):
    name = next(k for k in tensors if k.startswith("optim.") and "exp_avg" in k)
    tensors[name] = torch.zeros(3)


@pytest.mark.parametrize("tensors_change,info_change,expect", [
    (_widen, None, "does not fit the run's model"),
    (_moment, None, "exp_avg"),
    (None, lambda s: s["param_groups"][0].update(lr="fast"), "the optimizer's lr must be a finite number"),
    (lambda t: t.pop("optim.0.step"), lambda s: s["optim_scalars"].update({"0": {"step": "3"}}),
     "the optimizer's step must be a number"),
])
def test_a_training_state_that_does_not_fit_the_run_cannot_resume(copy, capsys, tensors_change, info_change, expect):
    _edit_state(copy, tensors_change, info_change)
    line = cli_error(capsys, ["train", "--out", str(copy), "--resume", "--epochs", "3", "--quiet", "--no-report"])
    assert line.startswith("aekit train: error: cannot resume") and expect in line and str(copy / ckpt.STATE) in line


def test_a_streamed_test_file_of_another_width_is_refused_before_training(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((50, 4), dtype=np.float32))
    np.save(tmp_path / "b.npy", np.zeros((20, 5), dtype=np.float32))
    line = cli_error(capsys, ["train", "--dataset", "file", "--path", str(tmp_path / "a.npy"), "--test-path",
                              str(tmp_path / "b.npy"), "--stream", "--out", str(tmp_path / "r"), *TINY])
    assert "(5,)" in line and "(4,)" in line and str(tmp_path / "b.npy") in line and not (tmp_path / "r").exists()


# --- smaller ----------------------------------------------------------------------------------------------------------
def test_probe_on_a_run_of_few_samples_names_what_it_did(tmp_path, capsys, digits):
    np.savez(tmp_path / "d.npz", x=digits.train.x[:20].numpy().reshape(20, -1), y=digits.train.y[:20])
    assert main(["train", "--data", str(tmp_path / "d.npz"), "--latent-dim", "32", "--out", str(tmp_path / "r"),
                 "--epochs", "1", "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["probe", str(tmp_path / "r")]) == 0
    res = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert "codes_32d" in res and "pca_16d" in res  # 16 training samples: 16 components at most


def test_serve_on_a_port_in_use_or_an_unknown_host_is_one_line(copy, capsys):
    pytest.importorskip("uvicorn")
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        line = cli_error(capsys, ["serve", str(copy), "--port", str(port)])
        assert f"cannot serve on 127.0.0.1:{port}" in line
    finally:
        busy.close()
    line = cli_error(capsys, ["serve", str(copy), "--host", "no-such-host.invalid"])
    assert "cannot serve on host 'no-such-host.invalid': it does not resolve" in line


def test_replaced_and_staged_folders_follow_the_umask(copy, small_digits):
    old = os.umask(0o022)
    try:
        aekit.fit(tiny_config(epochs=1), small_digits, out_dir=copy, overwrite=True, quiet=True)
        assert (copy.stat().st_mode & 0o777) == 0o755
        staged = files.staging_folder(copy.parent / "x")
        assert (staged.stat().st_mode & 0o777) == 0o755
        staged.rmdir()
    finally:
        os.umask(old)


def test_a_folder_of_other_files_is_never_a_run_directory(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    for extra in ([], ["--overwrite"]):
        line = cli_error(capsys, ["train", "--data", "digits", "--out", str(tmp_path / "mine"), *extra, *TINY])
        assert "not part of a run (notes.txt)" in line
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_a_run_trained_with_a_label_column_reads_csvs_that_still_hold_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] > 0).astype(int)
    rows = "".join(f"{a:.4f},{b:.4f},{c:.4f},{d:.4f},{k}\n" for (a, b, c, d), k in zip(x, y))
    (tmp_path / "t.csv").write_text("a,b,c,d,kind\n" + rows)
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--label-column", "kind", "--variant", "classifier",
                 "--out", str(tmp_path / "r"), *TINY]) == 0
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "r"), "--input", str(tmp_path / "t.csv"), "--out",
                 str(tmp_path / "l.csv")]) == 0  # the label column is the labels again, not a fifth feature
    assert "on the 120 labelled samples" in capsys.readouterr().out
    assert main(["detect", str(tmp_path / "r"), "--input", str(tmp_path / "t.csv"), "--out",
                 str(tmp_path / "d.csv")]) == 0
    (tmp_path / "f.csv").write_text("a,b,c,d\n" + "".join(r.rsplit(",", 1)[0] + "\n" for r in rows.splitlines()))
    assert main(["encode", str(tmp_path / "r"), "--input", str(tmp_path / "f.csv"), "--out",
                 str(tmp_path / "z.npy")]) == 0  # and without it, the features alone


def test_a_run_stores_the_mnist_folder_it_found_through_the_environment(tmp_path, monkeypatch, capsys):
    from test_data import fake_mnist

    folder = fake_mnist(tmp_path / "idx", n=40)
    monkeypatch.setenv("AEKIT_DATA_DIR", str(folder))
    assert main(["train", "--data", "mnist", "--out", str(tmp_path / "r"), *TINY]) == 0
    assert json.loads((tmp_path / "r" / ckpt.CONFIG).read_text())["data"]["data_dir"] == str(folder.resolve())
    monkeypatch.delenv("AEKIT_DATA_DIR")
    monkeypatch.setenv("AEKIT_OFFLINE", "1")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "r")]) == 0  # found again, without the variable and without a download
    assert str(folder.resolve()) in capsys.readouterr().out
