"""The math: each term against a hand computation or an independent estimate."""

from __future__ import annotations

import math

import pytest
import torch

import aekit
from aekit.registry import VARIANTS
from aekit.terms import compute_loss, contractive, kl_gaussian, sparsity_kl
from conftest import tiny_config


def test_sparsity_kl_by_hand():
    code = torch.tensor([[0.1, 0.5], [0.3, 0.7]])  # rho_hat = (0.2, 0.6)
    rho = 0.05

    def kl(r, q):
        return r * math.log(r / q) + (1 - r) * math.log((1 - r) / (1 - q))

    assert sparsity_kl(code, rho).item() == pytest.approx(kl(0.05, 0.2) + kl(0.05, 0.6), rel=1e-6)
    assert sparsity_kl(torch.full((4, 3), 0.05), rho).item() == pytest.approx(0.0, abs=1e-6)


def test_kl_is_zero_for_standard_normal():
    assert kl_gaussian(torch.zeros(5, 3), torch.zeros(5, 3)).item() == 0.0


def test_kl_matches_monte_carlo():
    torch.manual_seed(1)
    mu, logvar = torch.tensor([[0.7, -1.2, 0.3]]), torch.tensor([[-0.5, 0.4, 1.0]])
    sd = torch.exp(0.5 * logvar)
    z = mu + sd * torch.randn(400_000, 3)
    q = torch.distributions.Normal(mu, sd).log_prob(z).sum(1)
    p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    assert kl_gaussian(mu, logvar).item() == pytest.approx((q - p).mean().item(), rel=0.01)
    # and the closed form by hand for one dimension: 0.5 (mu^2 + s^2 - 1 - log s^2)
    assert kl_gaussian(torch.tensor([[2.0]]), torch.tensor([[0.0]])).item() == pytest.approx(2.0)


def test_contractive_closed_form_one_sigmoid_layer():
    torch.manual_seed(0)
    W, b = torch.randn(5, 7), torch.randn(5)
    x = torch.randn(4, 7, requires_grad=True)
    h = torch.sigmoid(x @ W.T + b)  # (4, 5)
    expected = (((h * (1 - h)) ** 2) * (W ** 2).sum(1)).sum(1).mean()  # sum_j (h_j(1-h_j))^2 ||W_j||^2
    assert contractive(h, x).item() == pytest.approx(expected.item(), rel=1e-5)


def test_contractive_matches_autograd_jacobian_for_deep_encoder():
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.Tanh(), torch.nn.Linear(9, 8), torch.nn.ELU(),
                              torch.nn.Linear(8, 3))
    x = torch.randn(5, 6, requires_grad=True)
    got = contractive(enc(x), x)
    want = torch.stack([torch.autograd.functional.jacobian(enc, x[i:i + 1].detach()).pow(2).sum()
                        for i in range(5)]).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-5)


