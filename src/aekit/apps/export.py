"""Export to ONNX: ``encoder.onnx`` (input -> code), ``decoder.onnx`` (code -> output) and ``autoencoder.onnx``
(input -> reconstruction and per-sample anomaly score, the mean squared reconstruction error), with a dynamic batch
axis (and a dynamic time axis for recurrent models' encoder and autoencoder), and the input shape, the config, the
anomaly threshold and the aekit version in each file's metadata. A VAE exports its mean path; a rate model its
encoder up to the quantised (rounded) code. Needs the ``export`` extra (onnx, onnxruntime).
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..model import Autoencoder

PARITY_TOLERANCE = 1e-4


def _require() -> tuple:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ImportError("ONNX export needs the export extra: pip install 'aekit[export]' (onnx, onnxruntime)") from None
    return onnx, onnxruntime


class _Graph(nn.Module):
    """One exported graph: ``fn`` over the model (registered as a submodule, so that eval() reaches it)."""

    def __init__(self, model: Autoencoder, fn) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, x: torch.Tensor):
        return self.fn(x)


def _reconstruction_and_score(model: Autoencoder):
    def fn(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x_hat = model.reconstruct(x)  # (B, *input_shape)
        if model.table is not None:  # a table row: the mean of its columns' losses (as aekit scores it)
            return x_hat, model.table.loss_matrix(x_hat, x).mean(1)
        return x_hat, (model.normalize(x_hat) - model.normalize(x)).pow(2).flatten(1).mean(1)  # and (B,) the MSE

    return fn


@dataclass
class Exported:
    paths: dict[str, Path]  # encoder, decoder, autoencoder
    max_abs_diff: float  # onnxruntime against PyTorch on the check samples, over every output


FILES = ("encoder.onnx", "decoder.onnx", "autoencoder.onnx")
TABLE_FILE = "table.json"  # a table model's codec: what turns typed rows into the graphs' inputs and back


class ParityError(ValueError):
    """onnxruntime's outputs differ from PyTorch's by more than the tolerance (or are not finite)."""


def export_onnx(model: Autoencoder, out_dir: str | Path, sample: np.ndarray, threshold: float | None = None,
                opset: int = 17, tolerance: float = PARITY_TOLERANCE) -> Exported:
    """Write the three ONNX files into ``out_dir`` together: they are written into a new folder beside it, run with
    onnxruntime on ``sample`` (N, *input_shape) and compared with PyTorch, and only when every output is finite and
    within ``tolerance`` does that folder replace ``out_dir`` (which must be new, empty, or hold only these three
    files). Otherwise :class:`ParityError`, and ``out_dir`` is left as it was.

    Returns
    -------
    :class:`Exported`: the paths and the largest absolute difference from PyTorch over every output.
    """
    from .. import files

    out_dir = Path(out_dir)
    if out_dir.is_symlink() or (out_dir.exists() and (not out_dir.is_dir() or
                                                      set(os.listdir(out_dir)) - {*FILES, TABLE_FILE})):
        raise ValueError(f"{out_dir} is not a folder of aekit's ONNX files: give a new folder for the export")
    with files.new_folder(out_dir, replace=True) as tmp:
        res = _export(model, tmp, sample, threshold, opset)
        if not res.max_abs_diff <= tolerance:  # NaN included
            raise ParityError(f"ONNX parity check failed: onnxruntime differs from PyTorch by {res.max_abs_diff:.3g} "
                              f"(> {tolerance:g}) on {len(sample)} samples; nothing was written")
    return Exported({k: out_dir / p.name for k, p in res.paths.items()}, res.max_abs_diff)


def _export(model: Autoencoder, out_dir: Path, sample: np.ndarray, threshold: float | None, opset: int) -> Exported:
    onnx, ort = _require()
    from .. import __version__
    from ..files import atomic_write_bytes

    model = model.cpu().eval()
    x = torch.as_tensor(np.asarray(sample, dtype=np.float32))
    model.check_input(x)
    rnn = model.config.model.arch == "rnn"
    batch_time = {0: "batch", 1: "time"} if rnn else {0: "batch"}
    with torch.no_grad():
        z = model.encode(x)
    parts = {
        "encoder": (_Graph(model, model.encode), (x,), ["input"], ["code"], {"input": batch_time, "code": {0: "batch"}}),
        "decoder": (_Graph(model, model.decode), (z,), ["code"], ["output"], {"code": {0: "batch"}, "output": {0: "batch"}}),
        "autoencoder": (_Graph(model, _reconstruction_and_score(model)), (x,), ["input"], ["reconstruction", "score"],
                        {"input": batch_time, "reconstruction": batch_time, "score": {0: "batch"}}),
    }
    if model.table is not None:
        from ..files import atomic_write_text

        atomic_write_text(out_dir / TABLE_FILE, json.dumps(table_codec_json(model), indent=1))
    meta = {"aekit_version": __version__, "input_shape": json.dumps(list(model.input_shape)),
            "code_shape": json.dumps(list(model.code_shape)), "config": model.config.to_json(),
            "anomaly_threshold": "" if threshold is None else repr(float(threshold)),
            "score": "mean of the columns' losses per row (table.json)" if model.table is not None else
            "mean squared reconstruction error per sample"}
    paths: dict[str, Path] = {}
    worst = 0.0
    for name, (module, args, inputs, outputs, axes) in parts.items():
        import io

        module.eval()
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, tracer warnings
            torch.onnx.export(module, args, buf, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
        proto = onnx.load_from_string(buf.getvalue())
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        module.eval()  # the exporter restores the wrapper's (training) mode on every submodule: eval, again
        paths[name] = atomic_write_bytes(out_dir / f"{name}.onnx", proto.SerializeToString())
        got = run_onnx(paths[name], args[0].numpy())
        with torch.no_grad():
            want = module(*args)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            diff = float(np.abs(g - w.numpy()).max())
            worst = diff if not diff <= worst else worst  # a NaN difference stays NaN (max() would drop it)
    return Exported(paths, worst)


def table_codec_json(model: Autoencoder) -> dict:
    """A table model's codec as JSON (``table.json`` of an export): per column its kind, its slice of the encoded
    row [start, stop), its levels (one-hot, in order; "" is a hole) or its quantile transform's support points ``x``
    (values) and ``z`` (standard-normal scores: encode x -> z by linear interpolation, decode z -> x the same way,
    then round to ``decimals`` and clip to [lo, hi]), and for numbers with holes a 0/1 flag at start + 1 (1: a
    hole; in the decoder's output a logit)."""
    codec = model.table
    cols = []
    for j, (c, (a, b)) in enumerate(zip(codec.schema.columns, codec.slices)):
        d = {"name": c.name, "kind": c.kind, "slice": [a, b], "missing": c.missing}
        if c.onehot:
            d["levels"] = c.categories
        else:
            d.update(lo=c.lo, hi=c.hi, decimals=c.decimals, x=getattr(codec, f"qx{j}").tolist(),
                     z=getattr(codec, f"qz{j}").tolist())
        cols.append(d)
    return {"width": codec.width, "columns": cols, "dropped": codec.schema.dropped}


def run_onnx(path: str | Path, x: np.ndarray) -> list[np.ndarray]:
    """Run an exported file with onnxruntime on x; its outputs in order."""
    _, ort = _require()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: np.asarray(x, dtype=np.float32)})


def metadata(path: str | Path) -> dict[str, str]:
    """The metadata an exported file carries."""
    onnx, _ = _require()
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}
