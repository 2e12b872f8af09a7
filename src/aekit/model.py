"""The Autoencoder: encoder -> bottleneck -> decoder, built from a Config."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import limits
from .fp import denormals_flushed
from .bottleneck import Deterministic, Gaussian, Quantizing
from .config import Config, ModelConfig
from .nets import activation, choose_arch
from .registry import ARCHITECTURES, SAMPLERS
from .sampler import GaussianMixture
from .table import Schema, TableCodec


@dataclass
class AutoencoderOutput:
    x_hat: torch.Tensor  # (B, *input_shape) reconstruction
    z: torch.Tensor  # (B, L) the code the decoder saw (a sample in training for a VAE)
    mu: torch.Tensor | None = None  # (B, L) Gaussian bottleneck only
    logvar: torch.Tensor | None = None  # (B, L) Gaussian bottleneck only
    bits: torch.Tensor | None = None  # (B,) quantising bottleneck only: the code's cost in bits under its prior
    logits: torch.Tensor | None = None  # (B, C) classifier only: class scores from the code


NO_CLASSIFIER = ("this {!r} model has no classifier: train one with the classifier variant (--variant classifier) on "
                 "data with labels")


class Standardizer(nn.Module):
    """Per-feature input scaling, ``u = (x - center) / scale``, and its inverse. The statistics are buffers, saved
    and loaded with the weights (and exported with the graph). Features: each element of a vector, each channel of
    an image (C, 1, 1), each feature of a sequence (F,)."""

    def __init__(self, stat_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("center", torch.zeros(stat_shape))
        self.register_buffer("scale", torch.ones(stat_shape))

    @torch.no_grad()
    def fit(self, x: torch.Tensor | object, max_rows: int = 200_000) -> None:
        """Set center = median and scale = interquartile range / 1.349 (the standard deviation of a normal
        distribution with that IQR) per feature from training data x (N, *input_shape), a tensor or a streamed
        array; at most ``max_rows`` evenly spaced rows are read. A feature whose IQR is 0 (a binary or mostly
        constant column) is scaled by its standard deviation instead, and a constant one by 1."""
        n = len(x)
        rows = np.unique(np.linspace(0, n - 1, min(n, max_rows)).astype(np.int64))
        sample = x[torch.from_numpy(rows)] if torch.is_tensor(x) else x[rows]
        a = sample.detach().cpu().double().numpy()  # (n, *input_shape)
        if self.center.shape != a.shape[1:]:  # conv (C, 1, 1): channels first; rnn (F,): the last dim
            a = np.moveaxis(a, 1, -1) if self.center.ndim == 3 else a
        a = a.reshape(-1, self.center.numel())  # (rows, features)
        q1, med, q3 = np.percentile(a, [25, 50, 75], axis=0)
        scale = (q3 - q1) / 1.349
        tiny = 1e-8 * np.maximum(1.0, np.abs(med))
        sd = a.std(0)
        scale = np.where(scale > tiny, scale, np.where(sd > tiny, sd, 1.0))
        self.center.copy_(torch.from_numpy(med).view(self.center.shape))
        self.scale.copy_(torch.from_numpy(scale).view(self.scale.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center) / self.scale

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        return u * self.scale + self.center


def stat_shape(m: ModelConfig) -> tuple[int, ...]:
    """The shape of a Standardizer's statistics for a resolved model config."""
    if m.arch == "conv":
        return (m.input_shape[0], 1, 1)
    if m.arch == "rnn":
        return (m.input_shape[-1],)
    return tuple(m.input_shape)


