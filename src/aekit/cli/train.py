"""The training commands: demo, train, evaluate. Training flags are generated from the config dataclasses; name
choices come from the registries, so the CLI can never list a name the code does not know."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import apps
from .. import checkpoint as ckpt
from .. import registry as R
from ..config import RECIPES, SPLITS, Config, DataConfig, LossConfig, ModelConfig, TrainConfig, data_recipe
from ..data import Split, as_images, load_data
from ..files import atomic_write_bytes
from ..fp import table_threads
from ..optim import preload_optimizer_imports
from ..table import table_recipe
from ..train import CHECKPOINT_EVERY, evaluate, fit
from .common import (FALSE_WORDS, TRUE_WORDS, boolean, bounded, int_tuple, non_negative_float, path, positive_int,
                     seed)

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
    "train_quantization": lambda: ["noise", "ste"],
    "standardize": lambda: ["auto", "robust", "none"],
    "code_prior": lambda: ["auto", "channel", "position"],
    "sampler": lambda: [n for n in R.SAMPLERS.names() if n != "normal"] + ["none"],
    "split": lambda: list(SPLITS),
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
    "path": "data file (.npy/.npz/.csv/IDX) for --dataset file or series; a folder for --dataset images",
    "image_channels": "images: 1 (grayscale) or 3 (RGB); 0 (default) decides from the files",
    "spatial_code": "conv: a code of --latent-dim channels at every position of the last stage (L x h x w)",
    "conv_depth": "conv: convolutions in each stage of the encoder, the stride-2 one and the rest of stride 1 (the "
                  "classifier recipe's default for images: 2)",
    "recon_share": "the share of each training batch that is reconstructed (1: all; the classifier recipe's default "
                   "for images: 0.25, its decoder the costliest part of a step)",
    "rate_lambda": "rate: weight of the rate (bits per input element) against the distortion",
    "train_quantization": "rate: noise (z + U(-1/2, 1/2)) or ste (rounding, gradient straight through)",
    "sampler": "after training, fit a density to the training codes to generate from: gmm (a Gaussian mixture; any "
               "bottleneck) or none",
    "sampler_components": "the sampler's mixture components",
    "classes": "classifier: the number of classes (0: from the training labels)",
    "classify_weight": "classifier: weight of the cross-entropy on the labelled samples",
    "consistency_weight": "classifier: weight of the agreement of two random views of every sample",
    "pseudo_weight": "classifier: weight of the pseudo-labels (a second view's class where it is at least 95 %% sure; "
                     "the recipe's default: 3)",
    "members": "models trained (from the seeds seed, seed + 1, ...) whose predictions imputation averages; the "
               "imputation recipe's default: 5",
    "label_batch": "classifier: labelled samples added to every step",
    "view_degrees": "classifier: the views of images also rotated by up to this many degrees and scaled by up to 10 %% "
                    "(0: neither; the recipe's default for images: 15)",
    "view_noise": "classifier: the standard deviation of the views' Gaussian noise on the standardised scale (the "
                  "recipe's default: 0.1 for images, 0.3 for rows)",
    "neighbour_share": "classifier: the share of training steps, the first ones, whose targets also take in one of "
                       "each sample's 10 nearest training samples (the recipe's default: 0.5 for images, 0 for rows)",
    "categorical": "table: columns to read as categories, comma separated (kinds are otherwise read from the values)",
    "drop": "table: columns to leave out, comma separated",
    "label_column": "a CSV's column of labels (header name or 0-based index), taken out of the features",
    "augment_shift": "images: translate each training image by a random -S..S pixels at every step, zeros filling "
                     "in (0: off)",
    "code_prior": "rate: the prior's densities: channel (one per code channel), position (one per channel and "
                  "position of a spatial code) or auto (position for a spatial code)",
    "image_shape": "rows of numbers read as images of C H W (e.g. 1 28 28); --variant classifier finds square images "
                   "by itself unless --arch is given",
    "image_size": "images: resize (keeping the aspect ratio) and centre-crop every image to H W",
    "test_path": "test data file or image folder; else 20%% of --path is held out (--split)",
    "split": "without --test-path, how the 20 %% test split is drawn: by-label holds out at most 20 %% of each class's "
             "labelled rows (a class of under 5 labels keeps them all for training), random any 20 %%",
    "standardize": "scale each input feature by the training data's median and interquartile range (robust), "
                   "stored in the run and applied by every command; auto: robust for tables, none for images, "
                   "sequences and data in [0, 1]",
    "data_dir": "folder with MNIST's IDX files (else $AEKIT_DATA_DIR, the cache, or a download)",
    "latent_dim": "size of the code (the bottleneck); conv with --spatial-code: its channels",
    "activation": "hidden layers' activation",
    "output_activation": "the decoder's last activation; auto: sigmoid for data in [0, 1], none otherwise",
    "code_activation": "activation of the code itself",
    "cell": "rnn: the recurrent cell",
    "rnn_hidden": "rnn: units of each recurrent layer",
    "rnn_layers": "rnn: recurrent layers in the encoder (the decoder mirrors them)",
    "recon": "reconstruction loss: mse, or bce (data in [0, 1]); tables: a loss per column whatever this says",
    "noise": "denoising: the corruption of the inputs (tables: masking hides entries for imputation; otherwise "
             "entries are swapped between rows)",
    "epochs": "passes over the training data",
    "batch_size": "samples per gradient step",
    "lr": "Adam's learning rate",
    "weight_decay": "L2 weight decay (added to the gradient, as torch.optim.Adam's)",
    "schedule": "learning-rate schedule: none, onecycle or cosine",
    "seed": "random seed of the weights, the splits and the batches (the same seed gives the same run)",
    "device": "auto (a GPU when there is one), cpu, cuda or cuda:N",
    "amp": "mixed precision on a GPU: bf16, or none",
    "compile": "compile the model with torch.compile (GPU; slower to start)",
    "dataset": "what to train on by name (mnist, digits) or kind (file, images, series, table, with --path); "
               "--data picks it for you",
    "window": "series: samples per window",
    "stride": "series: steps between the starts of two windows",
    "column": "series: the CSV column to read (0-based)",
    "stream": "read the data from disk batch by batch (data larger than memory: .npy or a folder of .npy shards, "
              "images, CSV and Parquet tables)",
}



def data_overrides(value: str) -> dict[str, Any]:
    """What ``--data VALUE`` means: a dataset that needs no file (mnist, digits), a folder of MNIST IDX files, or
    a table (a CSV with text or holes, Parquet: dataset 'table'), or a data file / folder of .npy shards (dataset
    'file')."""
    from ..data.images import is_image_folder
    from ..data.mnist import find_mnist
    from ..data.table import looks_like_table

    if value in R.DATASETS and R.DATASETS.canonical(value) in ("mnist", "digits"):
        return {"dataset": R.DATASETS.canonical(value)}
    path = Path(value)
    if path.is_dir() and find_mnist(path) == path:
        return {"dataset": "mnist", "data_dir": str(path.resolve())}
    if is_image_folder(path):
        return {"dataset": "images", "path": str(path.resolve())}
    if looks_like_table(path):
        return {"dataset": "table", "path": str(path.resolve())}
    return {"dataset": "file", "path": str(path.resolve())}


_NO_FLAG = {"table", "holes", "label_levels"}  # config fields that training fills in from the data, never a flag


class _JoinTuples(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, tuple(v for part in values for v in part))


def add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per config field (default None = keep the config's value)."""
    p.add_argument("--config", type=path, help="JSON or TOML config file; flags override it")
    p.add_argument("--data", help="what to train on: mnist, digits, a folder of MNIST IDX files, or a data file "
                                  "(.npy/.npz/.csv/IDX, or a folder of .npy shards); the same as --dataset/--path")
    p.add_argument("--variant", help=f"variants joined by '+', from: {', '.join(R.VARIANTS.names())} "
                                     "(e.g. sparse+denoising, vae+denoising)")
    for sec_name, sec in (("model", ModelConfig), ("loss", LossConfig), ("train", TrainConfig), ("data", DataConfig)):
        g = p.add_argument_group(sec_name)
        for f in dataclasses.fields(sec):
            if f.name in _NO_FLAG:
                continue
            default = f.default
            kw: dict[str, Any] = {"default": None, "dest": f.name}
            if isinstance(default, tuple):  # --hidden 64,32 or --hidden 64 32 or --image-size 64x64
                kw.update(type=int_tuple, nargs="+", action=_JoinTuples)
            elif isinstance(default, bool):  # a switch: --stream, and --no-stream to turn it off
                kw.update(action="store_const", const=True)
                g.add_argument("--no-" + f.name.replace("_", "-"), action="store_const", const=False, dest=f.name,
                               default=None, help=argparse.SUPPRESS)
            elif isinstance(default, (int, float)):
                kw["type"] = type(default)
            else:
                kw["type"] = str
            if f.name in _CHOICES:
                kw["choices"] = _CHOICES[f.name]()
            shown = ("from the data" if default == () else
                     f"off; --no-{f.name.replace('_', '-')} turns off what a --config file turns on"
                     if default is False else "none" if default in ("", None) else default)
            kw["help"] = (_HELP.get(f.name, "") + f" (default: {shown})").strip()
            g.add_argument("--" + f.name.replace("_", "-"), **kw)


