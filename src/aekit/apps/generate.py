"""Generation: interpolation between codes (linear or spherical), new samples (from a fitted sampler or a VAE's prior),
and a VAE's importance-weighted log-likelihood."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import limits
from ..fp import table_threads
from ..model import Autoencoder
from .infer import decode, encode

def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between vectors a and b (falls back to linear when they are parallel)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / max(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate_codes(za: np.ndarray, zb: np.ndarray, steps: int = 5, method: str = "linear") -> np.ndarray:
    """Codes on the path from ``za`` (L,) to ``zb`` (L,), ends included: (steps, L). ``method``: "linear", or
    "slerp" (spherical, keeps the norm; suits a VAE's Gaussian prior)."""
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    ts = np.linspace(0.0, 1.0, steps)
    if method == "linear":
        return np.stack([(1 - t) * za + t * zb for t in ts]).astype(np.float32)
    return np.stack([slerp(za, zb, t) for t in ts]).astype(np.float32)


def interpolate(model: Autoencoder, xa: np.ndarray, xb: np.ndarray, steps: int = 5,
                method: str = "linear") -> np.ndarray:
    """Decode `steps` points between the codes of two inputs (each of input_shape): (steps, *input_shape)."""
    z = encode(model, np.stack([xa, xb])).reshape(2, -1)  # a spatial code (L, h, w) is interpolated as a vector
    path = interpolate_codes(z[0], z[1], steps, method)
    if model.config.spec.quantize:
        path = np.round(path)  # a rate model's decoder knows integer codes
    return decode(model, path.reshape(steps, *model.code_shape))


def sample(model: Autoencoder, n: int, seed: int = 0, sampler: str | None = None,
           label: int | None = None) -> np.ndarray:
    """n new samples: codes drawn from ``sampler`` through the decoder, (n, *input_shape).

    ``sampler``: ``gmm`` (the mixture fitted to the training codes: any model trained with sampler gmm), ``normal``
    (the prior N(0, I): variational models), or None for the model's default (gmm where it has one). ``label``: only
    samples of that class (a gmm sampler fitted to labelled data: ``model.sampler.classes``)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of samples must be a positive integer, got {n!r}")
    limits.check("n", int(n), "samples", "the number of samples")
    limits.check_batch_memory(model.config, int(n), "the number of samples", training=False)
    if not isinstance(seed, (int, np.integer)) or not 0 <= seed <= limits.LIMITS["seed"]:
        raise ValueError(f"seed must be an integer from 0 to {limits.LIMITS['seed']}, got {seed!r}")
    model.eval()
    with torch.no_grad():
        return model.sample(int(n), torch.Generator().manual_seed(seed), sampler, label).cpu().numpy()


def log_likelihood(model: Autoencoder, x: np.ndarray | torch.Tensor, k: int = 1000, batch_size: int = 50,
                   seed: int = 0) -> np.ndarray:
    """Importance-weighted estimate of log p(x) in nats per sample (Burda et al. 2016), for a VAE with a Bernoulli
    decoder (recon 'bce'): log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), z_i ~ q(z | x). With k=1 its
    expectation is the ELBO. (N,)"""
    if not model.is_variational or model.config.loss.recon != "bce":
        raise ValueError("log_likelihood needs a variational model with a Bernoulli decoder (--variant vae --recon bce)")
    if not isinstance(model.bottleneck.act, torch.nn.Identity) or not isinstance(model.out_act, torch.nn.Sigmoid):
        raise ValueError("log_likelihood needs the code to be the Gaussian sample itself (no sparse code "
                         "activation) and a sigmoid output (the decoder then gives Bernoulli logits)")
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.float()
    model.check_input(x)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    dev = model.device
    out = []
    log2pi = math.log(2 * math.pi)
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            mu, logvar = model.posterior(xb)  # (B, L) each
            eps = torch.randn(k, *mu.shape, generator=gen).to(dev)  # (k, B, L)
            z = mu + torch.exp(0.5 * logvar) * eps
            log_q = -0.5 * (eps.pow(2) + logvar + log2pi).sum(-1)  # (k, B)
            log_pz = -0.5 * (z.pow(2) + log2pi).sum(-1)
            logits = model.decode_logits(z.flatten(0, 1)).view(k, len(xb), -1)  # before the sigmoid
            target = xb.flatten(1).expand(k, -1, -1)
            log_px = -torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
            out.append((torch.logsumexp(log_px + log_pz - log_q, 0) - math.log(k)).cpu())
    return torch.cat(out).numpy()


WHERE_DRAWS = 1_000_000  # rows drawn at most to find the ones a condition asks for


def sample_rows(model: Autoencoder, n: int, seed: int = 0, sampler: str | None = None, label: int | None = None,
                where: dict[str, str] | None = None) -> tuple[dict[str, list], int]:
    """n typed rows of a table model (column -> list), and how many were drawn: codes from the sampler through the
    decoder, categories drawn from its probabilities. ``where`` (column -> value: a category's level, or a whole
    number of an integer column modelled by its values) keeps only the rows that match, drawn from the model's own
    conditional distribution (rows are drawn until n match, at most WHERE_DRAWS); a ValueError names a column or
    value the table does not have, or a condition the model almost never generates."""
    table = model.table
    if table is None:
        raise ValueError("sample_rows needs a table model")
    where = dict(where or {})
    cols = {c.name: c for c in table.schema.columns}
    for k, v in where.items():
        c = cols.get(k)
        if c is None:
            raise ValueError(f"no column {k!r} to select on: the columns are {', '.join(cols)}")
        if not c.onehot:
            raise ValueError(f"column {k!r} holds numbers over a range ({c.lo:g} to {c.hi:g}); select on a "
                             "category, a yes/no or an integer column of few values")
        if v not in c.categories:
            raise ValueError(f"column {k!r} has no level {v!r}: its levels are {', '.join(c.categories)}")
    g = torch.Generator().manual_seed(seed)
    out: dict[str, list] = {name: [] for name in cols}
    tried, got, step = 0, 0, 0
    while got < n:
        m = n if not where else min(max(4 * (n - got), 1000), 100_000, WHERE_DRAWS - tried)
        if m <= 0:
            raise ValueError(f"the model generates rows where {', '.join(f'{k}={v}' for k, v in where.items())} in "
                             f"{got} of {tried} draws: too rare to sample {n}")
        with table_threads(True):  # a table's many small operations: on one thread (aekit.fp)
            rows = table.decode(sample(model, m, seed=_mix_seed(seed, step), sampler=sampler, label=label), g)
        keep = [i for i in range(m) if all(rows[k][i] == cols[k].typed(v) for k, v in where.items())]
        for name in out:
            out[name] += [rows[name][i] for i in keep[:n - got]]
        got, tried, step = got + len(keep[:n - got]), tried + m, step + 1
    return out, tried


def _mix_seed(seed: int, step: int) -> int:
    return seed if step == 0 else (seed * 1_000_003 + step) % (2 ** 63 - 1)
