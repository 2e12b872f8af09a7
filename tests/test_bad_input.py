"""Every bad input, corrupt run directory and I/O fault a user can meet on the command line gets a clear one-line
error (exit code 2, the problem and the file named), never a traceback, and leaves no partial output."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from aekit import checkpoint as ckpt
from aekit import files
from aekit.cli import main
from conftest import cli_error

TINY = ["--hidden", "16", "--latent-dim", "3", "--epochs", "1", "--quiet", "--no-report"]


_error = cli_error


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")} if folder.exists() else set()


# --- configuration ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,suffix,expect", [
    ('[train]\nepochs = "3"\n', ".toml", "epochs must be an integer, got '3'"),
    ('[train]\nepochs = 1.7\n', ".toml", "epochs must be an integer, got 1.7"),
    ('{"train": {"compile": "no"}}', ".json", "compile must be true or false, got 'no'"),
    ('{"train": {"lr": "fast"}}', ".json", "lr must be a finite number"),
    ('{"model": {"hidden": [16, "x"]}}', ".json", "hidden must be an integer"),
    ('{"model": {"hidden": 16}}', ".json", "hidden must be a list of integers"),
    ('{"train": {"device": "tpu7"}}', ".json", "unknown device 'tpu7'"),
    ('[1, 2]', ".json", "a config must be a table"),
    ('{"variant": 3}', ".json", "variant must be a string"),
    ('{"model": {"laten_dim": 3}}', ".json", "unknown field(s) in [model]"),
    ('laten_dim = 3\n', ".toml", "unknown config field(s) or section(s): ['laten_dim']"),
    ('epochs = 3\n[train]\nepochs = 4\n', ".toml", "['epochs'] given twice"),
    ('{"model": []}', ".json", "[model] must be a table"),
    ('{"train": {"epochs": 2', ".json", "is not valid JSON"),
    ('epochs = = 3', ".toml", ""),
    ('\udcff', ".json", ""),
])
def test_bad_config_file(tmp_path, capsys, text, suffix, expect):
    cfg = tmp_path / f"c{suffix}"
    cfg.write_bytes(text.encode("utf-8", "surrogateescape"))
    out = tmp_path / "r"
    line = _error(capsys, ["train", "--config", str(cfg), "--data", "digits", "--out", str(out), "--quiet"])
    assert str(cfg) in line and expect in line
    assert not out.exists()  # nothing half-made: no config.json, no weights


@pytest.mark.parametrize("flags,expect", [
    (["--lr", "inf"], "lr must be a finite number"),
    (["--lr", "nan"], "lr must be a finite number"),
    (["--lr", "-1"], "lr must be > 0"),
    (["--device", "tpu7"], "unknown device 'tpu7'"),
    (["--noise-level", "0.2"], "--noise-level is used only by the denoising variant"),
    (["--noise", "masking"], "--noise is used only by the denoising variant"),
    (["--kl-beta", "2"], "--kl-beta is used only by the vae variant"),
    (["--rho", "0.1"], "--rho is used only by the sparse variant"),
    (["--contractive-lambda", "1"], "--contractive-lambda is used only by the contractive variant"),
    (["--arch", "mlp", "--conv-depth", "2"], "--conv-depth is used only by the conv architecture"),
    (["--recon-share", "0"], "recon_share must be in (0, 1], got 0.0"),
    (["--arch", "conv", "--conv-depth", "5"], "conv_depth must be from 1 to 4 convolutions a stage, got 5"),
    (["--variant", "denoising", "--noise", "masking", "--noise-level", "1.5"], "noise_level is a probability"),
    (["--dataset", "file"], "needs a path"),
    (["--path", "x.npy", "--data", "digits"], "give the data once"),
])
def test_bad_training_flags(tmp_path, capsys, flags, expect):
    out = tmp_path / "r"
    argv = ["train", "--out", str(out), "--quiet", "--no-report", *flags]
    if "--data" not in flags and "--dataset" not in flags:
        argv += ["--data", "digits"]
    assert expect in _error(capsys, argv)
    assert not out.exists()


@pytest.mark.parametrize("flags", [["--stream", "maybe"], ["--dat", "digits"], ["--epochs", "3.5"],
                                   ["--hidden", "a,b"]])
def test_malformed_flags_are_argparse_errors(tmp_path, capsys, flags):
    _error(capsys, ["train", "--out", str(tmp_path / "r"), *flags])  # --dat: no prefix matching of --data


def test_divergence_stops_with_a_clear_error_and_keeps_the_last_good_epoch(tmp_path, capsys):
    out = tmp_path / "r"
    line = _error(capsys, ["train", "--data", "digits", "--arch", "mlp", "--lr", "1e30", "--out", str(out),
                           "--hidden", "16", "--latent-dim", "3", "--epochs", "3", "--quiet", "--no-report"])
    assert "training diverged in epoch 1" in line and "lower learning rate" in line
    # no completed epoch: no folder left (nothing that would look like a trained run)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert "run directory not found" in _error(capsys, ["evaluate", str(out)])


def test_metrics_json_is_strict_json_even_with_non_finite_values(tmp_path):
    ckpt.save_metrics(tmp_path, {"mse": float("nan"), "loss": float("inf"), "kl": 0.5})
    assert json.loads((tmp_path / "metrics.json").read_text(), parse_constant=lambda c: 1 / 0) == {
        "test_mse": None, "test_loss": None, "test_kl": 0.5}


# --- the run directory: existing, resumed, corrupt, malicious ------------------------------------------------
def test_training_into_an_existing_run_needs_overwrite_or_resume(run, tmp_path, capsys):
    dst = tmp_path / "r"
    shutil.copytree(run, dst)
    before = (dst / ckpt.WEIGHTS).read_bytes()
    assert "already holds a run" in _error(capsys, ["train", "--data", "digits", "--out", str(dst), *TINY])
    assert (dst / ckpt.WEIGHTS).read_bytes() == before
    (dst / "figures").mkdir(exist_ok=True)
    (dst / "figures" / "old.png").write_bytes(b"x")
    assert main(["train", "--data", "digits", "--out", str(dst), "--overwrite", *TINY]) == 0
    assert not (dst / "figures" / "old.png").exists()  # the old run's files went with it


def test_out_that_is_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert "is not a directory" in _error(capsys, ["train", "--data", "digits", "--out", str(tmp_path / "f"), *TINY])


@pytest.mark.parametrize("flags,expect", [
    (["--lr", "0.01"], "cannot resume"),
    (["--variant", "vae"], "cannot resume"),
    (["--latent-dim", "5"], "cannot resume"),
])
def test_resume_refuses_flags_that_would_change_the_run(copy, capsys, flags, expect):
    before = _files(copy)
    line = _error(capsys, ["train", "--out", str(copy), "--resume", "--quiet", "--no-report", *flags])
    assert expect in line and str(copy) in line
    assert _files(copy) == before


def test_resume_applies_epochs_and_patience(copy, capsys):
    assert main(["train", "--out", str(copy), "--resume", "--epochs", "2", "--patience", "3", "--quiet",
                 "--no-report"]) == 0
    assert [r["epoch"] for r in ckpt.read_history(copy)] == [1, 2]
    assert ckpt.load_config(copy).train.patience == 3


def test_resume_refuses_a_new_epoch_count_under_a_schedule(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--data", "digits", "--schedule", "onecycle", "--out", str(out), *TINY]) == 0
    line = _error(capsys, ["train", "--out", str(out), "--resume", "--epochs", "3", "--quiet"])
    assert "schedule was laid out" in line


def test_resume_with_nothing_to_resume(tmp_path, capsys):
    assert "nothing to resume" in _error(capsys, ["train", "--out", str(tmp_path / "empty"), "--resume"])


class _Payload:
    """A pickle that, when loaded, creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("name", [ckpt.LEGACY_STATE, ckpt.STATE])
