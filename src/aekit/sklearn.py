"""scikit-learn estimators over aekit's models: :class:`AutoencoderTransformer` (codes as features),
:class:`AutoencoderOutlierDetector`, :class:`AutoencoderClassifier` (semi-supervised: -1 marks an unlabelled
sample, as in ``sklearn.semi_supervised``) and :class:`AutoencoderSynthesizer` (synthetic rows of a table).

They follow scikit-learn's rules: ``__init__`` stores its (flat) parameters and nothing else; validation, seeding
and device choice happen in ``fit``; fitted attributes end in ``_``; ``fit`` returns ``self``. The outlier
detector follows sklearn's sign conventions: ``score_samples`` is higher for more normal samples,
``decision_function`` is negative for outliers, ``predict`` gives +1 (inlier) / -1 (outlier).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from sklearn.base import (BaseEstimator, ClassifierMixin, ClassNamePrefixFeaturesOutMixin, OutlierMixin,
                          TransformerMixin)
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data

from . import apps
from .config import Config, LossConfig, ModelConfig, TrainConfig
from .data import Split
from .train import fit as _fit

# only AutoencoderClassifier's
CLASSIFIER_PARAMS = ("classify_weight", "consistency_weight", "pseudo_weight", "label_batch", "view_degrees",
                     "view_noise", "neighbour_share")
_NOT_PARAMS = ("input_shape", "seed", "classes", "table", "sampler", "sampler_components", "members",
               *CLASSIFIER_PARAMS)  # (members: an ensemble, which only the imputer averages)


def config_params(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The config fields an estimator exposes as parameters: every model, loss and training field, except the input
    shape (taken from X), the seed (``random_state``, sklearn's way), the class count (from y), the sampler (not
    fitted: estimators do not generate), an ensemble's size (the imputer's own parameter) and the classifier's own
    fields, which only ``extra`` adds."""
    secs = (ModelConfig, LossConfig, TrainConfig)
    return tuple(f.name for sec in secs for f in dataclasses.fields(sec)
                 if f.name not in _NOT_PARAMS or f.name in extra)