class Autoencoder(nn.Module):
    """``x -> encoder -> bottleneck -> z -> decoder -> x_hat``.

    Build one with :func:`build_model` (or :func:`aekit.load`); ``config`` is the resolved Config it was built from.
    """

    def __init__(self, encoder: nn.Module, bottleneck: nn.Module, decoder: nn.Module,
                 output_activation: str, config: Config, standardizer: Standardizer | None = None,
                 classifier: nn.Module | None = None, table: TableCodec | None = None) -> None:
        super().__init__()
        self.table = table  # tables: the codec between typed rows and the vectors the model sees (aekit.table)
        self.encoder, self.bottleneck, self.decoder = encoder, bottleneck, decoder
        self.classifier = classifier  # (B, code values) -> (B, C) class scores (the classifier variant)
        self.standardizer = standardizer  # inputs are standardised before the encoder, outputs restored after
        self.out_act = activation(output_activation)
        self.config = config
        self.input_shape: tuple[int, ...] = tuple(config.model.input_shape)
        self.latent_dim = config.model.latent_dim
        from .nets.conv import code_shape

        self.code_shape: tuple[int, ...] = code_shape(config.model) if config.model.arch == "conv" else \
            (self.latent_dim,)  # (L,), or (L, h, w) for a spatial code
        self.sampler: GaussianMixture | None = None  # a density over the codes, fitted after training (aekit.sampler)
        # an ensemble's other models (config.train.members - 1, trained from other seeds; not submodules: each is
        # saved and moved on its own), whose predictions imputation averages with this one's
        self.members: list[Autoencoder] = []

    @property
    def is_variational(self) -> bool:
        return self.bottleneck.gaussian

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming the shapes when x cannot go through this model."""
        if self.config.model.arch == "rnn":  # any length T, fixed feature count F
            ok, want = x.ndim == 3 and x.shape[2] == self.input_shape[1], f"(N, T, {self.input_shape[1]})"
        else:
            ok, want = tuple(x.shape[1:]) == self.input_shape, f"(N, {', '.join(map(str, self.input_shape))})"
        if not ok:
            raise ValueError(f"input of shape {tuple(x.shape)} does not fit this model: expected {want}")

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        return next(self.parameters()).device

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B, *input_shape) on the data's scale -> the standardised scale the model learns on (x itself without a
        standardizer)."""
        return x if self.standardizer is None else self.standardizer(x)

    def denormalize(self, u: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`normalize`."""
        return u if self.standardizer is None else self.standardizer.inverse(u)

    def _features(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return self.encoder(self.normalize(x), lengths)  # (B, *shape) -> (B, F)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                decoded: int | None = None) -> AutoencoderOutput:
        """(B, *input_shape) -> :class:`AutoencoderOutput` (a sampled code in training for a VAE, the mean in eval).
        ``lengths`` (B,): valid steps of padded sequences (rnn). ``decoded``: reconstruct only the first this many
        samples (x_hat (decoded, *input_shape)); every sample is encoded (and classified)."""
        b = self.bottleneck(self._features(x, lengths))  # (B, *shape) -> (B, F) -> (B, L)
        x_hat = self.decode(b.z if decoded is None else b.z[:decoded], self._steps(x))
        logits = None
        if self.classifier is not None:  # from the deterministic code (a VAE's mean), as at inference
            logits = self.classifier((b.z if b.mu is None else self.bottleneck.act(b.mu)).flatten(1))
        return AutoencoderOutput(x_hat, b.z, b.mu, b.logvar, b.bits, logits)

    def classify(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, *input_shape) -> (B, C) class scores (logits) of a classifier-variant model."""
        if self.classifier is None:
            raise ValueError(NO_CLASSIFIER.format(self.config.variant_name))
        return self.classifier(self.encode(x, lengths).flatten(1))

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, *input_shape) -> (B, L): the deterministic code (the mean for a VAE, with the code activation)."""
        b = self.bottleneck(self._features(x, lengths))
        return b.z if b.mu is None else self.bottleneck.act(b.mu)

    def posterior(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A VAE's q(z|x): (B, *input_shape) -> mean (B, L) and log-variance (B, L), before the code activation."""
        if not self.is_variational:
            raise ValueError(f"posterior needs a variational model; this one is {self.config.variant_name!r}")
        b = self.bottleneck(self._features(x, lengths))
        return b.mu, b.logvar

    def decode(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """(B, L) -> (B, *input_shape); ``steps``: the sequence length to decode (rnn; default the training one)."""
        return self.denormalize(self.out_act(self.decoder(z, steps)))

    def decode_logits(self, z: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """(B, L) -> (B, *input_shape): the decoder's output before the output activation (Bernoulli logits for a
        sigmoid output), on the standardised scale."""
        return self.decoder(z, steps)

    def codes(self, x: torch.Tensor | np.ndarray, lengths: torch.Tensor | None = None) -> np.ndarray:
        """(N, *input_shape) -> (N, *code_shape) float32 numpy: :meth:`encode` in eval mode without gradients, in
        chunks of :data:`CHUNK` rows (:func:`batched`); padded sequences read their ``lengths`` (N,) valid steps."""
        if lengths is None:
            return batched(self, x, self.encode)
        lengths = torch.as_tensor(lengths)
        x = torch.as_tensor(x)
        was = self.training
        self.eval()
        with torch.no_grad(), denormals_flushed():
            codes = torch.cat([self.encode(x[i:i + 256].to(self.device), lengths[i:i + 256].to(self.device)).cpu()
                               for i in range(0, len(x), 256)]).numpy()
        self.train(was)
        return codes

    def reconstructions(self, x: torch.Tensor | np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """(N, *input_shape) -> (N, *input_shape) float32 numpy: :meth:`reconstruct` in eval mode without gradients,
        in chunks of ``batch_size`` rows (:func:`batched`)."""
        return batched(self, x, self.reconstruct, batch_size or CHUNK)

    def reconstruct(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, *input_shape) -> (B, *input_shape): decode(encode(x)), deterministic."""
        return self.encode_and_reconstruct(x, lengths)[1]

    def encode_and_reconstruct(self, x: torch.Tensor,
                               lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, *input_shape) -> the code (B, L) and the reconstruction (B, *input_shape), from one encoder pass."""
        z = self.encode(x, lengths)
        return z, self.decode(z, self._steps(x))

    def _steps(self, x: torch.Tensor) -> int | None:
        return x.shape[1] if self.config.model.arch == "rnn" else None

    def default_sampler(self) -> str | None:
        """The sampler :meth:`sample` uses by default: ``gmm`` where one was fitted, else ``normal`` for a VAE, else
        None (this model cannot generate)."""
        return "gmm" if self.sampler is not None else "normal" if self.is_variational else None

    def sample(self, n: int, generator: torch.Generator | None = None, sampler: str | None = None,
               label: int | None = None) -> torch.Tensor:
        """Draw n codes from a sampler and decode them: (n, *input_shape).

        ``sampler``: ``gmm`` (the mixture fitted to the training codes), ``normal`` (the prior N(0, I), variational
        models only), or None for :meth:`default_sampler`. ``label``: draw from one class (a gmm sampler fitted to
        labelled data). Codes are drawn on the CPU from ``generator``."""
        name = SAMPLERS.canonical(sampler) if sampler is not None else self.default_sampler()
        if label is not None and name != "gmm":
            raise ValueError("generation by class (label) needs the gmm sampler fitted to labelled training data")
        if name is None:
            raise ValueError(f"this {self.config.variant_name!r} model has no sampler to generate from: train it with "
                             "sampler gmm (the default), or fit one with aekit.sampler.fit_sampler(model, x)")
        if name == "gmm":
            if self.sampler is None:
                raise ValueError("this model has no fitted sampler (gmm): train it with sampler gmm (the default), "
                                 "fit one with aekit.sampler.fit_sampler(model, x), or use sampler normal (VAEs)")
            z = self.sampler.sample(n, generator, label).view(n, *self.code_shape)  # (n, D) -> (n, *code_shape)
        else:
            if not self.is_variational:
                raise ValueError(f"the normal sampler (the prior N(0, I)) needs a variational model (variant 'vae'); "
                                 f"this one is {self.config.variant_name!r}: use sampler gmm")
            z = self.bottleneck.act(torch.randn(n, self.latent_dim, generator=generator, device="cpu"))
        if self.config.spec.quantize:
            z = torch.round(z)  # a rate model's decoder knows integer codes
        out = self.decode(z.to(self.device))
        if not bool(torch.isfinite(out).all()):
            raise ValueError(f"the {name} sampler's codes decode to NaN or infinite values: its codes are far from "
                             "what this model was trained on (a damaged or foreign sampler file?)")
        return out


def resolve_config(config: Config, sample_shape: tuple[int, ...], data_min: float, data_max: float) -> Config:
    """Fill what ``auto`` leaves open from the data: input shape, architecture, standardisation, output
    activation."""
    m = config.model
    if m.input_shape and tuple(m.input_shape) != tuple(sample_shape) and m.arch != "rnn":
        raise ValueError(f"data samples have shape {tuple(sample_shape)}, but the model expects {tuple(m.input_shape)}")
    arch = choose_arch(tuple(sample_shape)) if m.arch == "auto" else m.arch
    in01 = data_min >= 0.0 and data_max <= 1.0
    std = m.standardize
    if std == "auto":  # tables: vectors whose features have their own units; images and [0, 1] data stay as they are
        std = "robust" if len(sample_shape) == 1 and not in01 else "none"
    if config.loss.recon == "bce" and (not in01 or std != "none"):
        raise ValueError(f"the bce reconstruction loss needs data in [0, 1] without standardisation; this data spans "
                         f"[{data_min:g}, {data_max:g}]" + (", standardized (use standardize none)" if in01 else ""))
    out_act = m.output_activation
    if out_act == "auto":
        out_act = "sigmoid" if in01 and std == "none" else "identity"
    prior = m.code_prior if m.code_prior != "auto" else "position" if m.spatial_code else "channel"
    model = dataclasses.replace(m, input_shape=tuple(sample_shape), arch=arch, output_activation=out_act,
                                standardize=std, code_prior=prior)
    return dataclasses.replace(config, model=model)


def build_model(config: Config, checked: bool = True) -> Autoencoder:
    """Build an Autoencoder from a resolved config (``input_shape`` set, ``arch`` not ``auto``). Unless ``checked``
    is False, a model too large for this machine's memory is a :class:`aekit.limits.TooLarge` error before any
    weight is allocated."""
    m = config.model
    if not m.input_shape or "auto" in (m.arch, m.output_activation, m.standardize, m.code_prior):
        raise ValueError("build_model needs a resolved config; call resolve_config(config, sample_shape, lo, hi) first")
    if checked:
        check_model_memory(config)
    spec = config.spec
    enc, feat_dim, dec = ARCHITECTURES.get(m.arch)(m)
    code_act = "sigmoid" if spec.sigmoid_code else m.code_activation
    if m.spatial_code:
        if m.arch != "conv" or spec.gaussian or spec.sigmoid_code or "contractive" in spec.terms:
            raise ValueError("a spatial code (spatial_code) needs the conv architecture and a variant among vanilla, "
                             f"denoising and rate; got arch {m.arch!r}, variant {config.variant_name!r}")
    if spec.quantize:
        from .nets.conv import code_shape

        positions = math.prod(code_shape(m)[1:]) if m.arch == "conv" and m.code_prior == "position" else 1
        bn = Quantizing(feat_dim, m.latent_dim, code_act, config.loss.train_quantization, m.spatial_code, positions)
    elif spec.gaussian:
        bn = Gaussian(feat_dim, m.latent_dim, code_act)
    else:
        bn = Deterministic(feat_dim, m.latent_dim, code_act, m.spatial_code)
    scaler = Standardizer(stat_shape(m)) if m.standardize == "robust" else None
    head = None
    if spec.classify:
        if m.classes < 2:
            raise ValueError(f"the classifier variant needs classes >= 2 (taken from the training labels), got "
                             f"{m.classes}")
        from .nets.conv import code_shape

        head = nn.Linear(math.prod(code_shape(m)) if m.arch == "conv" else m.latent_dim, m.classes)
    table = None
    if m.table:
        if m.arch != "mlp" or m.standardize != "none" or m.output_activation != "identity":
            raise ValueError("a table model is an MLP on the encoded columns, without standardisation, with an "
                             f"identity output; got arch {m.arch!r}, standardize {m.standardize!r}, output "
                             f"{m.output_activation!r}")
        table = TableCodec(Schema.from_json(m.table))
        if (table.width,) != tuple(m.input_shape):
            raise ValueError(f"the table schema encodes rows as {table.width} values, the model takes "
                             f"{tuple(m.input_shape)}")
    return Autoencoder(enc, bn, dec, m.output_activation, config, scaler, head, table)


def parameter_count(config: Config) -> int:
    """Parameters of the model a resolved config describes, counted on PyTorch's meta device (nothing allocated)."""
    with torch.device("meta"):
        model = build_model(config, checked=False)
    return sum(p.numel() for p in model.parameters())


def _biggest(m: ModelConfig) -> str:
    """The size fields of a model config with their values, largest first, for an error message."""
    fields = {"input_shape": math.prod(m.input_shape), "hidden": max(m.hidden, default=0), "latent_dim": m.latent_dim}
    if m.arch == "conv":
        fields["channels"] = max(m.channels)
    if m.arch == "rnn":
        fields["rnn_hidden"] = m.rnn_hidden
        fields["rnn_layers"] = m.rnn_layers
    shown = {"input_shape": tuple(m.input_shape), "hidden": m.hidden, "channels": m.channels}
    order = sorted(fields, key=lambda k: -fields[k])
    return ", ".join(f"{k} {shown.get(k, fields[k])}" for k in order if k != "hidden" or m.arch == "mlp")


def check_model_memory(config: Config, training: bool = False) -> int:
    """The parameter count of a resolved config's model; a :class:`aekit.limits.TooLarge` when it passes :data:`PARAMETERS` or
    its weights (with gradients and Adam's two moments when ``training``) would need more memory than is
    available."""
    m = config.model
    n = parameter_count(config)
    need = n * 4 * (4 if training else 1)
    avail = limits.available_memory()
    if n > limits.PARAMETERS or (avail and need > 0.8 * avail):
        raise limits.TooLarge(f"the model would have {n:,} parameters ({limits.gib(need)} of memory"
                              f"{' to train' if training else ''}; {limits.gib(avail)} available, limit "
                              f"{limits.PARAMETERS:,} parameters): reduce its sizes ({_biggest(m)})")
    return n


CHUNK = 32  # rows of every inference forward pass (small: one sample costs a forward of CHUNK rows)


def batched(model: "Autoencoder", x: np.ndarray | torch.Tensor, fn, batch_size: int = CHUNK,
            check: bool = True) -> np.ndarray:
    """Apply fn to x in chunks on the model's device, in eval mode without gradients; concatenate as numpy.

    ``check``: x must fit the model's input (off for codes).
    Every call of fn sees exactly ``batch_size`` rows: the last chunk is padded with copies of its first row, and
    the padding's outputs are dropped. Kernels (matrix products, convolutions) pick their algorithm by shape, so a
    sample's result would otherwise depend on how many other samples came with it (on some CPUs by ~1e-7); with one
    shape for every call it is the same whichever samples share its call.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32) if not torch.is_tensor(x) else x, dtype=torch.float32)
    if check:
        model.check_input(x)
    was = model.training
    if was:  # (eval() walks every module: ~30 us, a tenth of a small request's cost)
        model.eval()
    dev = model.device
    outs = []
    try:
        with torch.no_grad(), denormals_flushed():
            for i in range(0, len(x), batch_size):
                xb = x[i:i + batch_size]
                k = len(xb)
                if k < batch_size:  # (k, ...) -> (batch_size, ...)
                    xb = torch.cat([xb, xb[:1].expand(batch_size - k, *xb.shape[1:])])
                outs.append(fn(xb.to(dev).contiguous())[:k].cpu().numpy())  # one memory layout, one kernel
    finally:
        if was:
            model.train()
    return np.concatenate(outs) if outs else np.empty((0,))
