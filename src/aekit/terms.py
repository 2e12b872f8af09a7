"""Reconstruction losses, regularisation terms, and the objective that combines them into named parts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .config import Config
from .corruption import corrupt, random_affine, random_shift
from .batch import Batch
from .registry import RECON_LOSSES, TERMS, Term

_EPS = 1e-7


@RECON_LOSSES.register("mse", "gaussian")
def squared_error(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """(x_hat - x)^2 per element (or its mean / sum): a Gaussian likelihood up to constants."""
    return F.mse_loss(x_hat, x, reduction=reduction)


@RECON_LOSSES.register("bce", "bernoulli")
def binary_cross_entropy(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "none") -> torch.Tensor:
    """-[x log x_hat + (1 - x) log(1 - x_hat)] per element (or its mean / sum): a Bernoulli likelihood."""
    return F.binary_cross_entropy(x_hat.clamp(_EPS, 1 - _EPS), x, reduction=reduction)


def length_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) float mask, 1 on real steps and 0 on padding."""
    return (torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]).float()


def elementwise_error(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse",
                      lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-element error, flattened, with padding zeroed: (B, *shape) -> (B, D), and the valid count (B,)."""
    err = RECON_LOSSES.get(kind)(x_hat, x)
    if lengths is None:
        err = err.flatten(1)
        return err, torch.full((err.shape[0],), err.shape[1], dtype=err.dtype, device=err.device)
    mask = length_mask(lengths.to(x.device), x.shape[1]).unsqueeze(-1).expand_as(err)  # (B, T, F)
    return (err * mask).flatten(1), mask.flatten(1).sum(1)


def per_sample_error(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse",
                     lengths: torch.Tensor | None = None) -> torch.Tensor:
    """Mean error of each sample over its (valid) elements: (B,)."""
    err, count = elementwise_error(x_hat, x, kind, lengths)
    return err.sum(1) / count


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str = "mse", lengths: torch.Tensor | None = None,
                        per_sample_sum: bool = False) -> torch.Tensor:
    """The batch's reconstruction term: the mean over (valid) elements, or with ``per_sample_sum`` each sample's sum
    over its elements averaged over the batch. Without padding, torch's fused reductions do the work."""
    if lengths is None:
        loss = RECON_LOSSES.get(kind)(x_hat, x, "sum" if per_sample_sum else "mean")
        return loss / x.shape[0] if per_sample_sum else loss
    err, count = elementwise_error(x_hat, x, kind, lengths)
    return err.sum(1).mean() if per_sample_sum else err.sum() / count.sum()


def sparsity_kl(code: torch.Tensor, rho: float) -> torch.Tensor:
    """sum_j KL(rho || rho_hat_j), rho_hat_j = mean activation of code unit j over the batch. code: (B, L) in (0, 1)."""
    rho_hat = code.mean(0).clamp(_EPS, 1 - _EPS)  # (L,)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def kl_gaussian(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) in closed form, summed over dims, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1).mean()


def contractive(z: torch.Tensor, x: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """Mean over the batch of ||dz/dx||_F^2, exact. z: (B, L) computed from x (B, ...) with x.requires_grad.

    Samples must not interact in the encoder (no batch norm), so the gradient of z[:, k].sum() with respect to x
    holds each sample's own row k of its Jacobian. One vectorised backward computes all L rows; encoders whose
    backward cannot be vectorised (some RNN kernels) fall back to L backward passes.
    """
    b, L = z.shape
    try:
        basis = torch.eye(L, dtype=z.dtype, device=z.device)[:, None, :].expand(L, b, L)  # (L, B, L)
        (g,) = torch.autograd.grad(z, x, basis, retain_graph=True, create_graph=create_graph, is_grads_batched=True)
        sq = g.pow(2).flatten(2).sum(2).sum(0)  # (L, B, *shape) -> (B,)
    except RuntimeError:
        sq = z.new_zeros(b)
        for k in range(L):
            (g,) = torch.autograd.grad(z[:, k].sum(), x, retain_graph=True, create_graph=create_graph)
            sq = sq + g.pow(2).flatten(1).sum(1)
    return sq.mean()


PSEUDO_CONFIDENCE = 0.95  # a second view's class probability from which it serves as a pseudo-label
VIEW_DEGREES = 15.0  # the classifier recipe's: a view of an image is rotated by up to this many degrees either way
VIEW_SCALE = 0.1  # and scaled by up to this share either way, where the config's view_degrees is above 0
WEAK_NOISE = 0.1  # the most noise a weak view of rows gets (the config's view_noise where that is less)


@dataclass
class TermInputs:
    """What a loss term may read: the model, its (possibly corrupted) input, the batch (the clean target x, labels
    y, lengths), the forward pass's output and the config."""

    model: torch.nn.Module
    x_in: torch.Tensor  # (B, *shape) what the encoder saw
    batch: Batch
    out: object  # AutoencoderOutput
    config: Config
    _second: torch.Tensor | None = field(default=None, init=False, repr=False)  # the second view's, once drawn

    @property
    def x(self) -> torch.Tensor:
        return self.batch.x  # (B, *shape) the clean target

    @property
    def second_view(self) -> torch.Tensor:
        """(B, C) class probabilities of a second random view of every row (no gradient), drawn once per step and
        shared by the terms that compare against it (consistency, pseudo-labels). With pseudo-labels (a
        ``pseudo_weight`` above 0) it is a weak view (:func:`view` with ``weak``: an image only shifted): the targets
        come from a weak view and the pass learns on a strong one, as in FixMatch (Sohn et al. 2020). Without them it
        is drawn as the pass's view is (the consistency of two like views): a weak target for the consistency alone
        made MNIST's error worse on two label draws of three (benchmarks/README.md). Where the batch carries a near
        training sample of each row (``batch.near``: the first ``neighbour_share`` of the steps), the target is the
        mean of the row's and its neighbour's probabilities, each from its own view."""
        if self._second is None:
            ae, lc, near = getattr(self.model, "module", self.model), self.config.loss, self.batch.near
            with torch.no_grad():
                x = self.x if near is None else torch.cat([self.x, near])  # (B or 2B, *shape)
                x = view(ae, x, sigma=lc.view_noise, weak=lc.pseudo_weight > 0, degrees=lc.view_degrees)
                p = F.softmax(ae.classify(x, self.batch.lengths), 1)  # (B or 2B, C)
                self._second = p if near is None else (p[:len(self.x)] + p[len(self.x):]) / 2
        return self._second


def view(ae: torch.nn.Module, x: torch.Tensor, shift: int | None = None, sigma: float = 0.1,
         weak: bool = False, degrees: float = 0.0) -> torch.Tensor:
    """A random view of each sample (a new draw at every call): images shifted by up to ``shift`` pixels in each
    direction (zeros fill in; default: a fourteenth of the shorter side, at least 1: 2 pixels of MNIST's 28, 1 of
    the digits' 8); with ``degrees`` above 0 (the config's ``view_degrees``) also rotated by up to that many degrees
    and scaled by up to VIEW_SCALE either way (:func:`aekit.corruption.random_affine`); then Gaussian noise of
    ``sigma`` on the standardised scale (the config's ``view_noise``). ``weak``: an image is only shifted (no
    rotation, scaling or noise), other samples (rows) get noise of at most WEAK_NOISE: the view whose class
    probabilities serve as the pseudo-labels' targets (:attr:`TermInputs.second_view`). (B, *shape)."""
    if x.ndim == 4:
        shift = max(1, round(min(x.shape[2:]) / 14)) if shift is None else shift
        if min(x.shape[2:]) > 4 * shift:
            x = random_shift(x, shift)
        if weak:
            return x
        if degrees > 0:
            x = random_affine(x, degrees, VIEW_SCALE)
    elif weak:
        sigma = min(sigma, WEAK_NOISE)
    return ae.denormalize(ae.normalize(x) + sigma * torch.randn_like(x))


NEIGHBOURS = 10  # the nearest training samples of each, one of which joins its targets (neighbour_share)
NEIGHBOUR_POOL = 20_000  # the samples they are sought among, at most (a random subset of a larger set) ...
NEIGHBOUR_PAIRS = 400_000_000  # ... and fewer where N x pool would pass this many distances (at least 1,000 samples)
NEIGHBOUR_CHUNK = 1024  # rows whose distances are computed at once


def nearest_rows(u: torch.Tensor, k: int = NEIGHBOURS, pool: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """The indices of each sample's ``k`` nearest other samples by Euclidean distance, nearest first.

    ``u``: (N, *shape) samples on the scale the model learns on (:meth:`Autoencoder.normalize`). With more than
    ``pool`` samples the neighbours are sought among a random ``pool`` of them (``generator``), so that the cost
    stays N x pool distances; by default NEIGHBOUR_POOL, or NEIGHBOUR_PAIRS / N where that is less (at least
    1,000): every sample of MNIST's 10,000 or 20,000, 6,666 of 60,000. Fewer than k + 1 samples: each one's
    neighbours repeat. (N, k) int64."""
    n = len(u)
    pool = min(NEIGHBOUR_POOL, max(1000, NEIGHBOUR_PAIRS // max(n, 1))) if pool is None else pool
    flat = u.reshape(n, -1).float()  # (N, D)
    cand = torch.arange(n) if n <= pool else torch.randperm(n, generator=generator)[:pool].sort().values  # (P,)
    ref = flat[cand]  # (P, D)
    ref_sq = ref.pow(2).sum(1)  # (P,)
    k_found = min(k, len(cand) - 1)
    if k_found < 1:
        return torch.zeros(n, k, dtype=torch.int64)
    out = []
    for i in range(0, n, NEIGHBOUR_CHUNK):
        q = flat[i:i + NEIGHBOUR_CHUNK]  # (c, D)
        d = q.pow(2).sum(1, keepdim=True) - 2 * q @ ref.T + ref_sq  # (c, P) squared distances
        d[cand[None, :] == torch.arange(i, i + len(q))[:, None]] = math.inf  # not itself
        out.append(cand[d.topk(k_found, 1, largest=False).indices])  # (c, k_found)
    idx = torch.cat(out)  # (N, k_found)
    return idx if k_found == k else idx[:, torch.arange(k) % k_found]


def class_cross_entropy(logits: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Mean cross-entropy over the rows whose label is known (y >= 0); 0 when there are none. logits (B, C), y (B,)."""
    if y is None or not bool((y >= 0).any()):
        return logits.sum() * 0.0  # keeps the graph (and DDP's gradient hooks) whole
    known = y >= 0
    return F.cross_entropy(logits[known], y[known])


def _consistency_term(t: TermInputs) -> torch.Tensor:
    """Mean squared difference between the class probabilities of this pass's view and of a second random view
    (no gradient through the second), over every row: unlabelled rows teach the classifier to agree with itself."""
    if not t.model.training:
        return t.out.logits.sum() * 0.0  # evaluation has one view
    return F.mse_loss(F.softmax(t.out.logits, 1), t.second_view)


def pseudo_label_loss(logits: torch.Tensor, other: torch.Tensor, confidence: float = PSEUDO_CONFIDENCE) -> torch.Tensor:
    """Mean over every row of its cross-entropy against the class another view of it gives with probability at
    least ``confidence``, 0 for the rows whose other view is less sure (FixMatch's pseudo-labels, Sohn et al. 2020:
    the other view a weak one, see :attr:`TermInputs.second_view`). logits (B, C), other (B, C) probabilities."""
    sure, label = other.max(1)  # (B,), (B,)
    return (F.cross_entropy(logits, label, reduction="none") * (sure >= confidence).to(logits.dtype)).mean()


def _pseudo_term(t: TermInputs) -> torch.Tensor:
    """Pseudo-labels from a second random view (:func:`pseudo_label_loss`); in training only, and only computed when
    weighted (the second view is shared with the consistency term)."""
    if not t.model.training or t.config.loss.pseudo_weight == 0:
        return t.out.logits.sum() * 0.0
    return pseudo_label_loss(t.out.logits, t.second_view)


def _contractive_term(t: TermInputs) -> torch.Tensor:
    out = t.out
    code = out.z if out.mu is None else getattr(t.model, "module", t.model).bottleneck.act(out.mu)  # DDP: .module
    return contractive(code, t.x_in, create_graph=t.model.training)


TERMS.add("sparsity", Term(lambda t: sparsity_kl(t.out.z, t.config.loss.rho), "sparsity_beta"))
TERMS.add("kl", Term(lambda t: kl_gaussian(t.out.mu, t.out.logvar), "kl_beta"))
TERMS.add("contractive", Term(_contractive_term, "contractive_lambda", input_grad=True))
# The rate in bits per input element (bits per pixel for one-channel images): -log2 p(code) / D, batch mean.
TERMS.add("rate", Term(lambda t: t.out.bits.mean() / t.x[0].numel(), "rate_lambda"))
# classifier: the cross-entropy of the labelled rows (-1 = unknown never enters it), and the two views' agreement
TERMS.add("classify", Term(lambda t: class_cross_entropy(t.out.logits, t.batch.y), "classify_weight"))
TERMS.add("consistency", Term(_consistency_term, "consistency_weight"))
TERMS.add("pseudo", Term(_pseudo_term, "pseudo_weight"))


def decoded_rows(batch: int, share: float) -> int:
    """How many of a batch's samples are reconstructed at a ``recon_share``: ceil(share * batch), at least 1."""
    return min(batch, max(1, math.ceil(round(share * batch, 6))))


def compute_loss(model: torch.nn.Module, batch: Batch | torch.Tensor, config: Config,
                 corrupt_input: bool = True) -> tuple[dict[str, torch.Tensor], object]:
    """Forward pass and the objective's named parts: ``{"recon", <each term of the variant>, "loss"}``.

    ``batch``: a :class:`aekit.data.Batch` (x, and labels and lengths where there are some), or x itself.
    Reconstruction is measured on the model's standardised scale (:meth:`Autoencoder.normalize`): the mean over
    elements for deterministic models, and the per-sample sum over elements
    (averaged over the batch) for variational ones, so that ``loss`` is the negative ELBO. The target is always the
    clean x; the input is corrupted for denoising variants when ``corrupt_input``, and is a random view of x for the
    classifier variant in training. In training, only the first :func:`decoded_rows` samples are reconstructed
    (the config's ``recon_share``; every sample where it is 1, and always in eval mode); the terms read every sample.
    Each term of the variant comes from the TERMS registry and adds ``weight * value`` to the loss.
    """
    batch = batch if isinstance(batch, Batch) else Batch(batch)
    x, lengths = batch.x, batch.lengths
    spec, lc = config.spec, config.loss
    terms = [(name, TERMS.get(name)) for name in spec.terms]
    ae = getattr(model, "module", model)  # the Autoencoder itself under DDP
    x_in = x
    if spec.classify and corrupt_input and model.training:  # the first of the consistency's two views
        x_in = view(ae, x, sigma=lc.view_noise, degrees=lc.view_degrees)
    if spec.corrupt and corrupt_input and ae.table is not None:  # a table: entries swapped between rows, or
        # hidden as holes (masking: the imputation recipe)
        x_in = ae.table.hide(x_in, lc.noise_level) if lc.noise == "masking" else ae.table.swap(x_in, lc.noise_level)
    elif spec.corrupt and corrupt_input:  # noise on the standardised scale, where noise_level has one meaning
        x_in = ae.denormalize(corrupt(ae.normalize(x_in), lc.noise, lc.noise_level))
    input_grad = any(term.input_grad for _, term in terms)
    if input_grad:
        x_in = x_in.detach().requires_grad_(True)
    decoded = decoded_rows(len(x), lc.recon_share if model.training else 1.0)  # in training, the first ones
    with torch.set_grad_enabled(torch.is_grad_enabled() or input_grad):
        out = model(x_in, lengths) if decoded == len(x) else model(x_in, lengths, decoded=decoded)  # x_hat (K, ...)
        if decoded < len(x):  # the reconstructed samples' targets
            x, lengths = x[:decoded], None if lengths is None else lengths[:decoded]
        columns = {}
        if ae.table is not None:  # a sum over the table's columns (each sample's), each column a named part
            per_column = ae.table.loss_matrix(out.x_hat, x)  # (K, columns)
            names = [c.name for c in ae.table.schema.columns]
            columns = dict(zip([f"recon/{k}" for k in names], per_column.detach().mean(0).unbind()))  # to report
            per_sample = per_column.sum(1)  # (K,)
            recon = per_sample.mean() if spec.gaussian else per_sample.mean() / len(names)
        else:
            recon = reconstruction_loss(ae.normalize(out.x_hat), ae.normalize(x), lc.recon, lengths,
                                        per_sample_sum=spec.gaussian)
        parts = {"recon": recon, **columns}
        total = recon
        inputs = TermInputs(model, x_in, batch, out, config)
        for name, term in terms:
            parts[name] = term.fn(inputs)
            total = total + getattr(lc, term.weight) * parts[name]
    parts["loss"] = total
    return parts, out
