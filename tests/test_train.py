"""The training loop, checkpoints and resume."""

from __future__ import annotations

import json

import numpy as np

import pytest
import torch

import aekit
from aekit import checkpoint as ckpt
from aekit.registry import VARIANTS
from conftest import tiny_config


def test_training_reduces_the_loss_and_logs_every_part(small_digits):
    cfg = tiny_config(variant="sparse+denoising", epochs=6, val_fraction=0.2, lr=3e-3)
    res = aekit.fit(cfg, small_digits)
    h = res.history
    assert len(h) == 6
    assert h[-1]["train/recon"] < 0.7 * h[0]["train/recon"]
    for key in ("train/loss", "train/recon", "train/sparsity", "val/loss", "val/recon", "val/sparsity", "val/mse"):
        assert key in h[-1], key


def test_same_seed_same_result(small_digits):
    a = aekit.fit(tiny_config(variant="vae+denoising"), small_digits).history
    b = aekit.fit(tiny_config(variant="vae+denoising"), small_digits).history
    c = aekit.fit(tiny_config(variant="vae+denoising", seed=1), small_digits).history
    assert a[-1]["train/loss"] == b[-1]["train/loss"]
    assert a[-1]["train/loss"] != c[-1]["train/loss"]


def test_save_load_roundtrip_bit_for_bit(small_digits, tmp_path):
    res = aekit.fit(tiny_config(variant="vae", epochs=1), small_digits, out_dir=tmp_path / "run")
    from safetensors.torch import save_file

    save_file(res.model.state_dict(), str(tmp_path / "own.safetensors"))  # views of one flat buffer save as they are
    for name in ("config.json", "model.safetensors", "history.jsonl", "train_state.safetensors"):
        assert (tmp_path / "run" / name).is_file(), name
    loaded = aekit.load(tmp_path / "run")
    x = small_digits.test.x
    res.model.eval()
    assert torch.equal(loaded.encode(x), res.model.encode(x))
    assert torch.equal(loaded.reconstruct(x), res.model.reconstruct(x))
    assert loaded.config == res.model.config
    assert not list((tmp_path / "run").glob("*.tmp"))  # atomic writes leave nothing behind


def test_resume_equals_uninterrupted_run(small_digits, tmp_path):
    cfg = tiny_config(variant="vae+denoising", epochs=4, schedule="onecycle", val_fraction=0.2, patience=3)
    full = aekit.fit(cfg, small_digits, out_dir=tmp_path / "full")

    class Interrupt(Exception):
        pass

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        aekit.fit(cfg, small_digits, out_dir=tmp_path / "cut", on_epoch=stop_after_two, checkpoint_every=0)
    assert len(ckpt.read_history(tmp_path / "cut")) == 2
    torch.manual_seed(123)  # the global RNG state before resuming must not matter
    resumed = aekit.fit(cfg, small_digits, out_dir=tmp_path / "cut", resume=True)
    assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in full.history]
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_early_stopping_keeps_the_best_epoch(small_digits):
    cfg = tiny_config(epochs=30, lr=0.5, val_fraction=0.2, patience=2)  # a huge lr: validation gets worse
    res = aekit.fit(cfg, small_digits)
    assert res.stopped_early and len(res.history) < 30
    best = min(r["val/loss"] for r in res.history)
    val = aekit.data.split_off(small_digits.train, 0.2, 0, cfg.data.split)[1]  # (labelled digits: by label)
    assert aekit.evaluate(res.model, val)["loss"] == pytest.approx(best, rel=1e-5)


@pytest.mark.parametrize("variant", VARIANTS.names())
def test_every_variant_trains_with_finite_parts(small_digits, variant):
    res = aekit.fit(tiny_config(variant=variant, epochs=1), small_digits)
    rec = res.history[-1]
    assert all(torch.isfinite(torch.tensor(v)) for k, v in rec.items() if k.startswith("train/"))