def test_a_planted_pickle_never_runs_on_resume(copy, tmp_path, capsys, name):
    marker = tmp_path / "pwned"
    (copy / ckpt.STATE).unlink()
    (copy / name).write_bytes(pickle.dumps({"epoch": 1, "x": _Payload(marker)}))
    line = _error(capsys, ["train", "--out", str(copy), "--resume", "--epochs", "2", "--quiet", "--no-report"])
    assert str(copy / name) in line and ("never loaded" in line or "not a valid safetensors file" in line)
    assert not marker.exists()


def test_a_planted_pickle_as_weights_never_runs(copy, tmp_path, capsys):
    marker = tmp_path / "pwned"
    (copy / ckpt.WEIGHTS).write_bytes(pickle.dumps(_Payload(marker)))
    assert "not a valid safetensors file" in _error(capsys, ["evaluate", str(copy)])
    assert not marker.exists()


def _flip(path: Path, offset_from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage,expect", [
    (lambda p: _flip(p, 5), "is corrupt"),  # a data byte: the checksum catches it
    (lambda p: p.write_bytes(p.read_bytes()[:-7]), "not a valid safetensors file"),
    (lambda p: p.write_bytes(p.read_bytes()[:5]), "not a valid safetensors file"),
    (lambda p: p.write_bytes(b""), "not a valid safetensors file"),
])
@pytest.mark.parametrize("command", ["evaluate", "encode", "report"])
def test_corrupt_weights_are_refused(copy, tmp_path, capsys, damage, expect, command):
    damage(copy / ckpt.WEIGHTS)
    argv = [command, str(copy)] + (["--out", str(tmp_path / "z.npy")] if command == "encode" else [])
    line = _error(capsys, argv)
    assert expect in line and str(copy / ckpt.WEIGHTS) in line
    assert not (tmp_path / "z.npy").exists()