_FIELDS = {f.name for sec in (ModelConfig, LossConfig, TrainConfig, DataConfig) for f in dataclasses.fields(sec)}
SWITCHES = {"--" + f.name.replace("_", "-") for sec in (ModelConfig, LossConfig, TrainConfig, DataConfig)
            for f in dataclasses.fields(sec) if isinstance(f.default, bool)}  # --stream, --compile, --spatial-code


def old_switch_values(argv: list[str]) -> list[str]:
    """The old spelling of a switch with a value (``--stream true``, ``--compile=false``), kept for one release:
    rewritten as ``--stream`` / ``--no-compile``, with a line that says so."""
    out, i = [], 0
    while i < len(argv):
        a = argv[i]
        name, eq, value = a.partition("=")
        valued = i + 1 < len(argv) and argv[i + 1].strip().lower() in TRUE_WORDS + FALSE_WORDS
        if name in SWITCHES and (eq or valued):
            value = value if eq else argv[i + 1]
            try:
                on = boolean(value)
            except argparse.ArgumentTypeError:
                out.append(a)  # argparse says what is wrong
                i += 1
                continue
            new = name if on else "--no-" + name[2:]
            print(f"aekit: {name} {value} is deprecated: {name} is a switch (write {new})", file=sys.stderr)
            out.append(new)
            i += 1 if eq else 2
            continue
        out.append(a)
        i += 1
    return out



