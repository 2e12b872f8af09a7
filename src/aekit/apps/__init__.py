"""Thin functions over a trained model: codes, reconstructions, interpolation, sampling, errors.

All take and return numpy arrays (or tensors) with the sample axis first and work in batches in eval mode.
"""

from __future__ import annotations

import numpy as np
import torch

from ..model import Autoencoder
from ..terms import elementwise_error


def _device(model: Autoencoder) -> torch.device:
    return next(model.parameters()).device


CHUNK = 128  # rows of every inference forward pass


def _batches(model: Autoencoder, x: np.ndarray | torch.Tensor, fn, batch_size: int = CHUNK) -> np.ndarray:
    """Apply fn to x in chunks on the model's device, in eval mode without gradients; concatenate as numpy.

    Every call of fn sees exactly ``batch_size`` rows: the last chunk is padded with copies of its first row, and
    the padding's outputs are dropped. Kernels (matrix products, convolutions) pick their algorithm by shape, so a
    sample's result would otherwise depend on how many other samples came with it (on some CPUs by ~1e-7); with one
    shape for every call it is the same whichever samples share its call.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x, dtype=torch.float32)
    model.check_input(x)
    was = model.training
    model.eval()
    dev = _device(model)
    outs = []
    try:
        with torch.no_grad():
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size]
                k = len(xb)
                if k < batch_size:  # (k, ...) -> (batch_size, ...)
                    xb = torch.cat([xb, xb[:1].expand(batch_size - k, *xb.shape[1:])])
                outs.append(fn(xb.to(dev))[:k].cpu().numpy())
    finally:
        model.train(was)
    return np.concatenate(outs) if outs else np.empty((0,))


def encode(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """(N, *input_shape) -> (N, L) codes (the mean for a VAE)."""
    return _batches(model, x, model.encode, batch_size)


def reconstruct(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """(N, *input_shape) -> (N, *input_shape)."""
    return _batches(model, x, model.reconstruct, batch_size)


def decode(model: Autoencoder, z: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, L) -> (N, *input_shape)."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32))
    if z.ndim != 2 or z.shape[1] != model.latent_dim:
        raise ValueError(f"codes of shape {tuple(z.shape)} do not fit: expected (N, {model.latent_dim})")
    model.eval()
    with torch.no_grad():
        return model.decode(z.to(_device(model))).cpu().numpy()


def reconstruction_error(model: Autoencoder, x: np.ndarray | torch.Tensor, kind: str = "mse",
                         per_feature: bool = False, batch_size: int = CHUNK) -> np.ndarray:
    """Per-sample mean error (N,), or per-element error (N, *input_shape) with per_feature=True."""
    def fn(xb: torch.Tensor) -> torch.Tensor:
        err, count = elementwise_error(model.reconstruct(xb), xb, kind)
        return err.view(xb.shape) if per_feature else err.sum(1) / count

    return _batches(model, x, fn, batch_size)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between vectors a and b (falls back to linear when they are parallel)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos = np.clip(np.dot(a, b) / max(na * nb, 1e-12), -1.0, 1.0)
    omega = np.arccos(cos)
    if omega < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)


def interpolate_codes(za: np.ndarray, zb: np.ndarray, steps: int = 5, method: str = "linear") -> np.ndarray:
    """(L,), (L,) -> (steps, L): codes from za to zb inclusive."""
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
    z = encode(model, np.stack([xa, xb]))
    return decode(model, interpolate_codes(z[0], z[1], steps, method))


def sample(model: Autoencoder, n: int, seed: int = 0) -> np.ndarray:
    """n draws from a VAE's prior through the decoder: (n, *input_shape)."""
    model.eval()
    with torch.no_grad():
        return model.sample(n, torch.Generator().manual_seed(seed)).cpu().numpy()


