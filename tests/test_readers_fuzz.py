"""Property-based tests of every reader of files from disk: random bytes, truncations and byte flips of a valid file
give the reader's clear error (a ValueError naming the file), or a value that is exactly right, and never another
exception. Derandomized, so that every run tries the same cases."""

from __future__ import annotations

import gzip
import io
import json
import struct

import numpy as np
import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from aekit import Config  # noqa: E402
from aekit import checkpoint as ckpt  # noqa: E402
from aekit.data import check_array  # noqa: E402
from aekit.data.arrays import read_array  # noqa: E402

SETTINGS = settings(max_examples=120, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _npy() -> bytes:
    b = io.BytesIO()
    np.save(b, np.arange(12, dtype=np.float32).reshape(3, 4))
    return b.getvalue()


def _npz() -> bytes:
    b = io.BytesIO()
    np.savez(b, x=np.arange(6.0).reshape(3, 2), y=np.array([0, 1, 0]))
    return b.getvalue()


def _idx(gz: bool) -> bytes:
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 2, 2) + bytes(range(8))
    return gzip.compress(raw, mtime=0) if gz else raw


VALID = {
    "a.npy": _npy(),
    "a.npz": _npz(),
    "a.csv": b"f1,f2\n1,2\n3.5,-4\n",
    "a-idx3-ubyte": _idx(False),
    "a-idx3-ubyte.gz": _idx(True),
}


@st.composite
def damaged(draw, valid: bytes) -> bytes:
    """Random bytes, a truncation, or 1-3 flipped bits of a valid file."""
    kind = draw(st.sampled_from(["random", "truncate", "flip"]))
    if kind == "random":
        return draw(st.binary(max_size=256))
    if kind == "truncate":
        return valid[:draw(st.integers(0, len(valid) - 1))]
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 3))):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@pytest.mark.parametrize("name", list(VALID))
def test_data_readers(tmp_path, name):
    path = tmp_path / name

    @SETTINGS
    @given(data=damaged(VALID[name]))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            x = check_array(np.asarray(read_array(path).x), str(path))
        except ValueError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            return
        assert x.dtype == np.float32 and x.ndim >= 1 and len(x) >= 1 and np.isfinite(x).all()

    check()


CONFIGS = {
    "c.json": json.dumps({"variant": "vae", "model": {"latent_dim": 3, "hidden": [16]}, "train": {"epochs": 2}}).encode(),
    "c.toml": b'variant = "vae"\n[model]\nlatent_dim = 3\nhidden = [16]\n[train]\nepochs = 2\n',
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_readers(tmp_path, name):
    path = tmp_path / name

    @SETTINGS
    @given(data=damaged(CONFIGS[name]))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            cfg = Config.load(path)
        except ValueError as e:
            assert str(path) in str(e)
            return
        assert isinstance(cfg, Config) and cfg.train.epochs >= 1  # a flip that still reads is still validated

    check()


def test_safetensors_reader(tmp_path):
    """The checksum makes this one strict: a damaged file is refused, or its tensors and metadata are exactly the
    saved ones (a flip in the header's padding)."""
    saved = {"w": torch.arange(12, dtype=torch.float32).reshape(3, 4), "b": torch.ones(3)}
    ckpt.save_tensors(tmp_path / "ok.safetensors", saved, {"note": "x"})
    valid = (tmp_path / "ok.safetensors").read_bytes()
    path = tmp_path / "t.safetensors"

    @SETTINGS
    @given(data=damaged(valid))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            tensors, meta = ckpt.load_tensors(path)
        except ckpt.CorruptFileError as e:
            assert str(path) in str(e)
            return
        assert set(tensors) == set(saved) and all(torch.equal(tensors[k], saved[k]) for k in saved)
        assert meta == {"format": "pt", "note": "x"}

    check()


def test_training_state_reader(tmp_path, small_digits):
    import aekit
    from conftest import tiny_config

    aekit.fit(tiny_config(epochs=1), small_digits, out_dir=tmp_path / "run", quiet=True)
    valid = (tmp_path / "run" / ckpt.STATE).read_bytes()
    good = ckpt.load_state(tmp_path / "run")
    (tmp_path / "bad").mkdir()
    path = tmp_path / "bad" / ckpt.STATE

    @settings(max_examples=60, derandomize=True, deadline=None)
    @given(data=damaged(valid))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            state = ckpt.load_state(tmp_path / "bad")
        except ckpt.CorruptFileError as e:
            assert str(path) in str(e)
            return
        assert state["epoch"] == good["epoch"] and state["history"] == good["history"]
        assert all(torch.equal(state["model"][k], v) for k, v in good["model"].items())

    check()


def test_compressed_file_reader(tmp_path):
    """A damaged .aek file is refused (the CRC, the magic number, the lengths), or decodes to exactly the codes that
    were written (a flip that leaves all checks intact cannot happen: the CRC covers every byte before it)."""
    from aekit.apps import codec
    from aekit.bottleneck import EntropyTables

    tables = EntropyTables(np.array([-3, 0]), np.array([[1, 4, 9, 20, 9, 4, 1, 1], [1, 30, 2, 1, 0, 0, 0, 0]]))
    codes = np.array([[0, 0], [-3, 1], [2, 0], [9, -4], [1, 1]])
    valid = codec.compress_codes(tables, codes, b"\x01" * 8, (3,))

    @SETTINGS
    @given(data=damaged(valid))
    def check(data: bytes) -> None:
        try:
            back, shape = codec.decompress_codes(tables, data, b"\x01" * 8)
        except codec.CompressedFileError:
            return
        assert np.array_equal(back, codes) and shape == (3,)

    check()