def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields (and the variant) set by flags on this command line."""
    flat = {k: v for k, v in vars(args).items() if (k in _FIELDS or k == "variant") and v is not None}
    if getattr(args, "data", None):
        if flat.get("dataset") or flat.get("path"):
            raise ValueError("give the data once: --data, or --dataset with --path, not both")
        flat.update(data_overrides(args.data))
    for k in ("path", "test_path", "data_dir"):  # absolute, so that the run works from any directory later
        if flat.get(k):
            flat[k] = str(Path(flat[k]).resolve())
    return flat


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The config of a command line: the --config file (else ``base``, else the defaults), then the flags. A flag
    that the variant ignores (--noise-level without denoising) is an error, not silence."""
    cfg = Config.load(args.config) if getattr(args, "config", None) else (base or Config())
    if getattr(args, "config", None):
        d = cfg.data
        cfg = cfg.override(**{k: str((args.config.parent / v).resolve()) for k in ("path", "test_path", "data_dir")
                              if (v := getattr(d, k)) and not Path(v).is_absolute()})  # relative to the file
    flat = given_options(args)
    cfg = cfg.override(**flat)
    m = cfg.model
    for registry, chosen, name, flag in ((R.VARIANTS, cfg.variant, cfg.variant_name, "--variant"),
                                         (R.ARCHITECTURES, [m.arch] if m.arch != "auto" else R.ARCHITECTURES, m.arch,
                                          "--arch"),
                                         (R.DATASETS, [cfg.data.dataset], cfg.data.dataset, "--dataset")):
        unused = registry.unused_options(chosen, flat)
        if unused:
            opt, needs = unused[0]
            fix = f"add +{needs} to --variant" if flag == "--variant" else f"{flag} {needs}"
            raise ValueError(f"--{opt.replace('_', '-')} is used only by the {needs} {registry.kind}, and this run's "
                             f"{registry.kind} is {name!r}: {fix}, or drop the option")
    if "sampler_components" in flat and cfg.train.sampler == "none":
        raise ValueError("--sampler-components sets the components of the gmm sampler, and this run's sampler is "
                         "'none': choose --sampler gmm, or drop the option")
    return cfg


