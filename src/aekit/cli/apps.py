"""The application commands: encode, reconstruct, generate, interpolate, denoise, detect, classify, probe, report.

Each takes a trained run directory. Inputs come from ``--input FILE`` (IDX, .npy, .npz, .csv, or a data set name), or
by default from the run's own data set (its test split). Outputs are arrays (.npy / .npz / .csv by suffix), CSV tables
or PNGs. A new application command is a ``cmd_*`` function here and its parser in :func:`add_app_commands`; the work
itself lives in :mod:`aekit.apps`, its figure in :mod:`aekit.viz.views`.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from .. import apps
from .. import checkpoint as ckpt
from ..config import DataConfig, LossConfig
from ..data import check_array, class_labels, load_data
from ..data.arrays import ARRAY_SUFFIXES, check_lengths, check_output, read_array, save_array
from ..data.table import write_table
from ..files import atomic_write_text
from ..model import NO_CLASSIFIER, Autoencoder
from ..registry import CORRUPTIONS, DATASETS, SAMPLERS
from ..sampler import describe
from ..limits import LIMITS
from .common import at_least_two, bounded, deprecated, non_negative_float, path, port, positive_int, seed

# --- inputs and outputs -------------------------------------------------------------------------------
TABLE_OUTPUTS = (".csv", ".parquet")  # what a table run writes its rows to
class Inputs(NamedTuple):
    x: np.ndarray  # (N, *input_shape) float32
    y: np.ndarray | None = None  # (N,) labels when known
    names: list[str] | None = None  # (N,) image files' paths relative to their folder
    classes: list[str] | None = None  # class names of an image folder's labels


def read_inputs(model: Autoencoder, path: str | None, split: str = "test", unknown: str = "error") -> Inputs:
    """Samples shaped for the model, with labels and names if known: from a file, a folder of images (decoded to
    the model's channels and size), a data set name, or the run's own data set (its ``split``)."""
    if path is None or (path in DATASETS and DATASETS.canonical(path) in ("mnist", "digits")
                        and not Path(path).exists()):
        cfg = model.config.data if path is None else DataConfig(dataset=path, data_dir=model.config.data.data_dir)
        data = load_data(cfg, seed=model.config.train.seed)
        s = getattr(data, split)
        x = s.x[:] if not torch.is_tensor(s.x) else s.x  # a streamed split is read here
        return Inputs(_fit_shape(model, x.numpy(), path or data.name), s.y, s.names)
    if model.table is not None:  # a table run reads tables: the run's label column (if any) as labels
        from ..data.table import labels_of, read_table, stored_levels

        columns = read_table(path)
        y, levels = None, stored_levels(model.config.data)
        if model.config.data.label_column and model.config.data.label_column in columns:
            columns, y, levels = labels_of(columns, model.config.data.label_column, path, levels)
        x = model.table.encode(columns, path, unknown)
        unseen = model.table.unknown_entries(x)
        if unseen:
            print(f"{path}: {unseen} value(s) of categories training never saw, scored as the "
                  "least likely level")
        return Inputs(x, y, classes=levels)
    if Path(path).is_dir():
        from ..data.images import load_image_split

        shape = model.input_shape
        if len(shape) != 3 or shape[0] not in (1, 3):
            raise ValueError(f"{path} is a folder of images, but this model takes samples of shape {shape}")
        s, folder = load_image_split(path, shape[0], shape[1:])
        return Inputs(s.x.numpy(), s.y, s.names, folder.classes or None)
    label = model.config.data.label_column
    arr = read_array(path, label if label is not None and _csv_holds(path, label, model) else None)
    x = _fit_shape(model, check_array(np.asarray(arr.x), path), path)
    if arr.lengths is not None:  # checked as training checks them; and not silently dropped
        lengths = check_lengths(arr.lengths, x.shape, path)
        if (lengths != x.shape[1]).any():
            raise ValueError(f"{path}: sequences shorter than T={x.shape[1]} ('lengths'): this command reads whole "
                             "sequences; give each sequence without padding, or drop 'lengths'")
    return Inputs(x, arr.y)


def _csv_holds(path: str, column: str, model: Autoencoder) -> bool:
    """Whether a CSV input still holds the run's label column (by name, or as one column more than the model
    takes): then it is read as the labels, as in training, not as a feature."""
    if not str(path).lower().endswith(".csv") or not Path(path).is_file():
        return False
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        header = next(csv.reader(f), [])
    names = [h.strip() for h in header]
    width = int(np.prod(model.input_shape))
    return column in names or (column.isdigit() and len(names) == width + 1)


def _fit_shape(model: Autoencoder, x: np.ndarray, what: str) -> np.ndarray:
    shape = model.input_shape
    if model.config.model.arch == "rnn":
        if x.ndim != 3 or x.shape[2] != shape[1]:
            raise ValueError(f"{what}: samples of shape {x.shape[1:]} do not fit the model's input (T, {shape[1]})")
        return x
    if x.shape[1:] != shape:
        if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
            raise ValueError(f"{what}: samples of shape {x.shape[1:]} do not fit the model's input {shape}")
        x = x.reshape(len(x), *shape)  # e.g. flattened rows, or IDX images without a channel axis
    return x


def _png_dir(images: np.ndarray, names: list[str] | None, out: str | Path, prefix: str = "") -> None:
    """One PNG per sample in a new folder, named after the input files (subfolders kept; .png) or numbered."""
    from ..data.images import write_images

    names = names or [f"{prefix or 'sample'}_{i:05d}" for i in range(len(images))]
    folder = write_images(images, [str(Path(n).with_suffix(".png")) for n in names], out)
    print(f"Wrote {len(images)} PNG files into {folder}")


def _png(fig, path: str | Path) -> None:
    from .. import viz

    print(f"Wrote {viz.save_figure(fig, path)}")


# --- commands -----------------------------------------------------------------------------------------
def _check_outputs(args: argparse.Namespace, arrays: tuple[str, ...] = ("out",), pngs: tuple[str, ...] = ("png",),
                   csvs: tuple[str, ...] = ()) -> None:
    for names, suffixes in ((arrays, ARRAY_SUFFIXES), (pngs, (".png",)), (csvs, (".csv",))):
        for name in names:
            check_output(getattr(args, name, None), suffixes)
    folder = getattr(args, "png_dir", None)
    if folder and Path(folder).exists() and (not Path(folder).is_dir() or any(Path(folder).iterdir())):
        raise ValueError(f"--png-dir {folder} exists and is not an empty folder: choose a new one")


def cmd_encode(args: argparse.Namespace) -> int:
    _check_outputs(args)  # codes are numbers: .npy, .npz or .csv, for tables too
    model = ckpt.load(args.run)
    inp = read_inputs(model, args.input)
    z = apps.encode(model, inp.x)
    print(f"Encoded {len(z)} samples to codes of shape {z.shape}; wrote {save_array(args.out, z, inp.names)}")
    return 0


def _check_table_outputs(args: argparse.Namespace) -> None:
    """A table run writes typed tables: --out a .csv or .parquet file; its rows have no images."""
    check_output(args.out, TABLE_OUTPUTS)
    for flag in ("png", "png_dir"):
        if getattr(args, flag, None):
            raise ValueError(f"--{flag.replace('_', '-')} draws images; a table run writes a table (--out)")


def cmd_reconstruct(args: argparse.Namespace) -> int:
    from .. import viz

    model = ckpt.load(args.run)
    if model.table is not None:
        _check_table_outputs(args)
        inp = read_inputs(model, args.input)
        r = apps.reconstruct(model, inp.x)  # (N, width): values and logits
        err = apps.table_errors(model, inp.x, r)
        print(f"Reconstructed {len(r)} rows: {err}; wrote {write_table(args.out, model.table.decode(r), inp.names)}")
        return 0
    _check_outputs(args)
    inp = read_inputs(model, args.input)
    x = inp.x
    r = apps.reconstruct(model, x)
    err = float(np.mean((r - x) ** 2))
    scale = " on the data's own scale (evaluate reports the model's standardised scale)" \
        if model.standardizer is not None else ""
    print(f"Reconstructed {len(x)} samples, MSE {err:.6f}{scale}; wrote {save_array(args.out, r, inp.names)}")
    if args.png:
        _png(viz.reconstruction_view(model, x, inp.y, err), args.png)
    if args.png_dir:
        _png_dir(r, inp.names, args.png_dir)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .. import viz

    model = ckpt.load(args.run)
    if model.table is not None:
        _check_table_outputs(args)
    else:
        _check_outputs(args)
    given, args.label = args.label, _class_index(model, args.label)
    of = "" if args.label is None else f" of class {args.label}" + (f" ({given})" if given != str(args.label) else "")
    if model.table is not None:  # typed rows: categories drawn from the decoder's probabilities
        where = dict(_condition(w) for w in args.where or [])
        rows, tried = apps.sample_rows(model, args.n, args.seed, args.sampler, args.label, where)
        column = model.config.data.label_column
        if args.label is not None and column and column not in rows:  # the class asked for, as the label column
            rows[column] = [apps.label_value(model, args.label)] * args.n
        cond = f" where {', '.join(f'{k}={v}' for k, v in where.items())} ({args.n} of {tried} drawn)" if where else ""
        print(f"Sampled {args.n} rows{of}{cond} from {describe(model, args.sampler)}; wrote "
              f"{write_table(args.out, rows)}")
        return 0
    if args.where:
        raise ValueError("--where selects rows of a table run; this run is not one")
    s = apps.sample(model, args.n, seed=args.seed, sampler=args.sampler, label=args.label)
    print(f"Sampled {args.n}{of} from {describe(model, args.sampler)}; wrote {save_array(args.out, s)}")
    if args.png_dir:
        _png_dir(s, None, args.png_dir, prefix="sample")
    if args.png:
        _png(viz.samples_view(model, args.n, args.seed, args.sampler, args.label), args.png)
    return 0


def cmd_impute(args: argparse.Namespace) -> int:
    """The input table with its holes filled, observed entries as they were."""
    from ..data.table import read_table

    check_output(args.out, TABLE_OUTPUTS)
    model = ckpt.load(args.run)
    if model.table is None:
        raise ValueError(f"{args.run} is not a table run: impute fills the holes of tables (train on a CSV or "
                         "Parquet table, with --variant denoising --noise masking to impute any column)")
    columns = read_table(args.input)
    from ..table import is_missing

    names = [c.name for c in model.table.schema.columns if c.name in columns]
    empty = np.all([is_missing(columns[c]) for c in names], axis=0) if names else np.zeros(0, bool)
    if empty.any():  # nothing in the row to rebuild it from
        print(f"note: {int(empty.sum())} row(s) of {args.input} have no observed entry (the first: row "
              f"{int(np.flatnonzero(empty)[0])}): each is filled with the model's rebuilding of an empty row, the same "
              "typical values for all of them")
    if args.draws:
        tables, n = apps.impute_draws(model, columns, args.draws, args.seed, args.input)
        rows = len(next(iter(columns.values()))) if columns else 0
        long = {"draw": [k + 1 for k in range(len(tables)) for _ in range(rows)],
                **{c: [v for t in tables for v in t[c]] for c in columns}}
        print(f"Filled {n} hole(s) in {rows} rows of {args.input}, {args.draws} times; wrote "
              f"{write_table(args.out, long)}")
        return 0
    filled, n = apps.impute(model, columns, args.input)
    rows = len(next(iter(filled.values()))) if filled else 0
    print(f"Filled {n} hole(s) in {rows} rows of {args.input}; wrote {write_table(args.out, filled)}")
    return 0


def _condition(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"--where {text!r}: write COLUMN=VALUE")
    return name.strip(), value.strip()


def cmd_interpolate(args: argparse.Namespace) -> int:
    from .. import viz

    if args.out and str(args.out).lower().endswith(".png") and args.png is None:  # the old meaning of --out
        print("aekit: interpolate --out FILE.png is deprecated: use --png FILE.png (--out writes the decoded path's "
              "data)", file=sys.stderr)
        args.png, args.out = args.out, args.array
    elif args.array:
        args.out = args.out or args.array
    if not args.out and not args.png:
        raise ValueError("interpolate needs --out FILE (the decoded path: .npy, .npz, .csv) or --png FILE (its "
                         "figure), or both")
    _check_outputs(args, arrays=("out",), pngs=("png",))
    model = ckpt.load(args.run)
    x = read_inputs(model, args.input).x
    for i in (args.a, args.b):
        if not 0 <= i < len(x):
            raise ValueError(f"index {i} is out of range for {len(x)} samples")
    print(f"Interpolated {args.steps} steps ({args.method}) between samples {args.a} and {args.b}")
    if args.out:
        strip = apps.interpolate(model, x[args.a], x[args.b], args.steps, args.method)
        print(f"Wrote {save_array(args.out, strip)}")
    if args.png:
        _png(viz.interpolation_view(model, x, None, args.steps, args.method, args.a, args.b), args.png)
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    """Clean noisy inputs. With --noise the inputs are taken as clean, corrupted here, then cleaned, and the
    PSNR before and after is reported."""
    from .. import viz

    _check_outputs(args)
    if args.add_noise:
        LossConfig(noise=args.add_noise, noise_level=args.level)  # the level's range, before the work
    model = ckpt.load(args.run)
    inp = read_inputs(model, args.input)
    x = inp.x
    res = apps.denoise(model, x, args.add_noise, args.level, args.seed)
    print(f"Denoised {len(x)} samples; wrote {save_array(args.out, res.denoised)}")
    if res.psnr is not None:
        print(f"PSNR noisy {res.psnr[0]:.2f} dB -> denoised {res.psnr[1]:.2f} dB")
    if args.png:
        _png(viz.denoising_view(res), args.png)
    if args.png_dir:
        _png_dir(res.denoised, inp.names, args.png_dir)
    return 0


def _reference_size(value: str) -> int | None:
    return None if value == "all" else positive_int(value)


def cmd_detect(args: argparse.Namespace) -> int:
    """Anomaly scores (reconstruction errors) and flags; the threshold comes from the run's training data."""
    from .. import viz

    _check_outputs(args, arrays=(), csvs=("out",))
    model = ckpt.load(args.run)
    try:
        contamination = args.contamination if args.contamination == "auto" else float(args.contamination)
    except ValueError:
        raise ValueError(f"--contamination must be auto or a number in (0, 0.5], got {args.contamination!r}") from None
    apps.error_threshold(np.zeros(1), contamination)  # checked before the work
    if args.error_window is not None:
        apps.check_error_window(model.input_shape, args.error_window)
    train_x = read_inputs(model, None, "train").x
    inp = read_inputs(model, args.input, unknown="zeros")  # a table's unseen category: a sign of an anomaly
    x = inp.x
    labels = None
    if args.labels and inp.classes is not None and args.labels in inp.classes:  # the anomalies' subfolder
        labels = (inp.y == inp.classes.index(args.labels)).astype(int)
    elif args.labels:
        if inp.classes is not None and not Path(args.labels).exists():
            raise ValueError(f"--anomaly-labels {args.labels}: not a file, nor one of the folder's classes "
                             f"{inp.classes}")
        raw = np.asarray(read_array(args.labels).x).reshape(-1)
        if len(raw) != len(x):
            raise ValueError(f"{args.labels}: {len(raw)} labels for {len(x)} samples")
        if raw.dtype.kind not in "biuf" or not np.isin(raw, (0, 1)).all():
            bad = raw[~np.isin(raw, (0, 1))][:1] if raw.dtype.kind in "biuf" else [raw.dtype]
            raise ValueError(f"{args.labels}: labels must be 0 (normal) or 1 (anomaly), found {bad[0]}")
        labels = raw.astype(int)
    if labels is not None and len(np.unique(labels)) < 2:
        raise ValueError(f"--anomaly-labels {args.labels}: every sample has label {labels[0]}; the AUROC needs both "
                         "normal (0) and anomalous (1) samples")
    method = apps.default_score(model.input_shape, model.table is not None) if args.score == "auto" else args.score
    det = apps.detect(model, train_x, x, method, contamination, args.error_window, args.neighbors,
                      args.max_reference)
    # a table: the column each row is rebuilt worst in, and its share of the row's error
    columns = apps.worst_columns(model, x) if model.table is not None else None
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["index", *(["file"] if inp.names else []), "score", "anomaly",
                *(["column", "column_share"] if columns else [])])
    for i, (s, f) in enumerate(zip(det.scores, det.flags)):
        w.writerow([i, *([inp.names[i]] if inp.names else []), f"{s:.7g}", int(f),
                    *([columns[i][0], f"{columns[i][1]:.3f}"] if columns else [])])
    atomic_write_text(args.out, buf.getvalue())
    print(f"Threshold {det.threshold:.6g} (contamination {contamination}); {int(det.flags.sum())} of {len(x)} "
          f"samples flagged; wrote {args.out}")
    if labels is not None:
        from sklearn.metrics import roc_auc_score

        print(f"AUROC {roc_auc_score(labels, det.scores):.4f}")
    if args.png:
        _png(viz.detection_view(det, labels), args.png)
    return 0


