"""The ``aekit`` command. Training flags are generated from the config dataclasses; name choices come from the
registries, so the CLI can never list a name the code does not know."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import apps
from . import checkpoint as ckpt
from . import registry as R
from .config import Config, DataConfig, LossConfig, ModelConfig, TrainConfig
from .commands import add_app_commands
from .data import load_data
from .report import write_report
from .train import evaluate, fit

_CHOICES = {
    "arch": lambda: ["auto", *R.ARCHITECTURES.names()],
    "activation": R.ACTIVATIONS.names,
    "code_activation": R.ACTIVATIONS.names,
    "output_activation": lambda: ["auto", *R.ACTIVATIONS.names()],
    "recon": R.RECON_LOSSES.names,
    "noise": R.CORRUPTIONS.names,
    "schedule": R.SCHEDULES.names,
    "dataset": R.DATASETS.names,
    "cell": lambda: ["gru", "lstm"],
    "amp": lambda: ["none", "bf16"],
}
_HELP = {
    "arch": "network: mlp (vectors, flattened images), conv (images), rnn (sequences); auto picks by data shape",
    "input_shape": "one sample's shape; taken from the data when omitted",
    "hidden": "MLP hidden sizes, comma separated (the decoder mirrors them)",
    "channels": "conv channels per stride-2 stage, comma separated",
    "rho": "sparse: target mean activation of each code unit",
    "sparsity_beta": "sparse: weight of the sparsity KL",
    "kl_beta": "vae: weight of the KL to N(0, I)",
    "contractive_lambda": "contractive: weight of ||dz/dx||_F^2",
    "noise_level": "denoising: sigma (gaussian) or p (masking, salt_pepper)",
    "val_fraction": "fraction of the training data held out for validation",
    "patience": "early stopping after this many epochs without a better validation loss (0: off)",
    "path": "data file (.npy/.npz/.csv/IDX) for --dataset file or series",
    "test_path": "test data file; else 20%% of --path is held out",
    "data_dir": "folder with MNIST's IDX files (else $AEKIT_DATA_DIR, the cache, or a download)",
}

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


def _parse_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per config field (default None = keep the config's value)."""
    p.add_argument("--config", type=Path, help="JSON or TOML config file; flags override it")
    p.add_argument("--variant", help=f"variants joined by '+', from: {', '.join(R.VARIANTS.names())} "
                                     "(e.g. sparse+denoising, vae+denoising)")
    for sec_name, sec in (("model", ModelConfig), ("loss", LossConfig), ("train", TrainConfig), ("data", DataConfig)):
        g = p.add_argument_group(sec_name)
        for f in dataclasses.fields(sec):
            default = f.default
            kw: dict[str, Any] = {"default": None, "dest": f.name}
            if isinstance(default, tuple):
                kw["type"] = _parse_tuple
            elif isinstance(default, bool):  # --stream, or --stream false
                kw.update(type=lambda s: s.lower() in ("1", "true", "yes", "on"), nargs="?", const=True)
            elif isinstance(default, (int, float)):
                kw["type"] = type(default)
            else:
                kw["type"] = str
            if f.name in _CHOICES:
                kw["choices"] = _CHOICES[f.name]()
            kw["help"] = (_HELP.get(f.name, "") + f" (default: {default})").strip()
            p.add_argument("--" + f.name.replace("_", "-"), **kw)


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    cfg = Config.load(args.config) if getattr(args, "config", None) else (base or Config())
    names = {f.name for sec in (ModelConfig, LossConfig, TrainConfig, DataConfig) for f in dataclasses.fields(sec)}
    flat = {k: v for k, v in vars(args).items() if k in names or k == "variant"}
    return cfg.override(**flat)


def _printer(epochs: int, quiet: bool):
    def on_epoch(r: dict) -> None:
        if quiet:
            return
        line = f"Epoch {r['epoch']}/{epochs}, Loss: {r['train/loss']:.4f}"
        extra = [f"{k[6:]} {v:.4g}" for k, v in r.items() if k.startswith("train/") and k != "train/loss"]
        if len(extra) > 1:  # the loss has parts beyond the reconstruction: show them all
            line += " (" + ", ".join(extra) + ")"
        if "val/loss" in r:
            line += f", val: {r['val/loss']:.4f}"
        print(line + f"  [{r['time_s']:.1f}s]", flush=True)

    return on_epoch


# --- demo ---------------------------------------------------------------------------------------------
def _demo_data(args: argparse.Namespace, cfg: Config):
    if args.data == "digits":
        return cfg.override(dataset="digits"), load_data(DataConfig(dataset="digits"))
    try:
        dc = DataConfig(dataset="mnist", data_dir=args.data_dir)
        return cfg.override(dataset="mnist", data_dir=args.data_dir), load_data(dc, download=True)
    except (FileNotFoundError, ConnectionError) as e:
        if args.data == "mnist":
            raise
        print(f"MNIST unavailable ({str(e).splitlines()[0]}); using scikit-learn's embedded digits instead.")
        return cfg.override(dataset="digits"), load_data(DataConfig(dataset="digits"))


def write_demo_figures(model, data, out: Path, mse: float | None = None) -> list[Path]:
    """reconstructions.png (8 test originals above their reconstructions) and interpolation.png (5 steps)."""
    from . import viz

    x = data.test.x[:8].numpy()
    labels = data.test.y[:8] if data.test.y is not None else None
    paths = [viz.save_figure(viz.reconstructions(x, apps.reconstruct(model, x), labels, mse), out / "reconstructions.png")]
    a, b = 0, 1
    if data.test.y is not None and len(set(data.test.y[:50].tolist())) > 1:  # two different labels if possible
        b = int(np.argmax(data.test.y[:50] != data.test.y[0]))
    strip = apps.interpolate(model, data.test.x[a].numpy(), data.test.x[b].numpy(), steps=5)
    title = "Interpolation between two test codes" + (
        f" (label {data.test.y[a]} -> {data.test.y[b]})" if data.test.y is not None else "")
    paths.append(viz.save_figure(viz.interpolation_strip(strip, title=title), out / "interpolation.png"))
    return paths


