"""The aekit command, end to end on the embedded digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from aekit.cli import build_parser, main
from aekit.config import RECIPES
from aekit.registry import ARCHITECTURES, VARIANTS
from test_data import fake_mnist


def test_demo_on_digits_prints_and_writes(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--data", "digits", "--epochs", "2", "--out", str(out), "--quiet", "--no-report"]) == 0
    text = capsys.readouterr().out
    assert "Epoch 1/2, Loss:" in text and "Epoch 2/2, Loss:" in text
    assert "Latent shape: (360, 32)" in text
    assert "Example code (first test image): [" in text
    mse = float(text.split("Average Reconstruction MSE: ")[1].split()[0])
    assert 0 < mse < 0.2
    for name in ("reconstructions.png", "interpolation.png"):
        img = np.asarray(Image.open(out / name))
        assert img.shape[0] > 100 and img.std() > 10, name  # a real picture, not a blank one


def test_demo_auto_falls_back_to_digits_when_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path / "d"), "--quiet", "--no-report"]) == 0
    text = capsys.readouterr().out
    assert "using scikit-learn's embedded digits" in text and "Data: sklearn digits" in text


def test_demo_uses_mnist_from_data_dir(tmp_path, capsys):
    folder = fake_mnist(tmp_path / "m", n=40)
    assert main(["demo", "--data-dir", str(folder), "--epochs", "1", "--out", str(tmp_path / "d"), "--quiet",
                 "--no-report"]) == 0
    text = capsys.readouterr().out
    assert "Data: MNIST from" in text and "Latent shape: (20, 32)" in text


def test_train_then_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits", "--arch", "mlp", "--variant", "sparse+denoising", "--epochs", "2",
                 "--latent-dim", "6", "--hidden", "32", "--out", str(run), "--quiet", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0 < res["test_mse"] < 0.2 and "test_sparsity" in res
    assert json.loads((run / "config.json").read_text())["variant"] == "sparse+denoising"


def test_train_resume_continues(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--hidden", "16", "--latent-dim", "4", "--out", str(run), "--quiet",
            "--no-report"]
    assert main(args + ["--epochs", "1"]) == 0
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--quiet", "--no-report"]) == 0
    lines = (run / "history.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in lines] == [1, 2, 3]


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "often"])
def test_checkpoint_every_must_be_a_finite_number_of_seconds(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        main(["train", "--dataset", "digits", "--out", str(tmp_path / "r"), "--checkpoint-every", value])
    assert e.value.code == 2 and "--checkpoint-every" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_train_passes_checkpoint_every_to_fit(tmp_path, capsys, monkeypatch):
    from aekit.cli import train as cli_train

    seen = []
    real = cli_train.fit
    monkeypatch.setattr(cli_train, "fit", lambda *a, **kw: (seen.append(kw["checkpoint_every"]), real(*a, **kw))[1])
    args = ["train", "--dataset", "digits", "--hidden", "16", "--latent-dim", "4", "--epochs", "1", "--quiet",
            "--no-report"]
    assert main(args + ["--out", str(tmp_path / "a")]) == 0
    assert main(args + ["--out", str(tmp_path / "b"), "--checkpoint-every", "0"]) == 0
    assert seen == [1.0, 0.0]


def test_train_from_config_file(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps({"variant": "vae", "model": {"latent_dim": 3, "hidden": [16]},
                                                 "train": {"epochs": 1}, "data": {"dataset": "digits"}}))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "r"), "--quiet",
                 "--no-report"]) == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["variant"] == "vae" and cfg["model"]["latent_dim"] == 3


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path, capsys):
    assert main(["train", "--dataset", "file", "--path", str(tmp_path / "missing.npy"), "--out",
                 str(tmp_path / "r"), "--quiet"]) == 2
    assert "data file not found" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()  # nothing written for a failed start
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a trained run" in capsys.readouterr().err


def test_cli_choices_come_from_the_registries():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    arch = next(a for a in train._actions if a.dest == "arch")
    assert arch.choices == ["auto", *ARCHITECTURES.names()]
    assert all(v in next(a for a in train._actions if a.dest == "variant").help for v in VARIANTS.names())
    assert set(RECIPES) >= {"seed", "best"}


def test_the_parser_is_built_once_and_anew_when_a_registry_gains_a_name(monkeypatch):
    from aekit.cli import _parser

    first = _parser()
    assert _parser() is first  # main() parses with the same parser each call
    monkeypatch.setitem(ARCHITECTURES._items, "mine", lambda m: None)  # a user's architecture, registered later
    later = _parser()
    train = later._subparsers._group_actions[0].choices["train"]
    assert later is not first and "mine" in next(a for a in train._actions if a.dest == "arch").choices


def test_unknown_variant_rejected(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--variant", "sparce", "--out", str(tmp_path / "r")]) == 2
    assert "unknown variant 'sparce'" in capsys.readouterr().err


def test_data_flag_takes_a_name_a_file_or_an_mnist_folder(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 6), dtype=np.float32))
    small = ["--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--quiet", "--no-report"]
    assert main(["train", "--data", str(tmp_path / "x.npy"), "--out", str(tmp_path / "f"), *small]) == 0
    cfg = json.loads((tmp_path / "f" / "config.json").read_text())["data"]
    assert cfg["dataset"] == "file" and cfg["path"] == str((tmp_path / "x.npy").resolve())
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "d"), *small]) == 0
    folder = fake_mnist(tmp_path / "m", n=40)
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "m1"), *small]) == 0
    assert json.loads((tmp_path / "m1" / "config.json").read_text())["data"]["dataset"] == "mnist"
    assert main(["demo", "--data", str(folder), "--epochs", "1", "--out", str(tmp_path / "dm"), "--quiet",
                 "--no-report"]) == 0
    assert "Data: MNIST from" in capsys.readouterr().out
    assert main(["encode", str(tmp_path / "d"), "--data", "digits", "--out", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (360, 2)


def test_a_run_trained_with_a_relative_path_works_from_elsewhere(tmp_path, monkeypatch, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "a" / "x.npy", np.random.default_rng(0).random((50, 6), dtype=np.float32))
    monkeypatch.chdir(tmp_path / "a")
    assert main(["train", "--data", "x.npy", "--hidden", "8", "--latent-dim", "2", "--epochs", "1", "--out", "run",
                 "--quiet", "--no-report"]) == 0
    monkeypatch.chdir(tmp_path / "b")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "a" / "run")]) == 0
    assert json.loads(capsys.readouterr().out)["test_mse"] > 0


def test_demo_replaces_its_default_run_but_not_a_chosen_one(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["demo", "--data", "digits", "--epochs", "1", "--quiet", "--no-report"]
    assert main(args) == 0 and main(args) == 0
    assert "Replacing the earlier demo run in runs/demo" in capsys.readouterr().out
    assert main(args + ["--out", "mine"]) == 0
    assert main(args + ["--out", "mine"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(args + ["--out", "mine", "--overwrite"]) == 0


def test_data_paths_in_a_config_file_are_relative_to_the_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "proj").mkdir()
    np.save(tmp_path / "proj" / "x.npy", np.random.default_rng(0).random((40, 5), dtype=np.float32))
    (tmp_path / "proj" / "c.toml").write_text('[data]\ndataset = "file"\npath = "x.npy"\n[train]\nepochs = 1\n')
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "proj/c.toml", "--out", "r", "--quiet", "--no-report"]) == 0
    assert json.loads((tmp_path / "r" / "config.json").read_text())["data"]["path"] == str(tmp_path / "proj" / "x.npy")


def test_a_config_file_may_use_flat_keys(tmp_path):
    """Flat keys (as Config.override takes them, and as the README's example writes them) and sections mix."""
    from aekit.config import Config

    (tmp_path / "c.toml").write_text('variant = "vae"\nlatent_dim = 6\nepochs = 2\n[train]\nlr = 0.01\n')
    cfg = Config.load(tmp_path / "c.toml")
    assert (cfg.variant_name, cfg.model.latent_dim, cfg.train.epochs, cfg.train.lr) == ("vae", 6, 2, 0.01)
    assert cfg == Config().override(variant="vae", latent_dim=6, epochs=2, lr=0.01)


def test_the_program_exits_with_mains_code_and_its_files_whole(tmp_path):
    """``python -m aekit.cli`` (and the ``aekit`` script) run :func:`aekit.cli.run`, which freezes the garbage
    collector around main: the exit code, the output and every file written must be what main gives."""
    import subprocess
    import sys

    out = tmp_path / "r"
    argv = [sys.executable, "-m", "aekit.cli", "train", "--dataset", "digits", "--hidden", "8", "--latent-dim", "2",
            "--epochs", "2", "--out", str(out), "--quiet", "--no-report"]
    ok = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "Saved to" in ok.stdout, ok.stderr
    assert [json.loads(l)["epoch"] for l in (out / "history.jsonl").read_text().splitlines()] == [1, 2]
    assert json.loads((out / "metrics.json").read_text())["test_mse"] > 0
    bad = subprocess.run(argv[:-2] + ["--lr", "-1"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "lr" in bad.stderr


@pytest.mark.parametrize("thread", [False, True])
def test_the_program_runs_exit_handlers_and_waits_for_other_threads(tmp_path, thread):
    """run() leaves without the interpreter's teardown, but after the atexit handlers; a non-daemon thread that
    still runs gets the ordinary exit, which waits for it."""
    import os
    import subprocess
    import sys

    code = f"""
import atexit, sys, threading, time
import aekit.cli
atexit.register(lambda: print("atexit handler ran", flush=True))
if {thread}:
    threading.Thread(target=lambda: (time.sleep(0.5), open({str(tmp_path / "late.txt")!r}, "w").write("x"))).start()
print("buffered line", end="")  # flushed by run() before it leaves
sys.argv = ["aekit", "evaluate", {str(tmp_path / "missing")!r}]
aekit.cli.run()
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout to a pipe: block-buffered
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 2 and "run directory not found" in out.stderr, out.stderr
    assert out.stdout.startswith("buffered line") and "atexit handler ran" in out.stdout
    assert (tmp_path / "late.txt").exists() == thread


def test_importing_aekit_leaves_the_garbage_collector_as_it_found_it():
    import subprocess
    import sys

    code = ("import gc; was = gc.isenabled(); {before}; import aekit; "
            "print(was, gc.isenabled(), len(gc.get_objects()) > 0)")
    for before, want in (("pass", "True True True"), ("gc.disable()", "True False True")):
        out = subprocess.run([sys.executable, "-c", code.format(before=before)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0 and out.stdout.split() == want.split(), out.stderr
    failing = ("import gc, sys; sys.modules['aekit.train'] = None\n"  # a part of aekit that fails to import
               "try:\n    import aekit\nexcept ImportError:\n    print('failed', gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", failing], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["failed", "True"], out.stderr


def test_every_command_and_option_says_what_it_does():
    import argparse

    from aekit.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        assert p.description, f"{name} has no description"
        for a in p._actions:
            assert a.help, f"{name} {a.option_strings or a.dest} has no help"
        text = p.format_help()
        assert "(default: ())" not in text and "(default: False)" not in text, name


def test_switches_are_plain_and_their_old_values_still_work_for_a_release(capsys):
    from aekit.cli.train import old_switch_values

    assert old_switch_values(["train", "--stream", "true", "--compile=false", "--out", "r"]) == \
        ["train", "--stream", "--no-compile", "--out", "r"]
    err = capsys.readouterr().err
    assert "--stream true is deprecated: --stream is a switch (write --stream)" in err and "write --no-compile" in err
    assert old_switch_values(["train", "--stream", "--out", "r"]) == ["train", "--stream", "--out", "r"]
    assert old_switch_values(["x", "--out", "true"]) == ["x", "--out", "true"]  # not a switch: left alone
    import argparse

    from aekit.cli import build_parser

    args = build_parser().parse_args(["train", "--stream", "--no-compile", "--out", "r"])
    assert args.stream is True and args.compile is False and args.spatial_code is None
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "[--stream]" in sub.choices["train"].format_usage()