def cmd_classify(args: argparse.Namespace) -> int:
    """Predicted classes of a classifier-variant run; the accuracy where the input has labels."""
    _check_outputs(args, arrays=(), csvs=("out",))
    model = ckpt.load(args.run)
    if model.classifier is None:
        raise ValueError(NO_CLASSIFIER.format(model.config.variant_name))
    inp = read_inputs(model, args.input)
    proba = apps.predict_proba(model, inp.x)
    pred = proba.argmax(1)
    names = apps.class_names(model)
    named = names != [str(i) for i in range(len(names))]  # classes with names: each row's in a column of its own
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["index", *(["file"] if inp.names else []), "label", *(["class"] if named else []), "probability"])
    for i, (c, p) in enumerate(zip(pred, proba.max(1))):
        w.writerow([i, *([inp.names[i]] if inp.names else []), int(c),
                    *([names[c] if c < len(names) else str(c)] if named else []), f"{p:.6g}"])
    atomic_write_text(args.out, buf.getvalue())
    print(f"Classified {len(pred)} samples into {proba.shape[1]} classes; wrote {args.out}")
    _print_accuracy(model, inp, pred)
    return 0


def _class_index(model: Autoencoder, label: str | None) -> int | None:
    """``--label``: a class index, or the name of one of the run's named classes (:func:`aekit.apps.class_names`)."""
    if label is None:
        return None
    names = apps.class_names(model)
    if label in names:
        return names.index(label)
    try:
        return int(label)
    except ValueError:
        raise ValueError(f"--label {label!r} is neither a class index nor one of this run's class names"
                         + (f" ({', '.join(names[:10])})" if names else "")) from None


