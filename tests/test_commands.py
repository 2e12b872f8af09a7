"""The application commands and functions: encode, reconstruct, generate, interpolate, denoise, detect, probe."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import aekit
from aekit import apps
from aekit.cli import main


def _train_digits(tmp_path_factory, variant: str, hidden: str, latent: str, epochs: str, noise: str):
    out = tmp_path_factory.mktemp("runs") / variant
    assert main(["train", "--dataset", "digits", "--arch", "mlp", "--variant", variant, "--hidden", hidden,
                 "--latent-dim", latent, "--epochs", epochs, "--lr", "3e-3", "--noise-level", noise, "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    return out


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return _train_digits(tmp_path_factory, "vae+denoising", "32", "4", "8", "0.2")


@pytest.fixture(scope="module")
def dae_run(tmp_path_factory):
    return _train_digits(tmp_path_factory, "denoising", "64", "16", "30", "0.3")


def test_encode_and_reconstruct_from_files(vae_run, tmp_path, capsys):
    x = aekit.load_data(aekit.DataConfig(dataset="digits")).test.x[:10].numpy()
    np.savetxt(tmp_path / "x.csv", x.reshape(10, -1), delimiter=",")  # flattened rows fit a (1, 8, 8) model
    assert main(["encode", str(vae_run), "--input", str(tmp_path / "x.csv"), "--out", str(tmp_path / "z.npy")]) == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (10, 4)
    assert np.allclose(z, apps.encode(aekit.load(vae_run), x), atol=1e-6)
    assert main(["reconstruct", str(vae_run), "--out", str(tmp_path / "r.csv"), "--png", str(tmp_path / "r.png")]) == 0
    assert np.loadtxt(tmp_path / "r.csv", delimiter=",").shape == (360, 64)
    assert (tmp_path / "r.png").stat().st_size > 1000


def test_generate_and_interpolate(vae_run, tmp_path, capsys):
    assert main(["generate", str(vae_run), "-n", "5", "--out", str(tmp_path / "s.npz"), "--png",
                 str(tmp_path / "s.png")]) == 0
    s = np.load(tmp_path / "s.npz")["x"]
    assert s.shape == (5, 1, 8, 8) and (0 <= s).all() and (s <= 1).all()
    assert main(["interpolate", str(vae_run), "--a", "0", "--b", "3", "--steps", "6", "--method", "slerp",
                 "--png", str(tmp_path / "i.png"), "--out", str(tmp_path / "i.npy")]) == 0
    assert (tmp_path / "i.png").read_bytes()[:4] == b"\x89PNG"
    path = np.load(tmp_path / "i.npy")
    model = aekit.load(vae_run)
    x = aekit.load_data(model.config.data).test.x.numpy()
    assert path.shape == (6, 1, 8, 8)
    assert np.allclose(path[0], apps.reconstruct(model, x[:1])[0], atol=1e-5)  # the path starts at input a
    assert np.allclose(path[-1], apps.reconstruct(model, x[3:4])[0], atol=1e-5)  # and ends at input b


def test_generate_needs_a_sampler_or_a_vae(tmp_path, capsys):
    out = tmp_path / "plain"
    main(["train", "--dataset", "digits", "--arch", "mlp", "--epochs", "1", "--out", str(out), "--quiet",
          "--no-report", "--sampler", "none"])
    assert main(["generate", str(out), "--out", str(tmp_path / "s.npy")]) == 2
    assert "no sampler to generate from" in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists()


def test_interpolation_math():
    za, zb = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    lin = apps.interpolate_codes(za, zb, 3, "linear")
    assert np.allclose(lin[1], [0.5, 1.0])
    sl = apps.interpolate_codes(za, zb, 3, "slerp")
    assert np.allclose(sl[[0, -1]], [za, zb])
    # the slerp midpoint lies on the arc at 45 degrees: sin(pi/4)/sin(pi/2) * (a + b)
    assert np.allclose(sl[1], np.sin(np.pi / 4) * (za + zb))


def test_denoise_reports_psnr_gain(dae_run, tmp_path, capsys):
    assert main(["denoise", str(dae_run), "--noise", "gaussian", "--noise-level", "0.3", "--out",
                 str(tmp_path / "d.npy"), "--png", str(tmp_path / "d.png")]) == 0
    text = capsys.readouterr().out
    before, after = map(float, text.split("PSNR noisy ")[1].replace(" dB -> denoised ", " ").split()[:2])
    assert after > before + 3  # the denoising model removes much of the noise
    assert apps.psnr(np.zeros(4), np.full(4, 0.1)) == pytest.approx(20.0)


@pytest.mark.parametrize("score", ["reconstruction", "knn"])
def test_detect_writes_scores_and_flags(vae_run, tmp_path, capsys, score):
    x = aekit.load_data(aekit.DataConfig(dataset="digits")).test.x[:40].numpy()
    x[:4] = np.random.default_rng(0).random((4, 1, 8, 8))  # four noise images among digits
    np.save(tmp_path / "x.npy", x)
    labels = np.r_[np.ones(4), np.zeros(36)]
    np.save(tmp_path / "y.npy", labels)
    assert main(["detect", str(vae_run), "--input", str(tmp_path / "x.npy"), "--contamination", "0.05", "--anomaly-labels",
                 str(tmp_path / "y.npy"), "--out", str(tmp_path / "scores.csv"), "--png", str(tmp_path / "h.png"),
                 "--score", score, "--n-neighbors", "10", "--max-reference", "all"]) == 0  # the image recipe
    rows = list(csv.DictReader(open(tmp_path / "scores.csv")))
    assert len(rows) == 40
    assert all(r["anomaly"] == "1" for r in rows[:4])  # the noise images are flagged
    assert float(capsys.readouterr().out.split("AUROC ")[1].split()[0]) > 0.95


def test_detect_error_window_scores_local_errors(vae_run, tmp_path, capsys):
    from aekit.cli.apps import read_inputs

    x = aekit.load_data(aekit.DataConfig(dataset="digits")).test.x[:20].numpy()
    np.save(tmp_path / "x.npy", x)
    assert main(["detect", str(vae_run), "--input", str(tmp_path / "x.npy"), "--score", "knn", "--error-window", "3",
                 "--out", str(tmp_path / "s.csv")]) == 0
    scores = np.array([float(r["score"]) for r in csv.DictReader(open(tmp_path / "s.csv"))])
    model = aekit.load(vae_run)
    train_x = read_inputs(model, None, "train").x  # the run's own training data, as detect uses
    expected = apps.AnomalyScorer(model, train_x, "knn", error_window=3).score(x)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)
    assert not np.allclose(scores, apps.AnomalyScorer(model, train_x, "knn").score(x), rtol=1e-3)
    assert main(["detect", str(vae_run), "--error-window", "9", "--out", str(tmp_path / "t.csv")]) == 2
    assert "error_window must be an integer from 1 to 8" in capsys.readouterr().err
    assert not (tmp_path / "t.csv").exists()


def test_error_threshold():
    e = np.arange(1, 101, dtype=float)
    assert apps.error_threshold(e, 0.1) == pytest.approx(np.percentile(e, 90))
    med, mad = 50.5, 25.0
    assert apps.error_threshold(e, "auto") == pytest.approx(med + 3 * 1.4826 * mad)
    with pytest.raises(ValueError, match="contamination"):
        apps.error_threshold(e, 2)


def test_probe(vae_run, tmp_path, capsys):
    assert main(["probe", str(vae_run)]) == 0
    import json

    res = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert set(res) == {"codes_4d", "pca_4d", "raw_64d"}
    assert res["raw_64d"] > 0.9 and res["codes_4d"] > 0.3  # ten classes: chance is 0.1
    d = aekit.load_data(aekit.DataConfig(dataset="digits")).test
    np.savez(tmp_path / "few.npz", x=d.x[:40].numpy(), y=d.y[:40])  # scored on these 40 labelled samples alone
    assert main(["probe", str(vae_run), "--input", str(tmp_path / "few.npz")]) == 0
    few = json.loads(capsys.readouterr().out)["test_accuracy"]
    assert all(abs(v * 40 - round(v * 40)) < 1e-9 for v in few.values())  # k / 40: scored on the 40 alone
    np.save(tmp_path / "nolabels.npy", d.x[:40].numpy())
    assert main(["probe", str(vae_run), "--input", str(tmp_path / "nolabels.npy")]) == 2
    assert "nolabels.npy has no labels" in capsys.readouterr().err


def test_old_spellings_still_work_for_a_release_and_say_the_new_one(vae_run, tmp_path, capsys):
    assert main(["interpolate", str(vae_run), "--steps", "4", "--out", str(tmp_path / "i.png"), "--array",
                 str(tmp_path / "i.npy")]) == 0  # --out was the figure, --array the data
    err = capsys.readouterr().err
    assert "interpolate --out FILE.png is deprecated: use --png FILE.png" in err and "--array is deprecated" in err
    assert (tmp_path / "i.png").read_bytes()[:4] == b"\x89PNG" and np.load(tmp_path / "i.npy").shape == (4, 1, 8, 8)
    assert main(["denoise", str(vae_run), "--add-noise", "gaussian", "--level", "0.2", "--out",
                 str(tmp_path / "d.npy")]) == 0
    err = capsys.readouterr().err
    assert "--add-noise is deprecated: use --noise" in err and "--level is deprecated: use --noise-level" in err
    assert main(["denoise", str(vae_run), "--noise", "gaussian", "--noise-level", "0.2", "--out",
                 str(tmp_path / "new.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "d.npy"), np.load(tmp_path / "new.npy"))
    assert main(["interpolate", str(vae_run)]) == 2
    assert "interpolate needs --out FILE" in capsys.readouterr().err
    x = aekit.load_data(aekit.DataConfig(dataset="digits")).test.x[:20].numpy()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.r_[np.zeros(10), np.ones(10)])
    for flags in (["--labels", str(tmp_path / "y.npy"), "--neighbors", "5"],
                  ["--anomaly-labels", str(tmp_path / "y.npy"), "--n-neighbors", "5"]):
        assert main(["detect", str(vae_run), "--input", str(tmp_path / "x.npy"), *flags, "--out",
                     str(tmp_path / f"{flags[0]}.csv")]) == 0
    out = capsys.readouterr()
    assert "--labels is deprecated: use --anomaly-labels" in out.err and "--neighbors is deprecated" in out.err
    assert out.out.count("AUROC") == 2
    assert (tmp_path / "--labels.csv").read_text() == (tmp_path / "--anomaly-labels.csv").read_text()


def test_report_out_writes_the_page_elsewhere_and_leaves_the_run_alone(vae_run, tmp_path, capsys):
    before = sorted(p.name for p in vae_run.iterdir())
    assert main(["report", str(vae_run), "--out", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page
    assert sorted(p.name for p in vae_run.iterdir()) == before
    assert main(["report", str(vae_run), "--out", str(tmp_path / "r.png")]) == 2
    assert "use a .html or .htm name" in capsys.readouterr().err


def test_importance_weighted_log_likelihood():
    import torch

    from aekit.terms import compute_loss

    d = aekit.load_data(aekit.DataConfig(dataset="digits"))
    x = (d.train.x[:300] > 0.5).float()
    cfg = aekit.Config().override(arch="mlp", variant="vae", recon="bce", latent_dim=3, hidden=(32,), epochs=5,
                                  val_fraction=0.0)
    model = aekit.fit(cfg, aekit.Split(x)).model
    xt = (d.test.x[:20] > 0.5).float()
    elbo = apps.log_likelihood(model, xt.repeat(200, 1, 1, 1), k=1).mean()  # k=1: an unbiased ELBO estimate
    model.train()  # sample z, as in training: loss = -ELBO (per-sample sum of BCE + KL)
    torch.manual_seed(0)
    neg = np.mean([compute_loss(model, xt, model.config)[0]["loss"].item() for _ in range(200)])
    assert elbo == pytest.approx(-neg, rel=0.01)
    iw = apps.log_likelihood(model, xt, k=500)
    assert iw.mean() > elbo  # the importance-weighted bound is tighter
    with pytest.raises(ValueError, match="Bernoulli decoder"):
        apps.log_likelihood(aekit.fit(cfg.override(recon="mse"), aekit.Split(x)).model, xt)