def cmd_demo(args: argparse.Namespace) -> int:
    name = "conv" if args.arch == "conv" and args.recipe == "seed" else args.recipe  # --arch conv: the conv recipe
    recipe = dict(RECIPES[name])
    if args.arch:
        recipe["arch"] = args.arch
    if args.epochs:
        recipe["epochs"] = args.epochs
    cfg = Config().override(seed=args.seed, **recipe)
    cfg, data = _demo_data(args, cfg)
    print(f"Data: {data.name}")
    m = cfg.model
    print(f"Model: {m.arch} autoencoder, latent {m.latent_dim}, recipe '{name}': Adam lr {cfg.train.lr:g}, "
          f"batch {cfg.train.batch_size}, {cfg.train.epochs} epochs, schedule {cfg.train.schedule}, loss {cfg.loss.recon}")
    out = Path(args.out)
    res = fit(cfg, data, out_dir=out, quiet=args.quiet, on_epoch=_printer(cfg.train.epochs, False))
    model = res.model
    codes = apps.encode(model, data.test.x)
    print(f"Latent shape: {codes.shape}")
    print(f"Example code (first test image): {np.array2string(codes[0], precision=3, max_line_width=100)}")
    metrics = evaluate(model, data.test)
    print(f"Average Reconstruction MSE: {metrics['mse']:.6f}")
    ckpt.atomic_write_text(out / "metrics.json", json.dumps({f"test_{k}": v for k, v in metrics.items()}, indent=2))
    paths = write_demo_figures(model, data, out, metrics["mse"])
    _maybe_report(args, out)
    print(f"Wrote {', '.join(str(p) for p in paths)} (run directory {out})")
    return 0


def _maybe_report(args: argparse.Namespace, out: Path) -> None:
    if not args.no_report:
        print(f"Report: {write_report(out, command=shlex.join(['aekit', *args.argv]))}")


def cmd_report(args: argparse.Namespace) -> int:
    print(f"Wrote {write_report(args.run)}")
    return 0


# --- train / evaluate ---------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume and (out / ckpt.CONFIG).is_file():
        cfg = ckpt.load_config(out)
        if args.epochs:
            cfg = cfg.override(epochs=args.epochs)
        print(f"Resuming {out}")
    else:
        cfg = config_from_args(args)
    data = load_data(cfg.data, seed=cfg.train.seed)
    print(f"Data: {data.name}; variant {cfg.variant_name}")
    res = fit(cfg, data, out_dir=out, resume=args.resume, quiet=args.quiet,
              on_epoch=_printer(cfg.train.epochs, args.quiet))
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 alone evaluates and writes
        return 0
    metrics = evaluate(res.model, data.test)
    ckpt.atomic_write_text(out / "metrics.json", json.dumps({f"test_{k}": v for k, v in metrics.items()}, indent=2))
    print(f"Test: " + ", ".join(f"{k} {v:.6g}" for k, v in metrics.items()))
    if res.stopped_early:
        print(f"Stopped early after epoch {res.history[-1]['epoch']} (patience {cfg.train.patience})")
    _maybe_report(args, out)
    print(f"Saved to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = ckpt.load(args.run)
    data = load_data(model.config.data, seed=model.config.train.seed)
    metrics = evaluate(model, data.test)
    print(json.dumps({"run": str(args.run), "data": data.name, **{f"test_{k}": v for k, v in metrics.items()}}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="aekit", description="Autoencoders on PyTorch: train, evaluate, apply, report.")
    p.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the reference MNIST demo, end to end",
                       description="Train the reference MLP autoencoder on MNIST (or sklearn's digits when MNIST "
                                   "is not available), print the losses, the latent shape, an example code and the "
                                   "test MSE, and save reconstructions.png and interpolation.png.")
    d.add_argument("--data", choices=["auto", "mnist", "digits"], default="auto",
                   help="auto: MNIST if found locally or downloadable, else the embedded digits")
    d.add_argument("--data-dir", help="folder with MNIST's IDX files")
    d.add_argument("--epochs", type=int, help="override the recipe's epoch count")
    d.add_argument("--arch", choices=["mlp", "conv"], help="mlp (the reference) or conv (the conv recipe)")
    d.add_argument("--recipe", choices=list(RECIPES), default="seed",
                   help="seed: the reference hyperparameters; best: aekit's recipe for the same MLP; conv")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--no-report", action="store_true", help="do not write report.html")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train any model, variant and data", description="Train a model from flags "
                       "and/or a JSON/TOML config into a run directory.")
    t.add_argument("--out", required=True, help="run directory")
    t.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--no-report", action="store_true", help="do not write report.html")
    add_config_flags(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="test metrics of a run as one JSON object")
    e.add_argument("run", type=Path, help="run directory")
    e.set_defaults(func=cmd_evaluate)

    add_app_commands(sub)
    sub.add_parser("report", help="write RUN/report.html", description="Write a self-contained HTML report of a "
                   "run (figures embedded) into RUN/report.html.").add_argument("run", type=Path, help="run directory")
    sub.choices["report"].set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, ConnectionError, MemoryError) as e:
        print(f"aekit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
