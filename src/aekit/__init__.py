"""aekit: autoencoders on PyTorch. Every variant, combinable; MLP, conv and recurrent nets; one fast loop."""

from __future__ import annotations

__version__ = "0.1.0"

import gc as _gc


def flush_denormals(enable: bool = True) -> bool:
    """Flush denormal floats to zero on the CPU, on the calling thread, for good (as XLA does by default); aekit's
    own training and inference do it for their duration anyway (:func:`aekit.fp.denormals_flushed`). Returns
    whether the CPU supports it."""
    return _torch.set_flush_denormal(enable)


# Importing torch makes ~200,000 objects that live as long as the process; the garbage collector's passes over them
# while they are made find nothing to free and cost ~0.1 s of a 1 s import. Collection is back on (if it was on)
# once aekit is imported, or has failed to import.
_collecting = _gc.isenabled()
_gc.disable()
try:
    import torch as _torch

    from . import fp as _fp

    _fp.prepare()  # torch's worker threads made now, with the process's own floating-point setting

    from . import corruption, nets, terms  # noqa: F401  (fill the registries)
    from .checkpoint import load
    from .config import Config, DataConfig, LossConfig, ModelConfig, TrainConfig
    from .data import DataSplits, Split, load_data
    from .model import Autoencoder, AutoencoderOutput, build_model, resolve_config
    from .registry import ARCHITECTURES, VARIANTS
    from .train import TrainResult, evaluate, fit
finally:
    if _collecting:
        _gc.enable()

_SUBPACKAGES = ("apps", "viz", "sklearn", "sampler", "table", "tracking", "serve", "limits", "files")


def __getattr__(name: str):
    """The public subpackages on first use (PEP 562, as SciPy and scikit-learn do): ``aekit.apps.compress`` works
    after ``import aekit``, and ``import aekit`` stays light (the applications, figures and scikit-learn load only
    when asked for)."""
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'aekit' has no attribute {name!r}")


__all__ = [
    "ARCHITECTURES", "VARIANTS", "Autoencoder", "AutoencoderOutput", "Config", "DataConfig", "DataSplits",
    "LossConfig", "ModelConfig", "Split", "TrainConfig", "TrainResult", "__version__", "build_model", "evaluate",
    "fit", "flush_denormals", "load", "load_data", "resolve_config",
]
