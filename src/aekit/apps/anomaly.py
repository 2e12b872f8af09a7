"""Anomaly detection: thresholds on reference scores, and scores from the reconstruction error alone or with the
code's distance to the reference codes (Mahalanobis or k nearest neighbours), optionally over local patches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..model import Autoencoder
from ..terms import elementwise_error
from .infer import batched

# Reference samples an AnomalyScorer keeps (see its docstring). Chosen on half of ADBench's sets (500 against 2,000
# and 20,000): a small random reference, as IsolationForest's 256-row subsamples, is not masked by a dense cluster
# of anomalies (http's attacks), and it keeps scoring fast on 600,000-row tables.
MAX_REFERENCE = 500
NEIGHBORS = 30  # the knn score's neighbours, chosen on half of ADBench's sets (benchmarks/bench_adbench.py)
TRAINING_STEPS = 1000  # the default detector's budget of gradient steps, whatever the number of rows


def detector_recipe(n_samples: int, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """Training settings of the default anomaly detector, from the data's size alone (chosen on half of ADBench's
    data sets, see benchmarks/README.md): a small MLP, one hidden layer of 2 x d units (16 to 256) and a code of
    d / 3 (2 to 16) for d features; batches of 256 and about TRAINING_STEPS gradient steps (1 to 200 epochs), so that
    80 rows and 600,000 rows both train in seconds. Returns config fields."""
    d = int(np.prod(sample_shape))
    batch = 256
    epochs = int(np.clip(round(TRAINING_STEPS * batch / max(n_samples, 1)), 1, 200))
    return {"hidden": (int(np.clip(2 * d, 16, 256)),), "latent_dim": int(np.clip(d // 3, 2, 16)),
            "epochs": epochs, "batch_size": batch}


def default_score(sample_shape: tuple[int, ...], table: bool = False) -> str:
    """The default anomaly score for samples of this shape: ``"knn+tails"`` for rows of numbers (1-D samples; chosen
    on half of ADBench's sets), ``"knn"`` for images and sequences (a pixel's or a time step's own distribution is not
    what makes them anomalous), and ``"reconstruction"`` for a table model (``table``: its columns' losses; chosen on
    the development tables with planted anomalies, benchmarks/bench_table_anomaly.py)."""
    if table:
        return "reconstruction"
    return "knn+tails" if len(tuple(sample_shape)) == 1 else "knn"


@dataclass
class Detection:
    scores: np.ndarray  # (N,) anomaly scores of the inputs, higher = more anomalous
    threshold: float  # set on the reference scores
    flags: np.ndarray  # (N,) bool: scores > threshold
    scorer: "AnomalyScorer"


def detect(model: Autoencoder, reference: np.ndarray | torch.Tensor, x: np.ndarray | torch.Tensor,
           method: str = "reconstruction", contamination: str | float = "auto",
           error_window: int | None = None, n_neighbors: int = NEIGHBORS,
           max_reference: int | None = MAX_REFERENCE) -> Detection:
    """Score x, with the threshold set on normal reference data (the training set).

    Parameters
    ----------
    reference : (M, *input_shape) normal data; the scorer's statistics and the threshold come from it.
    x : (N, *input_shape) the inputs to score.
    method, error_window, n_neighbors, max_reference : see :class:`AnomalyScorer`.
    contamination : see :func:`error_threshold`.

    Returns
    -------
    :class:`Detection`: scores (N,), threshold, flags (N,), the fitted scorer.
    """
    error_threshold(np.zeros(1), contamination)  # a clear error before the work
    scorer = AnomalyScorer(model, reference, method, n_neighbors=n_neighbors, error_window=error_window,
                           max_reference=max_reference)
    threshold = error_threshold(scorer.reference_scores, contamination)
    scores = scorer.score(x)
    return Detection(scores, threshold, scores > threshold, scorer)


def run_detector(model: Autoencoder, train_x: np.ndarray | torch.Tensor,
                 x: np.ndarray | torch.Tensor | None = None) -> Detection:
    """A run's one anomaly-scoring rule, the same wherever it is asked (``aekit detect`` with its defaults, the
    service's /score and its page, the report, ``AutoencoderOutlierDetector.from_run``): the default score for the
    model's samples (:func:`default_score`) with the default neighbours and reference (:data:`NEIGHBORS`,
    :data:`MAX_REFERENCE`), fitted on the run's whole training split ``train_x``, and the threshold
    ``contamination="auto"`` on its reference scores. Scores ``x`` when given (else the Detection holds no scores:
    use its scorer and threshold). ``train_x`` may be a streamed split: it is read here."""
    if not torch.is_tensor(train_x) and not isinstance(train_x, np.ndarray):
        train_x = train_x[:]  # (a StreamedArray: the scorer indexes and encodes arrays)
    scorer = AnomalyScorer(model, train_x, default_score(model.input_shape, model.table is not None))
    threshold = error_threshold(scorer.reference_scores, "auto")
    scores = scorer.score(x) if x is not None else np.empty(0)
    return Detection(scores, threshold, scores > threshold, scorer)


def worst_columns(model: Autoencoder, x: np.ndarray | torch.Tensor) -> list[tuple[str, float]]:
    """For a table model's encoded rows x (N, width): per row the column it is rebuilt worst in (the largest of its
    columns' losses, :func:`aekit.apps.reconstruction_error` with ``per_feature``) and that loss's share of the
    row's total, 0 to 1: which column made the row anomalous."""
    if model.table is None:
        raise ValueError("worst_columns is for a table model (its rows' losses by column)")
    from .infer import reconstruction_error

    per = reconstruction_error(model, x, per_feature=True)  # (N, columns)
    names, worst = model.table.schema.names, per.argmax(1)
    return [(names[k], float(per[i, k] / max(per[i].sum(), 1e-12))) for i, k in enumerate(worst)]


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
    its neighbours other than itself, whether it is scored in fitting or later), which follows codes that are not
    Gaussian (several styles of one digit).

    ``"knn+tails"`` (the default for tables, see :func:`default_score`): the knn score plus a third part, how far
    out each feature of the input lies in that feature's distribution over the reference samples (the sum over
    features of -log of the left and of the right tail probabilities, as ECOD does), so that a sample extreme in one
    feature, which the decoder may reconstruct well, is flagged too; the three parts are standardised robustly
    (median and IQR / 1.349 over the reference samples), so that a few extreme training samples do not set the
    scale.

    ``error_window`` (images only): measure the reconstruction error as the largest mean squared error over any
    ``error_window x error_window`` patch (channels averaged) instead of the mean over the whole image, so that a
    difference confined to one part of an image (a closed loop that makes a 3 an 8) is not diluted by the rest.

    ``max_reference``: at most this many reference samples (a fixed random subset of larger sets; None: all) provide
    the statistics, the neighbours and ``reference_scores``: a dense cluster of anomalies in a large training set
    then has few members among the neighbours, and scoring stays fast on 600,000-row tables.
    """

    METHODS = ("reconstruction", "combined", "knn", "knn+tails")

    def __init__(self, model: Autoencoder, reference: np.ndarray | torch.Tensor, method: str = "reconstruction",
                 ridge: float = 1e-3, n_neighbors: int = NEIGHBORS, error_window: int | None = None,
                 max_reference: int | None = MAX_REFERENCE) -> None:
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        check_error_window(model.input_shape, error_window)
        self.error_window = error_window
        if max_reference is not None and len(reference) > max_reference:  # a fixed random subset: the statistics
            keep = np.sort(np.random.default_rng(0).choice(len(reference), max_reference, replace=False))
            reference = reference[torch.from_numpy(keep) if torch.is_tensor(reference) else keep]
        if method in ("knn", "knn+tails") and len(reference) < 2:
            raise ValueError(f"the knn anomaly score needs at least 2 training samples, got {len(reference)} sample"
                             "; use anomaly_score='reconstruction' (--score reconstruction) for fewer")
        self.model, self.method = model, method
        err, z = self._error_and_code(reference)
        if method == "combined":
            self.mu = z.mean(0)
            cov = np.atleast_2d(np.cov(z.T)) if len(z) > 1 else np.eye(z.shape[1])
            self.precision = np.linalg.inv(cov + ridge * np.eye(z.shape[1]))
        elif method != "reconstruction":
            self.k = min(n_neighbors, len(z) - 1)
            self.reference_codes = torch.from_numpy(np.asarray(z, dtype=np.float64))  # (M, L)
        if method == "knn+tails":
            self.sorted_reference = np.sort(_rows(reference), 0)  # (M, D): each feature's reference values, sorted
        parts = self._parts(reference, err, z)
        robust = method == "knn+tails"
        self.part_stats = [_center_and_scale(p, robust) for p in parts] if len(parts) > 1 else []
        self.reference_scores = self._combine(parts)

    def _error_and_code(self, x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample reconstruction MSE (N,) and codes (N, L), from one encoder pass."""
        model = self.model

        def fn(xb: torch.Tensor) -> torch.Tensor:
            z, x_hat = model.encode_and_reconstruct(xb)
            if model.table is not None:  # a table row: the mean of its columns' losses
                e = model.table.loss_matrix(x_hat, xb).mean(1)
                return torch.cat([e[:, None], z.flatten(1)], 1)
            err, count = elementwise_error(model.normalize(x_hat), model.normalize(xb), "mse")  # (B, D), (B,)
            if self.error_window is not None:
                e = local_error(err, model.input_shape, self.error_window)
            else:
                e = err.sum(1) / count
            return torch.cat([e[:, None], z.flatten(1)], 1)  # (B, 1 + L), a spatial code flattened

        out = batched(model, x, fn).astype(np.float64)
        return out[:, 0], out[:, 1:]

    def _code_distance(self, z: np.ndarray) -> np.ndarray:
        """(N, L) codes -> (N,) distances to the reference codes."""
        if self.method == "combined":
            c = z - self.mu
            return np.einsum("ij,jk,ik->i", c, self.precision, c)
        # A code at (next to) no distance from a reference code is that sample or its duplicate: leave one copy of it
        # out, so that a training sample scores the same in fit as when it is scored again later. "Next to": a
        # sample's code may differ in the last bits when it is encoded beside other samples.
        d = nearest_distances(z, self.reference_codes, self.k + 1)  # (N, k + 1), sorted
        itself = d[:, 0] <= 1e-5 * d[:, 1]
        return np.where(itself, d[:, 1:].mean(1), d[:, :-1].mean(1))

    def _tails(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N, *input_shape) -> (N,): the sum over features of -log P(reference value <= x_j) - log P(reference
        value >= x_j), each probability counted among the M reference samples with one added (so never 0)."""
        x, ref = _rows(x), self.sorted_reference
        m = len(ref)
        out = np.zeros(len(x))
        for j in range(x.shape[1]):
            below = np.searchsorted(ref[:, j], x[:, j], side="right")  # reference values <= x_j
            above = m - np.searchsorted(ref[:, j], x[:, j], side="left")  # reference values >= x_j
            out -= np.log((below + 1) / (m + 1)) + np.log((above + 1) / (m + 1))
        return out

    def _parts(self, x: np.ndarray | torch.Tensor, err: np.ndarray, z: np.ndarray) -> list[np.ndarray]:
        """The score's parts (N,) each: the error, then the code distance, then the tails (as the method has)."""
        parts = [err]
        if self.method != "reconstruction":
            parts.append(self._code_distance(z))
        if self.method == "knn+tails":
            parts.append(self._tails(x))
        return parts

    def _combine(self, parts: list[np.ndarray]) -> np.ndarray:
        if len(parts) == 1:
            return parts[0]
        return sum((p - c) / s for p, (c, s) in zip(parts, self.part_stats))

    def score(self, x: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N,) anomaly scores."""
        return self._combine(self._parts(x, *self._error_and_code(x)))


def nearest_distances(z: np.ndarray, reference: torch.Tensor, k: int) -> np.ndarray:
    """Euclidean distances from each code (N, L) to its ``k`` nearest reference codes (M, L), ascending: (N, k).

    Brute force in float64 with the differences themselves (not |a|^2 - 2ab + |b|^2, whose cancellation would blur
    the zero distance of a sample to itself), in chunks of queries; exact, and without importing a neighbours index
    (scikit-learn's costs a second at start-up)."""
    q = torch.from_numpy(np.asarray(z, dtype=np.float64))
    step = max(1, 2 ** 22 // max(1, len(reference)))
    out = [torch.cdist(q[i:i + step], reference, compute_mode="donot_use_mm_for_euclid_dist")
           .topk(k, dim=1, largest=False, sorted=True).values for i in range(0, len(q), step)]
    return torch.cat(out).numpy() if out else np.empty((0, k))


def _rows(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, *shape) -> (N, D) float64."""
    x = x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)
    return x.reshape(len(x), -1).astype(np.float64)


def _center_and_scale(values: np.ndarray, robust: bool) -> tuple[float, float]:
    """(median, IQR / 1.349) when robust, else (mean, standard deviation); a zero scale falls back to the standard
    deviation, then to 1."""
    sd = float(values.std())
    if robust:
        q1, med, q3 = np.percentile(values, [25, 50, 75])
        return float(med), float(q3 - q1) / 1.349 or sd or 1.0
    return float(values.mean()), sd or 1.0
