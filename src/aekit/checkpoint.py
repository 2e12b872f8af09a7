"""Run directories. Nothing in them can execute code: weights and training state are safetensors (with a SHA-256 of
their tensors, checked on load), everything else JSON.

A run directory holds:

- ``config.json``: the resolved configuration;
- ``model.safetensors``: the current (or final) weights, what :func:`load` reads;
- ``history.jsonl``: one JSON record per epoch;
- ``train_state.safetensors``: everything a resume needs, in ONE file written atomically at the end of each epoch:
  the weights, the optimizer's moments, the best weights for early stopping (tensors), and as JSON metadata the
  epoch, the optimizer's and the scheduler's settings, the early-stopping counters, the configuration and the
  history. A kill between any two file writes leaves this file whole, from one epoch, so a resume is always
  consistent; ``model.safetensors`` and ``history.jsonl`` are rewritten from it.
- ``metrics.json``, ``report.html``, ``figures/``.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .config import Config
from .files import atomic_write_bytes, atomic_write_text
from .model import Autoencoder, build_model

CONFIG, WEIGHTS, STATE, HISTORY, METRICS, TABLES = (
    "config.json", "model.safetensors", "train_state.safetensors", "history.jsonl", "metrics.json",
    "entropy_tables.safetensors")
LEGACY_STATE = "train_state.pt"  # written by aekit 0.1 as a pickle: never loaded
_SHA_KEY, _STATE_KEY = "aekit.sha256", "aekit.train_state"
RUN_FILES = (CONFIG, WEIGHTS, STATE, HISTORY, METRICS, TABLES, LEGACY_STATE, "report.html", "command.txt",
             "reconstructions.png", "interpolation.png")


class CorruptFileError(ValueError):
    """A file in a run directory is truncated, damaged, or not what its name says."""


# --- tensors with a checksum ------------------------------------------------------------------------------------
def tensor_digest(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> str:
    """SHA-256 over the metadata (as sorted JSON) and every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256(json.dumps(metadata or {}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Write tensors (and string metadata) as safetensors, atomically, with their SHA-256 in the metadata."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {"format": "pt", **(metadata or {})}
    meta[_SHA_KEY] = tensor_digest(tensors, meta)
    return atomic_write_bytes(path, save(tensors, metadata=meta))


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read a safetensors file written by :func:`save_tensors`: (tensors, metadata). A missing, truncated or damaged
    file (any byte of a tensor or of the metadata changed) raises FileNotFoundError or :class:`CorruptFileError`
    naming it."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    data = path.read_bytes()
    try:
        meta = _safetensors_metadata(data)
        tensors = load(data)
    except Exception as e:  # safetensors' own error types vary by version; the bytes are untrusted
        raise CorruptFileError(f"{path} is not a valid safetensors file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    want = meta.pop(_SHA_KEY, None)
    if want is None:
        raise CorruptFileError(f"{path} has no checksum: it was not written by this version of aekit")
    if tensor_digest(tensors, meta) != want:
        raise CorruptFileError(f"{path} is corrupt: its contents do not match the checksum recorded when it was saved")
    return tensors, meta


def _safetensors_metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes, shorter than the 8-byte header size")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("the header runs past the end of the file (truncated?)")
    header = json.loads(data[8:8 + n])
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("malformed metadata")
    return meta


# --- the model ----------------------------------------------------------------------------------------------------
def save_model(run_dir: str | Path, model: Autoencoder) -> None:
    """Write config.json and model.safetensors into run_dir."""
    _write_model(Path(run_dir), model.config.to_json(), model.state_dict())


def _write_model(run_dir: Path, config_json: str, weights: dict[str, torch.Tensor]) -> None:
    atomic_write_text(run_dir / CONFIG, config_json)
    save_tensors(run_dir / WEIGHTS, weights, {"aekit": "1"})


def load_config(run_dir: str | Path) -> Config:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    if not path.is_file():
        raise FileNotFoundError(f"not a run directory (no {CONFIG}): {run_dir}")
    try:
        cfg = Config.load(path)
        if '"code_prior"' not in path.read_text():  # a run from before the field: its prior is per channel
            cfg = cfg.override(code_prior="channel")
        return cfg
    except ValueError as e:
        raise CorruptFileError(f"{path}: {e}" if str(path) not in str(e) else str(e)) from None


def load_weights(model: Autoencoder, path: str | Path, tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Load checked weights into model; weights that do not fit the model's configuration raise a clear error."""
    if tensors is None:
        tensors, _ = load_tensors(path)
    own = model.state_dict()
    missing, extra = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
             if k in tensors and tensors[k].shape != v.shape]
    if missing or extra or wrong:
        detail = "; ".join(filter(None, [missing and f"missing {missing[:3]}", extra and f"unexpected {extra[:3]}",
                                         wrong and f"shape {wrong[0]}"]))
        raise CorruptFileError(f"{path} does not match the model its config.json describes ({detail})")
    model.load_state_dict(tensors)


def load(run_dir: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
    """Restore the model saved in a run directory, in eval mode, with exactly the saved weights.

    Parameters
    ----------
    run_dir : a run directory written by ``aekit train``, ``aekit demo`` or :func:`aekit.fit` with ``out_dir``.
    device : where to put the model.

    Returns
    -------
    Autoencoder, in eval mode. Raises FileNotFoundError or a ValueError naming the file for a missing, corrupt
    (checksum), or mismatched file.
    """
    config = load_config(run_dir)
    weights = Path(run_dir) / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"no weights in {run_dir} (missing {WEIGHTS})")
    try:
        model = build_model(config)
    except ValueError as e:
        raise CorruptFileError(f"{Path(run_dir) / CONFIG}: {e}") from None
    load_weights(model, weights)
    if config.spec.quantize and (Path(run_dir) / TABLES).is_file():
        model.entropy_tables = load_tables(run_dir)
    return model.to(device).eval()


def save_tables(run_dir: str | Path, model: Autoencoder) -> None:
    """entropy_tables.safetensors: the entropy coder's integer tables, computed once from the model's prior."""
    tables = model.bottleneck.integer_tables()
    model.entropy_tables = tables
    save_tensors(Path(run_dir) / TABLES, {"offset": torch.from_numpy(tables.offset),
                                          "counts": torch.from_numpy(tables.counts)})


def load_tables(run_dir: str | Path):
    from .bottleneck import EntropyTables

    path = Path(run_dir) / TABLES
    t, _ = load_tensors(path)
    if set(t) != {"offset", "counts"} or t["counts"].ndim != 2 or t["offset"].shape != t["counts"].shape[:1]:
        raise CorruptFileError(f"{path} does not hold entropy tables")
    return EntropyTables(t["offset"].numpy().astype(np.int64), t["counts"].numpy().astype(np.int64))


# --- history and metrics --------------------------------------------------------------------------------------
def save_history(run_dir: str | Path, history: list[dict]) -> None:
    atomic_write_text(Path(run_dir) / HISTORY, "".join(json.dumps(r) + "\n" for r in history))


def read_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{path} is not valid JSON lines ({e})") from None
    if not all(isinstance(r, dict) for r in rows):
        raise CorruptFileError(f"{path}: every line must be a JSON object")
    return rows


def finite_json(obj: Any) -> Any:
    """obj with every NaN or infinite float replaced by None, so that it is valid (strict) JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def save_metrics(run_dir: str | Path, metrics: dict[str, float]) -> Path:
    """metrics.json: the test metrics as ``test_<name>``, always valid JSON (a non-finite value is written null)."""
    body = {f"test_{k}": v for k, v in metrics.items()}
    return atomic_write_text(Path(run_dir) / METRICS, json.dumps(finite_json(body), indent=2, allow_nan=False))


# --- the training state -------------------------------------------------------------------------------------
def epoch_files(run_dir: str | Path, model: Autoencoder, optimizer: Any, scheduler: Any, epoch: int,
                history: list[dict], best_val: float, bad_epochs: int,
                best_state: dict[str, torch.Tensor] | None) -> Callable[[], None]:
    """Take a copy of everything an epoch's files hold now, and return a function that writes them, in order: the
    training state first (it alone is what a resume reads), then config.json, model.safetensors and history.jsonl.
    The copy lets the writing run while training goes on (see :class:`BackgroundWriter`)."""
    run_dir = Path(run_dir)
    weights = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    tensors = {f"model.{k}": v for k, v in weights.items()}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, entry in opt["state"].items():
        for k, v in entry.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().to("cpu", copy=True)
            else:
                scalars.setdefault(str(idx), {})[k] = v
    for k, v in (best_state or {}).items():
        tensors[f"best.{k}"] = v
    meta = json.dumps({
        "epoch": epoch, "best_val": best_val, "bad_epochs": bad_epochs, "has_best": best_state is not None,
        "param_groups": opt["param_groups"], "optim_scalars": scalars,
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "config": model.config.to_dict(), "history": history,
    })
    config_json, rows = model.config.to_json(), list(history)

    def write() -> None:
        save_tensors(run_dir / STATE, tensors, {_STATE_KEY: meta})
        _write_model(run_dir, config_json, weights)
        save_history(run_dir, rows)

    return write


class BackgroundWriter:
    """Runs file writes one after another, in the order given, on one background thread, so that training goes on
    while an epoch's checkpoint reaches the disk.

    At most one write waits behind the running one (``submit`` blocks until there is room). After a write fails, no
    later one runs; its exception is raised in the caller's thread by the next ``submit`` or by ``close``, which
    waits for every write given so far."""

    def __init__(self) -> None:
        import queue
        import threading

        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._raised = False
        self._thread = threading.Thread(target=self._run, name="aekit-checkpoint-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._error is None:
                try:
                    job()
                except BaseException as e:  # noqa: BLE001 (handed to the caller's thread)
                    self._error = e

    def _raise(self) -> None:
        if self._error is not None and not self._raised:  # once; later writes stay skipped
            self._raised = True
            raise self._error

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        self._jobs.put(job)

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, kind, error, tb) -> None:
        self.close(raise_error=error is None)  # an exception already on its way wins over a failed write

    def close(self, raise_error: bool = True) -> None:
        """Wait for every write given so far; raise the first failure (unless ``raise_error`` is False)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if raise_error:
            self._raise()


def load_state(run_dir: str | Path) -> dict | None:
    """The training state of a run (see :func:`epoch_files`), or None when there is none yet. Keys: epoch, best_val,
    bad_epochs, best_state, model (a state_dict), optimizer (a state_dict), scheduler, config, history."""
    run_dir = Path(run_dir)
    path = run_dir / STATE
    if not path.is_file():
        if (run_dir / LEGACY_STATE).is_file():
            raise CorruptFileError(f"{run_dir / LEGACY_STATE} is a pickle from aekit 0.1, which is never loaded "
                                   "(a pickle can run code): this run cannot be resumed; train it anew")
        return None
    tensors, meta = load_tensors(path)
    try:
        info = json.loads(meta[_STATE_KEY])
        groups = info["param_groups"]
        for g in groups:
            if "betas" in g:
                g["betas"] = tuple(g["betas"])
        state: dict[int, dict[str, Any]] = {}
        for name, t in tensors.items():
            if name.startswith("optim."):
                _, idx, key = name.split(".", 2)
                state.setdefault(int(idx), {})[key] = t
        for idx, entry in info["optim_scalars"].items():
            state.setdefault(int(idx), {}).update(entry)
        return {
            "epoch": int(info["epoch"]), "best_val": float(info["best_val"]), "bad_epochs": int(info["bad_epochs"]),
            "best_state": {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} if info["has_best"]
            else None,
            "model": {k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
            "optimizer": {"state": state, "param_groups": groups}, "scheduler": info["scheduler"],
            "config": info["config"], "history": list(info["history"]),
        }
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise CorruptFileError(f"{path}: malformed training state ({type(e).__name__}: {e})") from None
