"""The one training loop.

In-memory data lives as one tensor on the training device; each epoch slices batches from a fresh permutation
(no per-item Dataset / DataLoader). Every named loss part is averaged over the epoch and lands in the history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoint as ckpt
from . import files, limits
from .config import Config
from .corruption import random_shift
from .batch import Batch, check_labels, class_labels
from .data import DataSplits, Split, split_off, to_split
from .fp import denormals_flushed, table_threads
from .model import Autoencoder, build_model, check_model_memory, resolve_config
from .optim import make_optimizer
from .registry import SCHEDULES
from .sampler import fit_sampler
from .terms import compute_loss, nearest_rows, per_sample_error


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


def flatten_parameters(model: torch.nn.Module) -> torch.nn.Parameter | None:
    """Move every trainable parameter of ``model`` into one contiguous buffer, and its gradient into another.

    The parameters stay the model's own leaf tensors (state_dict, hooks, DDP see no difference); their storage becomes
    a view of the returned flat parameter, whose ``.grad`` holds every gradient, so that backward accumulates in place
    into it. One Adam update over one tensor then replaces a Python loop over every parameter, and zeroing the
    gradients is one fill. Adam is elementwise, so the result is the same. Returns None (nothing changed) when the
    parameters do not share one device and dtype, and for models with recurrent layers (on a GPU cuDNN wants their
    weights in a buffer of its own layout; leaving them alone on every device keeps the optimizer state's layout the
    same, so a run resumes on another device; their steps are dominated by the recurrence anyway).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params or len({(p.device, p.dtype) for p in params}) != 1:
        return None
    if any(isinstance(m, torch.nn.RNNBase) for m in model.modules()):
        return None
    flat = torch.nn.Parameter(torch.cat([p.detach().reshape(-1) for p in params]))
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = flat.data[offset:offset + n].view_as(p)
        p.grad = flat.grad[offset:offset + n].view_as(p)
        offset += n
    return flat


