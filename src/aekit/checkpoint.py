"""Run directories. Nothing in them can execute code: weights and training state are safetensors (with a SHA-256 of
their tensors, checked on load), everything else JSON.

A run directory holds:

- ``config.json``: the resolved configuration;
- ``model.safetensors``: the current (or final) weights, what :func:`load` reads. Its metadata (under its checksum)
  holds the SHA-256 of ``config.json``'s bytes and the number of completed epochs: a config that was edited, or
  weights that belong to another config, are refused, and so are weights that no completed epoch made (a run
  directory is a trained run or refused) and weights that are not finite;
- ``history.jsonl``: one JSON record per epoch;
- ``train_state.safetensors``: everything a resume needs, in ONE file written atomically at the end of each epoch:
  the weights, the optimizer's moments, the best weights for early stopping (tensors), and as JSON metadata the
  epoch, the optimizer's and the scheduler's settings, the early-stopping counters, the configuration and the
  history. A kill between any two file writes leaves this file whole, from one epoch, so a resume is always
  consistent; ``model.safetensors`` and ``history.jsonl`` are rewritten from it.
- ``sampler.safetensors``: the density over the training codes that generation draws from (:mod:`aekit.sampler`),
  and ``entropy_tables.safetensors`` (rate models): each records the digest of the weights it was computed from and
  is refused with other weights;
- ``members.safetensors`` (``members`` > 1): the ensemble's other models, written after the last epoch and bound to
  its weights in the same way; a run killed before it is written has none (its commands use the first model alone),
  and ``--resume`` trains them;
- ``metrics.json``, ``report.html``, ``figures/``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .config import Config, strict_json
from .files import atomic_write_bytes, atomic_write_text
from .model import Autoencoder, build_model

CONFIG, WEIGHTS, STATE, HISTORY, METRICS, TABLES, SAMPLER, MEMBERS = (
    "config.json", "model.safetensors", "train_state.safetensors", "history.jsonl", "metrics.json",
    "entropy_tables.safetensors", "sampler.safetensors", "members.safetensors")
LEGACY_STATE = "train_state.pt"  # written by aekit 0.1 as a pickle: never loaded
_SHA_KEY, _STATE_KEY, _CONFIG_KEY, _EPOCH_KEY = "aekit.sha256", "aekit.train_state", "aekit.config_sha256", "aekit.epoch"
_WEIGHTS_KEY = "aekit.weights_sha256"
RUN_FILES = (CONFIG, WEIGHTS, STATE, HISTORY, METRICS, TABLES, SAMPLER, MEMBERS, LEGACY_STATE, "report.html",
             "command.txt", "reconstructions.png", "interpolation.png")
RUN_FOLDERS = ("figures", "onnx")  # what aekit writes into a run directory as folders


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


def _safetensors_metadata(data: bytes, header_only: bool = False) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes, shorter than the 8-byte header size")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("a header of over 1 MiB" if header_only and len(data) == 1 << 20 else
                         "the header runs past the end of the file (truncated?)")
    header = json.loads(data[8:8 + n])
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError("malformed metadata")
    return meta


# --- the model ----------------------------------------------------------------------------------------------------
def save_model(run_dir: str | Path, model: Autoencoder, epoch: int) -> None:
    """Write config.json and model.safetensors into run_dir: the weights after ``epoch`` (>= 1) completed epochs."""
    _write_model(Path(run_dir), model.config.to_json(), model.state_dict(), epoch)


def _write_model(run_dir: Path, config_json: str, weights: dict[str, torch.Tensor], epoch: int) -> None:
    if epoch < 1:
        raise ValueError(f"weights are saved after a completed epoch, not after {epoch}")
    atomic_write_text(run_dir / CONFIG, config_json)
    save_tensors(run_dir / WEIGHTS, weights, {"aekit": "1", _EPOCH_KEY: str(epoch),
                                              _CONFIG_KEY: hashlib.sha256(config_json.encode()).hexdigest()})


def _check_run(run_dir: Path) -> tuple[bytes, Path]:
    """config.json's bytes and the weights' path of a run directory, or a clear error for what is not a trained
    run: no directory, no config.json, no weights, or a config.json that the weights' checksum does not cover (edited
    after training, from another run, or from a version before the checksum), or weights of no completed epoch."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    path, weights = run_dir / CONFIG, run_dir / WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"not a trained run (no {CONFIG}; a run has one once its first epoch is complete): "
                                f"{run_dir}")
    if not weights.is_file():
        raise FileNotFoundError(f"no weights in {run_dir} (missing {WEIGHTS}): not a trained run")
    text = path.read_bytes()
    try:
        with open(weights, "rb") as f:
            data = f.read(1 << 20)  # the header, not the tensors
        meta = _safetensors_metadata(data, header_only=True)
    except ValueError as e:
        raise CorruptFileError(f"{weights} is not a valid safetensors file ({e})") from None
    if meta.get(_CONFIG_KEY) is None or meta.get(_EPOCH_KEY) is None:
        raise CorruptFileError(f"{weights} records no checksum of {CONFIG} or no completed epoch: it was written by "
                               "an earlier version of aekit, or by a run that never finished an epoch; train it anew")
    if hashlib.sha256(text).hexdigest() != meta[_CONFIG_KEY]:
        raise CorruptFileError(f"{path} was changed after training (it does not match the checksum recorded with "
                               f"the weights): restore it, or train a new run")
    if not meta[_EPOCH_KEY].isdigit() or int(meta[_EPOCH_KEY]) < 1:
        raise CorruptFileError(f"{weights}: no completed epoch made these weights ({meta[_EPOCH_KEY]!r})")
    return text, weights


