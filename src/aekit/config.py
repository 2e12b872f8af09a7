"""Frozen configuration dataclasses with validation and dict / JSON / TOML round trips.

Field names are unique across the sections, so a flat ``{"lr": 3e-3, "latent_dim": 8}`` (as the CLI
produces) can be applied with :func:`Config.override`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from . import limits
from . import registry as R


MAX_CONV_DEPTH = 4  # convolutions a stage of the conv encoder, at most


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "auto"  # mlp | conv | rnn | auto (chosen from the data's shape)
    input_shape: tuple[int, ...] = ()  # one sample's shape, filled from the data when empty
    latent_dim: int = 32
    hidden: tuple[int, ...] = (128, 64)  # MLP hidden sizes, encoder side; the decoder mirrors them
    activation: str = "relu"
    output_activation: str = "auto"  # sigmoid for data in [0, 1], identity otherwise
    code_activation: str = "identity"
    channels: tuple[int, ...] = (32, 64)  # conv: channels per stride-2 stage
    spatial_code: bool = False  # conv: a code of latent_dim channels at each position of the last stage (L, h, w)
    # conv: convolutions in each stage of the encoder: the stride-2 one, then conv_depth - 1 of stride 1 (3 x 3, the
    # same channels); the decoder stays one transposed convolution a stage (the classifier's image recipe sets 2)
    conv_depth: int = 1
    cell: str = "gru"  # rnn: gru | lstm
    rnn_hidden: int = 64
    rnn_layers: int = 1
    # Inputs standardised per feature with the training data's median and interquartile range (stored with the
    # weights, inverted for reconstructions): robust | none | auto (robust for tables, i.e. vectors not in [0, 1])
    standardize: str = "auto"
    # rate: the learned prior's densities: channel (one per code channel, shared by a spatial code's positions),
    # position (one per channel and position of a spatial code) or auto (position for a spatial code, else channel)
    code_prior: str = "auto"
    # classifier: the number of classes of its head on the code (0: taken from the training labels)
    classes: int = 0
    # tables: the schema read from the training table (JSON of aekit.table.Schema; set by training, never by hand)
    table: str = ""

    def __post_init__(self) -> None:
        _check(self.arch == "auto" or self.arch in R.ARCHITECTURES,
               f"unknown arch {self.arch!r}; choose auto or one of {R.ARCHITECTURES.names()}")
        _check(self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}")
        _check(all(h >= 1 for h in self.hidden), f"hidden sizes must be >= 1, got {self.hidden}")
        _check(len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
               f"channels must be a non-empty list of positive ints, got {self.channels}")
        _check(all(d >= 1 for d in self.input_shape), f"input_shape must hold positive sizes, got {self.input_shape}")
        _check(1 <= self.conv_depth <= MAX_CONV_DEPTH,
               f"conv_depth must be from 1 to {MAX_CONV_DEPTH} convolutions a stage, got {self.conv_depth}")
        for name in ("latent_dim", "hidden", "channels", "rnn_hidden"):
            limits.check(name, getattr(self, name))
        for name in ("hidden", "channels"):
            limits.check(name, len(getattr(self, name)), "layers", f"the number of {name} layers")
        limits.check("rnn_layers", self.rnn_layers, "layers")
        limits.check("input_shape", math.prod(self.input_shape), "input_elements",
                     f"input_shape {self.input_shape}: the number of values per sample")
        for name in ("activation", "code_activation"):
            R.ACTIVATIONS.canonical(getattr(self, name))
        _check(self.output_activation == "auto" or self.output_activation in R.ACTIVATIONS,
               f"unknown output_activation {self.output_activation!r}")
        _check(self.cell in ("gru", "lstm"), f"cell must be gru or lstm, got {self.cell!r}")
        _check(self.rnn_hidden >= 1 and self.rnn_layers >= 1, "rnn_hidden and rnn_layers must be >= 1")
        _check(self.standardize in ("auto", "robust", "none"),
               f"standardize must be auto, robust or none, got {self.standardize!r}")
        _check(self.code_prior in ("auto", "channel", "position"),
               f"code_prior must be auto, channel or position, got {self.code_prior!r}")
        _check(self.classes >= 0, f"classes must be >= 0, got {self.classes}")
        limits.check("classes", self.classes)


@dataclass(frozen=True)
class LossConfig:
    recon: str = "mse"  # mse | bce
    rho: float = 0.05  # sparse: target mean activation
    sparsity_beta: float = 0.1  # sparse: weight of sum_j KL(rho || rho_hat_j)
    kl_beta: float = 1.0  # vae: weight of KL(q(z|x) || N(0, I))
    contractive_lambda: float = 1e-4  # contractive: weight of ||dz/dx||_F^2
    noise: str = "gaussian"  # denoising: gaussian | masking | salt_pepper
    noise_level: float = 0.3  # sigma for gaussian, p for masking and salt_pepper
    rate_lambda: float = 0.01  # rate: weight of the rate (bits per input element) against the distortion
    train_quantization: str = "noise"  # rate: noise (z + U(-1/2, 1/2)) or ste (rounding, straight-through)
    classify_weight: float = 1.0  # classifier: weight of the cross-entropy on the labelled rows
    # classifier: weight of the consistency, the squared difference between the class probabilities of two random
    # views of each sample (shifted by up to 2 pixels for images, and noised), over all rows, labelled or not
    consistency_weight: float = 100.0
    # classifier: weight of the pseudo-labels, the cross-entropy of each row whose second view's class is at least
    # PSEUDO_CONFIDENCE (0.95) sure, with that class as its label (0: none; the classifier recipe sets 3)
    pseudo_weight: float = 0.0
    # classifier: the views of images are also rotated by up to this many degrees either way and scaled by up to
    # 10 % (0: neither; the classifier recipe for images sets 15)
    view_degrees: float = 0.0
    # classifier: the standard deviation of the Gaussian noise a view adds on the standardised scale (a weak view:
    # none on images, at most WEAK_NOISE (0.1) on rows; the classifier recipe sets 0.1 for images and 0.3 for rows)
    view_noise: float = 0.1
    # classifier: the share of training steps, the first ones, whose targets (the second view's class probabilities,
    # for the consistency and the pseudo-labels) are the mean of a weak view of each sample and of a weak view of one
    # of its NEIGHBOURS nearest training samples (terms.nearest_rows), so that a class spreads through the data's
    # neighbourhoods before the model's own predictions settle (0: never; the classifier recipe for images sets 0.5)
    neighbour_share: float = 0.0
    # the share of each training batch whose reconstruction is computed and learned from (its first
    # ceil(recon_share * B) samples; the rest are only encoded, for the other terms). Below 1 where the reconstruction
    # is a regulariser and the decoder the costliest part of a step (the classifier's image recipe sets 0.25).
    # Validation and every command reconstruct every sample.
    recon_share: float = 1.0

    def __post_init__(self) -> None:
        R.RECON_LOSSES.canonical(self.recon)
        R.CORRUPTIONS.canonical(self.noise)
        _check(0.0 < self.rho < 1.0, f"rho must be in (0, 1), got {self.rho}")
        _check(self.train_quantization in ("noise", "ste"),
               f"train_quantization must be noise or ste, got {self.train_quantization!r}")
        for name in ("sparsity_beta", "kl_beta", "contractive_lambda", "noise_level", "rate_lambda", "classify_weight",
                     "consistency_weight", "pseudo_weight", "view_noise"):
            v = getattr(self, name)
            _check(v >= 0 and math.isfinite(v), f"{name} must be a finite number >= 0, got {v}")
        _check(0 <= self.view_degrees <= 180, f"view_degrees must be in [0, 180], got {self.view_degrees}")
        _check(0 < self.recon_share <= 1, f"recon_share must be in (0, 1], got {self.recon_share}")
        _check(0 <= self.neighbour_share <= 1, f"neighbour_share must be in [0, 1], got {self.neighbour_share}")
        if R.CORRUPTIONS.canonical(self.noise) != "gaussian":
            _check(self.noise_level <= 1, f"noise_level is a probability for {self.noise} noise: it must be in "
                                          f"[0, 1], got {self.noise_level}")


MAX_MEMBERS = 20  # models of an ensemble at most


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "none"  # none | onecycle | cosine
    val_fraction: float = 0.1
    patience: int = 0  # early stopping on validation loss; 0 = off
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "none"  # none | bf16: autocast the forward pass to bfloat16 (GPU fast path)
    compile: bool = False  # torch.compile the model (pays off on GPUs, not for small models on CPUs)
    # images: translate every training image by a random -s..s pixels in each direction (zeros fill in), a new draw
    # at every step; the model learns to reconstruct the shifted image (0: off)
    augment_shift: int = 0
    # after training: a density over the training codes to generate from (aekit.sampler): gmm (a Gaussian mixture
    # of sampler_components components, for any bottleneck; by class when the data has labels) | none. 200: the
    # best FID_clf on a validation split of MNIST (benchmarks/bench_generate.py --choose)
    sampler: str = "gmm"
    sampler_components: int = 200
    # classifier: labelled rows added to every step (drawn at random from the labelled ones), so that a few labels
    # among many unlabelled samples are seen at every step
    label_batch: int = 64
    # after training: this many models in all, the others trained alike from the seeds seed + 1, seed + 2, ...
    # (members.safetensors); imputation averages their predictions (an ensemble: less variance on small tables)
    members: int = 1

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(1 <= self.members <= MAX_MEMBERS, f"members must be from 1 to {MAX_MEMBERS}, got {self.members}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(0 <= self.seed, f"seed must be >= 0, got {self.seed}")
        for name in ("epochs", "batch_size", "seed"):
            limits.check(name, getattr(self, name))
        limits.check("patience", self.patience, "epochs")
        limits.check("augment_shift", self.augment_shift, "image_side")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}")
        _check(bool(re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device)),
               f"unknown device {self.device!r}: use auto, cpu, cuda, cuda:N or mps")
        _check(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        _check(self.patience >= 0, f"patience must be >= 0, got {self.patience}")
        R.SCHEDULES.canonical(self.schedule)
        _check(self.amp in ("none", "bf16"), f"amp must be none or bf16, got {self.amp!r}")
        _check(self.augment_shift >= 0, f"augment_shift must be >= 0, got {self.augment_shift}")
        _check(self.sampler == "none" or self.sampler in R.SAMPLERS and R.SAMPLERS.canonical(self.sampler) != "normal",
               f"sampler must be gmm or none, got {self.sampler!r} (N(0, I) needs no fitting: generate --sampler "
               "normal)")
        _check(self.sampler_components >= 1, f"sampler_components must be >= 1, got {self.sampler_components}")
        limits.check("sampler_components", self.sampler_components, "components")
        _check(self.label_batch >= 0, f"label_batch must be >= 0, got {self.label_batch}")
        limits.check("label_batch", self.label_batch, "batch_size")


SPLITS = ("by-label", "random")  # DataConfig.split


def _text_list(text: str) -> bool:
    """Whether text is a JSON list of strings."""
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"  # mnist | digits | file | series | images
    path: str | None = None  # file: .npy / .npz / .csv / IDX with the training data
    test_path: str | None = None  # file: the test data (else a split of `path`)
    data_dir: str | None = None  # mnist: where the IDX files are
    window: int = 64  # series: sliding-window length
    stride: int = 8  # series: step between windows
    column: int = 0  # series: the CSV column to read
    stream: bool = False  # file, images, table: read batch by batch from disk (memory-mapped .npy, decoded images, a
    # table encoded into .npy shards in row batches)
    image_channels: int = 0  # images: 1 (grayscale) or 3 (RGB); 0 decides from the files
    image_size: tuple[int, ...] = ()  # images: (H, W) to resize and centre-crop to; () keeps the files' size
    label_column: str | None = None  # file (.csv): the column of labels (header name or 0-based index), not a feature
    # file: rows of numbers read as images (C, H, W); () keeps rows (the classifier recipe fills it in for rows that
    # are square images, aekit.apps.image_rows)
    image_shape: tuple[int, ...] = ()
    categorical: str = ""  # table: columns to read as categories, comma separated (else kinds are read from values)
    drop: str = ""  # table: columns to leave out, comma separated
    # table: a hole in every column (set by training with denoising masking, the imputation recipe; not a flag)
    holes: bool = False
    # table: the class names of a text label column by index, a JSON list (set by training from the training file,
    # then the test file: later commands read labels by them; not a flag)
    label_levels: str = ""
    # file, table, images without test_path: how the 20 % test split is drawn. by-label: a random share that holds
    # out floor(20 %) of each class's labelled rows (a class of fewer than 5 labels keeps them all) and makes up the
    # rest from unlabelled rows; random: any 20 % (runs trained before this field existed: see Config.from_run)
    split: str = "by-label"

    def __post_init__(self) -> None:
        R.DATASETS.canonical(self.dataset)
        _check(self.window >= 2 and self.stride >= 1, "window must be >= 2 and stride >= 1")
        _check(self.column >= 0, f"column must be >= 0, got {self.column}")
        _check(self.image_channels in (0, 1, 3), f"image_channels must be 1, 3 or 0, got {self.image_channels}")
        _check(not self.image_size or (len(self.image_size) == 2 and min(self.image_size) >= 1),
               f"image_size must be two positive integers H W, got {self.image_size}")
        _check(not self.image_shape or (len(self.image_shape) == 3 and min(self.image_shape) >= 1),
               f"image_shape must be three positive integers C H W, got {self.image_shape}")
        _check(self.split in SPLITS, f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        _check(not self.label_levels or _text_list(self.label_levels),
               f"label_levels must be a JSON list of class names, got {self.label_levels[:80]!r}")
        limits.check("window", self.window, "steps")
        limits.check("stride", self.stride, "steps")
        limits.check("column", self.column)
        limits.check("image_size", self.image_size, "image_side", "an image_size side")


_SECTIONS = {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig, "data": DataConfig}


@dataclass(frozen=True)
class Config:
    variant: tuple[str, ...] = ("vanilla",)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        v = self.variant
        object.__setattr__(self, "variant", R.parse_variant(v if isinstance(v, str) else "+".join(v)))

    @functools.cached_property
    def spec(self) -> R.VariantSpec:
        return R.combine_variants(self.variant)

    @property
    def variant_name(self) -> str:
        return "+".join(self.variant)

    # --- dict / JSON / TOML -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """{"variant": "a+b", "model": {...}, "loss": {...}, "train": {...}, "data": {...}}."""
        d = dataclasses.asdict(self)
        d["variant"] = self.variant_name
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        _check(isinstance(d, dict), f"a config must be a table (JSON object), got {type(d).__name__}")
        _check(isinstance(d.get("variant", ""), str), f"variant must be a string, got {d.get('variant')!r}")
        flat = {k: v for k, v in d.items() if k not in {"variant", *_SECTIONS}}  # flat keys, as override takes them
        fields_ = {f.name: sec for sec, c in _SECTIONS.items() for f in fields(c)}
        unknown = sorted(set(flat) - set(fields_))
        _check(not unknown, f"unknown config field(s) or section(s): {unknown}; expected variant, the sections "
                            f"{', '.join(_SECTIONS)}, or their fields")
        twice = sorted(k for k in flat if isinstance(d.get(fields_[k]), dict) and k in d[fields_[k]])
        _check(not twice, f"{twice} given twice, at the top and in their section")
        kwargs: dict[str, Any] = {}
        for name, sec_cls in _SECTIONS.items():
            mine = {k: v for k, v in flat.items() if fields_[k] == name}
            section = d.get(name, {})
            kwargs[name] = _section_from_dict(sec_cls, {**section, **mine} if isinstance(section, dict) else section,
                                              name)
        return cls(variant=d.get("variant", "vanilla"), **kwargs)

    @classmethod
    def from_run(cls, d: dict[str, Any]) -> "Config":
        """A trained run's stored config (config.json, a training state's): :meth:`from_dict`, where a field the run
        lacks because it was trained before the field existed takes the value that reproduces that run, not today's
        default (``data.split``: random, the only rule there was)."""
        if isinstance(d, dict) and isinstance(d.get("data"), dict) and "split" not in d["data"]:
            d = {**d, "data": {**d["data"], "split": "random"}}
        return cls.from_dict(d)

    def used_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields that only other architectures, variants or data sets read (an MLP's
        config without the recurrent and conv settings): what this run's components use."""
        d = self.to_dict()
        chosen = ((R.ARCHITECTURES, [self.model.arch] if self.model.arch in R.ARCHITECTURES else list(R.ARCHITECTURES)),
                  (R.VARIANTS, list(self.variant)), (R.DATASETS, [R.DATASETS.canonical(self.data.dataset)]))
        names = [f.name for sec in _SECTIONS.values() for f in fields(sec)]
        unused = {o for reg, picked in chosen for o, _ in reg.unused_options(picked, names)}
        return {k: {f: v for f, v in sec.items() if f not in unused} if isinstance(sec, dict) else sec
                for k, sec in d.items()}

    def to_json(self) -> str:
        """The config as indented JSON (what config.json holds)."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        """Read a JSON or TOML config file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        try:
            text = path.read_text()
            if path.suffix == ".toml":
                import tomllib

                return cls.from_dict(tomllib.loads(text))
            return cls.from_dict(strict_json(text))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        except RecursionError:
            raise ValueError(f"{path} is nested too deeply to be a config") from None
        except ValueError as e:  # TOML syntax, undecodable bytes, a wrong field or value
            raise ValueError(f"{path}: {e}") from None

    def differences(self, other: "Config") -> list[tuple[str, Any, Any]]:
        """(field, this value, other's value) for every field (and the variant) where the two differ."""
        out = [("variant", self.variant_name, other.variant_name)] if self.variant != other.variant else []
        for name in _SECTIONS:
            a, b = dataclasses.asdict(getattr(self, name)), dataclasses.asdict(getattr(other, name))
            out += [(k, a[k], b[k]) for k in a if a[k] != b[k]]
        return out

    def override(self, **flat: Any) -> "Config":
        """Return a copy with fields replaced by name (``lr=3e-3``, ``variant="vae"``); None values are skipped."""
        flat = {k: v for k, v in flat.items() if v is not None}
        variant = flat.pop("variant", self.variant)
        sections = {}
        for name, sec_cls in _SECTIONS.items():
            names = {f.name for f in fields(sec_cls)}
            mine = {k: flat.pop(k) for k in list(flat) if k in names}
            current = getattr(self, name)
            sections[name] = _section_from_dict(sec_cls, {**dataclasses.asdict(current), **mine}, name)
        _check(not flat, f"unknown config field(s): {sorted(flat)}")
        return Config(variant=variant, **sections)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"key {twice[0]!r} is given twice in one object: JSON keeps only the last, so say it once")
    return dict(pairs)