def _print_accuracy(model: Autoencoder, inp: Inputs, pred: np.ndarray) -> None:
    """The accuracy where the input's labels name the run's classes; a line saying why not where they do not."""
    if inp.y is None:
        return
    y = class_labels(inp.y, what="the input's labels", n=len(pred), min_classes=1).numpy()
    known = y >= 0
    if not known.any():
        return
    names = inp.classes or [str(i) for i in range(int(y.max()) + 1)]  # the input's class names, by its index
    ours = apps.class_names(model)
    seen = sorted({names[i] for i in y[known]})
    foreign = [c for c in seen if c not in ours]
    if foreign:
        print(f"no accuracy: the input's classes ({', '.join(foreign[:5])}) are not among the run's classes "
              f"({', '.join(ours[:10])}{', ...' if len(ours) > 10 else ''})")
        return
    truth = np.array([ours.index(names[i]) for i in y[known]])
    print(f"accuracy {np.mean(pred[known] == truth):.4f} on the {int(known.sum())} labelled samples")


def _pixels(shape: tuple[int, ...]) -> int | None:
    """Pixels per sample of an image shape (C, H, W), for bits per pixel; None for other data."""
    return shape[1] * shape[2] if len(shape) == 3 and shape[0] in (1, 3) else None


def cmd_compress(args: argparse.Namespace) -> int:
    """Compress inputs into one file with a rate model; print its size against the estimated rate."""
    from ..apps import codec as C
    from ..files import atomic_write_bytes

    _check_outputs(args, arrays=(), pngs=())
    if Path(args.out).is_dir():
        raise ValueError(f"output {args.out} is a directory: give a file name (.aek)")
    model = ckpt.load(args.run)
    tables = C.tables_of(model)  # a clear error for a model without the rate variant, before reading the inputs
    x = read_inputs(model, args.input).x
    codes = C.quantized_codes(model, x)
    data = C.compress_codes(tables, codes, C.model_digest(model, tables), tuple(model.input_shape))
    atomic_write_bytes(args.out, data)
    est = C.estimated_bits(tables, codes)
    n, bits = len(x), 8 * len(data)
    px = _pixels(tuple(model.input_shape))
    per_px = f", {bits / (n * px):.4f} bits per pixel" if px else ""
    print(f"Compressed {n} samples into {len(data)} bytes: {bits / n:.1f} bits per sample{per_px}; estimated rate "
          f"{est / n:.1f} bits per sample ({est / 8:.0f} bytes of payload; the file adds its header and checksum); "
          f"wrote {args.out}")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    """Decode a compressed file with the run that wrote it."""
    from .. import viz
    from ..apps import codec as C

    if len(args.paths) != (1 if args.run else 2):
        raise ValueError("decompress takes the run, then the compressed file: aekit decompress RUN FILE --out ...")
    if not args.run:
        args.run = args.paths[0]
    args.file = args.paths[-1]
    _check_outputs(args)
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"compressed file not found: {path}")
    model = ckpt.load(args.run)
    try:
        x = C.decompress(model, path.read_bytes())
    except C.CompressedFileError as e:
        raise C.CompressedFileError(f"{path}: {e}") from None
    print(f"Decompressed {len(x)} samples of shape {tuple(x.shape[1:])}; wrote {save_array(args.out, x)}")
    if args.png:
        _png(viz.sample_grid(x[:32], title=f"Decompressed from {path.name}"), args.png)
    if args.png_dir:
        _png_dir(x, None, args.png_dir, prefix="image")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """ONNX files of a run, checked against PyTorch on the run's test samples (or --input)."""
    from ..apps.export import PARITY_TOLERANCE, _require, export_onnx

    _require()  # the extra, before any work
    out = Path(args.out) if args.out else Path(args.run) / "onnx"
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a folder for the ONNX files")
    model = ckpt.load(args.run)
    x = read_inputs(model, args.input).x[:64]
    train_x = read_inputs(model, None, "train").x
    threshold = apps.error_threshold(apps.AnomalyScorer(model, train_x).reference_scores)  # as aekit detect's auto
    res = export_onnx(model, out, x, threshold)
    print(f"Wrote {', '.join(str(p) for p in res.paths.values())}; onnxruntime vs PyTorch on {len(x)} samples: "
          f"largest absolute difference {res.max_abs_diff:.3g} (limit {PARITY_TOLERANCE:g}); anomaly threshold "
          f"{threshold:.6g} in the metadata")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The HTTP service and its page, until interrupted."""
    from ..serve import _require, serve

    _require()
    ckpt.load(args.run)  # a clear error for a bad run before the server starts
    print(f"Serving {args.run} on http://{args.host}:{args.port}/ (the page at /, the API documented at /docs); "
          "Ctrl-C stops")
    serve(args.run, args.host, args.port)
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    model = ckpt.load(args.run)
    data = load_data(model.config.data, seed=model.config.train.seed)
    if data.train.y is None:
        raise ValueError(f"{data.name} has no labels: a linear probe needs them")
    test = read_inputs(model, args.input) if args.input else None  # (else the test split already loaded)
    x_test, y_test = (np.asarray(test.x), test.y) if test is not None else (data.test.x[:].numpy(), data.test.y)
    if y_test is None:
        raise ValueError(f"{args.input or data.name} has no labels: a linear probe is scored on labelled samples")
    res = apps.probe(model, data.train.x[:].numpy(), data.train.y, x_test, y_test)
    print(json.dumps({"data": data.name, "test": args.input or "the run's test split", "test_accuracy": res}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..viz.report import write_report

    if args.out is not None:
        check_output(args.out, (".html", ".htm"))
    model, data, metrics = ckpt.load(args.run), None, None
    if not (Path(args.run) / ckpt.METRICS).is_file():  # a run trained from Python: its test metrics, once, here
        from ..train import evaluate

        try:
            data = load_data(model.config.data, seed=model.config.train.seed, download=False)
            metrics = {f"test_{k}": v for k, v in evaluate(model, data.test).items()}
        except (FileNotFoundError, ValueError, ConnectionError):
            pass  # the report says the data could not be loaded
    print(f"Wrote {write_report(args.run, model=model, data=data, metrics=metrics, out=args.out)}")
    return 0


# --- train / evaluate ---------------------------------------------------------------------------------
def add_app_commands(sub: argparse._SubParsersAction) -> None:

    def parser(name: str, fn, help: str, desc: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=desc or help)
        p.add_argument("run", type=path, help="trained run directory (from aekit train or aekit demo)")
        p.set_defaults(func=fn, together=True)  # its output files appear together or not at all
        return p

    def input_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--input", "--data", dest="input", help="IDX, .npy, .npz or .csv file of samples, a folder of "
                       "images, or a data set name (mnist, digits: its test set); default: the run's test set")

    p = parser("encode", cmd_encode, "codes of the inputs (dimensionality reduction, features)")
    input_flag(p)
    p.add_argument("--out", required=True, help="codes file: .npy, .npz or .csv")

    p = parser("reconstruct", cmd_reconstruct, "reconstructions of the inputs")
    input_flag(p)
    p.add_argument("--out", required=True, help="reconstructions file: .npy, .npz or .csv")
    p.add_argument("--png", help="also write a figure of 8 originals above their reconstructions")
    p.add_argument("--png-dir", help="also write one PNG per reconstruction into this new folder, named after the "
                   "input images")

    p = parser("impute", cmd_impute, "a table with its holes filled (a run trained on a table)",
               "Fill the holes (blanks, NA, ...) of a CSV or Parquet table with the run's reconstruction of each "
               "entry from the other entries of its row (a number: averaged with a ridge regression of its column "
               "on the others, as filled, and mixed with chained equations' fill, each column weighted by how well "
               "the two fill entries hidden on purpose); every observed entry is written exactly as it was read.")
    p.add_argument("--input", "--data", dest="input", required=True, help="the incomplete table: .csv or .parquet")
    p.add_argument("--out", required=True, help="the filled table: .csv or .parquet")
    p.add_argument("--draws", type=bounded(positive_int, "samples"), help="multiple imputation: K completed tables "
                   "in one file, a first column 'draw' (1..K) before each table's rows; holes drawn from the model's "
                   "predictive distribution (for Rubin's rules)")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the draws (default 0)")

    p = parser("generate", cmd_generate, "new samples: codes drawn from the run's sampler, decoded")
    p.add_argument("-n", type=bounded(positive_int, "samples"), default=16,
                   help=f"how many samples (default 16, at most {LIMITS['samples']:,})")
    p.add_argument("--seed", type=seed, default=0, help="random seed (default 0)")
    p.add_argument("--sampler", choices=SAMPLERS.names(), help="gmm: the Gaussian mixture fitted to the training "
                   "codes (the default where the run has one); normal: the prior N(0, I) (VAEs)")
    p.add_argument("--label", help="only samples of this class: its index, or its name where the run's classes "
                   "have names (class subfolders of images, a table's text labels); runs trained on labelled data: "
                   "MNIST, digits, an .npz with y, --label-column")
    p.add_argument("--where", action="append", metavar="COLUMN=VALUE", help="table runs: only rows whose COLUMN "
                   "is VALUE (a category's level, or a whole number of an integer column); repeat for several")
    p.add_argument("--out", required=True, help="samples file: .npy, .npz or .csv (table runs: .csv or .parquet)")
    p.add_argument("--png", help="also write a grid of the samples")
    p.add_argument("--png-dir", help="also write one PNG per sample into this new folder")

    p = parser("classify", cmd_classify, "predicted classes (a run trained with the classifier variant)",
               "Write index, label (the most probable class) and its probability for each input as CSV (and the "
               "input file for a folder of images); print the accuracy where the input has labels.")
    input_flag(p)
    p.add_argument("--out", required=True, help="labels file: .csv")

    p = parser("interpolate", cmd_interpolate, "decode a path between the codes of two inputs")
    input_flag(p)
    p.add_argument("--a", type=int, default=0, help="index of the first input (default 0)")
    p.add_argument("--b", type=int, default=1, help="index of the second input (default 1)")
    p.add_argument("--steps", type=bounded(at_least_two, "path_steps"), default=8,
                   help=f"points on the path, ends included (default 8, at most {LIMITS['path_steps']:,})")
    p.add_argument("--method", choices=["linear", "slerp"], default="linear",
                   help="linear, or spherical (slerp: keeps the code's norm, suits a VAE's Gaussian prior)")
    p.add_argument("--out", help="the decoded path: .npy, .npz or .csv (steps x the input's shape)")
    p.add_argument("--png", help="a figure of the decoded path (a strip of images, or the rows of a table)")
    p.add_argument("--array", action=deprecated("--out"), help=argparse.SUPPRESS)

    p = parser("denoise", cmd_denoise, "clean noisy inputs with a (denoising) model",
               "Clean noisy inputs. With --noise the inputs are taken as clean, corrupted here, cleaned, and "
               "the PSNR before and after is printed.")
    input_flag(p)
    p.add_argument("--noise", dest="add_noise", choices=CORRUPTIONS.names(),
                   help="corrupt clean inputs first, with this noise (as train's --noise), and report PSNR")
    p.add_argument("--noise-level", dest="level", type=non_negative_float, default=0.3,
                   help="sigma (gaussian) or probability (masking, salt_pepper) of --noise (default 0.3)")
    p.add_argument("--add-noise", dest="add_noise", choices=CORRUPTIONS.names(), action=deprecated("--noise"),
                   help=argparse.SUPPRESS)
    p.add_argument("--level", dest="level", type=non_negative_float, action=deprecated("--noise-level"),
                   help=argparse.SUPPRESS)
    p.add_argument("--seed", type=seed, default=0, help="random seed of --noise (default 0)")
    p.add_argument("--out", required=True, help="denoised file: .npy, .npz or .csv")
    p.add_argument("--png", help="also write noisy / denoised / clean triplets")
    p.add_argument("--png-dir", help="also write one PNG per denoised image into this new folder, named after the "
                   "input images")

    p = parser("detect", cmd_detect, "anomaly scores and flags by reconstruction error and code distance",
               "Score inputs by reconstruction error and their code's distance to the training codes (--score); "
               "flag those above a threshold set on the run's training data. The defaults are "
               "AutoencoderOutlierDetector's (train the run with --recipe anomaly for its sizes too).")
    input_flag(p)
    p.add_argument("--contamination", default="auto",
                   help="expected outlier fraction of the training data, or auto: median + 3 robust sd (default)")
    p.add_argument("--score", choices=("auto", *apps.AnomalyScorer.METHODS), default="auto",
                   help="reconstruction: the error; combined: + Mahalanobis distance of the code; knn: + mean "
                        "distance to the --neighbors nearest training codes (each standardised on the training "
                        "data); knn+tails: knn + how far out each feature lies in its training distribution (robustly "
                        "standardised); auto (default, as AutoencoderOutlierDetector): knn+tails for tables, knn for "
                        "images and sequences")
    p.add_argument("--n-neighbors", dest="neighbors", type=positive_int, default=apps.NEIGHBORS,
                   help=f"knn: neighbours of each code, as n_neighbors in Python (default {apps.NEIGHBORS})")
    p.add_argument("--neighbors", dest="neighbors", type=positive_int, action=deprecated("--n-neighbors"),
                   help=argparse.SUPPRESS)
    p.add_argument("--max-reference", type=_reference_size, default=apps.MAX_REFERENCE, metavar="N|all",
                   help=f"training samples kept as the reference (a fixed random subset; default "
                        f"{apps.MAX_REFERENCE}, chosen on tables; all: every one, as for the image figures)")
    p.add_argument("--error-window", type=positive_int, metavar="W",
                   help="images: score the largest mean squared error over any W x W patch instead of the "
                        "whole-image mean (a local difference is not diluted by the rest)")
    p.add_argument("--anomaly-labels", dest="labels", metavar="FILE|NAME",
                   help="which inputs are anomalies, to report the AUROC: a file of 0/1 labels (1 = anomaly), or for a "
                        "folder of images the name of the subfolder that holds them")
    p.add_argument("--labels", dest="labels", action=deprecated("--anomaly-labels"), help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, help="CSV with index, score, anomaly")
    p.add_argument("--png", help="also write a histogram of the scores with the threshold")

    p = parser("compress", cmd_compress, "compress inputs into a file with a rate model (--variant rate)",
               "Quantise the inputs' codes and range-code them under the run's integer tables into one file; print "
               "the bits per sample (and per pixel for images) next to the estimated rate.")
    input_flag(p)
    p.add_argument("--out", required=True, help="the compressed file (e.g. images.aek)")

    p = sub.add_parser("decompress", help="decode a compressed file with the run that wrote it",
                       description="Decode FILE (from aekit compress) with the RUN's model and tables.")
    p.add_argument("paths", type=path, nargs="+", metavar="RUN FILE",
                   help="the run directory whose model compressed the file, then the compressed file")
    p.add_argument("--run", type=path, action=deprecated("decompress RUN FILE"), help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, help="decoded samples: .npy, .npz or .csv")
    p.add_argument("--png", help="also write a grid of the first 32 decoded samples")
    p.add_argument("--png-dir", help="also write one PNG per decoded image into this new folder")
    p.set_defaults(func=cmd_decompress, together=True)

    p = parser("export", cmd_export, "ONNX files of the model, checked against PyTorch (needs aekit[export])",
               "Write encoder.onnx, decoder.onnx and autoencoder.onnx (input -> reconstruction and per-sample "
               "score) with a dynamic batch axis and the input shape, config, anomaly threshold and aekit version in "
               "their metadata; run them with onnxruntime on the run's test samples (or --input) and fail when they "
               "differ from PyTorch by more than 1e-4.")
    input_flag(p)
    p.add_argument("--format", choices=["onnx"], default="onnx", help="the export format (onnx)")
    p.add_argument("--out", help="folder for the files (default RUN/onnx)")

    p = parser("serve", cmd_serve, "an HTTP service and a web page for the model (needs aekit[serve])",
               "Serve the run over HTTP (FastAPI on uvicorn): /encode, /reconstruct, /score, /generate, "
               "/interpolate, /info, /healthz, a page to try it at / and the API's documentation at /docs.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=8000, help="port (default 8000)")

    p = parser("probe", cmd_probe, "linear-probe accuracy on the codes vs PCA codes vs raw inputs (needs labels)",
               "Fit a logistic regression on the codes of the run's labelled training data (and on PCA codes of the "
               "same size, and on the raw inputs) and print each one's accuracy on the test samples.")
    input_flag(p)

    p = sub.add_parser("report", help="write RUN/report.html", description="Write a self-contained HTML report of a "
                       "run (figures embedded) into RUN/report.html, or to --out.")
    p.add_argument("run", type=path, help="run directory")
    p.add_argument("--out", type=path, help="write the page (figures embedded) to this .html file instead")
    p.set_defaults(func=cmd_report)