def test_contractive_penalty_in_the_loss_matches_model_encoder():
    """The term compute_loss adds is the Frobenius norm of the model's own encoder Jacobian (sigmoid code)."""
    cfg = tiny_config(variant="sparse+contractive", hidden=(), latent_dim=3)
    cfg = aekit.resolve_config(cfg, (6,), 0.0, 1.0)
    model = aekit.build_model(cfg)
    x = torch.rand(4, 6)
    parts, _ = compute_loss(model, x, cfg)
    W = model.bottleneck.fc.weight
    h = model.encode(x)
    expected = (((h * (1 - h)) ** 2) * (W ** 2).sum(1)).sum(1).mean()
    assert parts["contractive"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert parts["loss"].item() == pytest.approx(
        (parts["recon"] + cfg.loss.sparsity_beta * parts["sparsity"]
         + cfg.loss.contractive_lambda * parts["contractive"]).item(), rel=1e-6)


def test_vae_loss_is_negative_elbo_with_summed_reconstruction():
    cfg = aekit.resolve_config(tiny_config(variant="vae", recon="bce"), (5,), 0.0, 1.0)
    model = aekit.build_model(cfg).eval()
    x = torch.rand(3, 5)
    parts, out = compute_loss(model, x, cfg)
    bce = torch.nn.functional.binary_cross_entropy(out.x_hat, x, reduction="none").sum(1).mean()
    assert parts["recon"].item() == pytest.approx(bce.item(), rel=1e-5)
    assert parts["loss"].item() == pytest.approx(parts["recon"].item() + parts["kl"].item(), rel=1e-6)


def test_denoising_target_is_the_clean_input():
    """With noise, the model sees a corrupted input but the error is measured against the clean x."""
    cfg = aekit.resolve_config(tiny_config(variant="denoising", noise="masking", noise_level=0.5), (8,), 0.0, 1.0)
    model = aekit.build_model(cfg)
    seen = {}
    model.register_forward_pre_hook(lambda m, args: seen.setdefault("x_in", args[0].clone()))
    x = torch.rand(16, 8) + 0.1
    parts, out = compute_loss(model, x, cfg)
    assert (seen["x_in"] == 0).float().mean() > 0.3  # corrupted: about half masked
    assert torch.equal(seen["x_in"][seen["x_in"] != 0], x[seen["x_in"] != 0])
    assert parts["recon"].item() == pytest.approx((out.x_hat - x).pow(2).mean().item(), rel=1e-6)
    # without corruption (evaluation), the input is x itself
    seen.clear()
    compute_loss(model, x, cfg, corrupt_input=False)
    assert torch.equal(seen["x_in"], x)


def test_recon_share_reconstructs_the_first_samples_of_a_training_batch_by_hand():
    from aekit.terms import decoded_rows

    # ceil(share x batch), at least 1 and at most the batch: 0.25 x 192 = 48; 0.1 x 30 = 3 (not 4 by a float's
    # rounding); 0.1 x 3 -> 1; 0.01 x 10 -> 1
    assert [decoded_rows(192, 0.25), decoded_rows(30, 0.1), decoded_rows(3, 0.1), decoded_rows(10, 0.01),
            decoded_rows(7, 1.0)] == [48, 3, 1, 1, 7]
    cfg = aekit.resolve_config(tiny_config(recon_share=0.5, output_activation="identity", standardize="none"), (5,),
                               0.0, 1.0)
    model = aekit.build_model(cfg).train()  # a vanilla MLP: training and eval passes compute the same
    x = torch.rand(4, 5)
    parts, out = compute_loss(model, x, cfg)
    assert out.x_hat.shape == (2, 5) and out.z.shape[0] == 4  # every sample encoded, the first two decoded
    with torch.no_grad():
        first = model.decode(model.encode(x[:2]))
    assert parts["recon"].item() == pytest.approx((first - x[:2]).pow(2).mean().item(), rel=1e-5)
    parts["loss"].backward()  # the decoder learns from the two rows it rebuilt: its last layer's bias gradient is
    last = [p for p in model.decoder.parameters()][-1]  # d/db mean((x_hat - x)^2) = 2 mean over those rows
    assert torch.allclose(last.grad, 2 * (first - x[:2]).sum(0) / 10, atol=1e-6)
    model.eval()  # validation and every command: all four
    parts, out = compute_loss(model, x, cfg)
    assert out.x_hat.shape == (4, 5)
    assert parts["recon"].item() == pytest.approx((out.x_hat - x).pow(2).mean().item(), rel=1e-6)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="recon_share must be in"):
            aekit.Config().override(recon_share=bad)


@pytest.mark.parametrize("kind", ["gaussian", "masking", "salt_pepper"])
def test_corruptions_change_the_input_at_the_asked_rate(kind):
    from aekit.corruption import corrupt

    torch.manual_seed(0)
    x = torch.full((200, 50), 0.5)
    y = corrupt(x, kind, 0.2)
    assert y.shape == x.shape
    if kind == "gaussian":
        assert (y - x).std().item() == pytest.approx(0.2, rel=0.05)
    else:
        assert (y != x).float().mean().item() == pytest.approx(0.2, abs=0.02)
    if kind == "salt_pepper":
        changed = y[y != x]
        assert set(changed.unique().tolist()) == {0.0, 1.0}


def test_loss_terms_are_registered_with_their_weights():
    import dataclasses

    from aekit.config import LossConfig, ModelConfig
    from aekit.registry import TERMS

    weights = {f.name for f in dataclasses.fields(LossConfig)}
    named = {t for v in VARIANTS for t in VARIANTS.get(v).terms}
    assert named == set(TERMS.names()) == {"sparsity", "kl", "contractive", "rate", "classify", "consistency",
                                          "pseudo"}
    assert all(TERMS.get(t).weight in weights for t in TERMS)
    fields = weights | {f.name for f in dataclasses.fields(ModelConfig)} | {"label_batch"}
    for v in VARIANTS:  # the options each variant reads are config fields (rate's code_prior is the model's)
        assert set(VARIANTS.options(v)) <= fields


