"""Samplers: densities over a model's codes, to generate new samples through the decoder.

A VAE's prior N(0, I) is one sampler, and a poor one: the codes of the training data (the aggregate posterior) do not
fill N(0, I), so many of its draws decode to shapes unlike the data. A density fitted to the training codes after
training draws where the data is, and it makes any autoencoder a generator, a deterministic one too (Ghosh et al.
2020, "From variational to deterministic autoencoders"). aekit fits a Gaussian mixture to the codes the decoder
reads (``model.encode``: the posterior mean for a VAE), stores it with the run (``sampler.safetensors``, bound to the
weights it was fitted with) and attaches it at load.

A table model's sampler file also holds each number column's residual spread (``TableCodec.fit_spread``): a
generated number is drawn around the decoder's value, as the data scatters around its reconstruction; and each
column's linear relation to the rest of its row where that relation predicts held-out rows better than the decoder
(``TableCodec.fit_relations``): generation redraws such a column from it given the row's drawn values, which keeps
relations among the columns that a small code cannot carry.

Names (``SAMPLERS``): ``gmm``, the fitted mixture (the default wherever a run has one); ``normal``, N(0, I) through
the code activation (variational models only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .batch import check_labels
from .registry import SAMPLERS
from .table import RELATION_ROWS, SYNTHETIC_ROWS

FULL_COVARIANCE_MAX_DIM = 64  # codes up to this size get full covariances; larger (spatial) codes diagonal ones
MAX_CLASSES = 1000  # labels from 0 to 999 condition a sampler; other labels are not classes
EM_STEPS = 5  # EM steps after the k-means start, by default (chosen by measurement: see fit_gmm)
MAX_PARAMETER = 1e12  # the largest mean or scale a mixture may hold (codes are many orders of magnitude smaller)
MAX_ROWS = 20_000  # codes the mixture is fitted on (evenly spaced rows of the training set)


@dataclass
class GaussianMixture:
    """A mixture of K Gaussians over D-dimensional codes.

    weights (K,) summing to 1; means (K, D); scale (K, D, D) lower-triangular Cholesky factors of the covariances,
    or (K, D) standard deviations for diagonal covariances; labels (K,) int64, the class each component was fitted
    to (labelled training data), or None. With labels, the mixture is p(z) = sum_y p(y) p(z | y), each p(z | y) a
    mixture of its class's components, and :meth:`sample` can draw from one class.
    """

    weights: torch.Tensor
    means: torch.Tensor
    scale: torch.Tensor
    labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        k, d = self.means.shape
        if self.weights.shape != (k,) or self.scale.shape not in ((k, d), (k, d, d)):
            raise ValueError(f"a mixture needs weights (K,), means (K, D) and scale (K, D) or (K, D, D); got "
                             f"{tuple(self.weights.shape)}, {tuple(self.means.shape)}, {tuple(self.scale.shape)}")
        if self.labels is not None and (self.labels.shape != (k,) or self.labels.dtype != torch.int64):
            raise ValueError(f"a mixture's labels must be (K,) = ({k},) integers, got {tuple(self.labels.shape)} "
                             f"{self.labels.dtype}")
        if not all(bool(torch.isfinite(t).all()) for t in (self.weights, self.means, self.scale)):
            raise ValueError("a mixture's parameters must be finite")
        big = max(float(self.means.abs().max()), float(self.scale.abs().max()))
        if big > MAX_PARAMETER:  # far beyond any code; samples of such a mixture overflow float32
            raise ValueError(f"a mixture's means and scales must be at most {MAX_PARAMETER:g} in size; found {big:.3g}")
        if bool((self.weights < 0).any()) or abs(float(self.weights.double().sum()) - 1.0) > 1e-4:
            raise ValueError("a mixture's weights must be >= 0 and sum to 1")
        diag = self.scale if self.scale.ndim == 2 else torch.diagonal(self.scale, dim1=1, dim2=2)
        if not bool((diag > 0).all()):
            raise ValueError("a mixture's scales must be positive (Cholesky factors with a positive diagonal)")

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    @property
    def components(self) -> int:
        return self.means.shape[0]

    @property
    def classes(self) -> list[int]:
        """The class labels it can draw from (empty without labels)."""
        return [] if self.labels is None else sorted(set(self.labels.tolist()))

    def sample(self, n: int, generator: torch.Generator | None = None, label: int | None = None) -> torch.Tensor:
        """n codes (n, D), drawn on the CPU: the same codes for the same generator state on any machine's torch.
        ``label``: draw from p(z | y = label) (a mixture fitted to labelled codes)."""
        w = self.weights.double()
        if label is not None:
            if label not in self.classes:
                raise ValueError(f"label {label!r} is not a class of this sampler: "
                                 + (f"choose one of {self.classes}" if self.classes else
                                    "it was fitted without labels (train on labelled data to generate by class)"))
            w = torch.where(self.labels == label, w, torch.zeros_like(w))
        comp = torch.multinomial(w, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)  # (n, D)
        s = self.scale.double()[comp]  # (n, D) or (n, D, D)
        spread = s * eps if s.ndim == 2 else (s @ eps[:, :, None])[:, :, 0]
        return (self.means.double()[comp] + spread).float()

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(z | mean_k, cov_k) for codes (N, D) -> (N, K), in nats (float64)."""
        z, s, means = z.double(), self.scale.double(), self.means.double()
        if s.ndim == 2:
            log_det = s.log().sum(1)  # (K,): log sqrt(det covariance)
        else:
            log_det = torch.diagonal(s, dim1=1, dim2=2).log().sum(1)
            s = torch.linalg.solve_triangular(s, torch.eye(self.dim, dtype=s.dtype).expand_as(s), upper=False)  # L^-1
        out = []
        step = max(1, 2 ** 22 // max(1, len(z) * self.dim))  # components per chunk: (c, N, D) stays ~32 MB
        for j in range(0, self.components, step):
            if s.ndim == 2:  # (c, N, D): (z - mean) / sd
                y = (z[None] - means[j:j + step, None]) / s[j:j + step, None]
            else:  # (c, N, D): L^-1 (z - mean), as z L^-T - mean L^-T
                pt = s[j:j + step].transpose(1, 2)
                y = z @ pt - means[j:j + step, None] @ pt
            out.append(y.pow(2).sum(-1).T)  # (N, c): the squared Mahalanobis distances
        maha = torch.cat(out, 1)  # (N, K)
        return self.weights.double().clamp_min(1e-300).log() - log_det - 0.5 * (maha + self.dim * math.log(2 * math.pi))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density of codes (N, D) -> (N,), in nats."""
        return torch.logsumexp(self.log_joint(z), dim=1)

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a file stores: float32 parameters, and the labels when there are some."""
        out = {"weights": self.weights.float(), "means": self.means.float(), "scale": self.scale.float()}
        return out if self.labels is None else {**out, "labels": self.labels}


def describe(model, name: str | None = None) -> str:
    """Words for what ``model.sample(..., sampler=name)`` draws from, for messages and captions."""
    name = SAMPLERS.canonical(name) if name is not None else model.default_sampler()
    if name == "gmm" and model.sampler is not None:
        k, asked = model.sampler.components, model.config.train.sampler_components
        why = ""
        if k < asked:  # fit_gmm's cap: each component needs codes enough for its covariance
            d = model.sampler.dim
            why = (f"; {asked} asked for, but a component needs about {d + 1} codes for the full covariance of "
                   f"{d}-d codes" + (", and each class has its own" if model.sampler.labels is not None else ""))
        return f"a Gaussian mixture ({k} component{'s' * (k != 1)}{why}) fitted to the training codes"
    return "the prior N(0, I)" if name == "normal" else "no sampler"


def spread_rows(n: int, most: int = MAX_ROWS) -> np.ndarray:
    """At most ``most`` evenly spaced row indices of n rows (all of them when n <= most)."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).astype(np.int64))


def fit_sampler(model, x, components: int | None = None, seed: int | None = None,
                lengths: torch.Tensor | None = None, y: np.ndarray | None = None,
                max_iter: int = EM_STEPS) -> GaussianMixture:
    """Fit a Gaussian mixture to the codes of training data and attach it as ``model.sampler``. For a table model,
    then each number's residual spread and each column's relation to the rest of its row (``TableCodec.fit_spread``,
    ``fit_relations``), judged on the training rows and on rows the model generates from the new mixture.

    Parameters
    ----------
    model : a trained Autoencoder.
    x : (N, *input_shape) training inputs (a tensor, an array or a streamed array); at most 20,000 evenly spaced rows
        are encoded.
    components : mixture components (default: the config's ``sampler_components``).
    seed : the k-means initialisation's seed (default: the config's seed).
    lengths : (N,) valid steps of padded sequences (rnn).
    y : (N,) integer class labels (-1: unknown). With labels, the mixture is fitted to the labelled rows alone
        (at most 20,000 of them), each class with its own mixture of ceil(components / classes) components weighted
        by the class's share, and the sampler can generate by class.
    max_iter : EM steps after the k-means start (see :func:`fit_gmm`).

    Returns
    -------
    The fitted GaussianMixture over the flattened codes (D = prod(model.code_shape)).
    """
    labels = _conditioning_labels(y, len(x))
    known = np.flatnonzero(labels != -1) if labels is not None else np.arange(len(x))  # the rows a mixture reads
    rows = known[spread_rows(len(known))]
    sub = x[torch.from_numpy(rows)] if torch.is_tensor(x) else x[rows]
    sub = torch.as_tensor(np.asarray(sub, dtype=np.float32)) if not torch.is_tensor(sub) else sub.float()
    lens = None if lengths is None else torch.as_tensor(lengths)[torch.from_numpy(rows)]
    codes = model.codes(sub, lens)  # (n, *code_shape)
    model.sampler = _fit_mixture(model, codes, labels, rows, components, seed, max_iter)
    if model.table is not None:  # a table: how far each number lies from the decoder's value (drawn with at
        x_hat = torch.from_numpy(model.reconstructions(sub))  # generation), and how each column follows from the
        model.table.fit_spread(sub, x_hat)  # rest of its row, in real rows and in rows the model generates
        g = torch.Generator().manual_seed(model.config.train.seed if seed is None else seed)
        n = min(max(len(sub), SYNTHETIC_ROWS), RELATION_ROWS)
        with torch.no_grad():
            generated = model.table.drawn_rows(model.decode(model.sampler.sample(n, g)), g)  # (n, width)
        model.table.fit_relations(sub, x_hat, generated)
    return model.sampler


def _fit_mixture(model, codes: np.ndarray, labels: np.ndarray | None, rows: np.ndarray, components: int | None,
                 seed: int | None, max_iter: int) -> GaussianMixture:
    """The mixture of :func:`fit_sampler` over codes (n, *code_shape) of the rows ``rows`` (labels: all rows')."""
    tc = model.config.train
    k, seed = components or tc.sampler_components, tc.seed if seed is None else seed
    codes = torch.from_numpy(codes.reshape(len(codes), -1))
    labels = labels[rows] if labels is not None else None  # (all known)
    counts = np.bincount(labels) if labels is not None else np.zeros(0, dtype=np.int64)
    classes = [int(c) for c in np.flatnonzero(counts >= 2)]  # a class of one code has no spread to fit
    if not classes:
        return fit_gmm(codes, k, seed, max_iter=max_iter)
    parts = []  # (weights, means, scale, labels) of each class's mixture
    for c in classes:
        gm = fit_gmm(codes[torch.from_numpy(labels == c)], -(-k // len(classes)), seed, max_iter=max_iter)
        share = float(counts[c]) / float(counts.sum())  # p(y = c) among the labelled codes
        parts.append((gm.weights * share, gm.means, gm.scale, torch.full((gm.components,), c, dtype=torch.int64)))
    w, means, scale, labs = (torch.cat(t) for t in zip(*parts))
    return GaussianMixture(w / w.sum(), means, scale, labs)


def _conditioning_labels(y, n: int) -> np.ndarray | None:
    """Labels a sampler can condition on: (n,) int64 with -1 for unknown, held to the rule every label source
    follows (:func:`aekit.batch.check_labels`: a ValueError for labels that are not class indices), or None when
    there are none to use (no labels, none known, more than MAX_CLASSES classes, or fewer than 2 rows in every
    class)."""
    if y is None:
        return None
    a = check_labels(y, n, "the codes the sampler is fitted to")
    known = a[a >= 0]
    if not len(known) or known.max() >= MAX_CLASSES or np.bincount(known).max() < 2:
        return None
    return a


def fit_gmm(codes: np.ndarray | torch.Tensor, components: int, seed: int = 0, covariance: str = "auto",
            max_iter: int = EM_STEPS, tol: float = 1e-3) -> GaussianMixture:
    """Fit a Gaussian mixture to codes (N, D) by expectation-maximisation, in float64.

    Initialisation: k-means++ seeds (``seed``) refined by 10 Lloyd steps; EM stops when the mean log-likelihood
    gains less than ``tol`` nats or after ``max_iter`` steps (5: on MNIST's validation split 5 and 100 steps gave
    about the same sample quality, see benchmarks/README.md). ``covariance``: full, diag, or auto (full up to
    D = 64, diagonal beyond). At most 20,000 evenly spaced rows are used. There are at most N / (D + 1) components with
    full covariances (N / 2 with diagonal ones), so that each has codes enough to estimate one. A covariance floor
    of 1e-6 times the codes' mean variance keeps a component on a few identical codes a density."""
    z = torch.as_tensor(np.asarray(codes.detach().cpu() if torch.is_tensor(codes) else codes), dtype=torch.float64)
    z = z.reshape(len(z), -1)
    if len(z) < 2:
        raise ValueError(f"a mixture needs at least 2 codes to fit, got {len(z)}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("the codes hold NaN or infinite values: no sampler can be fitted to them")
    if not isinstance(components, (int, np.integer)) or components < 1:
        raise ValueError(f"components must be a positive integer, got {components!r}")
    if covariance == "auto":
        covariance = "full" if z.shape[1] <= FULL_COVARIANCE_MAX_DIM else "diag"
    if covariance not in ("full", "diag"):
        raise ValueError(f"covariance must be full, diag or auto, got {covariance!r}")
    z = z[torch.from_numpy(spread_rows(len(z)))]
    shift = z.mean(0)  # centred codes: the second moments of _m_step then lose no precision to a far-off mean
    z = z - shift
    n, d = z.shape
    k = min(int(components), max(1, n // (d + 1) if covariance == "full" else n // 2))
    g = torch.Generator().manual_seed(seed)
    means = _kmeans(z, k, g)  # (K, D)
    resp = torch.nn.functional.one_hot(torch.cdist(z, means).argmin(1), k).double()  # (N, K) hard assignments
    floor = 1e-6 * max(float(z.var(0).mean()), 1e-12)
    prev = -math.inf
    for _ in range(max_iter):
        gm = _m_step(z, resp, covariance, floor)
        log_joint = gm.log_joint(z)  # (N, K): log w_k + log N(z | k)
        ll = torch.logsumexp(log_joint, 1, keepdim=True)  # (N, 1)
        resp = torch.exp(log_joint - ll)
        if float(ll.mean()) - prev < tol:
            break
        prev = float(ll.mean())
    gm = _m_step(z, resp, covariance, floor)
    return GaussianMixture(gm.weights.float(), (gm.means + shift).float(), gm.scale.float())  # float32, as stored


def _kmeans(z: torch.Tensor, k: int, g: torch.Generator, steps: int = 10) -> torch.Tensor:
    """k-means++ seeding (each next centre drawn with probability proportional to its squared distance to the
    nearest centre) and ``steps`` Lloyd steps: (K, D) centres."""
    centres = [z[int(torch.randint(len(z), (1,), generator=g))]]
    d2 = (z - centres[0]).pow(2).sum(1)  # (N,)
    for _ in range(1, k):
        i = int(torch.multinomial(d2 / d2.sum(), 1, generator=g)) if float(d2.sum()) > 0 else \
            int(torch.randint(len(z), (1,), generator=g))
        centres.append(z[i])
        d2 = torch.minimum(d2, (z - z[i]).pow(2).sum(1))
    c = torch.stack(centres)
    for _ in range(steps):
        hard = torch.nn.functional.one_hot(torch.cdist(z, c).argmin(1), k).double()  # (N, K)
        count = hard.sum(0)
        c = torch.where(count[:, None] > 0, hard.T @ z / count.clamp_min(1)[:, None], c)  # an empty cluster stays
    return c


def _m_step(z: torch.Tensor, resp: torch.Tensor, covariance: str, floor: float) -> GaussianMixture:
    """The mixture that maximises the expected log-likelihood for responsibilities ``resp`` (N, K)."""
    nk = resp.sum(0) + 1e-10  # (K,)
    means = resp.T @ z / nk[:, None]  # (K, D)
    if covariance == "diag":
        var = resp.T @ z.pow(2) / nk[:, None] - means.pow(2)  # (K, D): E[z^2] - E[z]^2
        return GaussianMixture(nk / nk.sum(), means, (var.clamp_min(0) + floor).sqrt())
    k, (n, d) = len(nk), z.shape
    step = max(1, 2 ** 22 // max(1, n * d))  # components per chunk: (c, N, D) stays ~32 MB
    second = torch.cat([torch.bmm((resp[:, j:j + step].T[:, :, None] * z[None]).transpose(1, 2),
                                  z.expand(min(step, k - j), n, d)) for j in range(0, k, step)])  # (K, D, D)
    cov = second / nk[:, None, None] - means[:, :, None] * means[:, None, :]  # E[z z^T] - mean mean^T
    cov = 0.5 * (cov + cov.transpose(1, 2)) + floor * torch.eye(d, dtype=z.dtype)
    return GaussianMixture(nk / nk.sum(), means, torch.linalg.cholesky(cov))