def _file_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields a --config file sets (those that differ from the defaults)."""
    if not getattr(args, "config", None):
        return {}
    return {k: v for k, v, _ in Config.load(args.config).differences(Config())}


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
    if args.data not in ("auto", "mnist"):
        over = data_overrides(args.data)
        if args.data_dir and over.get("dataset") != "mnist":
            raise ValueError("--data-dir is for MNIST; it cannot go with --data " + args.data)
        cfg = cfg.override(**over)
        return cfg, load_data(cfg.data, seed=cfg.train.seed)
    data_dir = str(Path(args.data_dir).resolve()) if args.data_dir else None
    try:
        dc = DataConfig(dataset="mnist", data_dir=data_dir)
        return cfg.override(dataset="mnist", data_dir=data_dir), load_data(dc, download=True)
    except (FileNotFoundError, ConnectionError) as e:
        if args.data == "mnist" or args.data_dir:
            raise
        print(f"MNIST unavailable ({e}); using scikit-learn's embedded digits instead.")
        return cfg.override(dataset="digits"), load_data(DataConfig(dataset="digits"))


def write_demo_figures(model, data, out: Path, mse: float | None = None) -> list[Path]:
    """reconstructions.png (8 test originals above their reconstructions) and interpolation.png (5 steps): the
    report's views of the same run."""
    from .. import viz

    x = data.test.x[:64].numpy()
    y = data.test.y
    return [viz.save_figure(viz.reconstruction_view(model, x, y, mse), out / "reconstructions.png"),
            viz.save_figure(viz.interpolation_view(model, x, y, steps=5), out / "interpolation.png")]