def test_a_term_weight_scales_its_part_in_the_loss(small_digits):
    x = small_digits.train.x[:16]
    for beta in (0.0, 2.0):
        cfg = tiny_config(variant="sparse", sparsity_beta=beta)
        torch.manual_seed(0)
        model = aekit.build_model(aekit.resolve_config(cfg, (1, 8, 8), 0.0, 1.0))
        with torch.no_grad():
            parts, _ = compute_loss(model, x, model.config)
        assert float(parts["loss"]) == pytest.approx(float(parts["recon"]) + beta * float(parts["sparsity"]), rel=1e-6)


# --- the classifier variant's parts ---------------------------------------------------------------------------
def test_class_cross_entropy_by_hand_and_unknown_labels_never_enter():
    from aekit.terms import class_cross_entropy

    logits = torch.tensor([[2.0, 0.0, 0.0], [5.0, -5.0, 1.0], [0.0, 1.0, 3.0]], requires_grad=True)
    y = torch.tensor([0, -1, 2])
    ce = class_cross_entropy(logits, y)
    lse = lambda r: math.log(sum(math.exp(v) for v in r))  # noqa: E731
    want = ((lse([2, 0, 0]) - 2) + (lse([0, 1, 3]) - 3)) / 2  # rows 0 and 2 only
    assert ce.item() == pytest.approx(want, abs=1e-6)
    ce.backward()
    assert torch.equal(logits.grad[1], torch.zeros(3))  # the unlabelled row gets no gradient from it
    none = class_cross_entropy(logits, torch.full((3,), -1))
    assert none.item() == 0.0 and none.requires_grad


def test_pseudo_labels_by_hand():
    from aekit.terms import pseudo_label_loss

    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 3.0]], requires_grad=True)
    other = torch.tensor([[0.97, 0.03], [0.5, 0.5], [0.01, 0.99], [0.95, 0.05]])  # rows 0, 2 and 3 sure enough
    got = pseudo_label_loss(logits, other)
    want = (math.log(1 + math.exp(-2)) + math.log(2) + math.log(1 + math.exp(3))) / 4  # the mean over all 4 rows
    assert got.item() == pytest.approx(want, abs=1e-6)
    got.backward()
    assert torch.equal(logits.grad[1], torch.zeros(2))  # the unsure row teaches nothing
    assert pseudo_label_loss(logits, other, confidence=0.99).item() == pytest.approx(math.log(2) / 4, abs=1e-6)


def test_classifier_parts_and_views(small_digits):
    from aekit.data import Batch
    from aekit.terms import view

    cfg = tiny_config(variant="classifier", classes=10)
    torch.manual_seed(0)
    model = aekit.build_model(aekit.resolve_config(cfg, (1, 8, 8), 0.0, 1.0))
    x, y = small_digits.train.x[:16], torch.as_tensor(small_digits.train.y[:16])
    parts, out = compute_loss(model, Batch(x, y), model.config)
    assert set(parts) == {"loss", "recon", "classify", "consistency", "pseudo"} and out.logits.shape == (16, 10)
    assert parts["pseudo"].item() == 0.0  # pseudo_weight 0: not computed
    lc = model.config.loss
    assert parts["loss"].item() == pytest.approx(parts["recon"].item() + lc.classify_weight * parts["classify"].item()
                                                 + lc.consistency_weight * parts["consistency"].item(), rel=1e-5)
    assert parts["consistency"].item() > 0  # two different random views disagree a little
    model.eval()
    parts, _ = compute_loss(model, Batch(x, y), model.config, corrupt_input=False)
    assert parts["consistency"].item() == 0.0  # evaluation has one view
    v = view(model, torch.full((2000, 5), 0.5))  # no standardizer here: noise 0.1 on the data's scale
    assert v.std().item() == pytest.approx(0.1, rel=0.05)
    for side, most in ((12, 1), (28, 2)):  # shifts of up to a fourteenth of the side: 1 px of 12, 2 px of 28 (no
        # degrees given: no rotation, the test below)
        img = torch.zeros(1, 1, side, side)
        img[0, 0, 6, 6] = 1.0
        moved = {tuple(torch.nonzero((view(model, img, sigma=0.0)[0, 0] == 1))[0].tolist()) for _ in range(60)}
        assert len(moved) > 5 and max(max(abs(r - 6), abs(c - 6)) for r, c in moved) == most
    model.train()
    sure = model.config.override(pseudo_weight=2.0)
    for layer in model.classifier.modules():  # a head sure of class 3 whatever the view: every row its pseudo-label
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.zeros_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    last = [m for m in model.classifier.modules() if isinstance(m, torch.nn.Linear)][-1]
    last.bias.data[3] = 10.0
    parts, out = compute_loss(model, Batch(x, y), sure)
    ce3 = torch.nn.functional.cross_entropy(out.logits, torch.full((16,), 3)).item()
    assert parts["pseudo"].item() == pytest.approx(ce3, rel=1e-5) and parts["consistency"].item() == 0.0
    assert parts["loss"].item() == pytest.approx(parts["recon"].item() + parts["classify"].item() + 2.0 * ce3, rel=1e-5)


