"""The one training loop.

In-memory data lives as one tensor on the training device; each epoch slices batches from a fresh permutation
(no per-item Dataset / DataLoader). Every named loss part is averaged over the epoch and lands in the history.
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from .config import Config
from .data import DataSplits, Split, split_off
from .model import Autoencoder, build_model, resolve_config
from .registry import SCHEDULES
from .terms import compute_loss, per_sample_error


@SCHEDULES.register("none", "constant")
def _no_schedule(opt: torch.optim.Optimizer, total_steps: int, lr: float) -> None:
    return None


@SCHEDULES.register("onecycle")
def _onecycle(opt: torch.optim.Optimizer, total_steps: int, lr: float) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps)


@SCHEDULES.register("cosine")
def _cosine(opt: torch.optim.Optimizer, total_steps: int, lr: float) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps)


@dataclass
class TrainResult:
    model: Autoencoder
    history: list[dict]  # one record per epoch: {"epoch", "train/<part>", "val/<part>", "lr", "time_s"}
    run_dir: Path | None = None
    stopped_early: bool = False


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here")
    return dev


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """Adam, fused into one kernel where this torch supports it (~25 % faster steps for small models on CPU)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # older torch, or a device without the fused kernel
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


@torch.no_grad()
def evaluate(model: Autoencoder, split: Split, batch_size: int = 1024) -> dict[str, float]:
    """Loss parts and ``mse`` (mean squared error per element) on a split, in eval mode, without corruption."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    sums: dict[str, float] = {}
    n = len(split)
    for i in range(0, n, batch_size):
        xb = split.x[i:i + batch_size].to(dev)
        lb = None if split.lengths is None else split.lengths[i:i + batch_size].to(dev)
        parts, out = compute_loss(model, xb, model.config, lb, corrupt_input=False)
        parts["mse"] = per_sample_error(out.x_hat, xb, "mse", lb).mean()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(xb)
    model.train(was_training)
    return {k: v / n for k, v in sums.items()}


def fit(config: Config, data: DataSplits | Split, out_dir: str | Path | None = None, resume: bool = False,
        quiet: bool = False, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a model for ``config`` on ``data`` (its train split; a ``val_fraction`` of it is held out).

    With ``out_dir``, every epoch writes config.json, model.safetensors, history.jsonl and train_state.pt there
    (atomically), and ``resume=True`` continues from them exactly. ``on_epoch(record)`` is called after each epoch.
    See :func:`aekit.flush_denormals` for a CPU speed setting that ``import aekit`` makes.
    """
    tc = config.train
    train = data.train if isinstance(data, DataSplits) else data
    if len(train) == 0:
        raise ValueError("the training set is empty")
    val = None
    if tc.val_fraction > 0:
        train, val = split_off(train, tc.val_fraction, tc.seed)
    config = resolve_config(config, tuple(train.x.shape[1:]), float(train.x.min()), float(train.x.max()))
    if config.model.arch == "rnn" and train.x.ndim != 3:
        raise ValueError(f"rnn needs sequences (N, T, F), got {tuple(train.x.shape)}")

    torch.manual_seed(tc.seed)
    device = pick_device(tc.device)
    model = build_model(config).to(device)
    opt = make_optimizer(model, tc.lr, tc.weight_decay)
    n, bs = len(train), tc.batch_size
    steps = (n + bs - 1) // bs
    sched = SCHEDULES.get(tc.schedule)(opt, tc.epochs * steps, tc.lr)

    run_dir = Path(out_dir) if out_dir is not None else None
    history: list[dict] = []
    start_epoch, best_val, bad_epochs, best_state = 0, float("inf"), 0, None
    state = ckpt.load_state(run_dir) if (resume and run_dir is not None) else None
    if state is not None:
        model.load_state_dict(load_file(str(run_dir / ckpt.WEIGHTS)))
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state["scheduler"] is not None:
            sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
        start_epoch, best_val, bad_epochs, best_state = (state["epoch"], state["best_val"], state["bad_epochs"],
                                                         state["best_state"])
        history = ckpt.read_history(run_dir)[:start_epoch]
    elif run_dir is not None:
        ckpt.save_model(run_dir, model)  # config.json from the start, so a crashed run is still identifiable

    x = train.x.to(device)  # the whole training set, resident on the device
    lengths = None if train.lengths is None else train.lengths.to(device)
    show = not quiet and sys.stderr.isatty()
    bar = tqdm(total=(tc.epochs - start_epoch) * steps, disable=not show, unit="step", leave=False)
    stopped_early = False
    model.train()
    for epoch in range(start_epoch, tc.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=device)
        rows: list[torch.Tensor] = []  # one (P,) row of loss parts per step; stays on the device, no sync
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            parts, _ = compute_loss(model, x[idx], config, None if lengths is None else lengths[idx])
            opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            opt.step()
            if sched is not None:
                sched.step()
            rows.append(torch.stack([v.detach() for v in parts.values()]))
            bar.update(1)
        sizes = torch.tensor([min(bs, n - i) for i in range(0, n, bs)], dtype=rows[0].dtype, device=device)
        means = (torch.stack(rows) * sizes[:, None]).sum(0) / n  # (steps, P) -> (P,) weighted by batch size
        record: dict = {"epoch": epoch + 1}
        record.update({f"train/{k}": float(v) for k, v in zip(parts, means.tolist())})
        if val is not None:
            record.update({f"val/{k}": v for k, v in evaluate(model, val).items()})
        record["lr"] = opt.param_groups[0]["lr"]
        record["time_s"] = round(time.perf_counter() - t0, 4)
        history.append(record)
        bar.set_postfix(loss=f"{record['train/loss']:.4g}")

        if val is not None and tc.patience > 0:
            if record["val/loss"] < best_val:
                best_val, bad_epochs = record["val/loss"], 0
                best_state = copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})
            else:
                bad_epochs += 1
        if run_dir is not None:
            ckpt.save_model(run_dir, model)
            ckpt.save_history(run_dir, history)
            ckpt.save_state(run_dir, {
                "epoch": epoch + 1, "optimizer": opt.state_dict(),
                "scheduler": None if sched is None else sched.state_dict(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
                "best_val": best_val, "bad_epochs": bad_epochs, "best_state": best_state,
            })
        if on_epoch is not None:
            on_epoch(record)
        if tc.patience > 0 and bad_epochs >= tc.patience:
            stopped_early = True
            break
    bar.close()
    if best_state is not None and tc.patience > 0:
        model.load_state_dict(best_state)  # early stopping keeps the best validation epoch's weights
        if run_dir is not None:
            ckpt.save_model(run_dir, model)
    model.eval()
    return TrainResult(model, history, run_dir, stopped_early)