def test_weights_without_a_checksum_are_refused(copy, capsys):
    save_file(load_file(str(copy / ckpt.WEIGHTS)), str(copy / ckpt.WEIGHTS))
    assert "no checksum" in _error(capsys, ["evaluate", str(copy)])


@pytest.mark.parametrize("damage,expect", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a valid safetensors file"),
    (lambda p: p.write_bytes(b""), "not a valid safetensors file"),
    (lambda p: _flip(p, 3), "is corrupt"),
])
def test_corrupt_training_state_is_refused_on_resume(copy, capsys, damage, expect):
    damage(copy / ckpt.STATE)
    line = _error(capsys, ["train", "--out", str(copy), "--resume", "--epochs", "2", "--quiet", "--no-report"])
    assert expect in line and str(copy / ckpt.STATE) in line


@pytest.mark.parametrize("field,value", [("latent_dim", 7), ("activation", "tanh")])
def test_a_config_edited_after_training_is_refused(copy, capsys, field, value):
    """config.json is under the weights' checksum: an edit that changes the shapes, or only what the model computes
    (an activation), is refused by every command that reads the run."""
    cfg = json.loads((copy / ckpt.CONFIG).read_text())
    cfg["model"][field] = value
    (copy / ckpt.CONFIG).write_text(json.dumps(cfg))
    for cmd in (["evaluate", str(copy)], ["report", str(copy)], ["encode", str(copy), "--out", str(copy / "z.npy")]):
        line = _error(capsys, cmd)
        assert "was changed after training" in line and str(copy / ckpt.CONFIG) in line
    assert not (copy / "z.npy").exists()


