"""The Pillow figures: ticks, data-to-pixel placement, dashes, gaps, bars and image grids, checked against hand
computations on the drawn pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aekit import viz
from aekit.viz import canvas as C
from conftest import modules_imported_by

RED = np.array(C.COLORS["red"])


def _near(img: np.ndarray, color, tol: int = 40) -> np.ndarray:
    """(H, W) bool: pixels within tol of color on every channel."""
    return (np.abs(img.astype(int) - np.asarray(color)[None, None, :]) <= tol).all(-1)


def test_linear_ticks_are_multiples_of_a_nice_step_inside_the_range():
    assert C.linear_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert C.linear_ticks(25, 35) == [26.0, 28.0, 30.0, 32.0, 34.0]
    assert C.linear_ticks(-1.1, 1.1) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert C.linear_ticks(0.013, 0.087) == [0.02, 0.04, 0.06, 0.08]
    assert C.linear_ticks(0.9, 3.1, integer=True) == [1.0, 2.0, 3.0]  # epochs: no 1.5
    assert C.linear_ticks(0, 10, 4, integer=True) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # not 2.5
    assert C.nice_step(10, 4) == 2.5 and C.nice_step(7, 5) == 2.0 and C.nice_step(0.3, 3) == 0.1


def test_log_ticks_are_decades_or_1_2_5_within_one():
    assert C.log_ticks(0.05, 1.2) == [0.05, 0.1, 0.2, 0.5, 1.0]  # two decades: 2 and 5 in between too
    assert C.log_ticks(0.3, 3.5) == [0.5, 1.0, 2.0]
    assert C.log_ticks(1e-9, 1e3) == [1e-9, 1e-7, 1e-5, 1e-3, 1e-1, 1e1, 1e3]  # 13 decades: every other one
    assert C.log_ticks(0.011, 0.019) == [0.012, 0.014, 0.016, 0.018]


def test_tick_labels_carry_the_decimals_the_step_needs():
    assert [C.tick_label(v, [25, 27.5, 30]) for v in (25, 27.5, 30)] == ["25.0", "27.5", "30.0"]
    assert [C.tick_label(v, [0, 10, 20]) for v in (0, 10, 20)] == ["0", "10", "20"]
    assert [C.tick_label(v, [0.5, 1, 2], log=True) for v in (0.5, 1, 2)] == ["0.5", "1", "2"]
    assert C.tick_label(2e-4, [1e-4, 2e-4]) == "2e-4" and C.tick_label(2.5e-4, [2e-4, 2.5e-4]) == "2.5e-4"


def test_a_dash_pattern_cuts_a_polyline_into_on_pieces():
    pieces = C.dash([(0, 0), (10, 0), (20, 0)], on=4, off=2)
    assert [(p[0][0], p[-1][0]) for p in pieces] == [(0, 4), (6, 10), (12, 16), (18, 20)]
    assert pieces[1] == [(6, 0), (10, 0)]  # the corner at x=10 ends the second dash


def test_a_line_lands_where_its_data_says():
    p = C.Panel(xlim=(0, 10), ylim=(0, 10), legend=None)
    p.line([0, 10], [5, 5], "red")  # horizontal, half-way up
    p.line([2.5, 2.5], [0, 10], "blue")  # vertical, a quarter of the way across
    img = C.chart([p], panel_size=(300, 240)).to_array()
    left, top, right, bottom = C.plot_box((300, 240))
    rows, cols = np.nonzero(_near(img, RED))
    assert abs(rows.mean() - (top + bottom) / 2) <= 1.0
    assert cols.min() <= left + 1 and cols.max() >= right - 2
    _, bcols = np.nonzero(_near(img, C.COLORS["blue"]))
    assert abs(bcols.mean() - (left + 0.25 * (right - left))) <= 1.0


def test_a_non_finite_value_breaks_the_line():
    x = np.arange(11.0)
    y = np.full(11, 5.0)
    y[5] = np.nan
    p = C.Panel(xlim=(0, 10), ylim=(0, 10), legend=None).line(x, y, "red")
    img = C.chart([p], panel_size=(300, 240)).to_array()
    left, _, right, _ = C.plot_box((300, 240))
    drawn = _near(img, RED).any(0)
    x4, x6 = (left + k / 10 * (right - left) for k in (4, 6))
    assert drawn[int(x4) - 5] and drawn[int(x6) + 5]
    assert not drawn[int(x4) + 4:int(x6) - 3].any()  # from x=4 to x=6 nothing is drawn


def test_bars_rise_in_proportion_to_their_counts():
    p = C.Panel(xlim=(0, 2), ylim=(0, 2), legend=None).bars([0, 1, 2], [1, 2], "red", alpha=1.0)
    img = C.chart([p], panel_size=(300, 240)).to_array()
    left, top, right, bottom = C.plot_box((300, 240))
    red = _near(img, RED)
    col1, col2 = int(left + 0.25 * (right - left)), int(left + 0.75 * (right - left))
    h1, h2 = red[:, col1].sum(), red[:, col2].sum()
    assert abs(h2 - (bottom - top)) <= 2 and abs(h1 - (bottom - top) / 2) <= 2


def test_degenerate_data_still_draws():
    flat = C.Panel().line([0, 1, 2], [3, 3, 3])
    assert flat.limits()[1] == (2.5, 3.5)  # one value: a unit around it
    empty = C.Panel().line([0, 1], [np.nan, np.nan])
    assert empty.limits() == ((-0.05, 1.05), (0.0, 1.0))  # x from its values (5 % margins), y by default
    assert C.chart([flat, empty]).size == (2 * 340, 280)
    assert C.chart([]).size == (340, 280) and viz.loss_curves([{"epoch": 1}]).size[0] > 100
    nan_tile = np.full((1, 1, 4, 4), np.nan)
    with np.errstate(invalid="raise"):  # NaN pixels are drawn black, without an invalid cast
        assert np.asarray(viz.image_grid([nan_tile], ["x"]).image.convert("L")).min() == 0


def test_image_grids_keep_every_pixel():
    assert (C.tile_scale(28, 28), C.tile_scale(8, 8), C.tile_scale(64, 64), C.tile_scale(300, 200)) == (3, 10, 1, 1)
    a = np.zeros((2, 1, 4, 4))
    a[1] = 1.0
    b = np.full((2, 1, 4, 4), 0.5)
    b[0, 0, 0, 0] = 2.0  # clipped to white
    fig = viz.image_grid([a, b], ["r0", "r1"], None, "")
    img = np.asarray(fig.image.convert("L"))
    img = img[:, np.nonzero((img == 0).any(0))[0][0]:]  # the tiles, right of the row titles (whose edges are gray)
    k = C.tile_scale(4, 4)
    tiles = {v: int((img == v).sum()) for v in (0, 128)}
    assert tiles[0] == 4 * 4 * k * k and tiles[128] == (2 * 16 - 1) * k * k  # each pixel a k x k block
    assert fig.texts == ["r0", "r1"]


def test_a_figure_saves_as_png_and_names_what_it_shows(tmp_path):
    rng = np.random.default_rng(0)
    scores, labels = rng.random(60), (rng.random(60) > 0.7).astype(int)
    fig = viz.roc_curve(scores + labels, labels)
    assert any(t.startswith("AUROC = ") for t in fig.texts) and "ROC curve" in fig.texts
    path = viz.save_figure(fig, tmp_path / "roc.png")
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), fig.to_array())
    assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    hist = [{"epoch": i, "train/loss": 1.0 / i, "val/loss": 1.2 / i, "train/kl": 0.5} for i in range(1, 4)]
    curves = viz.loss_curves(hist)
    assert {"Loss curves", "loss", "kl", "train", "val"} <= set(curves.texts)
    assert np.asarray(Image.open(io.BytesIO(curves.png()))).std() > 5


@pytest.mark.parametrize("make", [
    lambda r: viz.code_map(r.normal(size=(40, 5)), r.integers(0, 12, 40)),
    lambda r: viz.sparsity_histogram(r.random(8), 0.05),
    lambda r: viz.anomaly_histogram(r.random(50), 0.5, (r.random(50) > 0.8).astype(int)),
    lambda r: viz.reconstructions(r.random((4, 1, 8, 8)), r.random((4, 1, 8, 8)), [1, 2, 3, 4], 0.01),
    lambda r: viz.reconstructions(r.random((3, 20, 2)), r.random((3, 20, 2))),
    lambda r: viz.interpolation_strip(r.random((5, 3, 6, 6))),
    lambda r: viz.sample_grid(r.random((16, 64))),
    lambda r: viz.denoising_triplets(r.random((3, 30)), r.random((3, 30)), r.random((3, 30)), (10.0, 20.0)),
    lambda r: viz.rate_distortion({"a": [(0.4, 29.0)], "b": [(1.0, 25.0), (2.0, 30.0)]}),
])
def test_every_figure_draws_something(make):
    fig = make(np.random.default_rng(0))
    assert isinstance(fig, viz.Figure) and fig.texts
    assert fig.size[0] > 100 and fig.size[1] > 100 and fig.to_array().std() > 5


def test_drawing_the_report_imports_no_plotting_library():
    code = ("from aekit.viz import report, figures as F; F.loss_curves([{'epoch': 1, 'train/loss': 1.0}]).png(); "
            "F.code_map(__import__('numpy').ones((5, 3)))")
    assert not any(m.split(".")[0] == "matplotlib" for m in modules_imported_by(code))


def test_the_legend_goes_to_the_corner_it_hides_the_least_of():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0.5, 1, 400), rng.uniform(0.5, 1, 400)  # every point in the upper right quarter
    p = C.Panel(xlim=(0, 1), ylim=(0, 1))
    p.scatter(x, y, "blue", label="points")
    img = np.asarray(C.chart([p], panel_size=(300, 300)).image).astype(int)
    left, top, right, bottom = C.plot_box((300, 300))
    grey = (np.abs(img - 190).max(axis=2) <= 12)  # the legend box's outline
    mid_x, mid_y = (left + right) // 2, (top + bottom) // 2
    quarters = {"upper right": grey[top:mid_y, mid_x:right].sum(), "upper left": grey[top:mid_y, left:mid_x].sum(),
                "lower right": grey[mid_y:bottom, mid_x:right].sum(), "lower left": grey[mid_y:bottom, left:mid_x].sum()}
    assert max(quarters, key=quarters.get) == "upper left"  # the first corner free of points
    assert quarters["upper right"] == 0