def test_rotations_and_scalings_by_hand_and_the_views_that_get_them(monkeypatch):
    from aekit import terms
    from aekit.corruption import affine, random_affine

    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4) + 1
    one = torch.ones(1)
    assert torch.allclose(affine(x, 0 * one, one), x, atol=1e-5)  # nothing moves
    assert torch.allclose(random_affine(x.expand(3, 1, 4, 4), 0.0, 0.0), x.expand(3, 1, 4, 4), atol=1e-5)
    # a quarter turn maps pixel centres onto pixel centres: the same as rot90, clockwise as the image is shown
    assert torch.allclose(affine(x, torch.full((1,), math.pi / 2), one), torch.rot90(x, -1, (2, 3)), atol=1e-4)
    ones = torch.ones(1, 1, 4, 4)
    assert torch.allclose(affine(ones, 0 * one, 2 * one), ones, atol=1e-5)  # enlarged: every point from inside
    # shrunk to half: the centre 2 x 2 samples inside the image (1), the corners fall outside (zeros fill in)
    half = affine(ones, 0 * one, 0.5 * one)[0, 0]
    assert torch.allclose(half[1:3, 1:3], torch.ones(2, 2), atol=1e-5) and half[0, 0] == 0 and half[3, 3] == 0
    calls = []
    monkeypatch.setattr(terms, "random_affine", lambda x, d, s: calls.append((x.shape[-1], d, s)) or x)
    ae = torch.nn.Module()
    ae.normalize = ae.denormalize = lambda t: t
    for side in (8, 28):
        terms.view(ae, torch.zeros(2, 1, side, side))  # view_degrees 0 (the config's default): neither
        terms.view(ae, torch.zeros(2, 1, side, side), degrees=15.0)
        terms.view(ae, torch.zeros(2, 1, side, side), degrees=15.0, weak=True)  # a weak view: neither
    terms.view(ae, torch.zeros(2, 64), degrees=15.0)  # rows: noise alone
    assert calls == [(8, 15.0, 0.1), (28, 15.0, 0.1)]
    with pytest.raises(ValueError, match="view_degrees"):
        aekit.Config().override(view_degrees=181)


def test_weak_views_are_shifts_alone_and_give_the_pseudo_labels_targets(small_digits, monkeypatch):
    from aekit import terms
    from aekit.data import Batch

    torch.manual_seed(0)
    ae = torch.nn.Module()
    ae.normalize = ae.denormalize = lambda t: t
    turned = []
    monkeypatch.setattr(terms, "random_affine", lambda x, d, s: turned.append(x.shape[-1]) or x + 0.5)
    img = torch.zeros(60, 1, 28, 28)
    img[:, 0, 14, 14] = 1.0
    weak = terms.view(ae, img, weak=True)
    assert turned == []  # neither rotated nor scaled ...
    assert set(weak.unique().tolist()) == {0.0, 1.0} and torch.equal(weak.sum((1, 2, 3)), torch.ones(60))  # nor noisy
    moved = {tuple(p) for p in torch.nonzero(weak[:, 0] == 1)[:, 1:].tolist()}
    assert len(moved) > 5 and max(max(abs(r - 14), abs(c - 14)) for r, c in moved) == 2  # shifted by up to 2 px
    strong = terms.view(ae, img, degrees=15.0)
    assert turned == [28] and len(strong.unique()) > 60  # the strong view: rotated (here: + 0.5) and noisy
    rows = terms.view(ae, torch.full((2000, 5), 0.5), weak=True)
    assert rows.std().item() == pytest.approx(0.1, rel=0.05)  # rows keep their noise
    # rows: the strong view's noise is sigma (the config's view_noise); a weak one's at most WEAK_NOISE (0.1)
    rows = torch.full((4000, 5), 0.5)
    assert terms.view(ae, rows, sigma=0.3).std().item() == pytest.approx(0.3, rel=0.05)
    assert terms.view(ae, rows, sigma=0.3, weak=True).std().item() == pytest.approx(0.1, rel=0.05)
    assert terms.view(ae, rows, sigma=0.05, weak=True).std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.equal(terms.view(ae, rows, sigma=0.0), rows)
    monkeypatch.undo()
    seen = []
    real = terms.view
    monkeypatch.setattr(terms, "view", lambda ae, x, **kw: seen.append((kw.get("weak", False), kw["sigma"]))
                        or real(ae, x, **kw))
    torch.manual_seed(0)
    model = aekit.build_model(aekit.resolve_config(tiny_config(variant="classifier", classes=10), (1, 8, 8), 0.0, 1.0))
    batch = Batch(small_digits.train.x[:16], torch.as_tensor(small_digits.train.y[:16]))
    compute_loss(model, batch, model.config)
    assert seen == [(False, 0.1), (False, 0.1)]  # without pseudo-labels: two like views (view_noise 0.1 by default)
    compute_loss(model, batch, model.config.override(pseudo_weight=3.0, view_noise=0.3))
    # with them: learning on a strong view, targets from a weak one, each given the config's noise
    assert seen[2:] == [(False, 0.3), (True, 0.3)]
    with pytest.raises(ValueError, match="view_noise"):
        aekit.Config().override(view_noise=-0.1)


