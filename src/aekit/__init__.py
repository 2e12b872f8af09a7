"""aekit: autoencoders on PyTorch. Every variant, combinable; MLP, conv and recurrent nets; one fast loop."""

from __future__ import annotations

__version__ = "0.1.0"

from . import corruption, nets, terms  # noqa: F401  (fill the registries)
from .checkpoint import load
from .config import Config, DataConfig, LossConfig, ModelConfig, TrainConfig
from .data import DataSplits, Split, load_data
from .model import Autoencoder, AutoencoderOutput, build_model, resolve_config
from .registry import ARCHITECTURES, VARIANTS
from .train import TrainResult, evaluate, fit

__all__ = [
    "ARCHITECTURES", "VARIANTS", "Autoencoder", "AutoencoderOutput", "Config", "DataConfig", "DataSplits",
    "LossConfig", "ModelConfig", "Split", "TrainConfig", "TrainResult", "__version__", "build_model", "evaluate",
    "fit", "load", "load_data", "resolve_config",
]
