"""Data loading: IDX, arrays, the verified download (against a local server), and the errors for bad input."""

from __future__ import annotations

import hashlib
import http.server
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

import aekit
from aekit.data import check_array, mnist
from aekit.data.arrays import read_array
from aekit.data.idx import read_idx, write_idx
from aekit.data.series import sliding_windows


def fake_mnist(folder: Path, n: int = 20, gz: bool = True) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for part, count in (("train", n), ("t10k", n // 2)):
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (count, 28, 28), np.uint8), gz)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, (count,), np.uint8), gz)
    return folder


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_roundtrip(tmp_path, gz):
    for arr in (np.arange(24, dtype=np.uint8).reshape(2, 3, 4), np.arange(6, dtype=np.float32) / 3,
                np.arange(-4, 4, dtype=np.int16), np.arange(5.0)):
        back = read_idx(write_idx(tmp_path / "a-idx3-ubyte", arr, gz))
        assert back.dtype.kind == arr.dtype.kind and np.array_equal(back, arr)
    raw = (tmp_path / "a-idx3-ubyte").read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == gz and (gz or raw[:8] == bytes([0, 0, 0x0E, 1, 0, 0, 0, 5]))  # by hand


def test_read_idx_wrong_magic(tmp_path):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(b"\x12\x34\x08\x03" + b"\0" * 20)
    with pytest.raises(ValueError, match="wrong magic number 12340803"):
        read_idx(p)


def test_read_idx_truncated_body(tmp_path):
    p = tmp_path / "short-idx1-ubyte"
    p.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 100) + b"\0" * 10)
    with pytest.raises(ValueError, match="needs 100"):
        read_idx(p)


def test_load_mnist_from_data_dir_gz_and_raw(tmp_path):
    for gz in (True, False):
        folder = fake_mnist(tmp_path / f"m{gz}", gz=gz)
        d = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=str(folder)))
        assert d.train.x.shape == (20, 1, 28, 28) and d.test.x.shape == (10, 1, 28, 28)
        assert 0.0 <= d.train.x.min() and d.train.x.max() <= 1.0 and d.train.y.shape == (20,)


def test_mnist_found_through_env(tmp_path, monkeypatch):
    folder = fake_mnist(tmp_path / "env")
    monkeypatch.setenv("AEKIT_DATA_DIR", str(folder))
    assert mnist.find_mnist() == folder


def test_missing_mnist_files_named(tmp_path):
    folder = fake_mnist(tmp_path / "m")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=str(folder)))


def test_offline_without_mnist_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="downloading is off"):
        aekit.load_data(aekit.DataConfig(dataset="mnist"))


class _Server:
    """A static file server on 127.0.0.1 over a folder, in a thread."""

    def __init__(self, folder: Path):
        handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder), **k)  # noqa: E731
        http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_download_good_files_from_local_server(tmp_path):
    src = fake_mnist(tmp_path / "src")
    digests = {p.name: _md5(p) for p in src.iterdir()}
    srv = _Server(src)
    try:
        dest = mnist.download(tmp_path / "dest", mirrors=("http://127.0.0.1:1/nothing/", srv.url), md5=digests,
                              timeout=5, quiet=True)
    finally:
        srv.close()
    assert sorted(p.name for p in dest.iterdir()) == sorted(digests)  # no .part files left
    assert np.array_equal(read_idx(dest / "train-labels-idx1-ubyte.gz"),
                          read_idx(src / "train-labels-idx1-ubyte.gz"))


def test_download_corrupt_file_is_deleted_and_raises(tmp_path):
    src = fake_mnist(tmp_path / "src")
    digests = {p.name: _md5(p) for p in src.iterdir()}
    (src / "train-images-idx3-ubyte.gz").write_bytes(b"corrupted")
    srv = _Server(src)
    try:
        with pytest.raises(ValueError, match="MD5 mismatch for train-images-idx3-ubyte.gz"):
            mnist.download(tmp_path / "dest", mirrors=(srv.url,), md5=digests, timeout=5, quiet=True)
    finally:
        srv.close()
    assert not (tmp_path / "dest" / "train-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "dest").glob("*.part"))


def test_download_unreachable_raises_connection_error(tmp_path):
    with pytest.raises(ConnectionError, match="could not download"):
        mnist.download(tmp_path / "d", mirrors=("http://127.0.0.1:1/",), md5={"x.gz": "0"}, timeout=2, quiet=True)


@pytest.mark.parametrize("fmt", ["npy", "npz", "csv", "csv_header"])
def test_read_arrays(tmp_path, fmt):
    x = np.arange(12, dtype=np.float64).reshape(4, 3) / 10
    if fmt == "npy":
        np.save(tmp_path / "a.npy", x)
        p = tmp_path / "a.npy"
    elif fmt == "npz":
        np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1, 0, 1]))
        p = tmp_path / "a.npz"
    else:
        p = tmp_path / "a.csv"
        head = "a,b,c\n" if fmt == "csv_header" else ""
        p.write_text(head + "\n".join(",".join(str(v) for v in row) for row in x))
    got, y, _ = read_array(p)
    assert np.allclose(got, x)
    assert (y is not None) == (fmt == "npz")


def test_file_dataset_splits_and_missing_file(tmp_path):
    np.save(tmp_path / "x.npy", np.random.rand(50, 6))
    d = aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "x.npy")))
    assert (len(d.train), len(d.test)) == (40, 10)
    with pytest.raises(FileNotFoundError, match="nope.npy"):
        aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "nope.npy")))


def test_unsupported_format(tmp_path):
    (tmp_path / "x.parquet").write_text("?")
    with pytest.raises(ValueError, match="unsupported data format"):
        read_array(tmp_path / "x.parquet")


@pytest.mark.parametrize("bad,msg", [(np.nan, "NaN or inf.*NaN"), (np.inf, "NaN or inf.*inf")])
def test_nan_and_inf_rejected(bad, msg):
    x = np.zeros((3, 4))
    x[1, 2] = bad
    with pytest.raises(ValueError, match=msg):
        check_array(x, "data")
    with pytest.raises(ValueError, match=r"index \(1, 2\)"):
        check_array(x, "data")


def test_empty_rejected(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        check_array(np.zeros((0, 4)), "data")
    np.save(tmp_path / "e.npy", np.zeros((0, 3)))
    with pytest.raises(ValueError, match="empty"):
        aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "e.npy")))


def test_sliding_windows():
    w = sliding_windows(np.arange(10.0), window=4, stride=3)
    assert w.shape == (3, 4, 1)
    assert w[:, :, 0].tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    with pytest.raises(ValueError, match="shorter than the window"):
        sliding_windows(np.arange(3.0), window=4, stride=1)


def test_download_from_a_server_that_never_answers_times_out_and_says_why(tmp_path, capsys):
    import socket
    import time

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)  # accepts the connection (the kernel does), never sends a byte
    url = f"http://127.0.0.1:{srv.getsockname()[1]}/"
    t0 = time.perf_counter()
    try:
        with pytest.raises(ConnectionError) as e:
            mnist.download(tmp_path / "d", mirrors=(url,), md5={"x.gz": "0"}, timeout=1)
    finally:
        srv.close()
    assert time.perf_counter() - t0 < 10
    msg = str(e.value)
    assert "\n" not in msg and "timed out" in msg and url in msg  # the reason, whole, on one line
    assert f"Downloading x.gz from {url} (timeout 1 s)" in capsys.readouterr().err


def test_npz_with_a_single_array_under_any_name(tmp_path):
    np.savez(tmp_path / "one.npz", np.ones((3, 2)))
    assert read_array(tmp_path / "one.npz").x.shape == (3, 2)