def cmd_demo(args: argparse.Namespace) -> int:
    name = "conv" if args.arch == "conv" and args.recipe == "seed" else args.recipe  # --arch conv: the conv recipe
    recipe = dict(RECIPES[name])
    if args.arch:
        recipe["arch"] = args.arch
    if args.epochs:
        recipe["epochs"] = args.epochs
    cfg = Config().override(seed=args.seed, **recipe)
    out = Path(args.out or "runs/demo")
    preload_optimizer_imports(cfg.train.schedule, flat=cfg.model.arch != "rnn")
    if args.out is None and (out / ckpt.CONFIG).is_file():
        print(f"Replacing the earlier demo run in {out} (give --out DIR to keep runs apart)")
    cfg, data = _demo_data(args, cfg)
    print(f"Data: {data.name}")
    m = cfg.model
    print(f"Model: {m.arch} autoencoder, latent {m.latent_dim}, recipe '{name}': Adam lr {cfg.train.lr:g}, "
          f"batch {cfg.train.batch_size}, {cfg.train.epochs} epochs, schedule {cfg.train.schedule}, loss {cfg.loss.recon}")
    res = fit(cfg, data, out_dir=out, quiet=args.quiet, on_epoch=_printer(cfg.train.epochs, False),
              overwrite=args.overwrite or args.out is None)
    model = res.model
    codes = apps.encode(model, data.test.x)
    print(f"Latent shape: {codes.shape}")
    print(f"Example code (first test image): {np.array2string(codes[0], precision=3, max_line_width=100)}")
    metrics = evaluate(model, data.test)
    print(f"Average Reconstruction MSE: {metrics['mse']:.6f}")
    ckpt.save_metrics(out, metrics)
    if args.no_report:
        paths = write_demo_figures(model, data, out, metrics["mse"])
    else:  # the report draws the same two views: copy them rather than draw them twice
        _maybe_report(args, out, model, data)
        paths = [atomic_write_bytes(out / name, (out / "figures" / name).read_bytes())
                 for name in ("reconstructions.png", "interpolation.png")]
    print(f"Wrote {', '.join(str(p) for p in paths)} (run directory {out})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.resume:
        state = ckpt.load_state(out) if out.is_dir() else None
        if state is None:
            raise FileNotFoundError(f"nothing to resume in {out} (no {ckpt.STATE}: no epoch was completed); train "
                                    "without --resume")
        cfg = config_from_args(args, base=Config.from_run(state["config"]))  # flags that would change the run are
        # refused
        print(f"Resuming {out}")
    else:
        cfg = config_from_args(args)
    preload_optimizer_imports(cfg.train.schedule, flat=cfg.model.arch != "rnn")
    if cfg.data.dataset == "table" and cfg.spec.corrupt and cfg.loss.noise == "masking":
        cfg = cfg.override(holes=True)  # imputation: entries hidden on purpose need a hole in every column
    with table_threads(cfg.data.dataset == "table"):  # a table's many small operations: one thread (aekit.fp)
        return _train(args, cfg, out)


def _train(args: argparse.Namespace, cfg: Config, out: Path) -> int:
    """``aekit train`` once its config is read: the data, the recipe, training, the test split's metrics."""
    data = load_data(cfg.data, seed=cfg.train.seed)
    lead = int(os.environ.get("RANK", "0")) == 0  # under torchrun, rank 0 alone says what it does
    given = {**given_options(args), **_file_fields(args)}  # set by flags or the config file: above any recipe
    recipe, name = {}, args.recipe
    if name == "auto":  # the table recipe for tables, the classifier's for its variant, the data recipe for the rest
        name = "table" if data.train.table is not None else "classifier" if cfg.spec.classify else "data"
    if name == "anomaly":  # the anomaly detector's sizes
        recipe = {**apps.detector_recipe(len(data.train), tuple(data.train.x.shape[1:])), "val_fraction": 0.0}
    elif name == "table":
        if data.train.table is None:
            raise ValueError(f"--recipe table is for tables; {data.name} is not one")
        recipe = table_recipe(len(data.train), data.train.table.schema,
                              impute=cfg.spec.corrupt and cfg.loss.noise == "masking")
    elif name == "data":
        recipe = data_recipe(len(data.train), tuple(data.train.x.shape[1:]))
    elif name == "classifier":
        x = data.train.x
        found = None if (cfg.data.image_shape or "arch" in given or data.train.table is not None
                         or not torch.is_tensor(x) or x.ndim != 2) else apps.image_rows(x.numpy())
        if found:  # rows that are square images: read as images, here and whenever the run reloads its data
            cfg, data = cfg.override(image_shape=found), as_images(data, found)
            x = data.train.x
            if lead:
                print(f"Rows read as {' x '.join(map(str, found))} images (aekit.apps.image_rows; --arch mlp keeps "
                      "rows)")
        unit = float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        recipe = apps.classifier_recipe(len(data.train), tuple(x.shape[1:]), unit)
    elif name in RECIPES:  # the demo's recipes (fixed settings, chosen on MNIST), as `aekit demo --recipe` has them
        recipe = dict(RECIPES[name])
    if recipe and not args.resume:  # below the flags and the config file's values
        cfg = cfg.override(**{k: v for k, v in recipe.items() if k not in given})
        if lead:
            print(f"Recipe {name}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                 for k, v in recipe.items() if k not in given))
    if cfg.spec.classify and not args.resume:
        _check_held_out_labels(cfg, data, lead)
    if lead:
        print(f"Data: {data.name}; variant {cfg.variant_name}{_labelled(data) if cfg.spec.classify else ''}")
    if data.train.table is not None and lead:
        print("Columns: " + "; ".join(data.train.table.schema.describe().splitlines()))
    res = fit(cfg, data, out_dir=out, resume=args.resume, quiet=args.quiet,
              on_epoch=_printer(cfg.train.epochs, args.quiet), overwrite=args.overwrite,
              checkpoint_every=args.checkpoint_every, tensorboard=args.tensorboard)
    if not lead:  # rank 0 alone evaluates and writes
        return 0
    metrics = evaluate(res.model, data.test)
    ckpt.save_metrics(out, metrics)
    print("Test: " + ", ".join(f"{k} {v:.6g}" for k, v in metrics.items()))
    if cfg.spec.classify and "accuracy" not in metrics:
        print("No labelled row in the test split, so no accuracy: give a labelled test file (--test-path) to "
              "measure it")
    if res.stopped_early:
        print(f"Stopped early after epoch {res.history[-1]['epoch']} (patience {cfg.train.patience})")
    _maybe_report(args, out, res.model, data)
    print(f"Saved to {out}")
    return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
    from ..tracking import history_to_tensorboard

    model = ckpt.load(args.run)  # refuses what is not a trained run
    x = None
    try:
        data = load_data(model.config.data, seed=model.config.train.seed, download=False)
        x = data.test.x[:8]
    except (FileNotFoundError, ValueError, ConnectionError) as e:
        print(f"note: no image grids (the run's data could not be loaded: {e})")
    n = history_to_tensorboard(ckpt.read_history(args.run), args.out, model, x)
    print(f"Wrote {n} epochs of {args.run} as TensorBoard events to {args.out} (tensorboard --logdir {args.out})")
    return 0


def _check_held_out_labels(cfg: Config, data, lead: bool = True) -> None:
    """Where the held-out share of --data (not a --test-path file) took every label of a class (``--split random``;
    by-label never does): a note (``lead``: printed) that the model cannot learn it, or an error when the training
    split is left with labels of one class.
    (The class count itself comes from both splits' labels: :func:`aekit.train.fit`.)"""
    if cfg.data.test_path or data.test is None or data.test.y is None:
        return
    y_test = np.asarray(data.test.y)
    y_train = np.empty(0, np.int64) if data.train.y is None else np.asarray(data.train.y)
    trained = set(y_train[y_train >= 0].tolist())
    only_test = sorted(set(y_test[y_test >= 0].tolist()) - trained)
    if not only_test:
        return
    what = f"class {only_test[0]} has" if len(only_test) == 1 else f"classes {', '.join(map(str, only_test))} have"
    if len(trained) < 2:
        raise ValueError(f"{what} labels only in the test split that was held out of the training data (20 %, "
                         f"seeded, --split {cfg.data.split}), which leaves the training split labels of "
                         f"{len(trained)} class(es): give more labels, --split by-label, or a test file of your own "
                         "(--test-path)")
    if lead:
        print(f"Note: {what} labels only in the held-out test split: the model cannot learn "
              f"{'it' if len(only_test) == 1 else 'them'} (give more labels, --split by-label, or --test-path)")


def _labelled(data) -> str:
    """'; labelled: K of the training split, M of the test split' (rows with a label, y >= 0)."""
    count = [0 if s is None or s.y is None else int((np.asarray(s.y) >= 0).sum()) for s in (data.train, data.test)]
    return f"; labelled: {count[0]} of the training split, {count[1]} of the test split"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .apps import read_inputs

    model = ckpt.load(args.run)
    if args.input:
        x = read_inputs(model, args.input).x
        split, name = Split(torch.from_numpy(x)), args.input
    else:
        data = load_data(model.config.data, seed=model.config.train.seed)
        split, name = data.test, data.name
    metrics = evaluate(model, split)
    print(json.dumps(ckpt.finite_json({"run": str(args.run), "data": name,
                                       **{f"test_{k}": v for k, v in metrics.items()}})))
    return 0


def _maybe_report(args: argparse.Namespace, out: Path, model=None, data=None) -> None:
    if not args.no_report:
        from ..viz.report import write_report

        print(f"Report: {write_report(out, shlex.join(['aekit', *args.argv]), model, data)}")


def add_train_commands(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("demo", help="the reference MNIST demo, end to end",
                       description="Train the reference MLP autoencoder on MNIST (or sklearn's digits when MNIST "
                                   "is not available), print the losses, the latent shape, an example code and the "
                                   "test MSE, and save reconstructions.png and interpolation.png.")
    d.add_argument("--data", default="auto",
                   help="auto (default): MNIST if found locally or downloadable, else the embedded digits; or mnist, "
                        "digits, a folder of MNIST IDX files, or a data file")
    d.add_argument("--data-dir", help="folder with MNIST's IDX files")
    d.add_argument("--epochs", type=bounded(positive_int, "epochs"), help="override the recipe's epoch count")
    d.add_argument("--arch", choices=["mlp", "conv"], help="mlp (the reference) or conv (the conv recipe)")
    d.add_argument("--recipe", choices=list(RECIPES), default="seed",
                   help="seed: the reference hyperparameters; best: aekit's recipe for the same MLP; conv")
    d.add_argument("--seed", type=seed, default=0, help="random seed of the weights and batches (default 0)")
    d.add_argument("--out", type=path, help="run directory (default runs/demo, replaced on each demo)")
    d.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--no-report", action="store_true", help="do not write report.html")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train any model, variant and data", description="Train a model from flags "
                       "and/or a JSON/TOML config into a run directory.")
    t.add_argument("--out", type=path, required=True, help="run directory")
    t.add_argument("--resume", action="store_true", help="continue the interrupted run in --out (only --epochs, "
                   "--patience and --device may change)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--checkpoint-every", type=non_negative_float, default=CHECKPOINT_EVERY, metavar="SECONDS",
                   help="write the checkpoint after an epoch when this long has passed since the last one, and after "
                        f"the last epoch (default {CHECKPOINT_EVERY:g}; 0: after every epoch)")
    t.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    t.add_argument("--no-report", action="store_true", help="do not write report.html")
    t.add_argument("--tensorboard", type=path, metavar="DIR", help="also write TensorBoard event files into DIR: "
                   "loss parts and learning rate per epoch, image grids (the tensorboard extra)")
    t.add_argument("--recipe", choices=["auto", "data", "classifier", "config", "table", "anomaly", *RECIPES],
                   default="auto",
                   help="auto (default): table for tables, classifier for --variant classifier, else data; classifier: "
                        "the classifier variant's sizes from the data's shape (aekit.apps.classifier_recipe: a conv "
                        "net for images, an MLP for rows); data: batch size, epochs (at least 1,000 "
                        "steps) and, for rows of few features, widths from the data's size and shape "
                        "(aekit.config.data_recipe); config: the config's values; table: sizes "
                        "for tables from their rows and columns (aekit.table.table_recipe); anomaly: the sizes of "
                        "AutoencoderOutlierDetector's default, from the data's shape (hidden layer, code, epochs, "
                        "batch); seed, best, conv: the demo's fixed MNIST recipes (aekit demo --recipe). Flags and a "
                        "--config file's values always win")
    add_config_flags(t)
    t.set_defaults(func=cmd_train)

    b = sub.add_parser("tensorboard", help="write a trained run's history (and image grids) as TensorBoard events",
                       description="Convert a run's history.jsonl into TensorBoard event files in --out (loss parts "
                                   "per epoch, learning rate), with grids of reconstructions and samples of its final "
                                   "model for image data. View them with: tensorboard --logdir DIR")
    b.add_argument("run", type=path, help="run directory")
    b.add_argument("--out", type=path, required=True, help="folder for the event files")
    b.set_defaults(func=cmd_tensorboard)

    e = sub.add_parser("evaluate", help="test metrics of a run as one JSON object",
                       description="Print a run's metrics on its test data (or --input) as one JSON object: the loss and "
                                   "its parts, and the accuracy of a classifier.")
    e.add_argument("run", type=path, help="run directory")
    e.add_argument("--input", "--data", dest="input", help="evaluate on this file (IDX, .npy, .npz, .csv) or data "
                   "set name instead of the run's test set")
    e.set_defaults(func=cmd_evaluate)