def test_weights_of_another_config_are_refused(copy, tmp_path, capsys):
    """Weights with a valid checksum of their own that were saved for another config.json."""
    cfg = json.loads((copy / ckpt.CONFIG).read_text())
    cfg["model"]["latent_dim"] = 7
    text = json.dumps(cfg)
    (copy / ckpt.CONFIG).write_text(text)
    tensors, meta = ckpt.load_tensors(copy / ckpt.WEIGHTS)
    meta["aekit.config_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    ckpt.save_tensors(copy / ckpt.WEIGHTS, tensors, meta)
    line = _error(capsys, ["evaluate", str(copy)])
    assert "does not match the model its config.json describes" in line and str(copy / ckpt.WEIGHTS) in line


@pytest.mark.parametrize("name,content,expect", [
    (ckpt.CONFIG, "{not json", "was changed after training"),
    (ckpt.CONFIG, '{"model": {"latent_dim": "x"}}', "was changed after training"),
    (ckpt.HISTORY, "{oops\n", "is not valid JSON lines"),
    (ckpt.METRICS, "[1, 2]", "is not a JSON object of metrics"),
])
def test_damaged_json_files_of_a_run(copy, capsys, name, content, expect):
    (copy / name).write_text(content)
    line = _error(capsys, ["report", str(copy)])
    assert expect in line and str(copy / name) in line


def test_missing_run_directory(tmp_path, capsys):
    assert "run directory not found" in _error(capsys, ["evaluate", str(tmp_path / "nope")])


# --- data files -------------------------------------------------------------------------------------------------
def _npy(path: Path, arr) -> Path:
    np.save(path, arr)
    return path


def _raw(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


BAD_FILES = [
    (lambda d: _npy(d / "scalar.npy", np.float32(3)), "holds a single number"),
    (lambda d: _raw(d / "empty.npy", b""), "cannot read"),
    (lambda d: _npy(d / "none.npy", np.zeros((0, 4))), "is empty"),
    (lambda d: _npy(d / "complex.npy", np.ones((5, 3), np.complex64)), "holds complex numbers"),
    (lambda d: _npy(d / "obj.npy", np.array([{"a": 1}] * 3, dtype=object)), "cannot read"),
    (lambda d: _npy(d / "text.npy", np.array([["a", "b"]] * 3)), "is not numeric"),
    (lambda d: _npy(d / "nan.npy", np.array([[1.0, np.nan]] * 3)), "NaN or inf"),
    (lambda d: (np.savez(d / "keys.npz", a=np.ones((4, 2)), b=np.ones(4)), d / "keys.npz")[1], "name the samples 'x'"),
    (lambda d: _raw(d / "t.csv", "a,b\n1,2\n3\n"), "not a numeric CSV"),  # (text makes it a table)
    (lambda d: _raw(d / "b.csv", b"\xff\xfe\x00\x81"), "not a text CSV file"),
    (lambda d: _raw(d / "h.csv", "a,b\n"), "holds no rows"),
    (lambda d: _raw(d / "x-idx3-ubyte", b"\x12\x34\x08\x03"), "wrong magic number"),
    (lambda d: _raw(d / "x-idx3-ubyte.gz", gzip.compress(b"\0\0\x08\x01\0\0\0\x09abc")[:-6]), "damaged gzip"),
    (lambda d: _raw(d / "x.xlsx", b"PK\x03\x04"), "unsupported data format"),
]
NPY_FILES = BAD_FILES[:7]  # the .npy cases, which streaming reads too


@pytest.mark.parametrize("make,expect,how", [(m, e, h) for h in ("train", "encode") for m, e in BAD_FILES]
                         + [(m, e, "stream") for m, e in NPY_FILES])
def test_bad_data_files(tmp_path, capsys, run, make, expect, how):
    path = make(tmp_path)
    out = tmp_path / "out"
    if how == "encode":
        argv = ["encode", str(run), "--input", str(path), "--out", str(tmp_path / "z.npy")]
    else:
        argv = ["train", "--data", str(path), "--out", str(out), *TINY] + (["--stream"] if how == "stream" else [])
    line = _error(capsys, argv)
    assert str(path) in line, line
    if how != "stream" or expect in ("cannot read", "is not numeric", "holds complex numbers", "is empty"):
        assert expect in line, line
    assert not out.exists() and not (tmp_path / "z.npy").exists()


# --- application commands --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,expect", [
    (["generate", "{run}", "-n", "0", "--out", "{tmp}/s.npy"], "positive integer"),
    (["generate", "{run}", "-n", "-3", "--out", "{tmp}/s.npy"], "positive integer"),
    (["generate", "{run}", "--sampler", "normal", "--out", "{tmp}/s.npy"], "needs a variational model"),
    (["encode", "{run}", "--out", "{tmp}"], "is a directory"),
    (["encode", "{run}", "--out", "{tmp}/z.txt"], "use a .npy, .npz or .csv name"),
    (["reconstruct", "{run}", "--out", "{tmp}/r.npy", "--png", "{tmp}/r.jpg"], "use a .png name"),
    (["encode", "{run}", "--input", "{tmp}/missing.npy", "--out", "{tmp}/z.npy"], "data file not found"),
    (["encode", "{run}", "--input", "{tmp}/wide.npy", "--out", "{tmp}/z.npy"], "do not fit the model's input"),
    (["interpolate", "{run}", "--a", "9999", "--png", "{tmp}/i.png"], "out of range"),
    (["interpolate", "{run}", "--steps", "1", "--png", "{tmp}/i.png"], "integer >= 2"),
    (["detect", "{run}", "--contamination", "2", "--out", "{tmp}/d.csv"], "contamination must be"),
    (["detect", "{run}", "--contamination", "lots", "--out", "{tmp}/d.csv"], "contamination must be"),
    (["detect", "{run}", "--error-window", "0", "--out", "{tmp}/d.csv"], "positive integer"),
    (["detect", "{run}", "--error-window", "9", "--out", "{tmp}/d.csv"], "error_window must be an integer from 1 to 8"),
    (["detect", "{run}", "--out", "{tmp}/d.npy"], "use a .csv name"),
    (["detect", "{run}", "--anomaly-labels", "{tmp}/wide.npy", "--out", "{tmp}/d.csv"], "labels for"),
    (["denoise", "{run}", "--noise", "masking", "--noise-level", "2", "--out", "{tmp}/n.npy"], "level"),
    (["denoise", "{run}", "--noise", "gaussian", "--noise-level", "-1", "--out", "{tmp}/n.npy"], "level"),
    (["probe", "{tmp}/nolabels"], "has no labels"),
])
def test_bad_application_arguments(run, tmp_path, capsys, argv, expect):
    np.save(tmp_path / "wide.npy", np.ones((3, 65), np.float32))
    (tmp_path / "nolabels").mkdir()
    np.save(tmp_path / "nolabels" / "x.npy", np.random.default_rng(0).random((40, 64), dtype=np.float32))
    if "probe" in argv:  # a run on an unlabelled file
        assert main(["train", "--data", str(tmp_path / "nolabels" / "x.npy"), "--out", str(tmp_path / "nolabels"
                                                                                              / "run"), *TINY]) == 0
        argv = ["probe", str(tmp_path / "nolabels" / "run")]
        capsys.readouterr()
    argv = [a.format(run=run, tmp=tmp_path) for a in argv]
    before = _files(tmp_path)
    assert expect in _error(capsys, argv)
    assert _files(tmp_path) == before  # no output, not even an empty one