def load_config(run_dir: str | Path) -> Config:
    """The configuration of a trained run, checked against the checksum its weights carry."""
    run_dir = Path(run_dir)
    text, _ = _check_run(run_dir)
    try:
        return Config.from_run(strict_json(text))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptFileError(f"{run_dir / CONFIG}: {e}") from None


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
    check_finite(tensors, path)
    model.load_state_dict(tensors)


def check_finite(tensors: dict[str, torch.Tensor], path: str | Path) -> None:
    """A CorruptFileError naming the first tensor with a NaN or infinite value."""
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise CorruptFileError(f"{path}: {k} holds NaN or infinite values: these weights cannot compute "
                                   "anything; train the run anew")


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
    try:
        model = build_model(config)
    except ValueError as e:
        raise CorruptFileError(f"{Path(run_dir) / CONFIG}: {e}") from None
    tensors, meta = load_tensors(weights)
    if meta.get(_CONFIG_KEY) != hashlib.sha256((Path(run_dir) / CONFIG).read_bytes()).hexdigest():
        raise CorruptFileError(f"{weights} and {CONFIG} changed while loading: try again")
    load_weights(model, weights, tensors)
    for name in (TABLES, SAMPLER, MEMBERS):  # present, but not a file (a folder, a device, a broken link): say which
        if os.path.lexists(Path(run_dir) / name) and not (Path(run_dir) / name).is_file():
            raise CorruptFileError(f"{Path(run_dir) / name} is not a file: a run's {name} is a regular file (remove "
                                   "it, or train the run again)")
    if config.spec.quantize and (Path(run_dir) / TABLES).is_file():
        model.entropy_tables = load_tables(run_dir, model)
    if (Path(run_dir) / SAMPLER).is_file():
        model.sampler = load_sampler(run_dir, model)
    if config.train.members > 1 and (Path(run_dir) / MEMBERS).is_file():
        model.members = load_members(run_dir, model)
    model.members = [m.to(device).eval() for m in model.members]
    return model.to(device).eval()


def _save_bound(path: Path, tensors: dict[str, torch.Tensor], model: Autoencoder) -> None:
    """Tensors computed from a model's weights, with the digest of those weights."""
    save_tensors(path, tensors, {_WEIGHTS_KEY: tensor_digest(model.state_dict())})


def _load_bound(path: Path, model: Autoencoder | None) -> dict[str, torch.Tensor]:
    """What :func:`_save_bound` wrote; with ``model``, refused unless computed from its weights."""
    t, meta = load_tensors(path)
    if model is not None and meta.get(_WEIGHTS_KEY) != tensor_digest(model.state_dict()):
        raise CorruptFileError(f"{path} was not computed from this run's weights ({WEIGHTS}): it belongs to another "
                               "run or to earlier weights")
    return t


def save_tables(run_dir: str | Path, model: Autoencoder) -> None:
    """entropy_tables.safetensors: the entropy coder's integer tables, computed once from the model's prior."""
    tables = model.bottleneck.integer_tables()
    model.entropy_tables = tables
    _save_bound(Path(run_dir) / TABLES, {"offset": torch.from_numpy(tables.offset),
                                         "counts": torch.from_numpy(tables.counts)}, model)


def load_tables(run_dir: str | Path, model: Autoencoder | None = None):
    """The entropy tables of a run; with ``model``, refused unless they were computed from its weights."""
    from .bottleneck import EntropyTables

    path = Path(run_dir) / TABLES
    t = _load_bound(path, model)
    if set(t) != {"offset", "counts"} or t["counts"].ndim != 2 or t["offset"].shape != t["counts"].shape[:1]:
        raise CorruptFileError(f"{path} does not hold entropy tables")
    return EntropyTables(t["offset"].numpy().astype(np.int64), t["counts"].numpy().astype(np.int64))


def save_sampler(run_dir: str | Path, model: Autoencoder) -> None:
    """sampler.safetensors: the density fitted to the training codes (``model.sampler``)."""
    table = model.table
    spread = {} if table is None else {"spread": table.spread.float(),  # (columns,)
                                       "relations": table.relations.float(),  # (width, width + 2)
                                       "relation_error": table.relation_error.float()}  # (columns,)
    _save_bound(Path(run_dir) / SAMPLER, {**model.sampler.tensors(), **spread}, model)