class _AutoencoderBase(BaseEstimator):
    """Shared parameters, fitting and scoring of the two estimators.

    Parameters
    ----------
    arch : "auto" (by the shape of X: mlp for (n, d), rnn for (n, T, F), conv for (n, C, H, W)), "mlp", "conv", "rnn".
    variant : variants joined by "+": vanilla, sparse, denoising, vae, contractive (e.g. "vae+denoising").
    latent_dim : size of the code ("auto": from the data's shape, see :func:`aekit.apps.detector_recipe`).
    hidden, activation, output_activation, code_activation : the MLP's hidden sizes and activations.
    channels : conv channels per stride-2 stage; spatial_code: a code of latent_dim channels per position;
        conv_depth: convolutions in each stage of the conv encoder (the stride-2 one and conv_depth - 1 of stride 1).
    cell, rnn_hidden, rnn_layers : the recurrent net.
    standardize : "auto" (robust for tables: 2-D X not in [0, 1]), "robust" (each feature centred on its training
        median and scaled by its interquartile range / 1.349, inverted for reconstructions) or "none".
    recon : "mse" or "bce". rho, sparsity_beta : sparse. kl_beta : vae. contractive_lambda : contractive.
    noise, noise_level : denoising corruption. rate_lambda, train_quantization, code_prior : rate (compression).
    recon_share : the share of each training batch that is reconstructed (1: all; below, the decoder runs on fewer
        samples a step, where the reconstruction only regularises another objective).
    epochs, batch_size, lr, weight_decay, schedule, val_fraction, patience : training ("auto" for hidden, epochs
        and batch_size: from the data's shape, as latent_dim).
    device, amp, compile : where and how to run ("auto" device: a GPU when there is one).
    augment_shift : images: translate each training image by a random -s..s pixels at every step (0: off).
    random_state : int, RandomState or None; seeds the initial weights, the order of batches and the noise.
    verbose : print each epoch's record.
    """

    def __init__(self, arch: str = "auto", variant: str = "vanilla", latent_dim: int = 8,
                 hidden: tuple[int, ...] = (64,), activation: str = "relu", output_activation: str = "auto",
                 code_activation: str = "identity", channels: tuple[int, ...] = (32, 64), spatial_code: bool = False,
                 conv_depth: int = 1,
                 cell: str = "gru", rnn_hidden: int = 64, rnn_layers: int = 1, standardize: str = "auto",
                 recon: str = "mse", rho: float = 0.05,
                 sparsity_beta: float = 0.1, kl_beta: float = 1.0, contractive_lambda: float = 1e-4,
                 noise: str = "gaussian", noise_level: float = 0.1, rate_lambda: float = 0.01,
                 train_quantization: str = "noise", code_prior: str = "auto", recon_share: float = 1.0,
                 epochs: int = 50, batch_size: int = 64,
                 lr: float = 1e-3, weight_decay: float = 0.0, schedule: str = "none", val_fraction: float = 0.0,
                 patience: int = 0, device: str = "auto", amp: str = "none", compile: bool = False,
                 augment_shift: int = 0,
                 random_state: int | np.random.RandomState | None = None, verbose: bool = False) -> None:
        self.arch = arch
        self.variant = variant
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.activation = activation
        self.output_activation = output_activation
        self.code_activation = code_activation
        self.channels = channels
        self.spatial_code = spatial_code
        self.conv_depth = conv_depth
        self.cell = cell
        self.rnn_hidden = rnn_hidden
        self.rnn_layers = rnn_layers
        self.standardize = standardize
        self.recon = recon
        self.rho = rho
        self.sparsity_beta = sparsity_beta
        self.kl_beta = kl_beta
        self.contractive_lambda = contractive_lambda
        self.noise = noise
        self.noise_level = noise_level
        self.rate_lambda = rate_lambda
        self.train_quantization = train_quantization
        self.code_prior = code_prior
        self.recon_share = recon_share
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.val_fraction = val_fraction
        self.patience = patience
        self.device = device
        self.amp = amp
        self.compile = compile
        self.augment_shift = augment_shift
        self.random_state = random_state
        self.verbose = verbose

    def _validate(self, X, reset: bool) -> np.ndarray:
        if (_table_frame(X) if reset else getattr(self, "table_", None) is not None):  # (fitted on numbers: a
            return self._table_rows(X, reset)  # table's DataFrame gets validate_data's own error below)
        if reset:
            self.table_ = None
        return validate_data(self, X, reset=reset, allow_nd=True, dtype=[np.float32, np.float64],
                             ensure_min_samples=1).astype(np.float32, copy=False)

    def _table_rows(self, X, reset: bool) -> np.ndarray:
        """A DataFrame with text, category or boolean columns, or holes: a table (:mod:`aekit.table`), its schema
        read at fit (``table_``: the codec), its rows encoded; a category ``fit`` never saw is scored as unknown."""
        from .data.table import read_table
        from .table import TableCodec, infer_schema

        if not hasattr(X, "columns"):
            raise ValueError("this estimator was fitted on a DataFrame of mixed columns: give a DataFrame with the "
                             f"columns {list(self.feature_names_in_)}")
        cols = read_table(X, "X")
        if reset:
            self.table_ = TableCodec(infer_schema(cols)).fit(cols)
            self.feature_names_in_ = np.asarray(list(cols), dtype=object)
            self.n_features_in_ = len(cols)
        elif list(cols) != list(self.feature_names_in_):
            raise ValueError(f"X has the columns {list(cols)}; the estimator was fitted with "
                             f"{list(self.feature_names_in_)}")
        return self.table_.encode(cols, "X", unknown="error" if reset else "zeros")

    def _fit_model(self, X, y: np.ndarray | None = None, variant: str | None = None,
                   extra: tuple[str, ...] = (), recipe: dict | None = None) -> np.ndarray:
        if y is None:
            X = self._validate(X, reset=True)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        params = {k: getattr(self, k) for k in config_params(extra)}
        auto = recipe if recipe is not None else apps.detector_recipe(len(X), X.shape[1:])
        params.update({k: v for k, v in auto.items() if k in params and _is_auto(params[k])})
        params = {k: v for k, v in params.items() if not _is_auto(v)}  # the rest: the config's defaults
        cfg = Config().override(variant=variant or self.variant, seed=seed, sampler="none", **params)
        res = _fit(cfg, Split(_torch_tensor(X), y, table=getattr(self, "table_", None)), quiet=not self.verbose,
                   on_epoch=(lambda r: print(r)) if self.verbose else None)
        self.model_ = res.model.cpu().eval()
        self.config_ = res.model.config
        self.history_ = res.history
        return X

    def reconstruction_error(self, X, per_feature: bool = False) -> np.ndarray:
        """Mean squared reconstruction error per sample (n_samples,), or per input feature (same shape as X) with
        ``per_feature=True``: which inputs made a sample anomalous."""
        check_is_fitted(self)
        err = apps.reconstruction_error(self.model_, self._validate(X, reset=False), "mse", per_feature)
        return err.astype(np.float64)

    def score(self, X, y=None) -> float:
        """Negative mean reconstruction error (higher is better)."""
        return -float(self.reconstruction_error(X).mean())