def test_nearest_rows_by_hand():
    from aekit.terms import nearest_rows

    u = torch.tensor([[0.0], [1.0], [3.0], [7.0], [7.5]])  # distances all different: one order
    assert nearest_rows(u, k=2).tolist() == [[1, 2], [0, 2], [1, 0], [4, 2], [3, 2]]
    assert nearest_rows(u[:3], k=4).tolist() == [[1, 2, 1, 2], [0, 2, 0, 2], [1, 0, 1, 0]]  # 2 others: repeated
    assert nearest_rows(u[:1], k=3).tolist() == [[0, 0, 0]]  # none other: itself
    images = torch.zeros(3, 1, 2, 2)
    images[1, 0, 0, 0], images[2, 0, 1, 1] = 1.0, 3.0  # distances 1, 3 and sqrt(10) from image 0, 1 and 2
    assert nearest_rows(images, k=1).tolist() == [[1], [0], [0]]
    # more samples than the pool: neighbours sought among a random 3 of the 5, never the sample itself
    far = nearest_rows(u, k=2, pool=3, generator=torch.Generator().manual_seed(0))
    assert len(set(far.flatten().tolist())) == 3 and all(i not in row for i, row in enumerate(far.tolist()))
    # by default every sample up to 20,000 of them; beyond, a pool of 4 x 10^8 / N (at least 1,000): 40,000 -> 10,000
    i = torch.arange(40_000)
    grid = torch.stack([i // 200, i % 200], 1).float()  # 200 x 200 points: whole numbers, exact distances
    assert 5_000 < len(set(nearest_rows(grid, k=1).flatten().tolist())) <= 10_000  # found among 10,000
    line = torch.arange(20_000, dtype=torch.float32)[:, None]  # 0, 1, 2, ...: the nearest of i are i - 1 and i + 1
    assert nearest_rows(line, k=2)[5].tolist() in ([4, 6], [6, 4])  # the pool is all 20,000


def test_a_neighbour_joins_the_targets_by_hand(small_digits):
    from aekit.data import Batch
    from aekit.terms import TermInputs

    # rows, no noise in the weak view (view_noise 0), no standardizer: each view is the sample itself
    cfg = tiny_config(variant="classifier", classes=10, pseudo_weight=1.0, view_noise=0.0)
    torch.manual_seed(0)
    model = aekit.build_model(aekit.resolve_config(cfg, (64,), 0.0, 1.0))
    x = small_digits.train.x[:8].reshape(8, 64)
    near = small_digits.train.x[8:16].reshape(8, 64)
    with torch.no_grad():
        own, other = torch.softmax(model.classify(x), 1), torch.softmax(model.classify(near), 1)
    parts, out = compute_loss(model, Batch(x, near=near), model.config)
    t = TermInputs(model, x, Batch(x, near=near), out, model.config)
    assert torch.allclose(t.second_view, (own + other) / 2, atol=1e-6)
    assert torch.allclose(TermInputs(model, x, Batch(x), out, model.config).second_view, own, atol=1e-6)
    # the consistency compares this pass's probabilities (the same views, the same weights) with that mean
    want = ((torch.softmax(out.logits, 1) - (own + other) / 2) ** 2).mean()
    assert parts["consistency"].item() == pytest.approx(want.item(), rel=1e-4)
    with pytest.raises(ValueError, match="neighbour_share"):
        aekit.Config().override(neighbour_share=1.5)