def load_sampler(run_dir: str | Path, model: Autoencoder | None = None):
    """The sampler of a run (a GaussianMixture); with ``model``, refused unless fitted with its weights and codes."""
    from .sampler import GaussianMixture

    path = Path(run_dir) / SAMPLER
    t = _load_bound(path, model)
    if set(t) - {"labels", "spread", "relations", "relation_error"} != {"weights", "means", "scale"}:
        raise CorruptFileError(f"{path} does not hold a sampler (weights, means, scale)")
    spread, relations, relation_error = t.pop("spread", None), t.pop("relations", None), t.pop("relation_error", None)
    table = model.table if model is not None else None

    def per_column(v: torch.Tensor) -> bool:  # one finite number from 0 to 100 per column of the table
        return v.shape == (len(table.slices),) and bool(torch.isfinite(v).all()) and bool(((v >= 0) & (v <= 100)).all())

    if spread is not None and table is not None:  # a table's residual spreads
        if not per_column(spread):
            raise CorruptFileError(f"{path}: its spreads are not one non-negative number up to 100 per column")
        table.spread = spread.double()
    if (relations is None) != (relation_error is None):
        raise CorruptFileError(f"{path} holds {'relations' if relation_error is None else 'relation_error'} "
                               "without the other")
    if relations is not None and table is not None:  # and the columns' relations to the rest of their rows
        if (relations.shape != (table.width, table.width + 2) or not bool(torch.isfinite(relations).all())
                or not per_column(relation_error)):
            raise CorruptFileError(f"{path}: its relations are not {table.width} finite rows of {table.width + 2} "
                                   "weights and one error from 0 to 100 per column")
        table.relations, table.relation_error = relations.double(), relation_error.double()
    try:
        gm = GaussianMixture(t["weights"], t["means"], t["scale"], t.get("labels"))
    except ValueError as e:
        raise CorruptFileError(f"{path}: {e}") from None
    if model is not None and gm.dim != math.prod(model.code_shape):
        raise CorruptFileError(f"{path}: a sampler of {gm.dim}-d codes for a model whose codes have "
                               f"{math.prod(model.code_shape)} values")
    return gm


def save_members(run_dir: str | Path, model: Autoencoder) -> None:
    """members.safetensors: the weights of the ensemble's other models (``model.members``), each under its number
    (``1.encoder...``, ``2.encoder...``), bound to the first model's weights."""
    tensors = {f"{k}.{name}": v for k, m in enumerate(model.members, 1) for name, v in m.state_dict().items()}
    _save_bound(Path(run_dir) / MEMBERS, tensors, model)


def load_members(run_dir: str | Path, model: Autoencoder) -> list[Autoencoder]:
    """The ensemble's other models of a run (as many as its config's ``members`` less one), refused unless saved
    with ``model``'s weights."""
    path = Path(run_dir) / MEMBERS
    t = _load_bound(path, model)
    out = []
    for k in range(1, model.config.train.members):
        m = build_model(model.config)
        load_weights(m, path, {name[len(f"{k}."):]: v for name, v in t.items() if name.startswith(f"{k}.")})
        out.append(m.eval())
    if sum(len(m.state_dict()) for m in out) != len(t):
        raise CorruptFileError(f"{path} holds other tensors than the weights of {len(out)} models")
    return out


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
        _write_model(run_dir, config_json, weights, epoch)
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
        info = strict_json(meta[_STATE_KEY], constants=True)
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
        out = {
            "epoch": info["epoch"], "best_val": info["best_val"], "bad_epochs": info["bad_epochs"],
            "best_state": {k[5:]: v for k, v in tensors.items() if k.startswith("best.")} if info["has_best"]
            else None,
            "model": {k[6:]: v for k, v in tensors.items() if k.startswith("model.")},
            "optimizer": {"state": state, "param_groups": groups}, "scheduler": info["scheduler"],
            "config": info["config"], "history": info["history"],
        }
        _check_state(out)
        Config.from_run(out["config"])
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        raise CorruptFileError(f"{path}: malformed training state ({type(e).__name__}: {e})") from None
    check_finite(out["model"], path)
    return out


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_state(s: dict) -> None:
    """A ValueError for a training state whose values are of the wrong type or out of range."""
    history = s["history"]
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        raise ValueError("history must be a list of records")
    for i, r in enumerate(history):
        if r.get("epoch") != i + 1 or not all(isinstance(k, str) and (isinstance(v, (int, float))
                                                                       and not isinstance(v, bool))
                                              for k, v in r.items()):
            raise ValueError(f"history record {i + 1} must be the numbers of epoch {i + 1}")
    if not _is_int(s["epoch"]) or not 1 <= s["epoch"] <= len(history):
        raise ValueError(f"epoch must be an integer from 1 to the {len(history)} epochs of its history, got "
                         f"{s['epoch']!r}")
    if not _is_int(s["bad_epochs"]) or not 0 <= s["bad_epochs"] <= s["epoch"]:
        raise ValueError(f"bad_epochs must be an integer from 0 to the epoch, got {s['bad_epochs']!r}")
    if not isinstance(s["best_val"], (int, float)) or isinstance(s["best_val"], bool) or s["best_val"] != s["best_val"]:
        raise ValueError(f"best_val must be a number, got {s['best_val']!r}")
    if not isinstance(s["config"], dict):
        raise ValueError("config must be an object")
    s["best_val"] = float(s["best_val"])
