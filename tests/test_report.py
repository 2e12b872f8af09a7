"""aekit report: a self-contained HTML page per run, figures embedded and decodable, every metric named."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import aekit
from aekit.viz.report import write_report


def _run(tmp_path, name, data, **kw):
    base = dict(latent_dim=3, hidden=(16,), channels=(4,), rnn_hidden=8, epochs=2, batch_size=32, val_fraction=0.2)
    base.update(kw)
    out = tmp_path / name
    aekit.fit(aekit.Config().override(**base), data, out_dir=out)
    return out


@pytest.fixture
def runs(tmp_path, small_digits):
    seq = np.sin(np.linspace(0, 60, 2000)) + 0.1 * np.random.default_rng(0).normal(size=2000)
    np.save(tmp_path / "series.npy", seq)
    series_cfg = aekit.DataConfig(dataset="series", path=str(tmp_path / "series.npy"), window=16, stride=4)
    return {
        "image": _run(tmp_path, "image", small_digits, arch="conv", variant="sparse+denoising", dataset="digits"),
        "sequence": _run(tmp_path, "sequence", aekit.load_data(series_cfg), arch="rnn", dataset="series",
                         path=str(tmp_path / "series.npy"), window=16, stride=4),
        "vae": _run(tmp_path, "vae", small_digits, arch="mlp", variant="vae", dataset="digits"),
        "rate": _run(tmp_path, "rate", small_digits, arch="conv", variant="rate", dataset="digits", channels=(8,)),
    }


def _images(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b))) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


@pytest.mark.parametrize("kind,expected", [("image", {"loss_curves", "reconstructions", "code_map", "sparsity",
                                                     "denoising", "anomaly_scores", "interpolation"}),
                                          ("sequence", {"loss_curves", "reconstructions", "code_map"}),
                                          ("vae", {"samples", "class_samples", "interpolation", "reconstructions"}),
                                          ("rate", {"rate_distortion", "reconstructions", "loss_curves"})])
def test_report_embeds_decodable_figures_and_names_every_metric(runs, kind, expected):
    run = runs[kind]
    page = write_report(run, command="aekit train ...").read_text()
    imgs = _images(page)
    assert len(imgs) >= len(expected)
    for img in imgs:
        img.load()
        assert img.size[0] > 100 and img.size[1] > 100
        assert np.asarray(img.convert("L")).std() > 5  # not a blank picture
    assert expected <= {p.stem for p in (run / "figures").glob("*.png")}
    for line in (run / "history.jsonl").read_text().splitlines():
        for key in json.loads(line):
            assert key in page, key
    assert "src=\"http" not in page and "<link" not in page  # self-contained: nothing fetched
    assert "aekit train ..." in page
    # the configuration shows what this run's components read: the recurrent settings only for the rnn
    assert ("rnn_hidden" in page) == (kind == "sequence") and ("kl_beta" in page) == (kind == "vae")
    assert "train and validation" in page  # val_fraction 0.2: both curves


def test_report_cli_and_demo_write_report(tmp_path, capsys):
    from aekit.cli import main

    assert main(["demo", "--data", "digits", "--epochs", "1", "--out", str(tmp_path / "d"), "--quiet"]) == 0
    assert (tmp_path / "d" / "report.html").is_file()
    assert "aekit demo --data digits" in (tmp_path / "d" / "report.html").read_text()
    (tmp_path / "d" / "report.html").unlink()
    assert main(["report", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "report.html").is_file()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_report_renders_in_headless_chromium(runs, tmp_path):
    page = write_report(runs["image"])
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'ud'}"]
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.goto(page.as_uri())
        tab.wait_for_load_state("load")
        sizes = tab.evaluate("[...document.images].map(e => [e.naturalWidth, e.naturalHeight])")
        footer = tab.inner_text("body").strip().splitlines()[-1]
        browser.close()
    assert len(sizes) == len(_images(page.read_text())) and all(w > 0 and h > 0 for w, h in sizes)
    assert errors == [] and footer.startswith("Written by aekit") and "[[" not in footer  # no debug string
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=60)
    img = np.asarray(Image.open(shot).convert("L"))
    assert img.std() > 10  # text and figures, not a blank page


def test_the_report_draws_what_it_is_given_and_evaluates_nothing(tmp_path, small_digits, capsys):
    """viz computes no test metrics: they come from metrics.json or the caller (aekit report computes them, once,
    for a run trained from Python, which has no metrics.json)."""
    import aekit.viz.report as report_module
    from aekit.cli import main

    assert not hasattr(report_module, "evaluate")
    run = _run(tmp_path, "py", small_digits, dataset="digits")  # aekit.fit: no metrics.json
    assert not (run / "metrics.json").exists()
    assert "test_mse" not in write_report(run).read_text()  # nothing given, nothing computed
    assert "test_mse" in write_report(run, metrics={"test_mse": 0.5}).read_text()
    assert main(["report", str(run)]) == 0
    assert "test_mse" in (run / "report.html").read_text()


def test_figures_name_classes_and_unlabelled_samples_and_the_sampler_says_why_it_has_fewer_components():
    import torch

    from aekit.data.splits import DataSplits, Split
    from aekit.sampler import describe, fit_sampler
    from aekit.viz.figures import _natural, label_text

    x = torch.zeros(4, 3)
    d = DataSplits(Split(x), Split(x), "t", classes=["cats", "dogs"])
    assert d.label_names(np.array([1, -1, 0])) == ["dogs", "unlabelled", "cats"]
    assert DataSplits(Split(x), Split(x), "t").label_names([2, -1]) == ["label 2", "unlabelled"]
    assert label_text(3) == "label 3" and label_text(-1) == "unlabelled" and label_text("cats") == "cats"
    assert sorted(["label 10", "label 2", "unlabelled"], key=_natural) == ["label 2", "label 10", "unlabelled"]
    import aekit

    cfg = aekit.Config().override(dataset="digits", arch="mlp", hidden=(8,), latent_dim=4, epochs=1, sampler="none")
    model = aekit.fit(cfg, np.random.default_rng(0).random((40, 6)).astype(np.float32), quiet=True).model
    fit_sampler(model, np.random.default_rng(1).random((40, 6)).astype(np.float32), components=200)
    # 40 codes of 4 values: at most 40 // 5 = 8 components
    assert describe(model).startswith("a Gaussian mixture (8 components; 200 asked for, but a component needs about 5")


def test_rows_of_numbers_are_drawn_four_at_a_time_on_the_standardised_scale():
    import aekit
    from aekit.viz import views as V

    rng = np.random.default_rng(0)
    x = np.c_[rng.normal(size=(60, 3)), rng.normal(1000, 300, size=(60, 1))].astype(np.float32)  # one column ~1000
    cfg = aekit.Config().override(arch="mlp", hidden=(8,), latent_dim=2, epochs=1, sampler="none")
    model = aekit.fit(cfg, x, quiet=True).model
    fig = V.reconstruction_view(model, x, np.array([0, 1, -1, 1, 0, 0, 0, 0]))
    assert any("standardised" in t for t in fig.texts) and "sample 3" in fig.texts and "sample 4" not in fig.texts
    assert fig.size[0] <= 4 * 260 + 10  # four panels, not eight
    # the values drawn are the model's standardised ones: the tick labels stay small, not in the thousands
    ticks = [float(t) for t in fig.texts if t.replace(".", "", 1).lstrip("-").isdigit()]
    assert ticks and max(abs(t) for t in ticks) < 100