def strict_json(text: str | bytes, constants: bool = False) -> Any:
    """json.loads that refuses a key given twice in one object (json keeps the last silently) and, unless
    ``constants`` (Python's own files: a training state's best_val may be Infinity), NaN / Infinity (not JSON); a
    ValueError either way, and for nesting too deep to read."""
    def constant(name: str) -> Any:
        if constants:
            return float(name)
        raise ValueError(f"{name} is not a JSON value")

    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=constant)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _section_from_dict(sec_cls: type, d: dict[str, Any], section: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"[{section}] must be a table of fields, got {type(d).__name__}")
    known = {f.name: f for f in fields(sec_cls)}
    unknown = set(d) - set(known)
    _check(not unknown, f"unknown field(s) in [{section}]: {sorted(unknown)}; known: {sorted(known)}")
    return sec_cls(**{k: _typed(v, known[k].default, k) for k, v in d.items()})


def _typed(value: Any, default: Any, name: str) -> Any:
    """value as the type of the field's default (bool, int, float, str, tuple of ints, or str-or-None), or a
    ValueError naming the field: a config file is validated like the flags are."""
    def bad(want: str) -> ValueError:
        return ValueError(f"{name} must be {want}, got {value!r} ({type(value).__name__})")

    if isinstance(default, bool):
        if not isinstance(value, (bool, np.bool_)):
            raise bad("true or false")
        return bool(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad("an integer")
        if not isinstance(value, numbers.Integral):
            if not (math.isfinite(value) and float(value).is_integer()):
                raise bad("an integer")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise bad("a list of integers")
        return tuple(_typed(v, 0, name) for v in value)
    if isinstance(default, str) or default is None:
        if not (isinstance(value, str) or (default is None and value is None)):
            raise bad("a string" + (" or null" if default is None else ""))
        return value
    return value


# Named training recipes (flat config fields), used by `aekit demo --recipe` and the benchmarks.
RECIPES: dict[str, dict[str, Any]] = {
    # The reference demo: 784-128-64-32 MLP, ReLU, sigmoid output, Adam 1e-3, batch 128, 20 epochs, MSE.
    "seed": dict(arch="mlp", hidden=(128, 64), latent_dim=32, activation="relu", output_activation="sigmoid",
                 lr=1e-3, batch_size=128, epochs=20, schedule="none", val_fraction=0.0),
    # Same architecture and batch; a one-cycle schedule to a 5x peak lr, and the epochs that the fast loop buys in
    # about the wall time the reference recipe takes in a conventional pipeline (see benchmarks/README.md).
    "best": dict(arch="mlp", hidden=(128, 64), latent_dim=32, activation="relu", output_activation="sigmoid",
                 lr=5e-3, batch_size=128, epochs=80, schedule="onecycle", val_fraction=0.0),
    # A convolutional model on the same task.
    "conv": dict(arch="conv", channels=(32, 64, 128), latent_dim=32, activation="relu", output_activation="sigmoid",
                 lr=2e-3, batch_size=64, epochs=20, schedule="onecycle", val_fraction=0.0),
}


DATA_STEPS = 1000  # gradient steps a default training run takes at least (small data gets more epochs)


def small_batch(n_samples: int, most: int = 128) -> int:
    """A recipe's batch size: ``most``, or for small data an eighth of the rows (a power of two, at least 16), so
    that an epoch has several steps."""
    return int(min(most, max(16, 2 ** int(math.log2(max(n_samples / 8, 1))))))


def data_recipe(n_samples: int, sample_shape: tuple[int, ...]) -> dict[str, Any]:
    """``aekit train``'s default settings for data that is not a table (``--recipe auto``), from its size and shape,
    so that small data learns: batches of 128, smaller for small data (n / 8, at least 16) so that an epoch has
    several steps; at least the default 20 epochs and at least DATA_STEPS gradient steps (at most 500 epochs); and for
    rows of few features (d < 64) a code smaller than the rows (d / 3, 2 to 32) behind hidden layers of 4 d and 2 d
    (16 to 128 and 8 to 64). Large data keeps the config's defaults. Returns config fields."""
    d = math.prod(sample_shape)
    batch = small_batch(n_samples)
    epochs = int(min(500, max(TrainConfig.epochs, math.ceil(DATA_STEPS * batch / max(n_samples, 1)))))
    out: dict[str, Any] = {"batch_size": batch, "epochs": epochs}
    if len(sample_shape) == 1 and d < 64:
        out.update(hidden=(int(min(128, max(16, 4 * d))), int(min(64, max(8, 2 * d)))),
                   latent_dim=int(min(32, max(2, d // 3))))
    return out