@denormals_flushed()
@torch.no_grad()
def evaluate(model: Autoencoder, split: Split | np.ndarray | torch.Tensor, batch_size: int = 1024) -> dict[str, float]:
    """Loss parts and ``mse`` (mean squared error per element; not for tables, whose parts are per column) on a
    split or an array (N, *input_shape), in eval mode, without corruption; for a classifier on labelled samples its
    ``accuracy`` on them and their cross-entropy ``classify`` (neither where no sample is labelled; the consistency
    and pseudo-label terms, which compare two random views, have no value here)."""
    split = as_split(split)
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    sums: dict[str, float] = {}
    n = len(split)
    y = None  # labels count where the split has known ones
    right = labelled = 0
    if model.classifier is not None and split.y is not None and (np.asarray(split.y) != -1).any():
        y = class_labels(split.y, model.config.model.classes, "the evaluated data", len(split), min_classes=1)
    for i in range(0, n, batch_size):
        xb = split.x[i:i + batch_size].to(dev)
        lb = None if split.lengths is None else split.lengths[i:i + batch_size].to(dev)
        yb = None if y is None else y[i:i + batch_size].to(dev)
        parts, out = compute_loss(model, Batch(xb, yb, lb), model.config, corrupt_input=False)
        parts.pop("consistency", None)  # (and the pseudo-labels: both compare two views)
        parts.pop("pseudo", None)
        if model.table is None:  # (a table's loss parts are its columns' own errors)
            parts["mse"] = per_sample_error(model.normalize(out.x_hat), model.normalize(xb), "mse", lb).mean()
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(xb)
        if yb is not None:  # right answers among the labelled samples (-1: unknown)
            known = yb >= 0
            right += int((out.logits.argmax(1)[known] == yb[known]).sum())
            labelled += int(known.sum())
    model.train(was_training)
    out = {k: v / n for k, v in sums.items() if k != "classify" or labelled}  # (no labels: no cross-entropy)
    return {**out, "accuracy": right / labelled} if labelled else out


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the files of the last checkpoint written are kept."""


RESUMABLE_CHANGES = ("epochs", "patience", "device")  # what a resume may change: the rest would make another run
CHECKPOINT_EVERY = 1.0  # seconds of training between checkpoints, by default (see fit)
PROGRESS_EVERY = 10.0  # seconds between progress lines when the output is not a terminal


@denormals_flushed()
def fit(config: Config, data: DataSplits | Split | np.ndarray | torch.Tensor, out_dir: str | Path | None = None,
        resume: bool = False, quiet: bool = False, on_epoch: Callable[[dict], None] | None = None,
        overwrite: bool = False, checkpoint_every: float = CHECKPOINT_EVERY,
        tensorboard: str | Path | None = None) -> TrainResult:
    """Train a model for ``config`` on ``data``.

    Parameters
    ----------
    config : the configuration (:class:`aekit.Config`); ``auto`` fields are filled from the data.
    data : a :class:`DataSplits` (its train split is used), a :class:`Split`, or an array / tensor of samples
        (N, *sample_shape). A ``val_fraction`` of it is held out for validation.
    out_dir : a run directory: epochs write their checkpoint there (atomically, see :mod:`aekit.checkpoint`).
    checkpoint_every : seconds of training between checkpoints: an epoch's checkpoint (training state, weights,
        history) is written when at least this long has passed since the last one, and always after the last epoch,
        so that a killed run loses at most about this much work. Epochs longer than this are each written; 0 writes
        after every epoch. (Short epochs are not worth a write each: ~10 ms of the two cores for a 0.13 s epoch.)
    resume : continue the run in ``out_dir`` from its last complete epoch, exactly (the result is bit-identical to an
        uninterrupted run). Only ``epochs``, ``patience`` and ``device`` may differ from the saved configuration
        (``epochs`` only with the constant schedule).
    overwrite : without it, training into a directory that already holds a run (and not resuming) is refused. With
        it, the new run trains in a folder beside it, which replaces the old run once its first checkpoint is
        written: a run that fails or is killed before that leaves the old run as it was.
    on_epoch : called with each epoch's record.
    tensorboard : a folder for TensorBoard event files (the ``tensorboard`` extra): each epoch's loss parts and
        learning rate, and for images grids of reconstructions and, at the end, samples (:mod:`aekit.tracking`).

    Returns
    -------
    TrainResult with the model (in eval mode) and the history (one record per epoch).

    Raises :class:`TrainingDiverged` (a ValueError) when the loss becomes NaN or infinite: the run stops at that
    epoch and the files of the last checkpoint written stay as they were. Denormal floats are flushed to zero on
    this thread while it trains (:mod:`aekit.fp`), and the thread's setting restored after. A table's model trains
    on one CPU thread (:func:`aekit.fp.table_threads`), and torch's thread count is restored after.
    """
    if not (isinstance(checkpoint_every, (int, float)) and 0 <= checkpoint_every < math.inf):
        raise ValueError(f"checkpoint_every must be a number of seconds >= 0, got {checkpoint_every!r}")
    if tensorboard is not None:
        from .tracking import require

        require()  # the extra, before any file is touched
    # 1. prepare: the splits, the config resolved from the data, the checks made before anything is touched
    if isinstance(data, DataSplits) and data.source and not resume:  # e.g. the MNIST folder $AEKIT_DATA_DIR named
        config = config.override(**{k: v for k, v in data.source.items() if getattr(config.data, k) in (None, "")})
    config, train, val, y_all = _prepare_data(config, data)
    tc = config.train
    check_model_memory(config, training=True)  # before any file is touched or weight allocated
    limits.check_batch_memory(config, min(tc.batch_size, len(train)))
    dist_ctx = Distributed.from_env(tc.device)
    device = dist_ctx.device
    if tc.members > 1 and dist_ctx.world > 1:
        raise ValueError(f"members {tc.members}: an ensemble is trained in one process, not under torchrun")
    log_made = None
    if tensorboard is not None and dist_ctx.rank == 0:
        from .tracking import check_log_dir

        log_made = check_log_dir(tensorboard)  # before the run's folder is made
    out_dir, state, staging, made = _open_run(out_dir, resume, overwrite, config, dist_ctx.rank, tensorboard)
    board, written = None, [False]  # the TensorBoard log; whether this call wrote a checkpoint
    # a new run that fails before its first checkpoint leaves no folder, and no event file or folder of its log
    with files.removed_if_empty(log_made), _log_discarded_unless(written, lambda: board), \
            files.removed_if_empty(made), table_threads(bool(config.model.table)):
        model, opt, zero_grad = _build(config, train, device)
        net = dist_ctx.wrap(model)  # DistributedDataParallel under torchrun, else the model itself
        if tc.compile:
            net = torch.compile(net)
        n, bs = len(train), tc.batch_size
        batch_starts = [i for i in range(0, n, bs) if min(bs, n - i) >= dist_ctx.world]  # every rank gets >= 1 sample
        steps = len(batch_starts)
        sched = SCHEDULES.get(tc.schedule)(opt, tc.epochs * steps, tc.lr)

        # only rank 0 writes; a run that replaces another writes beside it until its first checkpoint (see overwrite)
        run_dir = (staging or out_dir) if out_dir is not None and dist_ctx.rank == 0 else None
        # 2. restore: a resumed run continues from its training state exactly
        history, start_epoch, best_val, bad_epochs, best_state = _restore(state, model, opt, sched, out_dir)
        if run_dir is not None and state is not None:  # the weights and history files made whole again from the state
            ckpt.save_model(run_dir, model, start_epoch)
            ckpt.save_history(run_dir, history)

        autocast = (lambda: torch.autocast(device.type, torch.bfloat16)) if tc.amp == "bf16" else contextlib.nullcontext
        streamed = not torch.is_tensor(train.x)
        x = train.x if streamed else train.x.to(device)  # in memory: the whole training set, resident on the device
        lengths = None if train.lengths is None else train.lengths.to(device)
        ys = y_all.to(device) if config.spec.classify else None
        labelled = None if ys is None or not tc.label_batch else torch.nonzero(ys >= 0)[:, 0]  # (K,) rows with a label
        near, near_steps = _neighbours(model, x, lengths, config, streamed, device), 0  # (N, NEIGHBOURS) or None
        if near is not None:  # the first neighbour_share of all steps take a neighbour into their targets
            near_steps = round(config.loss.neighbour_share * tc.epochs * steps)
        show = not quiet and sys.stderr.isatty() and dist_ctx.rank == 0
        # not on a terminal (a log file, a notebook, CI): a line every PROGRESS_EVERY seconds instead of the bar
        log_every = PROGRESS_EVERY if not quiet and not show and dist_ctx.rank == 0 else math.inf
        logged_at = time.perf_counter()
        bar = tqdm(total=max(0, tc.epochs - start_epoch) * steps, disable=not show, unit="step", leave=False)
        stopped_early = tc.patience > 0 and bad_epochs >= tc.patience  # a resumed run that had already stopped
        model.train()
        if tensorboard is not None and dist_ctx.rank == 0:
            from .tracking import TensorBoardLog

            board = TensorBoardLog(tensorboard, model, train.x[:8] if not streamed else train.x[np.arange(min(8, n))])
            for r in history:  # a resumed run's earlier epochs
                board(r)
        written_at, written_epoch = time.perf_counter(), start_epoch  # the last checkpoint: when, and of which epoch
        # The epochs' files are written on a background thread; leaving the block waits for them (and raises a failed
        # write's error), also when training stops with an exception; a staging folder that never replaced the old run
        # is removed then.
        with _removed_if_left(staging), ckpt.BackgroundWriter() if run_dir is not None else contextlib.nullcontext() \
                as writer:
            for epoch in range(start_epoch, tc.epochs if not stopped_early else start_epoch):
                # 3. an epoch: its batches' rows, then one step per batch
                t0 = time.perf_counter()
                shards = _epoch_rows(n, batch_starts, tc, epoch, dist_ctx, device, labelled)
                rows: list[torch.Tensor] = []  # one (P,) row of loss parts per step; stays on the device, no sync
                for step, (idx, xb) in enumerate(zip(shards, _batches(x, shards, device, streamed)), epoch * steps):
                    if tc.augment_shift:
                        xb = random_shift(xb, tc.augment_shift)
                    batch = Batch(xb, None if ys is None else ys[idx], None if lengths is None else lengths[idx])
                    if step < near_steps:  # one of each row's nearest training samples, drawn anew
                        batch.near = x.index_select(0, near[idx, torch.randint(near.shape[1], idx.shape, device=device)])
                    with autocast():
                        parts, _ = compute_loss(net, batch, config)
                    zero_grad()
                    parts["loss"].backward()
                    opt.step()
                    if sched is not None:
                        sched.step()
                    rows.append(torch.stack([v.detach() for v in parts.values()]))
                    bar.update(1)
                    if time.perf_counter() - logged_at >= log_every:
                        logged_at = time.perf_counter()
                        print(f"epoch {epoch + 1}/{tc.epochs}: step {len(rows)}/{steps}, loss "
                              f"{float(rows[-1][-1]):.4g}, {logged_at - t0:.0f} s into the epoch", file=sys.stderr,
                              flush=True)
                record = _epoch_record(epoch, list(parts), rows, shards, dist_ctx)
                if not all(map(math.isfinite, record.values())):
                    bar.close()
                    del net  # DistributedDataParallel goes before its process group
                    dist_ctx.close()
                    kept = f"; {run_dir} keeps epoch {written_epoch}" if run_dir is not None and written_epoch else ""
                    raise TrainingDiverged(f"training diverged in epoch {epoch + 1}: the loss became "
                                           f"{record['train/loss']} (NaN or infinite){kept}. Try a lower learning rate "
                                           f"(lr is {tc.lr:g}; e.g. --lr {tc.lr / 10:g})")
                if val is not None:
                    record.update({f"val/{k}": v for k, v in evaluate(model, val).items()})
                record["lr"] = opt.param_groups[0]["lr"]
                record["time_s"] = round(time.perf_counter() - t0, 4)
                history.append(record)
                bar.set_postfix(loss=f"{record['train/loss']:.4g}")

                if val is not None and tc.patience > 0:
                    if record["val/loss"] < best_val:
                        best_val, bad_epochs = record["val/loss"], 0
                        best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                    else:
                        bad_epochs += 1
                # 4. checkpoint: the epoch's files, when due
                stop = tc.patience > 0 and bad_epochs >= tc.patience
                due = epoch + 1 == tc.epochs or stop or time.perf_counter() - written_at >= checkpoint_every
                if writer is not None and due:  # a copy of the epoch's files now; written while the next epoch trains
                    writer.submit(ckpt.epoch_files(run_dir, model, opt, sched, epoch + 1, history, best_val, bad_epochs,
                                                   best_state))
                    written_at, written_epoch, written[0] = time.perf_counter(), epoch + 1, True
                    if run_dir == staging:  # the new run has a checkpoint: now it replaces the old one
                        writer.submit(lambda: files.replace_dir(staging, out_dir))
                        run_dir = out_dir
                if on_epoch is not None and dist_ctx.rank == 0:
                    on_epoch(record)
                if board is not None:
                    board(record)
                if stop:
                    stopped_early = True
                    break
        bar.close()
        # 5. finish: the best weights, the entropy tables, the sampler, the last images
        _finish(model, train, run_dir, best_state, history, dist_ctx.rank)
        if tc.members > 1:  # the ensemble's other models, trained alike from the next seeds
            model.members = _train_members(config, train, quiet)
            if run_dir is not None:
                ckpt.save_members(run_dir, model)
        if board is not None:
            board.close(len(history))
        del net  # DistributedDataParallel (its reducer holds the process group) goes before the group is destroyed
        dist_ctx.close()
        return TrainResult(model, history, run_dir, stopped_early)


def _train_members(config: Config, train: Split, quiet: bool) -> list[Autoencoder]:
    """The ensemble's other models (``members`` - 1): each trained as the first was, on its training split, from
    the seeds seed + 1, seed + 2, ... (no validation split, no sampler), in eval mode."""
    tc, out = config.train, []
    for k in range(1, tc.members):
        if not quiet:
            print(f"Training the ensemble's model {k + 1} of {tc.members} (seed {tc.seed + k})", file=sys.stderr,
                  flush=True)
        member = config.override(seed=tc.seed + k, members=1, sampler="none", val_fraction=0.0, patience=0)
        out.append(fit(member, train, quiet=True).model)
    return out


def _open_run(out_dir: str | Path | None, resume: bool, overwrite: bool, config: Config, rank: int,
              log_dir: str | Path | None = None) -> tuple[Path | None, dict | None, Path | None, Path | None]:
    """The run directory (a link resolved), the training state to resume from (None for a new run), to replace a
    run the staging folder to train in until the first checkpoint, and the topmost folder made for a new run (see
    :func:`_prepare_run_dir`): removed again if training fails before its first checkpoint."""
    if out_dir is None:
        return None, None, None, None
    out_dir = Path(out_dir).resolve() if Path(out_dir).is_symlink() else Path(out_dir)  # the folder, not a link
    files.sweep(out_dir.parent)  # what a killed run left beside it
    state = ckpt.load_state(out_dir) if resume else None
    if state is not None:
        _check_resumable(config, Config.from_run(state["config"]), out_dir)
        return out_dir, state, None, None
    keep = None  # a TensorBoard folder inside the run's folder is the run's own
    if log_dir is not None:
        with contextlib.suppress(ValueError, IndexError):
            keep = Path(os.path.abspath(log_dir)).relative_to(os.path.abspath(out_dir)).parts[0]
    return out_dir, None, *(_prepare_run_dir(out_dir, overwrite, keep) if rank == 0 else (None, None))


def _build(config: Config, train: Split, device: torch.device):
    """The model (initial weights from the seed, the same on every rank; standardisation statistics from the training
    data), on ``device`` with its parameters in one flat buffer where possible, its optimizer and a function that
    zeroes the gradients."""
    tc = config.train
    torch.manual_seed(tc.seed)
    model = build_model(config, checked=False)  # (checked for training by the caller)
    if model.standardizer is not None:  # (a resume loads the saved ones)
        model.standardizer.fit(train.x)
    if model.table is not None:  # the quantile transforms the rows were encoded with
        model.table.load_state_dict(train.table.state_dict())
    model = model.to(device)
    flat = flatten_parameters(model)
    opt = make_optimizer([flat] if flat is not None else list(model.parameters()), tc.lr, tc.weight_decay,
                         tc.schedule)
    zero_grad = flat.grad.zero_ if flat is not None else (lambda: opt.zero_grad(set_to_none=True))
    return model, opt, zero_grad


def _prepare_data(config: Config, data) -> tuple[Config, Split, Split | None, torch.Tensor | None]:
    """The training and validation splits, the config resolved from the data (and the class count from the labels
    for the classifier variant, a test split's of a DataSplits included), and the labels as int64 (-1 unknown; None
    without the classifier); a clear error for data the config cannot train on."""
    tc = config.train
    train = as_split(data)
    if len(train) == 0:
        raise ValueError("the training set is empty")
    if train.y is not None:  # the rule of every label source, also for a Split made in Python
        train = dataclasses.replace(train, y=check_labels(train.y, len(train), "the training data"))
    val = None
    if tc.val_fraction > 0:
        train, val = split_off(train, tc.val_fraction, tc.seed, config.data.split)  # (by label: labels kept)
    if train.table is not None and config.spec.corrupt and config.loss.noise == "masking" \
            and not all(c.missing for c in train.table.schema.columns):  # imputation: a hole in every column
        wide = train.table.with_holes()
        train = dataclasses.replace(train, x=train.table.widen(train.x, wide), table=wide)
        if val is not None:
            val = dataclasses.replace(val, x=val.table.widen(val.x, wide), table=wide)
    if train.table is not None and config.spec.corrupt and config.loss.noise == "masking":
        config = config.override(holes=True)  # load_data(config.data) then encodes the run's data with holes
    if train.table is not None:  # a table: an MLP on the encoded columns, its schema stored with the run
        config = config.override(table=train.table.schema.to_json(), standardize="none", output_activation="identity",
                                 arch="mlp" if config.model.arch == "auto" else config.model.arch)
    config = resolve_config(config, tuple(train.x.shape[1:]), float(train.x.min()), float(train.x.max()))
    y_all = None
    if config.spec.classify:  # the class count from the labels (the training data's and a test split's), unless given
        y_all = class_labels(train.y, config.model.classes, "the training data", len(train))
        test = data.test if isinstance(data, DataSplits) else None
        top = -1 if test is None or test.y is None else int(check_labels(test.y, len(test), "the test data").max(
            initial=-1))  # a class whose few labels all fell in a held-out test split is a class of the model
        if config.model.classes and top >= config.model.classes:
            raise ValueError(f"label {top} of the test data is not a class of this model (classes 0.."
                             f"{config.model.classes - 1})")
        classes = config.model.classes or max(int(y_all.max()), top) + 1
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, classes=classes))
    if config.model.arch == "rnn" and train.x.ndim != 3:
        raise ValueError(f"rnn needs sequences (N, T, F), got {tuple(train.x.shape)}")
    if tc.augment_shift and (train.x.ndim != 4 or tc.augment_shift >= min(train.x.shape[2:])):
        raise ValueError(f"augment_shift {tc.augment_shift} needs images (N, C, H, W) larger than the shift; the "
                         f"training data has shape {tuple(train.x.shape)}")
    return config, train, val, y_all


def _restore(state: dict | None, model: Autoencoder, opt, sched,
             path: Path | None = None) -> tuple[list[dict], int, float, int, dict | None]:
    """Load a training state into the model, optimizer and schedule; returns the history, the epoch to start from,
    and the early-stopping state (best validation loss, epochs without a better one, best weights). A state that
    does not fit the run (edited, or another run's) is a ValueError "cannot resume ...", naming ``path``."""
    if state is None:
        return [], 0, float("inf"), 0, None
    try:
        _check_optimizer_state(state["optimizer"], opt)
        with torch.no_grad():  # into the (flat) parameters in place
            model.load_state_dict(state["model"])
        if state["best_state"] is not None:
            _check_fits(state["best_state"], model)
        opt.load_state_dict(state["optimizer"])
        if sched is not None and state["scheduler"] is not None:
            sched.load_state_dict(state["scheduler"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        detail = " ".join(str(e).split())[:300]
        where = f"{path}: its training state {path / ckpt.STATE}" if path is not None else "the run: its training state"
        raise ValueError(f"cannot resume {where} does not fit the run's model: {detail}") from None
    start = state["epoch"]
    return state["history"][:start], start, state["best_val"], state["bad_epochs"], state["best_state"]


def _check_fits(tensors: dict[str, torch.Tensor], model: Autoencoder) -> None:
    """A ValueError when ``tensors`` are not the model's parameters and buffers, by name and shape."""
    own = model.state_dict()
    if set(tensors) != set(own):
        raise ValueError(f"the saved best weights name other tensors ({sorted(set(tensors) ^ set(own))[:3]})")
    for k, v in tensors.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ValueError(f"best weights {k} have shape {tuple(v.shape)}, the model's {tuple(own[k].shape)}")


def _check_optimizer_state(saved: dict, opt: torch.optim.Optimizer) -> None:
    """A ValueError when a saved optimizer state cannot drive ``opt``: other groups, hyperparameters that are not
    numbers, or moments whose shapes are not the parameters'. (PyTorch would load it and fail at the first step.)"""
    groups, own = saved["param_groups"], opt.param_groups
    if len(groups) != len(own):
        raise ValueError(f"the optimizer state has {len(groups)} parameter groups, the run's optimizer {len(own)}")
    params = [opt.param] if hasattr(opt, "param") else [p for g in own for p in g["params"]]  # FlatAdam: one tensor
    for g in groups:
        for k, v in g.items():
            if k == "params":
                continue
            values = v if k == "betas" else [v]
            if k in ("lr", "eps", "weight_decay", "betas", "initial_lr", "max_lr", "min_lr", "base_momentum",
                     "max_momentum") and not all(isinstance(b, (int, float)) and not isinstance(b, bool)
                                                 and math.isfinite(b) for b in values):
                raise ValueError(f"the optimizer's {k} must be a finite number, got {v!r}")
    for idx, entry in saved["state"].items():
        if not (isinstance(idx, int) and 0 <= idx < len(params)):
            raise ValueError(f"the optimizer state names parameter {idx!r}; the run has {len(params)}")
        for k, v in entry.items():
            if k == "step":
                if not ((torch.is_tensor(v) and v.numel() == 1) or (isinstance(v, (int, float))
                                                                   and not isinstance(v, bool))):
                    raise ValueError(f"the optimizer's step must be a number, got {v!r}")
            elif torch.is_tensor(v) and tuple(v.shape) != tuple(params[idx].shape):
                raise ValueError(f"the optimizer's {k} of parameter {idx} has shape {tuple(v.shape)}, the parameter "
                                 f"{tuple(params[idx].shape)}")


def _neighbours(model: Autoencoder, x, lengths: torch.Tensor | None, config: Config, streamed: bool,
                device: torch.device) -> torch.Tensor | None:
    """Each training sample's nearest others on the model's scale (:func:`aekit.terms.nearest_rows`), for the
    classifier's ``neighbour_share``: (N, NEIGHBOURS) on ``device``; None where the config has none or the samples
    are not vectors of one size in memory (streamed data, padded sequences)."""
    if not config.spec.classify or config.loss.neighbour_share == 0 or streamed or lengths is not None:
        return None
    with torch.no_grad():
        u = model.normalize(x).cpu()  # (N, *shape)
    return nearest_rows(u, generator=torch.Generator().manual_seed(_mix(config.train.seed, 0x4EA2))).to(device)


def _epoch_rows(n: int, batch_starts: list[int], tc, epoch: int, dist_ctx: "Distributed", device: torch.device,
                labelled: torch.Tensor | None) -> list[torch.Tensor]:
    """This rank's row indices of each step of an epoch (and sets the epoch's noise seed).

    The order depends on (seed, epoch) alone, the same on every rank and after a resume; the noise (corruption, VAE
    sampling, the classifier's views) on (seed, epoch, rank), so that resuming needs no saved RNG state. For the
    classifier, ``label_batch`` labelled rows (``labelled``: their indices) join every step, drawn anew."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(_mix(tc.seed, epoch))).to(device)
    # the noise seed, for the CPU and this process's GPU alone (torch.manual_seed would also queue a lazy seed for
    # every CUDA device, with a stack trace each time: a millisecond an epoch)
    noise_seed = _mix(tc.seed, epoch, dist_ctx.rank + 1)
    torch.random.default_generator.manual_seed(noise_seed)
    if device.type == "cuda":
        torch.cuda.manual_seed(noise_seed)
    shards = [perm[i:i + tc.batch_size][dist_ctx.rank::dist_ctx.world] for i in batch_starts]
    if labelled is not None:
        g = torch.Generator().manual_seed(_mix(tc.seed, epoch, dist_ctx.rank + 1, 0x1ABE1))
        shards = [torch.cat([s, labelled[torch.randint(len(labelled), (tc.label_batch,), generator=g).to(device)]])
                  for s in shards]
    return shards


def _epoch_record(epoch: int, names: list[str], rows: list[torch.Tensor], shards: list[torch.Tensor],
                  dist_ctx: "Distributed") -> dict:
    """The epoch's record: the mean of each loss part (``train/<name>``) over all ranks' samples."""
    sizes = torch.tensor([len(i) for i in shards], dtype=rows[0].dtype, device=rows[0].device)
    sums = torch.cat([(torch.stack(rows) * sizes[:, None]).sum(0), sizes.sum()[None]])  # (P + 1,)
    sums = dist_ctx.all_reduce(sums)
    means = sums[:-1] / sums[-1]  # (P,)
    return {"epoch": epoch + 1, **{f"train/{k}": float(v) for k, v in zip(names, means.tolist())}}


def _finish(model: Autoencoder, train: Split, run_dir: Path | None, best_state: dict | None, history: list[dict],
            rank: int) -> None:
    """After the last epoch: early stopping's best weights, a rate model's entropy tables, the sampler fitted to the
    training codes; each written into the run directory (rank 0)."""
    if best_state is not None and model.config.train.patience > 0:
        model.load_state_dict(best_state)  # early stopping keeps the best validation epoch's weights
        if run_dir is not None:
            ckpt.save_model(run_dir, model, len(history))
    if run_dir is not None and model.config.spec.quantize:  # the entropy coder's tables, once, from the final prior
        ckpt.save_tables(run_dir, model)
    model.eval()
    if model.config.train.sampler != "none" and rank == 0 and len(train) >= 2:  # a density over the training codes
        # (to generate from; a single sample has no spread to fit)
        fit_sampler(model, train.x, lengths=train.lengths, y=train.y)
        if run_dir is not None:
            ckpt.save_sampler(run_dir, model)

def as_split(data: DataSplits | Split | np.ndarray | torch.Tensor) -> Split:
    """The training split of what :func:`fit` accepts: DataSplits -> its train split; an array -> a Split."""
    if isinstance(data, DataSplits):
        return data.train
    if isinstance(data, Split):
        return data
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return to_split(data.detach().cpu().numpy() if torch.is_tensor(data) else data, None, "the data")
    raise TypeError(f"data must be DataSplits, a Split, a numpy array or a tensor, not {type(data).__name__}")


def _prepare_run_dir(out: Path, overwrite: bool, keep: str | None = None) -> tuple[Path | None, Path | None]:
    """Refuse to train into an existing run unless overwriting, and into a folder of other files always (a run's
    folder holds its own files; ``keep``: the name of an entry that may be there, the run's own TensorBoard folder).
    Returns (None, the topmost folder made for it) to train in ``out`` itself (new, or an empty folder), or, to
    replace a run, (a new folder beside it to train in until the first checkpoint, None)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} exists and is not a directory: choose another run directory")
    found = [name for name in ckpt.RUN_FILES if os.path.lexists(out / name)]
    if found and not overwrite:
        raise ValueError(f"{out} already holds a run ({', '.join(found[:3])}): resume it (--resume; in Python "
                         "fit(..., resume=True)), replace it (--overwrite; overwrite=True), or choose another "
                         "directory")
    others = sorted(p.name for p in out.iterdir() if p.name not in ckpt.RUN_FILES + ckpt.RUN_FOLDERS
                    and not p.name.startswith(".") and p.name != keep) if out.is_dir() else []
    if others:
        why = ("--overwrite replaces the whole folder, so move them first" if found else
               "a run directory holds only the run's own files")
        raise ValueError(f"{out} holds files that are not part of a run ({', '.join(others[:3])}): {why}, or choose "
                         "another run directory")
    if not found:
        return None, files.make_dirs(out)
    return files.staging_folder(out), None


@contextlib.contextmanager
def _log_discarded_unless(written: list[bool], board: Callable):
    """When the block fails before a checkpoint was written (``written[0]``), the TensorBoard log ``board()`` (if
    any) is closed and its event file removed."""
    try:
        yield
    except BaseException:
        if not written[0] and board() is not None:
            board().discard()
        raise


@contextlib.contextmanager
def _removed_if_left(folder: Path | None):
    """Remove ``folder`` (a new run's staging folder) at the end of the block, if it is still there."""
    try:
        yield
    finally:
        if folder is not None and folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def _check_resumable(new: Config, saved: Config, out: Path) -> None:
    diffs = [(k, a, b) for k, a, b in new.differences(saved) if k not in RESUMABLE_CHANGES]
    if new.train.epochs != saved.train.epochs and saved.train.schedule != "none":
        diffs.append(("epochs", new.train.epochs, saved.train.epochs))  # the schedule's length is fixed
    if diffs:
        k, a, b = diffs[0]
        more = f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""
        why = ("the learning-rate schedule was laid out for that many epochs" if k == "epochs" else
               f"a resume may change only {', '.join(RESUMABLE_CHANGES)}")
        raise ValueError(f"cannot resume {out} with {k}={a!r}: the run was trained with {k}={b!r}{more}, and {why}; "
                         "train a new run instead")


def _mix(*ints: int) -> int:
    """A 63-bit seed from a tuple of ints (stable across processes, unlike hash())."""
    h = 1469598103934665603
    for v in ints:
        h = ((h ^ (v & 0xFFFFFFFFFFFFFFFF)) * 1099511628211) & 0x7FFFFFFFFFFFFFFF
    return h


def _batches(x, shards: list[torch.Tensor], device: torch.device, streamed: bool):
    """Yield x[idx] for each idx: slices of the resident tensor, or rows read from disk one batch ahead in a
    background thread (the next batch loads while this one trains)."""
    if not streamed:
        for idx in shards:
            yield x.index_select(0, idx)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        nxt = pool.submit(x.__getitem__, shards[0].cpu()) if shards else None
        for k in range(len(shards)):
            cur = nxt.result()
            nxt = pool.submit(x.__getitem__, shards[k + 1].cpu()) if k + 1 < len(shards) else None
            yield cur.to(device, non_blocking=True)


@dataclass
class Distributed:
    """This process's place in a torchrun launch (WORLD_SIZE > 1), or a single process (world 1, no-ops)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @classmethod
    def from_env(cls, device_name: str = "auto") -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(device=pick_device(device_name))
        import torch.distributed as dist

        cuda = torch.cuda.is_available() and device_name != "cpu"
        owns = not dist.is_initialized()
        if owns:
            dist.init_process_group("nccl" if cuda else "gloo")  # nccl on GPUs, gloo on CPUs
        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = torch.device("cuda", local) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        return cls(dist.get_rank(), dist.get_world_size(), device, owns)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(t)
        return t

    def close(self) -> None:
        if self.owns_group:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