def _base_arguments(arguments: dict) -> dict:
    """The arguments of a subclass's ``__init__`` that :class:`_AutoencoderBase` stores (its own parameters)."""
    import inspect

    names = [n for n in inspect.signature(_AutoencoderBase.__init__).parameters if n != "self"]
    return {n: arguments[n] for n in names}


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _table_frame(X) -> bool:
    """A pandas DataFrame read as a table: with a column that is not numbers (text, categories, booleans), or with
    holes (NaN, None) in its numbers, which a table's codec reads as holes where an array of numbers refuses them."""
    dtypes = getattr(X, "dtypes", None)
    if not hasattr(X, "columns") or dtypes is None:
        return False
    return any(getattr(d, "kind", "O") not in "iuf" for d in dtypes) or bool(X.isna().to_numpy().any())


def _torch_tensor(X: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(X))


class AutoencoderTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _AutoencoderBase):
    """Codes as features: ``transform`` encodes to (n_samples, latent_dim), ``inverse_transform`` decodes.

    Fitted attributes: ``model_`` (:class:`aekit.Autoencoder`), ``config_``, ``history_``, ``n_features_in_``.
    """

    def fit(self, X, y=None) -> "AutoencoderTransformer":
        """Train on X (n_samples, n_features) or (n_samples, *shape); y is ignored. Returns self."""
        self._fit_model(X)
        self._n_features_out = self.config_.model.latent_dim
        return self

    def transform(self, X) -> np.ndarray:
        """Codes of X: (n_samples, latent_dim) float32."""
        check_is_fitted(self)
        return apps.encode(self.model_, self._validate(X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # codes are float32, whatever the input's dtype
        return tags

    def inverse_transform(self, X):
        """Codes (n_samples, latent_dim) -> reconstructions in the input's shape (for a model fitted on a DataFrame
        of mixed columns: a DataFrame of typed rows with its columns)."""
        check_is_fitted(self)
        Z = np.asarray(X, dtype=np.float32)
        out = apps.decode(self.model_, Z)
        if getattr(self, "table_", None) is not None:
            import pandas as pd

            return pd.DataFrame(self.table_.decode(out))
        return out


class AutoencoderOutlierDetector(OutlierMixin, _AutoencoderBase):
    """Anomaly detection by reconstruction error and by the code's distance to the training codes.

    The defaults are one recipe for any table, chosen on half of ADBench's 28 data sets and measured on the other
    half (``benchmarks/bench_adbench.py``): features standardised robustly (``standardize="auto"``); ``"auto"``
    sizes from the data's shape (:func:`aekit.apps.detector_recipe`: a hidden layer of 2 x d units, a code of d / 3,
    about 1,000 steps of 256 rows); the ``'knn+tails'`` score (``anomaly_score="auto"``; ``'knn'`` for images and
    sequences) with ``n_neighbors=30`` among ``max_reference=500`` random training samples (None: all; the threshold
    ``offset_`` comes from their scores). Any of them can be set by hand.

    ``contamination``: the expected fraction of outliers in the training data, which sets the threshold
    ``offset_`` at that quantile of the training scores; ``'auto'`` flags scores above the training median plus
    3 robust standard deviations (1.4826 x the median absolute deviation), without assuming a fraction.
    ``anomaly_score``: ``'reconstruction'`` (the error), ``'combined'`` (standardised error + standardised Mahalanobis
    distance of the code to the training codes) or ``'knn'`` (standardised error + standardised mean distance to the
    ``n_neighbors`` nearest training codes), ``'knn+tails'`` (the knn score's parts and how far out each feature
    lies in its own training distribution, all three standardised robustly) or ``'auto'`` (``'knn+tails'`` for rows
    of a table, ``'knn'`` otherwise: :func:`aekit.apps.default_score`); see :class:`aekit.apps.AnomalyScorer`.
    ``error_window`` (images): the error is the largest mean squared error over any ``error_window x error_window``
    patch instead of the whole-image mean.
    """

    def __init__(self, arch: str = "auto", variant: str = "vanilla", latent_dim: int | str = "auto",
                 hidden: tuple[int, ...] | str = "auto", activation: str = "relu", output_activation: str = "auto",
                 code_activation: str = "identity", channels: tuple[int, ...] = (32, 64), spatial_code: bool = False,
                 conv_depth: int = 1,
                 cell: str = "gru", rnn_hidden: int = 64, rnn_layers: int = 1, standardize: str = "auto",
                 recon: str = "mse", rho: float = 0.05,
                 sparsity_beta: float = 0.1, kl_beta: float = 1.0, contractive_lambda: float = 1e-4,
                 noise: str = "gaussian", noise_level: float = 0.1, rate_lambda: float = 0.01,
                 train_quantization: str = "noise", code_prior: str = "auto", recon_share: float = 1.0,
                 epochs: int | str = "auto", batch_size: int | str = "auto",
                 lr: float = 1e-3, weight_decay: float = 0.0, schedule: str = "none", val_fraction: float = 0.0,
                 patience: int = 0, device: str = "auto", amp: str = "none", compile: bool = False,
                 augment_shift: int = 0,
                 random_state: int | np.random.RandomState | None = None, verbose: bool = False,
                 contamination: str | float = "auto", anomaly_score: str = "auto", n_neighbors: int = apps.NEIGHBORS,
                 max_reference: int | None = apps.MAX_REFERENCE, error_window: int | None = None) -> None:
        super().__init__(**_base_arguments(locals()))
        self.contamination = contamination
        self.anomaly_score = anomaly_score
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference
        self.error_window = error_window

    def fit(self, X, y=None) -> "AutoencoderOutlierDetector":
        """Train on X (normal data, or data with a few anomalies; y is ignored), fit the anomaly scorer and set the
        threshold ``offset_`` from the training scores. Returns self."""
        apps.error_threshold(np.zeros(1), self.contamination)  # validate before the (long) training
        if self.anomaly_score not in ("auto", *apps.AnomalyScorer.METHODS):
            raise ValueError(f"anomaly_score must be 'auto' or one of {apps.AnomalyScorer.METHODS}, "
                             f"got {self.anomaly_score!r}")
        if self.error_window is not None:  # before the (long) training; np.shape only when there is a window to check
            apps.check_error_window(np.shape(X)[1:], self.error_window)
        X = self._fit_model(X)
        method = apps.default_score(self.model_.input_shape, self.model_.table is not None) \
            if self.anomaly_score == "auto" else self.anomaly_score
        self.scorer_ = apps.AnomalyScorer(self.model_, X, method, n_neighbors=self.n_neighbors,
                                          error_window=self.error_window, max_reference=self.max_reference)
        self.offset_ = -apps.error_threshold(self.scorer_.reference_scores, self.contamination)
        return self

    @classmethod
    def from_run(cls, run_dir) -> "AutoencoderOutlierDetector":
        """A fitted detector from a trained run directory, with the run's one scoring rule
        (:func:`aekit.apps.run_detector`: its default score, fitted on the run's training data, and its threshold):
        the scores and flags ``aekit detect`` and ``aekit serve`` give for that run."""
        from . import checkpoint as ckpt
        from .data import load_data

        model = ckpt.load(run_dir)
        data = load_data(model.config.data, seed=model.config.train.seed, download=False)
        det = apps.run_detector(model, data.train.x)
        m = model.config.model
        est = cls(arch=m.arch, variant=model.config.variant_name, latent_dim=m.latent_dim, hidden=m.hidden,
                  anomaly_score=det.scorer.method)
        est.model_, est.config_, est.history_ = model, model.config, ckpt.read_history(run_dir)
        est.scorer_, est.offset_ = det.scorer, -det.threshold
        est.n_features_in_ = model.input_shape[0]  # what validate_data reads from X of the model's shape
        return est

    def score_samples(self, X) -> np.ndarray:
        """Negative anomaly score (the reconstruction error, or the combined score): higher = more normal."""
        check_is_fitted(self)
        return -self.scorer_.score(self._validate(X, reset=False))

    def decision_function(self, X) -> np.ndarray:
        """score_samples - offset_: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X) -> np.ndarray:
        """+1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)


class AutoencoderClassifier(ClassifierMixin, _AutoencoderBase):
    """Semi-supervised classification: an autoencoder with a classifier head on its code (the classifier variant),
    trained on every sample's reconstruction, the labelled samples' cross-entropy and the agreement of two random
    views of every sample (see :mod:`aekit.terms`). In ``y``, -1 marks an unlabelled sample, as in
    ``sklearn.semi_supervised``; labels may be any values sklearn accepts (``classes_``).

    Parameters: those of :class:`AutoencoderTransformer`, and ``classify_weight`` (of the cross-entropy),
    ``consistency_weight`` (of the views' agreement), ``pseudo_weight`` (of the pseudo-labels: a second view's
    class where it is at least 95 % sure; ``"auto"``: the recipe's, 3), ``label_batch`` (labelled rows added to
    every step), ``view_degrees`` (the views of images also rotated by up to this many degrees and scaled by up to
    10 %; 0: neither; ``"auto"``: the recipe's, 15), ``view_noise`` (the standard deviation of the views' Gaussian
    noise on the standardised scale; ``"auto"``: the recipe's, 0.1 for images and 0.3 for rows) and
    ``neighbour_share`` (the share of the training steps, the first ones, whose targets also take in a weak view of
    one of each sample's 10 nearest training samples; ``"auto"``: the recipe's, 0.5 for images and 0 for rows).
    ``variant`` may add variants to the classifier (``"denoising"``, ``"vae"``). ``"auto"`` sizes (the defaults of
    ``hidden``, ``latent_dim``, ``channels``, ``conv_depth``, ``recon``, ``recon_share``, ``epochs``, ``batch_size``,
    ``lr``, ``schedule``) come from
    the data's shape and size (:func:`aekit.apps.classifier_recipe`): a conv net for images, an MLP for rows.
    ``image_shape``: how rows of X are read. ``"auto"`` (default): as square images when they look like ones
    (:func:`aekit.apps.image_rows`: 1 or 3 channels of S x S values, S >= 8, whose vertically neighbouring pixels go
    together, as MNIST's 784 pixels or scikit-learn's 8 x 8 digits do; a table's columns and a series' windows do
    not), so that they get the image recipe and its views (shifts); (C, H, W) to say so (e.g. (1, 28, 28)); None to
    keep rows as rows. X given as (n, C, H, W) is read as images whatever this says. A pandas DataFrame with text,
    category or boolean columns, or with holes, is a table (``table_``, as for the other estimators): its columns
    encoded one by one, the sizes from :func:`aekit.table.table_recipe` (what ``aekit train --label-column T
    --variant classifier`` gives a table), and the classifier's own ``"auto"`` options their config defaults (no
    pseudo-labels, views noised by 0.1); ``predict`` takes a DataFrame with the same columns.

    Fitted attributes: ``classes_``, ``model_``, ``config_``, ``history_``, ``n_features_in_``, ``image_shape_``
    (the (C, H, W) the rows were read as, or None).
    """

    def __init__(self, arch: str = "auto", variant: str = "vanilla", latent_dim: int | str = "auto",
                 hidden: tuple[int, ...] | str = "auto", activation: str = "relu", output_activation: str = "auto",
                 code_activation: str = "identity", channels: tuple[int, ...] | str = "auto",
                 spatial_code: bool = False, conv_depth: int | str = "auto", cell: str = "gru", rnn_hidden: int = 64,
                 rnn_layers: int = 1, standardize: str = "auto", recon: str = "auto", rho: float = 0.05,
                 sparsity_beta: float = 0.1, kl_beta: float = 1.0, contractive_lambda: float = 1e-4,
                 noise: str = "gaussian", noise_level: float = 0.1, rate_lambda: float = 0.01,
                 train_quantization: str = "noise", code_prior: str = "auto", recon_share: float | str = "auto",
                 epochs: int | str = "auto",
                 batch_size: int | str = "auto", lr: float | str = "auto", weight_decay: float = 0.0,
                 schedule: str = "auto", val_fraction: float = 0.0,
                 patience: int = 0, device: str = "auto", amp: str = "none", compile: bool = False,
                 augment_shift: int = 0,
                 random_state: int | np.random.RandomState | None = None, verbose: bool = False,
                 classify_weight: float = 1.0, consistency_weight: float = 100.0,
                 pseudo_weight: float | str = "auto", label_batch: int = 64, view_degrees: float | str = "auto",
                 view_noise: float | str = "auto", neighbour_share: float | str = "auto",
                 image_shape: tuple[int, ...] | str | None = "auto") -> None:
        super().__init__(**_base_arguments(locals()))
        self.classify_weight = classify_weight
        self.consistency_weight = consistency_weight
        self.pseudo_weight = pseudo_weight
        self.label_batch = label_batch
        self.view_degrees = view_degrees
        self.view_noise = view_noise
        self.neighbour_share = neighbour_share
        self.image_shape = image_shape

    def _image_shape(self, X: np.ndarray) -> tuple[int, int, int] | None:
        """The (C, H, W) that ``image_shape`` reads rows of X (n, D) as, or None (rows stay rows; X already (n, C,
        H, W)). A ValueError for a shape that is not 3 positive sizes or does not hold D values."""
        if X.ndim != 2 or self.image_shape is None:
            return None
        if isinstance(self.image_shape, str):
            if self.image_shape != "auto":
                raise ValueError(f"image_shape must be 'auto', None or (channels, height, width), got "
                                 f"{self.image_shape!r}")
            return apps.image_rows(X)
        shape = tuple(int(v) for v in self.image_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"image_shape must be (channels, height, width), got {self.image_shape!r}")
        if X.shape[1] != int(np.prod(shape)):
            raise ValueError(f"image_shape {shape} holds {int(np.prod(shape))} values, but each row of X has "
                             f"{X.shape[1]}")
        return shape  # type: ignore[return-value]

    def _shaped(self, X: np.ndarray) -> np.ndarray:
        """Rows as the images they were fitted as (``image_shape_``); other inputs as they are."""
        return X if self.image_shape_ is None or X.ndim != 2 else X.reshape(len(X), *self.image_shape_)

    def fit(self, X, y) -> "AutoencoderClassifier":
        """Train on X (n_samples, ...) and y (n_samples,): class labels, -1 for the unlabelled samples. Returns
        self."""
        if _table_frame(X):  # a table: encoded by its columns (table_), sized by the table recipe
            from .table import table_recipe

            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            X = self._table_rows(X, reset=True)
            recipe = table_recipe(len(X), self.table_.schema)
            recipe.pop("sampler_components")  # (no sampler: the classifier does not generate)
            self.image_shape_ = None
        else:
            X, y = validate_data(self, X, y, allow_nd=True, dtype=[np.float32, np.float64], ensure_min_samples=1,
                                 y_numeric=False)
            X = X.astype(np.float32, copy=False)
            self.table_ = None
            self.image_shape_ = self._image_shape(X)
            X = self._shaped(X)
            unit = bool(X.size) and float(X.min()) >= 0.0 and float(X.max()) <= 1.0
            recipe = apps.classifier_recipe(len(X), X.shape[1:], unit)
        check_classification_targets(y)
        known = ~_unlabelled(y)
        if not known.any():
            raise ValueError("y has no labelled sample (every label is -1): the classifier needs some labels")
        self.classes_ = np.unique(y[known])
        if len(self.classes_) < 2:
            raise ValueError(f"y has one class ({self.classes_[0]!r}) among its labelled samples: a classifier "
                             "needs at least 2")
        idx = np.full(len(y), -1, dtype=np.int64)
        idx[known] = np.searchsorted(self.classes_, y[known])
        variant = "+".join(sorted({*self.variant.replace(",", "+").split("+"), "classifier"} - {"vanilla"}))
        self._fit_model(X, idx, variant, CLASSIFIER_PARAMS, recipe)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        check_is_fitted(self)
        return apps.predict_proba(self.model_, self._shaped(self._validate(X, reset=False))).astype(np.float64)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each sample, as a label of ``classes_``."""
        proba = self.predict_proba(X)  # (first: it raises NotFittedError before fit)
        return self.classes_[proba.argmax(1)]


def _unlabelled(y: np.ndarray) -> np.ndarray:
    """Where y is -1 (numbers) or "-1" (strings): sklearn's mark of an unlabelled sample."""
    if y.dtype.kind in "iuf":
        return y == -1
    return np.asarray(y).astype(str) == "-1"


class AutoencoderSynthesizer(BaseEstimator):
    """Synthetic rows of a table: fit on a pandas DataFrame (numbers, categories, integers, yes/no, holes; or an
    array of numbers), then ``sample(n)`` gives new rows with the same columns, names and types: a DataFrame for a
    DataFrame, an array for an array.

    A table model (:mod:`aekit.table`: a schema read from the columns, quantile transforms and one-hot groups, the
    loss by column) sized by :func:`aekit.table.table_recipe`, and a Gaussian mixture over its codes.

    Parameters
    ----------
    categorical : column names to read as categories (else kinds are read from the values).
    drop : column names to leave out.
    variant : "vanilla" (default) or any combination ("vae", "denoising", ...).
    epochs : "auto" (the recipe's) or a number of epochs.
    random_state : seed of the training (and the default seed of ``sample``).
    verbose : print each epoch's losses.
    """

    def __init__(self, categorical: tuple[str, ...] = (), drop: tuple[str, ...] = (), variant: str = "vanilla",
                 epochs: int | str = "auto", random_state=None, verbose: bool = False) -> None:
        self.categorical = categorical
        self.drop = drop
        self.variant = variant
        self.epochs = epochs
        self.random_state = random_state
        self.verbose = verbose

    def _columns(self, X, reset: bool) -> dict:
        return _table_columns(self, X, reset)

    def fit(self, X, y=None) -> "AutoencoderSynthesizer":
        """Read the schema from X, train the table model and fit its sampler. Returns self."""
        from .table import TableCodec, infer_schema

        cols = self._columns(X, reset=True)
        self.schema_ = infer_schema(cols, tuple(self.categorical), tuple(self.drop))
        _fit_table(self, cols, TableCodec(self.schema_).fit(cols), variant=self.variant)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # holes are part of a table: modelled, and generated where they were
        return tags

    def sample(self, n_samples: int = 1, random_state=None):
        """``n_samples`` new rows: a DataFrame with the training columns (when fitted on one), else an array
        (n_samples, n_features). Categories are drawn from the decoder's probabilities, then each column that has a
        relation to the rest of its row is redrawn from it (``TableCodec.fit_relations``); numbers stay in the
        training range, categories among the training levels."""
        check_is_fitted(self)
        seed = int(check_random_state(self.random_state if random_state is None else random_state)
                   .randint(np.iinfo(np.int32).max))
        rows, _ = apps.sample_rows(self.model_, n_samples, seed)
        if self.fitted_on_frame_:
            import pandas as pd

            return pd.DataFrame(rows)
        return np.column_stack([np.array([np.nan if v is None else v for v in rows[c.name]], dtype=np.float64)
                                for c in self.schema_.columns])


class AutoencoderImputer(TransformerMixin, BaseEstimator):
    """Fills missing values with a table autoencoder trained to rebuild entries hidden on purpose (the masking
    recipe of ``aekit impute``), following scikit-learn's imputers: ``fit`` learns from the incomplete X,
    ``transform`` fills its holes and leaves every observed value as it was. A number's fill mixes the ensemble's
    (averaged with a ridge regression of its column on the others as filled) with chained equations' (MICE), each
    column weighted by how well the two fill entries hidden on purpose (:func:`aekit.apps.impute`).

    X: an array of numbers (holes: ``missing_values``, NaN by default) or a pandas DataFrame of mixed columns
    (numbers, categories, yes/no; holes: None / NaN); ``transform`` gives the same kind back.

    Parameters
    ----------
    missing_values : the marker of a hole in an array (NaN by default).
    categorical : column names (DataFrames) to read as categories.
    noise_level : the share of entries hidden in each training step.
    epochs : "auto" (the table recipe's) or a number of epochs.
    members : "auto" (the recipe's 5) or how many models are trained, from successive seeds, and averaged (an
        ensemble: on small tables its fills are nearer the truth than one model's).
    random_state, verbose : as the other estimators.
    """

    def __init__(self, missing_values=np.nan, categorical: tuple[str, ...] = (), noise_level: float = 0.3,
                 epochs: int | str = "auto", members: int | str = "auto", random_state=None,
                 verbose: bool = False) -> None:
        self.missing_values = missing_values
        self.categorical = categorical
        self.noise_level = noise_level
        self.epochs = epochs
        self.members = members
        self.random_state = random_state
        self.verbose = verbose

    def _columns(self, X, reset: bool) -> dict:
        return _table_columns(self, X, reset, self.missing_values)

    def fit(self, X, y=None) -> "AutoencoderImputer":
        """Read the columns' kinds from X and train the model to rebuild hidden entries. Returns self."""
        from .table import TableCodec, infer_schema

        cols = self._columns(X, reset=True)
        codec = TableCodec(infer_schema(cols, tuple(self.categorical))).fit(cols).with_holes()
        _fit_table(self, cols, codec, variant="denoising", noise="masking", noise_level=self.noise_level,
                   sampler="none")
        return self

    def transform(self, X):
        """X with its holes filled (observed values unchanged): an array (float64) or a DataFrame, as X."""
        check_is_fitted(self)
        cols = self._columns(X, reset=False)
        filled, _ = apps.impute(self.model_, cols, "X")
        if self.fitted_on_frame_:
            import pandas as pd

            return pd.DataFrame(filled, index=getattr(X, "index", None))
        return np.column_stack([np.array([np.nan if v is None else float(v) for v in filled[f"x{j}"]])
                                for j in range(self.n_features_in_)])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _is_nan(v) -> bool:
    return isinstance(v, float) and v != v


def _fit_table(est: BaseEstimator, cols: dict, codec, **fields) -> None:
    """Train a table estimator's model on raw columns encoded by ``codec``: the table recipe's sizes (its
    ``epochs`` unless "auto"), the estimator's seed and ``fields``; sets ``model_`` and ``history_``."""
    from .table import table_recipe

    split = Split(_torch_tensor(codec.encode(cols, "X")), table=codec)
    recipe = table_recipe(len(split), codec.schema, impute=fields.get("noise") == "masking")
    for name in ("epochs", "members"):  # the estimator's own, unless "auto"
        if getattr(est, name, "auto") != "auto":
            recipe[name] = getattr(est, name)
    if fields.get("sampler") == "none":
        recipe.pop("sampler_components")
    seed = int(check_random_state(est.random_state).randint(np.iinfo(np.int32).max))
    cfg = Config().override(seed=seed, **recipe, **fields)
    res = _fit(cfg, split, quiet=not est.verbose, on_epoch=(lambda r: print(r)) if est.verbose else None)
    est.model_ = res.model.cpu().eval()
    est.model_.members = [m.cpu().eval() for m in est.model_.members]
    est.history_ = res.history


def _table_columns(est: BaseEstimator, X, reset: bool, missing_values=np.nan) -> dict:
    """The raw columns of X for a table estimator: a DataFrame's own (its column names checked against fit's), or
    an array's as x0, x1, ... with ``missing_values`` (and NaN) as holes. Sets ``feature_names_in_`` (DataFrames),
    ``n_features_in_`` and ``fitted_on_frame_`` when ``reset``."""
    from .data.table import read_table

    if hasattr(X, "columns") and hasattr(X, "dtypes"):
        cols = read_table(X, "X")
        if reset:
            est.feature_names_in_ = np.asarray(list(cols), dtype=object)
            est.n_features_in_ = len(cols)
            est.fitted_on_frame_ = True
        elif list(cols) != list(est.feature_names_in_):
            raise ValueError(f"X has the columns {list(cols)}; the estimator was fitted with "
                             f"{list(est.feature_names_in_)}")
        return cols
    X = validate_data(est, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan",
                      ensure_min_samples=2 if reset else 1)
    if reset:
        est.fitted_on_frame_ = False
    hole = np.isnan(X) if _is_nan(missing_values) else (X == missing_values) | np.isnan(X)
    cols = {}
    for j in range(X.shape[1]):
        col = X[:, j].astype(object)
        col[hole[:, j]] = None
        cols[f"x{j}"] = col
    return cols