def test_shape_mismatch_is_a_clear_error(small_digits):
    res = aekit.fit(tiny_config(epochs=1), small_digits)
    with pytest.raises(ValueError, match=r"input of shape \(2, 64\) does not fit this model: expected \(N, 1, 8, 8\)"):
        res.model.check_input(torch.zeros(2, 64))
    from aekit import apps

    with pytest.raises(ValueError, match="does not fit"):
        apps.encode(res.model, torch.zeros(2, 3, 8, 8))


def test_sample_needs_a_sampler_or_a_vae(small_digits):
    res = aekit.fit(tiny_config(epochs=1, sampler="none"), small_digits)
    with pytest.raises(ValueError, match="no sampler"):
        res.model.sample(3)
    vae = aekit.fit(tiny_config(variant="vae", epochs=1), small_digits).model
    assert vae.sample(3).shape == (3, 1, 8, 8)


def test_config_roundtrip_and_validation(tmp_path):
    cfg = aekit.Config().override(variant="denoising+sparse", latent_dim=7, hidden=(10, 5), lr=0.01)
    assert cfg.variant == ("sparse", "denoising")
    assert aekit.Config.from_dict(json.loads(cfg.to_json())) == cfg
    (tmp_path / "c.toml").write_text('variant = "vae"\n[model]\nlatent_dim = 3\n[train]\nepochs = 2\n')
    t = aekit.Config.load(tmp_path / "c.toml")
    assert (t.variant, t.model.latent_dim, t.train.epochs) == (("vae",), 3, 2)
    with pytest.raises(ValueError, match="unknown variant 'spars'"):
        aekit.Config().override(variant="spars")
    with pytest.raises(ValueError, match="unknown config field"):
        aekit.Config().override(learning_rate=1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        aekit.Config().override(lr=0)
    with pytest.raises(ValueError, match="unknown field.*\\[train\\]"):
        aekit.Config.from_dict({"train": {"epoch": 3}})


def test_bce_on_data_outside_unit_interval_is_rejected():
    data = aekit.Split(torch.randn(20, 5) * 3)
    with pytest.raises(ValueError, match="bce reconstruction loss needs data in \\[0, 1\\]"):
        aekit.fit(tiny_config(recon="bce"), data)


def test_output_activation_follows_the_data():
    res = aekit.fit(tiny_config(epochs=1), aekit.Split(torch.randn(40, 5)))
    assert res.model.config.model.output_activation == "identity"
    res = aekit.fit(tiny_config(epochs=1), aekit.Split(torch.rand(40, 5)))
    assert res.model.config.model.output_activation == "sigmoid"


def test_flat_parameters_give_the_same_gradients_and_adam_steps_as_separate_ones():
    from aekit.optim import make_optimizer
    from aekit.train import flatten_parameters

    torch.manual_seed(0)
    cfg = aekit.resolve_config(tiny_config(), (1, 8, 8), 0.0, 1.0)
    ref, flat_model = aekit.build_model(cfg), aekit.build_model(cfg)
    flat_model.load_state_dict(ref.state_dict())
    flat = flatten_parameters(flat_model)
    start = flat.detach().clone()
    assert flat is not None and flat.numel() == sum(p.numel() for p in ref.parameters())
    opt_ref = make_optimizer(list(ref.parameters()), 1e-2)
    opt_flat = make_optimizer([flat], 1e-2)
    x = torch.rand(16, 1, 8, 8)
    for _ in range(3):  # three steps: Adam's moments and bias correction matter from the second one
        opt_ref.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(ref(x).x_hat, x).backward()
        opt_ref.step()
        flat.grad.zero_()
        torch.nn.functional.mse_loss(flat_model(x).x_hat, x).backward()
        # every gradient landed in the flat buffer, in the parameters' order
        assert torch.equal(flat.grad, torch.cat([p.grad.reshape(-1) for p in ref.parameters()]))
        opt_flat.step()
    for (name, a), b in zip(ref.named_parameters(), flat_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=name)
    assert not torch.equal(flat.detach(), start)  # the steps moved the weights
    rnn = aekit.build_model(aekit.resolve_config(tiny_config(arch="rnn"), (5, 2), 0.0, 1.0))
    assert flatten_parameters(rnn) is None  # recurrent models keep their own weights (the same layout on every device)


def test_fit_takes_arrays_and_tensors(small_digits):
    x = small_digits.train.x.numpy()
    a = aekit.fit(tiny_config(epochs=1), x, quiet=True)
    b = aekit.fit(tiny_config(epochs=1), small_digits.train.x, quiet=True)
    c = aekit.fit(tiny_config(epochs=1), small_digits, quiet=True)
    assert [r["train/loss"] for r in a.history] == [r["train/loss"] for r in b.history] == \
        [r["train/loss"] for r in c.history]
    with pytest.raises(ValueError, match="the data contains 1 NaN"):
        bad = x.copy()
        bad[3, 0, 1, 1] = np.nan
        aekit.fit(tiny_config(epochs=1), bad, quiet=True)
    with pytest.raises(TypeError, match="not list"):
        aekit.fit(tiny_config(epochs=1), [[1.0]], quiet=True)


def test_divergence_raises_and_names_the_epoch(small_digits, tmp_path):
    with pytest.raises(aekit.train.TrainingDiverged, match=r"diverged in epoch 1: .* lower learning rate"):
        aekit.fit(tiny_config(lr=1e30, epochs=3), small_digits, out_dir=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r" / "train_state.safetensors").exists()


def test_data_splits_from_arrays_and_evaluate_on_an_array(small_digits):
    x = small_digits.train.x.numpy()
    d = aekit.DataSplits.from_arrays(x, y_train=small_digits.train.y)
    assert (len(d.train), len(d.test)) == (240, 60) and d.train.y is not None
    d2 = aekit.DataSplits.from_arrays(x, small_digits.test.x)
    assert len(d2.test) == 100
    few = np.full(len(x), -1)
    few[[3, 50, 120, 200]] = [0, 1, 0, 1]  # two labels a class: by label, all four stay in training
    assert (aekit.DataSplits.from_arrays(x, y_train=few).train.y >= 0).sum() == 4
    rand = aekit.DataSplits.from_arrays(x, y_train=few, split="random")
    assert torch.equal(rand.test.x, aekit.data.split_off(aekit.Split(torch.from_numpy(x)), 0.2, 0)[1].x)
    with pytest.raises(ValueError, match="split must be one of by-label, random, got 'stratified'"):
        aekit.DataSplits.from_arrays(x, y_train=few, split="stratified")
    with pytest.raises(ValueError, match="test samples have shape"):
        aekit.DataSplits.from_arrays(x, np.ones((3, 5), np.float32))
    model = aekit.fit(tiny_config(epochs=1), d, quiet=True).model
    assert aekit.evaluate(model, d.test.x.numpy())["mse"] == pytest.approx(aekit.evaluate(model, d.test)["mse"])


def test_random_shift_by_hand():
    from aekit.corruption import random_shift

    x = torch.arange(2 * 1 * 4 * 5, dtype=torch.float32).reshape(2, 1, 4, 5) + 1  # no zeros of its own
    g = torch.Generator().manual_seed(3)
    off = torch.randint(0, 3, (2, 2), generator=torch.Generator().manual_seed(3))  # the draw random_shift makes
    y = random_shift(x, 1, generator=g)
    assert y.shape == x.shape
    for b in range(2):
        dy, dx = 1 - int(off[0, b]), 1 - int(off[1, b])  # the translation of sample b, each in -1..1
        want = torch.zeros(1, 4, 5)
        for i in range(4):
            for j in range(5):
                if 0 <= i - dy < 4 and 0 <= j - dx < 5:
                    want[0, i, j] = x[b, 0, i - dy, j - dx]
        assert torch.equal(y[b], want), b
    assert torch.equal(random_shift(x, 0), x)  # a shift of 0 changes nothing


def test_augment_shift_trains_images_and_refuses_tables(small_digits):
    plain = aekit.fit(tiny_config(arch="conv", channels=(4,), epochs=2), small_digits, quiet=True)
    shifted = aekit.fit(tiny_config(arch="conv", channels=(4,), epochs=2, augment_shift=1), small_digits, quiet=True)
    assert shifted.history[0]["train/loss"] != plain.history[0]["train/loss"]  # it saw other images
    again = aekit.fit(tiny_config(arch="conv", channels=(4,), epochs=2, augment_shift=1), small_digits, quiet=True)
    assert [r["train/loss"] for r in again.history] == [r["train/loss"] for r in shifted.history]  # reproducible
    with pytest.raises(ValueError, match="augment_shift 1 needs images"):
        aekit.fit(tiny_config(augment_shift=1), np.random.default_rng(0).random((50, 6), dtype=np.float32))
    with pytest.raises(ValueError, match="augment_shift must be >= 0"):
        tiny_config(augment_shift=-1)


def test_progress_lines_at_a_steady_interval_when_not_on_a_terminal(small_digits, capsys, monkeypatch):
    from aekit import train

    monkeypatch.setattr(train, "PROGRESS_EVERY", 0.0)  # every step, instead of every 10 s
    aekit.fit(tiny_config(epochs=2, batch_size=100), small_digits)  # 300 samples: 3 steps an epoch
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(",")[0] for ln in lines] == [f"epoch {e}/2: step {s}/3" for e in (1, 2) for s in (1, 2, 3)]
    aekit.fit(tiny_config(epochs=1, batch_size=100), small_digits, quiet=True)
    assert "epoch " not in capsys.readouterr().err


def test_neighbours_join_the_first_share_of_steps_and_a_resumed_run_draws_them_alike(small_digits, tmp_path,
                                                                                     monkeypatch):
    from aekit import train as train_module
    from aekit.terms import nearest_rows

    seen = []
    real = train_module.compute_loss
    monkeypatch.setattr(train_module, "compute_loss",
                        lambda net, batch, cfg: seen.append((batch.x, batch.near)) or real(net, batch, cfg))
    y = np.full(300, -1)
    y[:40] = small_digits.train.y[:40]
    data = aekit.Split(small_digits.train.x, y)
    # 300 samples in batches of 100: 3 steps an epoch, 12 in 4 epochs; half of them (6) with a neighbour each
    cfg = tiny_config(variant="classifier", epochs=4, batch_size=100, pseudo_weight=1.0, neighbour_share=0.5)
    res = aekit.fit(cfg, data, out_dir=tmp_path / "a", quiet=True)
    assert [near is not None for _, near in seen] == [True] * 6 + [False] * 6
    x = small_digits.train.x
    nearest = nearest_rows(res.model.normalize(x))  # (300, 10)
    flat = x.reshape(len(x), -1)
    for xb, near in seen[:6]:
        assert near.shape == xb.shape  # the 100 drawn samples and the 64 labelled ones of each step
        for row, other in zip(xb.reshape(len(xb), -1), near.reshape(len(near), -1)):
            i = torch.nonzero((flat == row).all(1))[:, 0]  # the training sample(s) the row is
            j = torch.nonzero((flat == other).all(1))[:, 0]
            assert bool(torch.isin(j, nearest[i].flatten()).any())  # one of its 10 nearest
    # a run stopped after epoch 2 and resumed ends with the same weights
    monkeypatch.setattr(train_module, "compute_loss", real)

    def stop(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        aekit.fit(cfg, data, out_dir=tmp_path / "b", quiet=True, checkpoint_every=0, on_epoch=stop)
    resumed = aekit.fit(cfg, data, out_dir=tmp_path / "b", resume=True, quiet=True)
    assert [r["train/loss"] for r in resumed.history] == [r["train/loss"] for r in res.history]
    assert all(torch.equal(v, res.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())
