"""Convolutional and recurrent models: exact shapes, padding, every variant on every architecture."""

from __future__ import annotations

import pytest
import torch

import aekit
from aekit.registry import ARCHITECTURES, VARIANTS
from aekit.data import Batch
from aekit.terms import compute_loss


def build(shape, arch, variant="vanilla", **kw):
    base = dict(arch=arch, latent_dim=4, hidden=(16,), channels=(4, 8), rnn_hidden=8, epochs=1, batch_size=8,
                val_fraction=0.0, variant=variant)
    base.update(kw)
    cfg = aekit.resolve_config(aekit.Config().override(**base), shape, 0.0, 1.0)
    return aekit.build_model(cfg), cfg


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 17, 23), (1, 5, 9)])
def test_conv_output_shape_equals_input_shape(shape):
    model, _ = build(shape, "conv", channels=(4, 8, 8))
    x = torch.rand(3, *shape)
    out = model(x)
    assert out.x_hat.shape == x.shape and out.z.shape == (3, 4)


def test_a_deeper_conv_encoder_keeps_every_shape_and_adds_stride_1_convolutions():
    shallow, _ = build((1, 9, 11), "conv", channels=(4, 8))
    deep, _ = build((1, 9, 11), "conv", channels=(4, 8), conv_depth=3)
    convs = [m for m in deep.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    # each stage: its stride-2 convolution, then two of stride 1 keeping the stage's channels
    assert [(m.in_channels, m.out_channels, m.stride[0]) for m in convs] == \
        [(1, 4, 2), (4, 4, 1), (4, 4, 1), (4, 8, 2), (8, 8, 1), (8, 8, 1)]
    assert sum(isinstance(m, torch.nn.Conv2d) for m in shallow.encoder.modules()) == 2
    x = torch.rand(3, 1, 9, 11)
    assert deep(x).x_hat.shape == x.shape and deep(x).z.shape == (3, 4)
    assert [type(m) for m in deep.decoder.modules()] == [type(m) for m in shallow.decoder.modules()]
    with pytest.raises(ValueError, match="conv_depth must be from 1 to 4"):
        aekit.Config().override(conv_depth=0)


def test_rnn_output_shape_and_any_length():
    model, _ = build((12, 3), "rnn")
    for t in (12, 7):
        x = torch.rand(2, t, 3)
        assert model(x).x_hat.shape == (2, t, 3)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_padding_does_not_change_the_loss(cell):
    torch.manual_seed(0)
    model, cfg = build((10, 2), "rnn", cell=cell)
    model.eval()
    x = torch.rand(3, 10, 2)
    lengths = torch.tensor([10, 6, 3])
    x2 = x.clone()
    for i, L in enumerate(lengths):  # change only the padding
        x2[i, L:] = torch.randn(10 - L, 2) * 100
    a, _ = compute_loss(model, Batch(x, lengths=lengths), cfg)
    b, _ = compute_loss(model, Batch(x2, lengths=lengths), cfg)
    assert a["loss"].item() == pytest.approx(b["loss"].item(), rel=1e-6)
    # and the padded steps are not counted: the loss equals the mean over the valid steps alone
    out = model(x, lengths).x_hat
    err = torch.cat([(out[i, :L] - x[i, :L]).pow(2).flatten() for i, L in enumerate(lengths)])
    assert a["recon"].item() == pytest.approx(err.mean().item(), rel=1e-5)


SHAPES = {"mlp": (12,), "conv": (1, 9, 7), "rnn": (6, 2)}


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
@pytest.mark.parametrize("variant", [*VARIANTS.names(), "sparse+denoising+contractive", "vae+denoising+contractive"])
def test_every_variant_on_every_architecture_trains_a_step(arch, variant):
    torch.manual_seed(0)
    classify = "classifier" in variant
    model, cfg = build(SHAPES[arch], arch, variant, classes=3 if classify else 0)
    x = torch.rand(6, *SHAPES[arch])
    lengths = torch.tensor([6, 4, 6, 2, 5, 6]) if arch == "rnn" else None
    y = torch.tensor([0, 1, -1, 2, -1, 0]) if classify else None  # -1: unknown
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    parts, _ = compute_loss(model, Batch(x, y, lengths), cfg)
    parts["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    opt.step()
    assert all(torch.isfinite(v) for v in parts.values())
    assert set(parts) == {"loss", "recon", *cfg.spec.terms}


@pytest.mark.parametrize("arch", ["conv", "rnn"])
def test_contractive_is_exact_for_conv_and_rnn(arch):
    """The penalty equals the squared Frobenius norm of the autograd Jacobian of the encoder's code."""
    torch.manual_seed(0)
    model, cfg = build(SHAPES[arch], arch, "contractive")
    model.eval()
    x = torch.rand(3, *SHAPES[arch])
    parts, _ = compute_loss(model, x, cfg)
    want = torch.stack([torch.autograd.functional.jacobian(lambda v: model.encode(v), x[i:i + 1]).pow(2).sum()
                        for i in range(3)]).mean()
    assert parts["contractive"].item() == pytest.approx(want.item(), rel=1e-4)


@pytest.mark.parametrize("arch", ["conv", "rnn"])
def test_save_load_roundtrip(arch, tmp_path):
    shape = SHAPES[arch]
    data = aekit.Split(torch.rand(24, *shape))
    cfg = aekit.Config().override(arch=arch, latent_dim=3, channels=(4,), rnn_hidden=8, epochs=1, batch_size=8,
                                  val_fraction=0.0, variant="vae")
    res = aekit.fit(cfg, data, out_dir=tmp_path / "run")
    loaded = aekit.load(tmp_path / "run")
    assert torch.equal(loaded.reconstruct(data.x), res.model.reconstruct(data.x))


def test_auto_arch_follows_the_data_shape():
    for shape, arch in (((5,), "mlp"), ((7, 2), "rnn"), ((1, 6, 6), "conv")):
        cfg = aekit.resolve_config(aekit.Config(), shape, 0.0, 1.0)
        assert cfg.model.arch == arch
    with pytest.raises(ValueError, match="cannot choose an architecture"):
        aekit.resolve_config(aekit.Config(), (1, 2, 3, 4), 0.0, 1.0)


def test_variable_length_sequences_train_from_npz(tmp_path):
    import numpy as np

    x = np.random.rand(30, 8, 2).astype(np.float32)
    lengths = np.random.randint(3, 9, size=30)
    for i, L in enumerate(lengths):
        x[i, L:] = 0
    np.savez(tmp_path / "seq.npz", x=x, lengths=lengths)
    d = aekit.load_data(aekit.DataConfig(dataset="file", path=str(tmp_path / "seq.npz")))
    assert d.train.lengths is not None and len(d.train.lengths) == len(d.train)
    res = aekit.fit(aekit.Config().override(latent_dim=3, rnn_hidden=8, epochs=2, val_fraction=0.2), d)
    assert res.model.config.model.arch == "rnn"
    assert np.isfinite(res.history[-1]["val/loss"])
