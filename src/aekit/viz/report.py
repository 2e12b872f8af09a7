"""``aekit report``: one self-contained HTML file per run, figures embedded, that opens offline anywhere."""

from __future__ import annotations

import base64
import html
import json
import shlex
from pathlib import Path

from .. import __version__, apps
from .. import checkpoint as ckpt
from ..data import DataSplits, load_data
from ..files import atomic_write_bytes, atomic_write_text, subfolder, together
from ..model import Autoencoder

def _figures(model: Autoencoder, data: DataSplits | None, history: list[dict],
             mse: float | None = None) -> list[tuple[str, str, object]]:
    """(file name, caption, Figure) for every figure that fits this run; the same views as the commands
    and the demo draw."""
    from . import figures as F
    from . import views as V

    figs: list[tuple[str, str, object]] = []
    if history:
        val = any(k.startswith("val/") for r in history for k in r)
        figs.append(("loss_curves.png", "Every named loss part per epoch" + (", train and validation." if val else
                     " on the training data (no validation split)."), F.loss_curves(history)))
    if data is None:
        return figs
    cfg = model.config
    x = data.test.x[:V.MAX_MAP_POINTS].numpy()  # (n, *input_shape); a streamed split is read here
    labels = data.label_names(data.test.y[:len(x)]) if data.test.y is not None else None  # names, "unlabelled"
    if model.table is not None:  # a table: its columns and their associations, real against synthetic
        figs += V.table_views(model, x)
        figs.append(("code_map.png", "The test codes projected to 2-D by PCA.", V.code_map_view(model, x, labels)))
        det = apps.run_detector(model, data.train.x, x)
        figs.append(("anomaly_scores.png", f"Test anomaly scores ({det.scorer.method}) with the threshold "
                     f"{det.threshold:.4g} set on the training data.", V.detection_view(det)))
        return figs
    figs.append(("reconstructions.png", "Test inputs and their reconstructions.",
                 V.reconstruction_view(model, x, labels, mse)))
    if len(x) >= 2:
        figs.append(("interpolation.png", "Decoded points on the line between the codes of two test inputs.",
                     V.interpolation_view(model, x, labels)))
    if model.default_sampler() is not None:
        from ..sampler import describe

        figs.append(("samples.png", f"New samples: codes drawn from {describe(model)}, decoded.",
                     V.samples_view(model)))
        if model.default_sampler() == "gmm" and model.sampler.classes:
            figs.append(("class_samples.png", "Samples by class: codes drawn from the mixture of each class's "
                         "training codes, decoded.", V.class_samples_view(model)))
    figs.append(("code_map.png", "The test codes projected to 2-D by PCA" +
                 (", coloured by label." if labels is not None else "."), V.code_map_view(model, x, labels)))
    if "sparsity" in cfg.spec.terms:
        figs.append(("sparsity.png", "Mean activation of each code unit on the test set against the target rho.",
                     V.sparsity_view(model, x)))
    if cfg.spec.corrupt:
        figs.append(("denoising.png", f"Test inputs corrupted by {cfg.loss.noise} noise ({cfg.loss.noise_level:g}), "
                     "denoised by the model, and the clean originals.",
                     V.denoising_view(apps.denoise(model, x[:8], cfg.loss.noise, cfg.loss.noise_level, seed=0))))
    if cfg.spec.quantize and len(x.shape) == 4 and x.shape[1] in (1, 3):
        figs.append(("rate_distortion.png", "Bits per pixel (real file sizes) against PSNR: this run on the first 500 "
                     "test images as one compressed file, JPEG and WebP with each image its own file.",
                     V.rate_distortion_view(model, x[:500])))
    det = apps.run_detector(model, data.train.x, x)  # the run's one rule, as detect, serve and the page use it
    figs.append(("anomaly_scores.png", f"Test anomaly scores ({det.scorer.method}: the run's scoring rule, as "
                 f"aekit detect and aekit serve use it) with the threshold {det.threshold:.4g} set on the training "
                 "data (median + 3 robust standard deviations).", V.detection_view(det)))
    return figs


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}
figure{margin:1.5em 0}img{max-width:100%;border:1px solid #eee}pre{background:#f6f6f6;padding:.8em;overflow:auto}
.muted{color:#666}"""

def write_report(run_dir: str | Path, command: str | None = None, model: Autoencoder | None = None,
                 data: DataSplits | None = None, metrics: dict[str, float] | None = None,
                 out: str | Path | None = None) -> Path:
    """Write ``run_dir/report.html`` (and each figure as a PNG in ``run_dir/figures/``); return its path. With
    ``out``: the page alone, to that file (its figures are embedded; the run directory is left as it is).

    ``model`` and ``data``: the run's model and data when the caller holds them (the training commands), so that
    they are not loaded again; by default both are loaded from the run directory. ``metrics``: the test metrics to
    show, by default the run's ``metrics.json`` (the report draws what it is given: it evaluates nothing itself)."""
    run_dir = Path(run_dir)
    model = ckpt.load(run_dir) if model is None else model
    cfg = model.config
    history = ckpt.read_history(run_dir)
    note = ""
    if data is None:
        try:
            data = load_data(cfg.data, seed=cfg.train.seed, download=False)
        except (FileNotFoundError, ValueError, ConnectionError) as e:
            note = f"The run's data could not be loaded here ({e}); figures that need it are left out."
    mpath = run_dir / "metrics.json"
    if metrics is not None:
        pass
    elif mpath.is_file():
        try:
            metrics = json.loads(mpath.read_text())
        except ValueError:
            metrics = None
        if not isinstance(metrics, dict):
            raise ckpt.CorruptFileError(f"{mpath} is not a JSON object of metrics")
    else:
        metrics = {}
    if command is None:
        cpath = run_dir / "command.txt"
        command = cpath.read_text().strip() if cpath.is_file() else \
            f"aekit train --config {shlex.quote(str(run_dir / 'config.json'))} --out {shlex.quote(str(run_dir))}-again"
    figures = [(name, caption, fig.png()) for name, caption, fig in _figures(model, data, history,
                                                                             metrics.get("test_mse"))]
    if out is not None:
        return _write_page(run_dir, None, figures, command, cfg, data, history, metrics, note, Path(out))
    with together():  # the report, its figures and command.txt appear together
        return _write_page(run_dir, subfolder(run_dir, "figures"), figures, command, cfg, data, history, metrics,
                           note)


def _write_page(run_dir: Path, figures_dir: Path | None, figures: list[tuple[str, str, bytes]], command: str, cfg,
                data: DataSplits | None, history: list[dict], metrics: dict, note: str,
                out: Path | None = None) -> Path:
    if figures_dir is not None:  # the run's own report: its figures and command beside it
        atomic_write_text(run_dir / "command.txt", command + "\n")
    parts = []
    for name, caption, png in figures:
        if figures_dir is not None:
            atomic_write_bytes(figures_dir / name, png)
        parts.append(f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,'
                     f'{base64.b64encode(png).decode()}"><figcaption>{html.escape(caption)}</figcaption></figure>')

    last = history[-1] if history else {}
    keys = sorted({k for r in history for k in r if k not in ("epoch",)})
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(last.get(k))}</td></tr>" for k in keys)
    mrows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in metrics.items())
    m = cfg.model
    title = f"aekit run {run_dir.name}: {cfg.variant_name} {m.arch} autoencoder, latent {m.latent_dim}"
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="muted">Data: {html.escape(data.name if data else str(cfg.data.dataset))}; {len(history)} epoch(s) in
{sum(r.get('time_s', 0) for r in history):.1f} s; input shape {tuple(m.input_shape)}.</p>
{f'<p class="muted">{html.escape(note)}</p>' if note else ''}
<h2>Test metrics</h2><table><tr><th>metric</th><th>value</th></tr>{mrows or '<tr><td colspan=2>none</td></tr>'}</table>
<h2>Final epoch</h2><table><tr><th>metric</th><th>value</th></tr>{rows}</table>
<h2>Figures</h2>{''.join(parts)}
<h2>Reproduce</h2><pre>{html.escape(command)}</pre>
{_schema_section(cfg)}<h2>Configuration</h2><p>The fields this run's architecture, variants and data read (config.json holds
them all{'; the table schema is shown above' if cfg.model.table else ''}).</p>
<pre>{html.escape(json.dumps(_shown_config(cfg), indent=2))}</pre>
<p class="muted">Written by aekit {html.escape(__version__)}.</p></body></html>"""
    return atomic_write_text(out or run_dir / "report.html", page)


def _shown_config(cfg) -> dict:
    """The config's used fields, without a table's schema (a JSON string: shown as a table of its own)."""
    d = cfg.used_dict()
    if isinstance(d.get("model"), dict):
        d["model"] = {k: v for k, v in d["model"].items() if k != "table"}
    return d


def _schema_section(cfg) -> str:
    """A table run's schema: one row per column (kind, what it holds), and the columns left out."""
    if not cfg.model.table:
        return ""
    from ..table import Schema

    rows = "".join(f"<tr><td>{html.escape(line.split(': ', 1)[0])}</td><td>{html.escape(line.split(': ', 1)[1])}"
                   "</td></tr>" for line in Schema.from_json(cfg.model.table).describe().splitlines())
    return f"<h2>Table schema</h2><table><tr><th>column</th><th>kind and values</th></tr>{rows}</table>\n"


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return html.escape(str(v))
