"""Samplers: the Gaussian mixture fitted to the training codes (math by hand, recovery of known clusters), stored with
a run and attached at load, and used by every face that generates."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

import aekit
from aekit import apps
from aekit import checkpoint as ckpt
from aekit.cli import main
from aekit.sampler import GaussianMixture, fit_gmm, fit_sampler
from conftest import cli_error, tiny_config


def _known_mixture(n: int, seed: int = 0) -> tuple[np.ndarray, list]:
    """n codes from three well separated 2-D Gaussians with weights 0.5, 0.3, 0.2."""
    rng = np.random.default_rng(seed)
    parts = [(0.5, np.array([0.0, 0.0]), np.array([[1.0, 0.6], [0.6, 1.0]])),
             (0.3, np.array([10.0, 0.0]), np.array([[0.5, 0.0], [0.0, 2.0]])),
             (0.2, np.array([0.0, 10.0]), np.array([[1.5, -0.5], [-0.5, 0.5]]))]
    counts = [int(n * w) for w, _, _ in parts]
    z = np.concatenate([rng.multivariate_normal(m, c, size=k) for (_, m, c), k in zip(parts, counts)])
    return z, parts


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_em_recovers_known_clusters(covariance):
    z, parts = _known_mixture(6000)
    gm = fit_gmm(z, 3, seed=1, covariance=covariance)
    for w, m, c in parts:
        j = int(np.argmin(np.linalg.norm(gm.means.numpy() - m, axis=1)))  # the component nearest the true mean
        assert np.linalg.norm(gm.means[j].numpy() - m) < 0.1
        assert abs(float(gm.weights[j]) - w) < 0.01
        s = gm.scale[j].numpy()
        if covariance == "full":
            np.testing.assert_allclose(s @ s.T, c, atol=0.15)  # the Cholesky factor's covariance
        else:
            np.testing.assert_allclose(s ** 2, np.diag(c), atol=0.15)


def test_log_prob_by_hand():
    # one 2-D Gaussian, mean (1, 2), covariance [[4, 2], [2, 2]] = L L^T with L = [[2, 0], [1, 1]]
    gm = GaussianMixture(torch.tensor([1.0]), torch.tensor([[1.0, 2.0]]), torch.tensor([[[2.0, 0.0], [1.0, 1.0]]]))
    z = torch.tensor([[3.0, 1.0]])
    # d = (2, -1); covariance^-1 = [[0.5, -0.5], [-0.5, 1]]; d^T C^-1 d = 2 + 2 + 1 = 5; det = 4
    want = -0.5 * 5 - 0.5 * math.log(4) - math.log(2 * math.pi)
    assert float(gm.log_prob(z)[0]) == pytest.approx(want, abs=1e-9)
    # two 1-D components with weights 0.25 / 0.75, N(0, 1) and N(2, 4), at z = 1
    gm = GaussianMixture(torch.tensor([0.25, 0.75]), torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [2.0]]))
    pdf = lambda x, m, s: math.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))  # noqa: E731
    want = math.log(0.25 * pdf(1, 0, 1) + 0.75 * pdf(1, 2, 2))
    assert float(gm.log_prob(torch.tensor([[1.0]]))[0]) == pytest.approx(want, abs=1e-9)


def test_samples_follow_the_mixture_and_the_seed():
    gm = GaussianMixture(torch.tensor([0.25, 0.75]), torch.tensor([[0.0, 0.0], [30.0, 0.0]]),
                         torch.tensor([[[1.0, 0.0], [0.5, 1.0]], [[2.0, 0.0], [0.0, 0.5]]]))
    z = gm.sample(40_000, torch.Generator().manual_seed(3)).double()
    near = z[:, 0] < 15  # the first component's draws
    assert float(near.double().mean()) == pytest.approx(0.25, abs=0.01)
    np.testing.assert_allclose(np.cov(z[near].numpy(), rowvar=False), [[1.0, 0.5], [0.5, 1.25]], atol=0.06)
    np.testing.assert_allclose(z[~near].mean(0).numpy(), [30.0, 0.0], atol=0.05)
    again = gm.sample(40_000, torch.Generator().manual_seed(3))
    assert torch.equal(gm.sample(40_000, torch.Generator().manual_seed(3)), again)


@pytest.mark.parametrize("weights, means, scale, match", [
    ([0.5, 0.6], [[0.0], [1.0]], [[1.0], [1.0]], "sum to 1"),
    ([1.0], [[0.0]], [[-1.0]], "positive"),
    ([1.0], [[float("nan")]], [[1.0]], "finite"),
    ([1.0], [[0.0, 1.0]], [[1.0]], "weights \\(K,\\)"),
])
def test_bad_mixtures_are_refused(weights, means, scale, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(torch.tensor(weights), torch.tensor(means), torch.tensor(scale))


def test_fit_gmm_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        fit_gmm(np.zeros((1, 3)), 2)
    with pytest.raises(ValueError, match="NaN"):
        fit_gmm(np.array([[0.0], [np.nan]]), 1)
    with pytest.raises(ValueError, match="positive integer"):
        fit_gmm(np.zeros((5, 2)), 0)
    gm = fit_gmm(np.zeros((3, 2)), 8)  # identical codes, more components than codes: still a density
    assert gm.components == 1 and bool(torch.isfinite(gm.log_prob(torch.zeros(1, 2))).all())  # 3 // (2 + 1)
    assert fit_gmm(np.random.default_rng(0).normal(size=(40, 3)), 30).components == 10  # 40 // (3 + 1)
    assert fit_gmm(np.random.default_rng(0).normal(size=(40, 3)), 30, covariance="diag").components == 20


def test_a_plain_autoencoder_generates_and_the_sampler_round_trips(small_digits, tmp_path):
    out = tmp_path / "run"
    res = aekit.fit(tiny_config(epochs=2, sampler_components=3), small_digits, out_dir=out)
    model = res.model
    # labelled digits: ceil(3 / 10) = 1 component for each of the ten classes
    assert model.sampler is not None and model.sampler.components == 10 and model.default_sampler() == "gmm"
    s = apps.sample(model, 6, seed=5)
    assert s.shape == (6, 1, 8, 8) and np.isfinite(s).all()
    loaded = ckpt.load(out)
    for k, v in model.sampler.tensors().items():
        assert torch.equal(loaded.sampler.tensors()[k], v)
    np.testing.assert_array_equal(apps.sample(loaded, 6, seed=5), s)  # the same draws for the same seed
    assert not np.array_equal(apps.sample(loaded, 6, seed=6), s)
    with pytest.raises(ValueError, match="needs a variational model"):
        apps.sample(loaded, 2, sampler="normal")
    # the codes it draws look like the training codes: their mean and spread, per dimension
    codes = apps.encode(model, small_digits.train.x)
    drawn = model.sampler.sample(5000, torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_allclose(drawn.mean(0), codes.mean(0), atol=0.1 * codes.std(0).max())
    np.testing.assert_allclose(drawn.std(0), codes.std(0), rtol=0.1)


def test_sampler_file_is_bound_to_its_weights(small_digits, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    aekit.fit(tiny_config(epochs=1), small_digits, out_dir=a)
    aekit.fit(tiny_config(epochs=1, seed=1), small_digits, out_dir=b)
    shutil.copy(b / ckpt.SAMPLER, a / ckpt.SAMPLER)
    with pytest.raises(ckpt.CorruptFileError, match="not computed from this run's weights"):
        ckpt.load(a)
    (a / ckpt.SAMPLER).write_bytes((b / ckpt.SAMPLER).read_bytes()[:-3])
    with pytest.raises(ckpt.CorruptFileError):
        ckpt.load(a)


def test_no_sampler_and_normal(small_digits, tmp_path):
    plain = aekit.fit(tiny_config(epochs=1, sampler="none"), small_digits).model
    assert plain.sampler is None and plain.default_sampler() is None
    with pytest.raises(ValueError, match="no sampler to generate from"):
        plain.sample(2)
    vae = aekit.fit(tiny_config(epochs=1, variant="vae", sampler="none"), small_digits).model
    assert vae.default_sampler() == "normal" and vae.sample(2).shape == (2, 1, 8, 8)
    with pytest.raises(ValueError, match="no fitted sampler"):
        vae.sample(2, sampler="gmm")
    fit_sampler(vae, small_digits.train.x, components=2)  # fitted afterwards, from the Python API
    assert vae.default_sampler() == "gmm" and vae.sampler.components == 2
    with pytest.raises(ValueError, match="sampler must be gmm or none"):
        tiny_config(sampler="normal")
    with pytest.raises(ValueError, match="too large"):
        tiny_config(sampler_components=10 ** 6)


def test_generate_command_uses_the_run_sampler(run, tmp_path, capsys):
    assert main(["generate", str(run), "-n", "4", "--out", str(tmp_path / "s.npy")]) == 0
    assert "Gaussian mixture" in capsys.readouterr().out
    s = np.load(tmp_path / "s.npy")
    np.testing.assert_array_equal(s, apps.sample(ckpt.load(run), 4, seed=0))
    err = cli_error(capsys, ["generate", str(run), "--sampler", "normal", "--out", str(tmp_path / "t.npy")])
    assert "variational" in err and not (tmp_path / "t.npy").exists()


def test_sampler_on_spatial_and_sequence_codes():
    x = torch.rand(64, 1, 8, 8)
    m = aekit.fit(aekit.Config().override(arch="conv", channels=(4,), latent_dim=2, spatial_code=True, epochs=1,
                                          val_fraction=0.0, sampler_components=2), x, quiet=True).model
    assert m.sampler.dim == 2 * 4 * 4 and m.sample(3).shape == (3, 1, 8, 8)
    seq = torch.randn(40, 12, 2)
    lengths = torch.full((40,), 12)
    lengths[::2] = 7
    data = aekit.Split(seq, lengths=lengths)
    r = aekit.fit(aekit.Config().override(arch="rnn", rnn_hidden=8, latent_dim=3, epochs=1, val_fraction=0.0,
                                          sampler_components=2), data, quiet=True).model
    assert r.sampler.dim == 3 and r.sample(2).shape == (2, 12, 2)


# --- generation by class ----------------------------------------------------------------------------------------
def test_a_labelled_mixture_draws_from_one_class():
    gm = GaussianMixture(torch.tensor([0.2, 0.3, 0.5]), torch.tensor([[0.0], [100.0], [200.0]]),
                         torch.tensor([[1.0], [1.0], [1.0]]), torch.tensor([7, 7, 2]))
    assert gm.classes == [2, 7]
    z = gm.sample(2000, torch.Generator().manual_seed(0), label=7)
    assert bool((z < 150).all())  # only the two components of class 7
    assert float((z > 50).double().mean()) == pytest.approx(0.6, abs=0.04)  # 0.3 / (0.2 + 0.3)
    assert bool((gm.sample(100, torch.Generator().manual_seed(0), label=2) > 150).all())
    with pytest.raises(ValueError, match=r"choose one of \[2, 7\]"):
        gm.sample(1, label=3)
    plain = GaussianMixture(torch.tensor([1.0]), torch.tensor([[0.0]]), torch.tensor([[1.0]]))
    with pytest.raises(ValueError, match="fitted without labels"):
        plain.sample(1, label=0)
    with pytest.raises(ValueError, match="labels must be"):
        GaussianMixture(torch.tensor([1.0]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), torch.tensor([0.5]))


def test_fit_by_class_weights_each_class_by_its_share(small_digits):
    model = aekit.fit(tiny_config(epochs=1, sampler="none"), small_digits).model
    y = small_digits.train.y.copy()
    y[::3] = -1  # unknown labels are left out
    gm = fit_sampler(model, small_digits.train.x, components=20, y=y)
    known = y[y != -1]
    assert gm.classes == sorted(set(known.tolist()))
    for c in gm.classes:
        mine = gm.labels == c
        assert int(mine.sum()) == 2  # ceil(20 / 10) components per class
        assert float(gm.weights[mine].sum()) == pytest.approx(float((known == c).mean()), abs=1e-6)
    # EM keeps the mean of each class's mixture at the mean of that class's codes (the responsibilities sum to 1)
    codes = apps.encode(model, small_digits.train.x)
    for c in (4, 7):
        mine = gm.labels == c
        mix_mean = (gm.weights[mine, None] * gm.means[mine]).sum(0) / gm.weights[mine].sum()
        np.testing.assert_allclose(mix_mean.numpy(), codes[y == c].mean(0), atol=1e-4)
        drawn = gm.sample(20_000, torch.Generator().manual_seed(0), label=c).numpy()
        np.testing.assert_allclose(drawn.mean(0), codes[y == c].mean(0), atol=0.05 * codes.std(0).max())
    with pytest.raises(ValueError, match="whole numbers.*row 0 holds"):  # not classes: refused, as everywhere
        fit_sampler(model, small_digits.train.x, components=3, y=np.full(len(y), 1.5))


def test_generate_by_class_everywhere(run, tmp_path, capsys):
    model = ckpt.load(run)  # trained on the digits, labelled 0-9
    assert model.sampler.classes == list(range(10))
    assert main(["generate", str(run), "-n", "5", "--label", "3", "--out", str(tmp_path / "s.npy"), "--png",
                 str(tmp_path / "s.png")]) == 0
    assert "of class 3" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy"), apps.sample(model, 5, seed=0, label=3))
    err = cli_error(capsys, ["generate", str(run), "--label", "12", "--out", str(tmp_path / "t.npy")])
    assert "label 12 is not a class" in err and not (tmp_path / "t.npy").exists()
    with pytest.raises(ValueError, match="needs the gmm sampler"):
        model.sample(2, sampler="normal", label=1)


def test_a_single_training_sample_trains_without_a_sampler():
    res = aekit.fit(tiny_config(epochs=1), np.random.default_rng(0).random((1, 5), dtype=np.float32), quiet=True)
    assert res.model.sampler is None  # one code has no spread to fit a density to


def test_a_few_labels_among_many_rows_still_condition_the_sampler(small_digits):
    """The mixture by class reads the labelled rows (all of them, however many unlabelled rows there are); classes
    with a single labelled row cannot be drawn from."""
    model = aekit.fit(tiny_config(epochs=1, sampler="none"), small_digits).model
    y = np.full(len(small_digits.train.y), -1)
    y[[0, 5, 9]] = 4
    y[[1, 2]] = 7
    y[3] = 1  # one row: no spread to fit
    gm = fit_sampler(model, small_digits.train.x, components=4, y=y)
    assert gm.classes == [4, 7]
    np.testing.assert_allclose([float(gm.weights[gm.labels == c].sum()) for c in (4, 7)], [0.6, 0.4], atol=1e-6)
