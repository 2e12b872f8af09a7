"""Compression: the rate variant, integer entropy tables, range-coded files and their errors."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
import torch

import aekit
from aekit import apps
from aekit import checkpoint as ckpt
from aekit.apps import codec as C
from aekit.bottleneck import EntropyTables, FactorizedPrior
from aekit.cli import main
from conftest import tiny_config


@pytest.fixture(scope="module")
def rate_runs(tmp_path_factory, digits):
    """Small rate models on the digits: an MLP and a conv net, each with its run directory."""
    runs = {}
    for arch, extra in (("mlp", {"hidden": (32,)}), ("conv", {"channels": (8,)})):
        out = tmp_path_factory.mktemp("rate") / arch
        cfg = tiny_config(arch=arch, variant="rate", latent_dim=6, epochs=8, rate_lambda=0.02, lr=3e-3, dataset="digits",
                          **extra)
        aekit.fit(cfg, digits, out_dir=out, quiet=True)
        runs[arch] = out
    return runs


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_round_trip_restores_the_quantised_code_exactly(rate_runs, digits, arch):
    model = aekit.load(rate_runs[arch])
    x = digits.test.x.numpy()
    data = apps.compress(model, x)
    codes = C.quantized_codes(model, x)
    tables = C.tables_of(model)
    back, shape = C.decompress_codes(tables, data, C.model_digest(model, tables))
    assert np.array_equal(back, codes) and shape == (1, 8, 8)
    assert np.array_equal(apps.decompress(model, data), apps.reconstruct(model, x))  # decode(round(z)), both ways


def test_escaped_values_outside_the_tables_round_trip():
    tables = EntropyTables(np.array([-2, 0]), np.array([[1, 5, 9, 5, 1], [1, 7, 1, 0, 0]]))  # widths 3 and 1
    assert tables.width.tolist() == [3, 1]
    codes = np.array([[0, 0], [-2, 0], [1, 5], [-7, -1], [1000, 0]])  # outside: 1, -7, 1000 (dim 0); 5, -1 (dim 1)
    data = C.compress_codes(tables, codes, b"12345678", (2,))
    back, _ = C.decompress_codes(tables, data, b"12345678")
    assert np.array_equal(back, codes)
    assert C._symbols(tables, codes)[1].tolist() == [1, -7, 1000, 5, -1]  # channel-major, in sample order


def test_the_file_costs_what_the_tables_estimate(rate_runs, digits):
    model = aekit.load(rate_runs["conv"])
    x = digits.train.x.numpy()
    codes = C.quantized_codes(model, x)
    tables = C.tables_of(model)
    est = C.estimated_bits(tables, codes)
    data = C.compress_codes(tables, codes, C.model_digest(model, tables), (1, 8, 8))
    f = C.parse(data)
    payload_bits = 32 * len(f.words) + 32 * len(f.escapes)
    assert abs(payload_bits - est) <= 0.01 * est + 32, (payload_bits, est)  # + the last word's padding
    header = 8 * len(data) - 32 * len(f.words) - 32 * len(f.escapes)
    assert header <= 8 * (4 + 1 + 8 + 3 + 1 + 3 + 1 + 1 + 2 + 4)  # magic, version, model, 7 varints, crc
    with torch.no_grad():  # and the tables agree with the prior the rate term trained
        model_bits = float(model(torch.from_numpy(x)).bits.sum())
    assert est == pytest.approx(model_bits, rel=0.01)


def test_tables_are_stored_with_the_run_and_loaded_with_it(rate_runs):
    run = rate_runs["mlp"]
    assert (run / ckpt.TABLES).is_file()
    model = aekit.load(run)
    fresh = model.bottleneck.integer_tables()
    assert np.array_equal(model.entropy_tables.counts, fresh.counts)
    assert np.array_equal(model.entropy_tables.offset, fresh.offset)
    assert (model.entropy_tables.counts[:, 0] == 1).all()  # the escape below every table


def test_decoding_does_not_depend_on_the_thread_count(rate_runs, digits, tmp_path):
    """The stream is decoded from integer tables: 1 and 2 torch threads give the same codes bit for bit (and the
    same images, up to the float rounding the decoder network may do differently with another thread count)."""
    model = aekit.load(rate_runs["conv"])
    (tmp_path / "x.aek").write_bytes(apps.compress(model, digits.test.x.numpy()))
    script = textwrap.dedent(f"""
        import sys, numpy as np, torch, aekit
        from aekit.apps import codec as C
        torch.set_num_threads(int(sys.argv[1]))
        model = aekit.load({str(rate_runs['conv'])!r})
        data = open({str(tmp_path / 'x.aek')!r}, 'rb').read()
        tables = C.tables_of(model)
        codes, _ = C.decompress_codes(tables, data, C.model_digest(model, tables))
        np.save(sys.argv[2], codes)
        np.save(sys.argv[3], C.decompress(model, data))
    """)
    for t in (1, 2):
        subprocess.run([sys.executable, "-c", script, str(t), str(tmp_path / f"c{t}.npy"), str(tmp_path / f"x{t}.npy")],
                       check=True, env={**os.environ}, timeout=120)
    assert np.array_equal(np.load(tmp_path / "c1.npy"), np.load(tmp_path / "c2.npy"))
    np.testing.assert_allclose(np.load(tmp_path / "x1.npy"), np.load(tmp_path / "x2.npy"), rtol=0, atol=1e-6)


def test_bad_files_are_clear_errors(rate_runs, digits, tmp_path, capsys):
    run = rate_runs["conv"]
    assert main(["compress", str(run), "--out", str(tmp_path / "x.aek")]) == 0
    data = (tmp_path / "x.aek").read_bytes()
    capsys.readouterr()
    cases = {
        "truncated.aek": (data[: len(data) // 2], "truncated or damaged"),
        "flipped.aek": (data[:30] + bytes([data[30] ^ 4]) + data[31:], "truncated or damaged"),
        "empty.aek": (b"", "not an aekit compressed file"),
        "png.aek": (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not an aekit compressed file"),
    }
    for name, (content, expect) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert main(["decompress", str(run), str(tmp_path / name), "--out", str(tmp_path / "o.npy")]) == 2
        err = capsys.readouterr().err
        assert expect in err and str(tmp_path / name) in err and len(err.strip().splitlines()) == 1, err
    # another model: the mlp's file, decoded with the conv run
    assert main(["compress", str(rate_runs["mlp"]), "--out", str(tmp_path / "m.aek")]) == 0
    capsys.readouterr()
    assert main(["decompress", str(run), str(tmp_path / "m.aek"), "--out", str(tmp_path / "o.npy")]) == 2
    assert "written with another model" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()
    # a model without the rate variant
    plain = tmp_path / "plain"
    aekit.fit(tiny_config(epochs=1), digits, out_dir=plain, quiet=True)
    assert main(["compress", str(plain), "--out", str(tmp_path / "p.aek")]) == 2
    assert "needs a model trained with the rate variant" in capsys.readouterr().err
    assert not (tmp_path / "p.aek").exists()


def test_compress_command_reports_bits_per_pixel_by_hand(rate_runs, tmp_path, capsys):
    assert main(["compress", str(rate_runs["conv"]), "--out", str(tmp_path / "x.aek")]) == 0
    out = capsys.readouterr().out
    size = (tmp_path / "x.aek").stat().st_size
    assert f"Compressed 360 samples into {size} bytes" in out
    assert f"{8 * size / (360 * 64):.4f} bits per pixel" in out  # 8 bits a byte over 360 images of 8 x 8 pixels
    assert main(["decompress", str(rate_runs["conv"]), str(tmp_path / "x.aek"), "--out",
                 str(tmp_path / "x.npy"), "--png", str(tmp_path / "g.png")]) == 0
    assert np.load(tmp_path / "x.npy").shape == (360, 1, 8, 8) and (tmp_path / "g.png").stat().st_size > 1000
    capsys.readouterr()
    # the old spelling, FILE --run RUN, for one release: the same samples, and a line that names the new one
    assert main(["decompress", str(tmp_path / "x.aek"), "--run", str(rate_runs["conv"]), "--out",
                 str(tmp_path / "old.npy")]) == 0
    assert "--run is deprecated: use decompress RUN FILE" in capsys.readouterr().err
    assert np.array_equal(np.load(tmp_path / "old.npy"), np.load(tmp_path / "x.npy"))
    assert main(["decompress", str(tmp_path / "x.aek"), "--out", str(tmp_path / "o.npy")]) == 2  # the run missing
    assert "decompress takes the run, then the compressed file" in capsys.readouterr().err


def test_rate_is_a_variant_with_named_parts_and_combines_with_denoising(digits):
    res = aekit.fit(tiny_config(variant="rate+denoising", epochs=2, rate_lambda=0.1), digits, quiet=True)
    assert {"train/recon", "train/rate", "train/loss"} <= set(res.history[-1])
    r = res.history[-1]
    assert r["train/loss"] == pytest.approx(r["train/recon"] + 0.1 * r["train/rate"], rel=1e-4)
    with pytest.raises(ValueError, match="cannot be combined with vae"):
        tiny_config(variant="rate+vae")


def test_a_larger_rate_weight_gives_fewer_bits(digits):
    bits = []
    for lam in (0.0, 0.5):
        res = aekit.fit(tiny_config(variant="rate", epochs=6, rate_lambda=lam, lr=3e-3, latent_dim=8), digits,
                        quiet=True)
        bits.append(res.history[-1]["train/rate"])
    assert bits[1] < 0.6 * bits[0], bits


def test_the_prior_is_a_probability_over_the_integers():
    torch.manual_seed(0)
    prior = FactorizedPrior(3)
    y = torch.arange(-300, 301, dtype=torch.float32)[:, None].expand(-1, 3)
    with torch.no_grad():
        p = prior.likelihood(y)  # (601, 3): c(y + 1/2) - c(y - 1/2) telescopes to c(300.5) - c(-300.5)
    assert torch.allclose(p.sum(0), torch.ones(3), atol=1e-4)
    assert (p > 0).all()


@pytest.mark.parametrize("prior,tables", [("channel", 3), ("position", 48), ("auto", 48)])
def test_a_spatial_code_round_trips_and_costs_what_it_estimates(digits, tmp_path, prior, tables):
    cfg = tiny_config(arch="conv", channels=(8,), variant="rate", spatial_code=True, latent_dim=3, epochs=4,
                      rate_lambda=0.05, lr=3e-3, dataset="digits", code_prior=prior)
    aekit.fit(cfg, digits, out_dir=tmp_path / "s", quiet=True)
    model = aekit.load(tmp_path / "s")
    assert model.code_shape == (3, 4, 4)  # 3 channels on the 4 x 4 positions of the 8 x 8 digits' one stage
    assert len(C.tables_of(model).offset) == tables  # one table per channel, or per channel and position
    x = digits.test.x.numpy()
    codes = C.quantized_codes(model, x)
    assert codes.shape == (360, 3, 4, 4)
    data = apps.compress(model, x)
    tables = C.tables_of(model)
    back, _ = C.decompress_codes(tables, data, C.model_digest(model, tables))
    assert np.array_equal(back, codes) and C.parse(data).code_shape == (3, 4, 4)
    assert np.array_equal(apps.decompress(model, data), apps.reconstruct(model, x))
    est = C.estimated_bits(tables, codes)
    with torch.no_grad():
        assert est == pytest.approx(float(model(torch.from_numpy(x)).bits.sum()), rel=0.01)
    strip = apps.interpolate(model, x[0], x[1], steps=4)  # codes interpolated as vectors, rounded, decoded
    assert strip.shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="spatial code"):
        aekit.build_model(aekit.resolve_config(tiny_config(arch="mlp", spatial_code=True), (1, 8, 8), 0.0, 1.0))


def test_prior_rows_by_hand():
    from aekit.bottleneck import from_prior_rows, prior_rows

    codes = np.arange(24).reshape(2, 3, 2, 2)  # (N, L, h, w)
    by_channel = prior_rows(codes, 3)  # one row per sample and position, one column per channel
    assert by_channel.shape == (8, 3) and by_channel[1].tolist() == [1, 5, 9]  # sample 0, position (0, 1)
    by_position = prior_rows(codes, 12)  # one row per sample, columns channel-major
    assert by_position.shape == (2, 12) and by_position[1].tolist() == list(range(12, 24))
    assert np.array_equal(prior_rows(torch.from_numpy(codes), 3).numpy(), by_channel)  # tensors alike
    for rows in (by_channel, by_position):
        assert np.array_equal(from_prior_rows(rows, 2, (3, 2, 2)), codes)
    with pytest.raises(ValueError, match="do not fit a prior of 5"):
        prior_rows(codes, 5)


def test_codec_baselines_by_hand():
    """PSNR: MSE 0.01 is 20 dB; bits per pixel: the bytes Pillow writes, 8 bits each, over N x H x W pixels."""
    assert apps.psnr(np.zeros((2, 1, 4, 4)), np.full((2, 1, 4, 4), 0.1)) == pytest.approx(20.0)
    import io

    from PIL import Image

    x = np.zeros((3, 1, 8, 8), np.float32)
    x[:, :, 2:5, 3] = 1.0
    bpp, psnr = C.pillow_point(x, "PNG")
    buf = io.BytesIO()
    Image.fromarray((x[0, 0] * 255).astype(np.uint8), "L").save(buf, format="PNG")
    assert bpp == pytest.approx(3 * 8 * buf.tell() / (3 * 64)) and psnr == float("inf")  # lossless


def _rebuilt(data: bytes, count: int | None = None, words: np.ndarray | None = None) -> bytes:
    """A file like ``data`` with another sample count or payload, and a valid checksum: what a crafted file looks
    like."""
    from aekit.apps.codec import MAGIC, VERSION, _varint, parse

    f = parse(data)
    w = f.words if words is None else words
    head = MAGIC + bytes([VERSION]) + f.model + b"".join(_varint(v) for v in (
        f.count if count is None else count, len(f.sample_shape), *f.sample_shape, len(f.code_shape), *f.code_shape,
        len(f.escapes), len(w)))
    body = head + f.escapes.astype("<i4").tobytes() + w.astype("<u4").tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


def test_crafted_files_with_a_valid_checksum_are_damaged_files(rate_runs, tmp_path, capsys):
    run = rate_runs["mlp"]
    assert main(["compress", str(run), "--out", str(tmp_path / "x.aek")]) == 0
    data = (tmp_path / "x.aek").read_bytes()
    from aekit.apps.codec import parse

    n_words = len(parse(data).words)
    rng = np.random.default_rng(0)
    crafted = {"count2000.aek": _rebuilt(data, count=2000), "count1e7.aek": _rebuilt(data, count=10 ** 7),
               "random.aek": _rebuilt(data, words=rng.integers(0, 2 ** 32, n_words, dtype=np.uint64))}
    assert _rebuilt(data) == data  # the rebuilding itself changes nothing
    capsys.readouterr()
    for name, content in crafted.items():
        (tmp_path / name).write_bytes(content)
        code = main(["decompress", str(run), str(tmp_path / name), "--out", str(tmp_path / "o.npy")])
        err = capsys.readouterr().err
        if name == "random.aek" and code == 0:  # random words may decode to some codes: garbage, but no crash
            continue
        assert code == 2 and "damaged" in err and len(err.strip().splitlines()) == 1, (name, err)