def psnr(clean: np.ndarray, other: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(range^2 / MSE)."""
    mse = float(np.mean((np.asarray(clean, np.float64) - np.asarray(other, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(data_range ** 2 / mse)


def error_threshold(errors: np.ndarray, contamination: str | float = "auto") -> float:
    """The reconstruction error above which a sample is an outlier, from reference (training) errors: the
    (1 - contamination) quantile, or for 'auto' the median plus 3 robust standard deviations (1.4826 x MAD)."""
    errors = np.asarray(errors, dtype=np.float64)
    if contamination == "auto":
        med = np.median(errors)
        return float(med + 3 * 1.4826 * np.median(np.abs(errors - med)))
    if not isinstance(contamination, (int, float)) or not 0.0 < contamination <= 0.5:
        raise ValueError(f"contamination must be 'auto' or a float in (0, 0.5], got {contamination!r}")
    return float(np.percentile(errors, 100.0 * (1.0 - contamination)))


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 seed: int = 0) -> float:
    """Test accuracy of a standardised logistic regression fitted on (train_x, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(train_x.reshape(len(train_x), -1), train_y)
    return float(clf.score(test_x.reshape(len(test_x), -1), test_y))


def probe(model: Autoencoder, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
          test_y: np.ndarray) -> dict[str, float]:
    """Linear-probe accuracy on the model's codes, on PCA codes of the same size, and on the raw inputs."""
    from sklearn.decomposition import PCA

    L = model.latent_dim
    flat_tr, flat_te = train_x.reshape(len(train_x), -1), test_x.reshape(len(test_x), -1)
    pca = PCA(L, random_state=0).fit(flat_tr)
    return {
        f"codes_{L}d": linear_probe(encode(model, train_x), train_y, encode(model, test_x), test_y),
        f"pca_{L}d": linear_probe(pca.transform(flat_tr), train_y, pca.transform(flat_te), test_y),
        f"raw_{flat_tr.shape[1]}d": linear_probe(flat_tr, train_y, flat_te, test_y),
    }


def log_likelihood(model: Autoencoder, x: np.ndarray | torch.Tensor, k: int = 1000, batch_size: int = 50,
                   seed: int = 0) -> np.ndarray:
    """Importance-weighted estimate of log p(x) in nats per sample (Burda et al. 2016), for a VAE with a Bernoulli
    decoder (recon 'bce'): log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), z_i ~ q(z | x). With k=1 its
    expectation is the ELBO. (N,)"""
    import math

    if not model.is_variational or model.config.loss.recon != "bce":
        raise ValueError("log_likelihood needs a variational model with a Bernoulli decoder (--variant vae --recon bce)")
    if not isinstance(model.bottleneck.act, torch.nn.Identity) or not isinstance(model.out_act, torch.nn.Sigmoid):
        raise ValueError("log_likelihood needs the code to be the Gaussian sample itself (no sparse code "
                         "activation) and a sigmoid output (the decoder then gives Bernoulli logits)")
    x = torch.as_tensor(np.asarray(x, dtype=np.float32)) if not torch.is_tensor(x) else x.float()
    model.check_input(x)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    dev = _device(model)
    out = []
    log2pi = math.log(2 * math.pi)
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            b = model.bottleneck(model.encoder(xb))
            mu, logvar = b.mu, b.logvar  # (B, L)
            eps = torch.randn(k, *mu.shape, generator=gen).to(dev)  # (k, B, L)
            z = mu + torch.exp(0.5 * logvar) * eps
            log_q = -0.5 * (eps.pow(2) + logvar + log2pi).sum(-1)  # (k, B)
            log_pz = -0.5 * (z.pow(2) + log2pi).sum(-1)
            logits = model.decoder(z.flatten(0, 1)).view(k, len(xb), -1)  # decoder before its sigmoid
            target = xb.flatten(1).expand(k, -1, -1)
            log_px = -torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
            out.append((torch.logsumexp(log_px + log_pz - log_q, 0) - math.log(k)).cpu())
    return torch.cat(out).numpy()


def check_error_window(shape: tuple[int, ...], window: int | None) -> None:
    """Raise a ValueError unless ``window`` is None or a patch size that fits images of ``shape`` (C, H, W)."""
    if window is None:
        return
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(f"error_window needs image inputs (C, H, W); these inputs have shape {shape}")
    if not isinstance(window, (int, np.integer)) or not 1 <= window <= min(shape[1:]):
        raise ValueError(f"error_window must be an integer from 1 to {min(shape[1:])} for {shape} images, "
                         f"got {window!r}")


def local_error(err: torch.Tensor, shape: tuple[int, ...], window: int) -> torch.Tensor:
    """(B, C*H*W) elementwise errors of (C, H, W) images -> (B,): the largest mean error over any window x window
    patch, channels averaged."""
    maps = err.view(-1, *shape).mean(1, keepdim=True)  # (B, 1, H, W)
    return torch.nn.functional.avg_pool2d(maps, window, stride=1).flatten(1).amax(1)


class AnomalyScorer:
    """Anomaly scores from a model and reference (normal, training) data. Higher = more anomalous.

    ``method="reconstruction"``: the reconstruction error itself. The two others add to it, each standardised by its
    mean and standard deviation on the reference data, a distance of the code to the reference codes, so that inputs
    the decoder reconstructs well but whose codes fall where no normal code lies are flagged too:
    ``"combined"``: the Mahalanobis distance to a Gaussian fitted on the reference codes;
    ``"knn"``: the mean Euclidean distance to the ``n_neighbors`` nearest reference codes (for a reference sample,
    its neighbours other than itself), which follows codes that are not Gaussian (several styles of one digit).

    ``error_window`` (images only): measure the reconstruction error as the largest mean squared error over any
    ``error_window x error_window`` patch (channels averaged) instead of the mean over the whole image, so that a
    difference confined to one part of an image (a closed loop that makes a 3 an 8) is not diluted by the rest.
    """

    METHODS = ("reconstruction", "combined", "knn")

    def __init__(self, model: Autoencoder, reference: np.ndarray | torch.Tensor, method: str = "reconstruction",
                 ridge: float = 1e-3, n_neighbors: int = 10, error_window: int | None = None) -> None:
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        check_error_window(model.input_shape, error_window)
        self.error_window = error_window
        if method == "knn" and len(reference) < 2:
            raise ValueError("the knn anomaly score needs at least 2 reference samples")
        self.model, self.method = model, method
        err, z = self._error_and_code(reference)
        self.err_stats = (float(err.mean()), float(err.std()) or 1.0)
        if method == "combined":
            self.mu = z.mean(0)
            cov = np.atleast_2d(np.cov(z.T)) if len(z) > 1 else np.eye(z.shape[1])
            self.precision = np.linalg.inv(cov + ridge * np.eye(z.shape[1]))
        elif method == "knn":
            from sklearn.neighbors import NearestNeighbors

            self.k = min(n_neighbors, len(z) - 1)
            self.neighbors = NearestNeighbors(n_neighbors=self.k).fit(z)
        if method != "reconstruction":
            d = self._code_distance(z, reference=True)
            self.code_stats = (float(d.mean()), float(d.std()) or 1.0)
        self.reference_scores = self._combine(err, z, reference=True)

    def _error_and_code(self, x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample reconstruction MSE (N,) and codes (N, L), from one encoder pass."""
        model = self.model

        def fn(xb: torch.Tensor) -> torch.Tensor:
            z = model.encode(xb)
            err, count = elementwise_error(model.decode(z, model._steps(xb)), xb, "mse")  # (B, D), (B,)
            if self.error_window is not None:
                e = local_error(err, model.input_shape, self.error_window)
            else:
                e = err.sum(1) / count
            return torch.cat([e[:, None], z], 1)  # (B, 1 + L)

        out = _batches(model, x, fn).astype(np.float64)
        return out[:, 0], out[:, 1:]

    def _code_distance(self, z: np.ndarray, reference: bool = False) -> np.ndarray:
        """(N, L) codes -> (N,) distances to the reference codes."""
        if self.method == "combined":
            c = z - self.mu
            return np.einsum("ij,jk,ik->i", c, self.precision, c)
        if reference:  # each reference code's nearest neighbours include itself at distance 0: leave it out
            return self.neighbors.kneighbors(z, self.k + 1)[0][:, 1:].mean(1)  # sorted: the 0 comes first
        return self.neighbors.kneighbors(z)[0].mean(1)

    def _combine(self, err: np.ndarray, z: np.ndarray, reference: bool = False) -> np.ndarray:
        if self.method == "reconstruction":
            return err
        d = self._code_distance(z, reference)
        return (err - self.err_stats[0]) / self.err_stats[1] + (d - self.code_stats[0]) / self.code_stats[1]

    def score(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N,) anomaly scores."""
        return self._combine(*self._error_and_code(x))