# --- I/O faults -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("command", ["train", "encode", "detect"])
def test_full_disk_and_read_only_file_system(run, tmp_path, capsys, monkeypatch, err, command):
    real = files.os.replace

    def failing_replace(src, dst):
        raise OSError(err, os.strerror(err), str(dst))

    monkeypatch.setattr(files.os, "replace", failing_replace)
    out = tmp_path / "out"
    argv = {"train": ["train", "--data", "digits", "--out", str(out), *TINY],
            "encode": ["encode", str(run), "--out", str(out / "z.npy")],
            "detect": ["detect", str(run), "--out", str(out / "d.csv")]}[command]
    line = _error(capsys, argv)
    monkeypatch.setattr(files.os, "replace", real)
    assert os.strerror(err) in line and "cannot write" in line and str(out) in line
    assert not any(p.is_file() for p in out.rglob("*")) if out.exists() else True  # no partial or temporary file


def test_files_get_the_mode_the_umask_allows(tmp_path):
    old = os.umask(0o027)
    try:
        files.atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("flags,expect", [
    (["--arch", "mlp", "--channels", "8,16"], "--channels is used only by the conv architecture"),
    (["--arch", "conv", "--hidden", "8"], "--hidden is used only by the mlp architecture"),
    (["--arch", "mlp", "--cell", "lstm"], "--cell is used only by the rnn architecture"),
    (["--window", "16"], "--window is used only by the series dataset"),
    (["--test-path", "t.npy"], "--test-path is used only by the file dataset"),
    (["--stream"], "--stream is used only by the file dataset"),
])
def test_options_the_chosen_architecture_or_data_ignore(tmp_path, capsys, flags, expect):
    out = tmp_path / "r"
    assert expect in _error(capsys, ["train", "--data", "digits", "--out", str(out), "--quiet", *flags])
    assert not out.exists()
