"""Run directories: config.json + model.safetensors (+ train_state.pt, history.jsonl), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file

from .config import Config
from .model import Autoencoder, build_model

CONFIG, WEIGHTS, STATE, HISTORY = "config.json", "model.safetensors", "train_state.pt", "history.jsonl"


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call write(tmp_path) on a temporary name in path's folder, then rename onto path.
    A failure leaves no partial file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: Path(p).write_text(text))


def save_model(run_dir: str | Path, model: Autoencoder) -> None:
    """Write config.json and model.safetensors into run_dir."""
    run_dir = Path(run_dir)
    atomic_write_text(run_dir / CONFIG, model.config.to_json())
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(run_dir / WEIGHTS, lambda p: save_file(state, p, metadata={"format": "pt", "aekit": "1"}))


def load_config(run_dir: str | Path) -> Config:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"not a run directory (no {CONFIG}): {run_dir}")
    return Config.load(path)


def load(run_dir: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
    """Restore the model saved in a run directory, in eval mode, with exactly the saved weights."""
    config = load_config(run_dir)
    weights = Path(run_dir) / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"no weights in {run_dir} (missing {WEIGHTS})")
    model = build_model(config)
    model.load_state_dict(load_file(str(weights)))
    return model.to(device).eval()


def save_history(run_dir: str | Path, history: list[dict]) -> None:
    atomic_write_text(Path(run_dir) / HISTORY, "".join(json.dumps(r) + "\n" for r in history))


def read_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / HISTORY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_state(run_dir: str | Path, state: dict) -> None:
    atomic_write(Path(run_dir) / STATE, lambda p: torch.save(state, p))


def load_state(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / STATE
    return torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None
