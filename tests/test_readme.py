"""The README as a script: its shell and Python blocks run in order, as written, in an empty folder.

Trainings are shortened (``--epochs`` at most 1, 2 for a resume), MNIST is a small stand-in folder of IDX files
made from scikit-learn's digits ($AEKIT_DATA_DIR), and nothing touches the network. Lines that install packages,
start a server or other processes, or run this test suite are not run: each such line is named in SKIP, and any
other line that is not an ``aekit`` or ``python -c`` command fails the test, so a new kind of example gets a runner
or a reason."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aekit.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(bash|python|toml)\n(.*?)^```", re.S | re.M)
SKIP = {  # the first words of lines not run, and why
    "pip": "installs packages (the test environment has them)",
    "python -m pytest": "runs this test suite",
    "aekit serve": "a server that runs until stopped (tests/test_serve.py serves a run)",
    "torchrun": "several processes (tests/test_scale.py runs them)",
    "tensorboard": "TensorBoard's own server",
}


def blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(README.read_text())


def commands(code: str) -> list[list[str]]:
    """A shell block's commands: continued lines joined, comments dropped, ``a && b`` split."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1:]
    return out


def shortened(args: list[str]) -> list[str]:
    """A training command with at most 1 epoch (2 when it resumes a run of 1)."""
    if args[0] not in ("train", "demo") or "--help" in args:
        return args
    most = 2 if "--resume" in args else 1
    if "--epochs" in args:
        i = args.index("--epochs") + 1
        return args[:i] + [str(min(int(args[i]), most))] + args[i + 1:]
    return args + ["--epochs", str(most)]


def _mnist_stand_in(folder: Path) -> None:
    """MNIST's four IDX files, 28 x 28: scikit-learn's digits enlarged 3x and padded (1,500 train, 297 test)."""
    from sklearn.datasets import load_digits

    from aekit.data.idx import write_idx

    d = load_digits()
    img = np.pad(np.kron(d.images, np.ones((3, 3))), ((0, 0), (2, 2), (2, 2))) * (255 / 16)
    img, lab = img.round().astype(np.uint8), d.target.astype(np.uint8)
    folder.mkdir()
    for part, sl in (("train", slice(0, 1500)), ("t10k", slice(1500, None))):
        write_idx(folder / f"{part}-images-idx3-ubyte", img[sl])
        write_idx(folder / f"{part}-labels-idx1-ubyte", lab[sl])


@pytest.mark.slow
def test_the_readme_runs_top_to_bottom(tmp_path, monkeypatch, capsys):
    _mnist_stand_in(tmp_path / "mnist")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("AEKIT_DATA_DIR", str(tmp_path / "mnist"))
    monkeypatch.setenv("AEKIT_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # caches (images, MNIST) go here, not to the user's
    ran, skipped, namespace = [], [], {"__name__": "__readme__"}
    for lang, code in blocks():
        if lang == "toml":  # a config file the next commands read: saved under the name its first line gives
            first = code.splitlines()[0]
            assert first.startswith("# "), f"a toml block names its file on its first line: {first!r}"
            (work / first[2:].strip()).write_text(code)
            continue
        if lang == "python":
            for _ in range(2):  # as a notebook cell run twice: the second run must work too
                exec(compile(code, "README.md", "exec"), namespace)
            ran.append(code.splitlines()[0])
            continue
        for args in commands(code):
            line = " ".join(args)
            why = next((why for start, why in SKIP.items() if line.startswith(start)), None)
            if why:
                skipped.append(line)
                continue
            if args[0] == "python" and args[1] == "-c":
                done = subprocess.run([sys.executable, "-c", args[2]], capture_output=True, text=True, timeout=300,
                                      env={**os.environ})
                assert done.returncode == 0, f"{line}\n{done.stderr}"
            else:
                assert args[0] == "aekit", f"a README command the test cannot run; add it to SKIP with why: {line}"
                try:
                    code_ = main(shortened(args[1:]))
                except SystemExit as e:  # --help: argparse prints and exits
                    code_ = e.code
                err = capsys.readouterr().err
                assert code_ == 0, f"{line}\n{err}"
            ran.append(line)
    assert len(ran) > 40 and any(s.startswith("aekit serve") for s in skipped)
    assert (work / "runs" / "x" / "report.html").is_file() and (work / "filled.csv").is_file()
    assert not (work / "runs" / "x" / "onnx").exists() or (work / "runs" / "x" / "onnx" / "encoder.onnx").is_file()


def test_the_runner_reads_blocks_as_the_shell_would():
    assert commands("a b \\\n  c  # note\nx && y z\n") == [["a", "b", "c"], ["x"], ["y", "z"]]
    assert shortened(["train", "--epochs", "30", "--out", "r"]) == ["train", "--epochs", "1", "--out", "r"]
    assert shortened(["train", "--out", "r", "--resume", "--epochs", "40"])[-1] == "2"
    assert shortened(["demo"]) == ["demo", "--epochs", "1"] and shortened(["train", "--help"]) == ["train", "--help"]
    assert shortened(["encode", "r"]) == ["encode", "r"]
