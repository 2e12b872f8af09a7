"""Frozen configuration dataclasses with validation and dict / JSON / TOML round trips.

Field names are unique across the sections, so a flat ``{"lr": 3e-3, "latent_dim": 8}`` (as the CLI
produces) can be applied with :func:`Config.override`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from . import registry as R


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
    cell: str = "gru"  # rnn: gru | lstm
    rnn_hidden: int = 64
    rnn_layers: int = 1

    def __post_init__(self) -> None:
        _check(self.arch == "auto" or self.arch in R.ARCHITECTURES,
               f"unknown arch {self.arch!r}; choose auto or one of {R.ARCHITECTURES.names()}")
        _check(self.latent_dim >= 1, f"latent_dim must be >= 1, got {self.latent_dim}")
        _check(all(h >= 1 for h in self.hidden), f"hidden sizes must be >= 1, got {self.hidden}")
        _check(len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
               f"channels must be a non-empty list of positive ints, got {self.channels}")
        for name in ("activation", "code_activation"):
            R.ACTIVATIONS.canonical(getattr(self, name))
        _check(self.output_activation == "auto" or self.output_activation in R.ACTIVATIONS,
               f"unknown output_activation {self.output_activation!r}")
        _check(self.cell in ("gru", "lstm"), f"cell must be gru or lstm, got {self.cell!r}")
        _check(self.rnn_hidden >= 1 and self.rnn_layers >= 1, "rnn_hidden and rnn_layers must be >= 1")


@dataclass(frozen=True)
class LossConfig:
    recon: str = "mse"  # mse | bce
    rho: float = 0.05  # sparse: target mean activation
    sparsity_beta: float = 0.1  # sparse: weight of sum_j KL(rho || rho_hat_j)
    kl_beta: float = 1.0  # vae: weight of KL(q(z|x) || N(0, I))
    contractive_lambda: float = 1e-4  # contractive: weight of ||dz/dx||_F^2
    noise: str = "gaussian"  # denoising: gaussian | masking | salt_pepper
    noise_level: float = 0.3  # sigma for gaussian, p for masking and salt_pepper

    def __post_init__(self) -> None:
        R.RECON_LOSSES.canonical(self.recon)
        R.CORRUPTIONS.canonical(self.noise)
        _check(0.0 < self.rho < 1.0, f"rho must be in (0, 1), got {self.rho}")
        for name in ("sparsity_beta", "kl_beta", "contractive_lambda", "noise_level"):
            _check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")


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

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(0.0 <= self.val_fraction < 1.0, f"val_fraction must be in [0, 1), got {self.val_fraction}")
        _check(self.patience >= 0, f"patience must be >= 0, got {self.patience}")
        R.SCHEDULES.canonical(self.schedule)
        _check(self.amp in ("none", "bf16"), f"amp must be none or bf16, got {self.amp!r}")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "mnist"  # mnist | digits | file | series
    path: str | None = None  # file: .npy / .npz / .csv / IDX with the training data
    test_path: str | None = None  # file: the test data (else a split of `path`)
    data_dir: str | None = None  # mnist: where the IDX files are
    window: int = 64  # series: sliding-window length
    stride: int = 8  # series: step between windows
    column: int = 0  # series: the CSV column to read
    stream: bool = False  # file: read a .npy (or a folder of .npy shards) memory-mapped, batch by batch

    def __post_init__(self) -> None:
        R.DATASETS.canonical(self.dataset)
        _check(self.window >= 2 and self.stride >= 1, "window must be >= 2 and stride >= 1")


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
        d = dataclasses.asdict(self)
        d["variant"] = self.variant_name
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        unknown = set(d) - {"variant", *_SECTIONS}
        _check(not unknown, f"unknown config section(s): {sorted(unknown)}; expected variant, {', '.join(_SECTIONS)}")
        kwargs: dict[str, Any] = {}
        for name, sec_cls in _SECTIONS.items():
            kwargs[name] = _section_from_dict(sec_cls, d.get(name, {}), name)
        return cls(variant=d.get("variant", "vanilla"), **kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        """Read a JSON or TOML config file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        text = path.read_text()
        if path.suffix == ".toml":
            import tomllib

            return cls.from_dict(tomllib.loads(text))
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None

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


def _section_from_dict(sec_cls: type, d: dict[str, Any], section: str) -> Any:
    known = {f.name: f for f in fields(sec_cls)}
    unknown = set(d) - set(known)
    _check(not unknown, f"unknown field(s) in [{section}]: {sorted(unknown)}; known: {sorted(known)}")
    out = {}
    for k, v in d.items():
        if isinstance(v, list):
            v = tuple(v)
        out[k] = v
    return sec_cls(**out)
