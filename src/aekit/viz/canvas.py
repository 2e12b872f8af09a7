"""Figures drawn with Pillow: panels of lines, points and bars on linear or log axes, and grids of images.

No plotting library is imported: a figure costs milliseconds, and ``aekit`` needs neither matplotlib nor its import
time (0.3 s) to draw the report. Panels are drawn at twice their size and reduced, so that lines are smooth; images in
a grid are enlarged by whole pixels (nearest), so that every pixel of a 28 x 28 digit stays visible as it is.

A figure is a :class:`Figure`: its picture (``.image``, a PIL image, shown inline by Jupyter) and every string drawn
on it (``.texts``), saved atomically as PNG by ``.save(path)``.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..files import atomic_write_bytes

SS = 2  # panels are drawn at SS times their size, then reduced
TAB10 = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
         (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
COLORS = {"blue": TAB10[0], "orange": TAB10[1], "green": TAB10[2], "red": TAB10[3], "gray": TAB10[7],
          "black": (20, 20, 20)}
INK, FAINT = (34, 34, 34), (225, 225, 225)
DASHES = {"-": None, "--": (7.0, 4.0), ":": (1.5, 3.0)}  # on / off lengths, in pixels of the final figure


@dataclass
class Figure:
    """A drawn figure: ``image`` (RGB) and ``texts`` (every title, label, tick label and legend entry drawn)."""

    image: Image.Image
    texts: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.size

    def png(self) -> bytes:
        buf = io.BytesIO()
        self.image.save(buf, format="PNG", compress_level=6)
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        """Write the figure as a PNG, atomically."""
        return atomic_write_bytes(path, self.png())

    def to_array(self) -> np.ndarray:
        """(H, W, 3) uint8."""
        return np.asarray(self.image)

    def _repr_png_(self) -> bytes:  # Jupyter shows it inline
        return self.png()


@lru_cache(maxsize=None)
def font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in scalable font at ``px`` pixels."""
    return ImageFont.load_default(size=px)


def text_width(s: str, px: int) -> float:
    return font(px).getlength(s)


def _color(c: str | tuple) -> tuple[int, int, int]:
    """A color name of COLORS or an (r, g, b) tuple -> (r, g, b)."""
    return COLORS[c] if isinstance(c, str) else tuple(int(v) for v in c)[:3]


# --- ticks ----------------------------------------------------------------------------------------------------
def nice_step(span: float, target: int = 5) -> float:
    """The smallest step among 1, 2, 2.5, 5, 10 x 10^k that cuts ``span`` into at most ``target`` intervals."""
    raw = span / max(target, 1)
    mag = 10.0 ** math.floor(math.log10(raw))  # raw in [mag, 10 mag): the loop always returns
    return next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw * (1 - 1e-9))


def linear_ticks(lo: float, hi: float, target: int = 5, integer: bool = False) -> list[float]:
    """Multiples of a nice step that lie in [lo, hi] (hi > lo); ``integer``: a whole step (epochs, indices)."""
    step = nice_step(hi - lo, target)
    if integer and step < 1:
        step = 1.0
    elif integer and step == 2.5:
        step = 2.0
    first = math.ceil(lo / step - 1e-9)
    ticks = [k * step for k in range(first, int(math.floor(hi / step + 1e-9)) + 1)]
    return [0.0 if abs(t) < step * 1e-9 else round(t, 12) for t in ticks]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi] (0 < lo < hi); with fewer than four, also 2 and 5 times them (a range of two or
    three decades still reads in between)."""
    ticks = [10.0 ** k for k in range(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1)]
    if len(ticks) < 4:
        ticks = sorted(m * 10.0 ** k for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                       for m in (1, 2, 5) if lo * (1 - 1e-9) <= m * 10.0 ** k <= hi * (1 + 1e-9))
    if len(ticks) < 2:  # a range within one 1-2-5 step: linear ticks read on the log axis
        ticks = [t for t in linear_ticks(lo, hi) if t > 0]
    every = math.ceil(len(ticks) / 7)  # at most 7 labels: every other decade, or every third...
    return ticks[::every]


def tick_label(v: float, ticks: Sequence[float], log: bool = False) -> str:
    """A tick's label: on a log axis in the shortest form; on a linear one with the decimals the step needs."""
    if v == 0:
        return "0"
    if not all(1e-3 <= abs(t) < 1e5 or t == 0 for t in ticks):  # all in powers of ten
        return f"{v:.1e}".replace(".0e", "e").replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    if log:
        return f"{v:g}"
    steps = [abs(b - a) for a, b in zip(ticks, ticks[1:])]
    step = min(steps) if steps else abs(v)
    dec = next(d for d in range(7) if abs(step * 10 ** d - round(step * 10 ** d)) < 1e-6 * step * 10 ** d or d == 6)
    return f"{v:.{dec}f}"


# --- panels ---------------------------------------------------------------------------------------------------
@dataclass
class _Mark:
    kind: str  # line | scatter | bars | vline
    x: np.ndarray
    y: np.ndarray
    color: object
    style: str = "-"
    marker: str | None = None
    label: str | None = None
    width: float = 1.5
    size: float = 3.0
    alpha: float = 1.0


@dataclass
class Panel:
    """One set of axes. Add marks with :meth:`line`, :meth:`scatter`, :meth:`bars` and :meth:`vline`; limits come
    from the data (5 % margins) unless ``xlim`` / ``ylim`` are given."""

    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xlog: bool = False
    ylog: bool = False
    grid: bool = False
    xinteger: bool = False  # ticks on whole numbers only (epochs, steps)
    legend: str | None = "best"  # the corner covering the fewest points; or "upper right", "lower left", ...; None
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    marks: list[_Mark] = field(default_factory=list)

    def _next_color(self) -> tuple[int, int, int]:
        return TAB10[sum(m.kind in ("line", "scatter") for m in self.marks) % len(TAB10)]

    def line(self, x, y, color=None, style: str = "-", marker: str | None = None, label: str | None = None,
             width: float = 1.5, size: float = 3.0) -> "Panel":
        """A polyline through (x, y), broken where a value is not finite; ``marker``: 'o', 's', '*' or None."""
        c = _color(color) if color is not None else self._next_color()
        self.marks.append(_Mark("line", _f64(x), _f64(y), c, style, marker, label, width, size))
        return self

    def scatter(self, x, y, color=None, size: float = 2.5, alpha: float = 0.7, label: str | None = None) -> "Panel":
        """Points; ``color``: one color, or (N, 3) colors."""
        c = np.asarray(color) if color is not None and np.ndim(color) == 2 else (
            _color(color) if color is not None else self._next_color())
        self.marks.append(_Mark("scatter", _f64(x), _f64(y), c, marker="o", label=label, size=size, alpha=alpha))
        return self

    def bars(self, edges, heights, color=None, alpha: float = 0.6, label: str | None = None) -> "Panel":
        """A histogram: bar i spans [edges[i], edges[i + 1]] up to heights[i]."""
        self.marks.append(_Mark("bars", _f64(edges), _f64(heights), _color(color), label=label, alpha=alpha))
        return self

    def vline(self, x: float, color=None, style: str = "--", label: str | None = None) -> "Panel":
        """A vertical line across the panel."""
        self.marks.append(_Mark("vline", _f64([x]), _f64([]), _color(color or "black"), style, label=label))
        return self

    # -- limits
    def limits(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """((x0, x1), (y0, y1)) in data units."""
        xs = [m.x if m.kind != "bars" else m.x[[0, -1]] for m in self.marks]
        ys = [m.y for m in self.marks if m.kind != "bars"] + [np.r_[0.0, m.y] for m in self.marks if m.kind == "bars"]
        return (self.xlim or _span(xs, self.xlog, pad=not any(m.kind == "bars" for m in self.marks)),
                self.ylim or _span(ys, self.ylog))


def _f64(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(-1)


def _span(arrays: list[np.ndarray], log: bool, pad: bool = True) -> tuple[float, float]:
    vals = np.concatenate([*arrays, np.zeros(0)])
    vals = vals[np.isfinite(vals) & ((vals > 0) if log else True)]
    if not len(vals):
        return (1.0, 10.0) if log else (0.0, 1.0)
    lo, hi = float(vals.min()), float(vals.max())
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12 * max(1.0, abs(lo)):  # one value: a unit around it
        lo, hi = lo - 0.5, hi + 0.5
    elif pad:
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    return (10.0 ** lo, 10.0 ** hi) if log else (lo, hi)


class _Axes:
    """Data -> pixel coordinates of one panel's plot area, at the drawing scale."""

    def __init__(self, panel: Panel, box: tuple[float, float, float, float]) -> None:
        self.p, self.box = panel, box  # (left, top, right, bottom) in drawing pixels
        (self.x0, self.x1), (self.y0, self.y1) = panel.limits()
        self.fx0, self.fx1 = (math.log10(self.x0), math.log10(self.x1)) if panel.xlog else (self.x0, self.x1)
        self.fy0, self.fy1 = (math.log10(self.y0), math.log10(self.y1)) if panel.ylog else (self.y0, self.y1)

    def px(self, x) -> np.ndarray:
        left, _, right, _ = self.box
        return _map(x, self.p.xlog, self.fx0, self.fx1, left, right)

    def py(self, y) -> np.ndarray:
        _, top, _, bottom = self.box
        return _map(y, self.p.ylog, self.fy0, self.fy1, bottom, top)

    def xticks(self) -> list[float]:
        return log_ticks(self.x0, self.x1) if self.p.xlog else linear_ticks(self.x0, self.x1, integer=self.p.xinteger)

    def yticks(self) -> list[float]:
        return log_ticks(self.y0, self.y1) if self.p.ylog else linear_ticks(self.y0, self.y1)


def _map(v, log: bool, f0: float, f1: float, a: float, b: float) -> np.ndarray:
    """Data values -> pixels: f0..f1 (log10 of the values on a log axis) onto a..b; non-positive values on a log
    axis -> NaN."""
    v = np.asarray(v, dtype=np.float64)
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            v = np.log10(np.where(v > 0, v, np.nan))
    return a + (v - f0) / (f1 - f0) * (b - a)


def _runs(xp: np.ndarray, yp: np.ndarray) -> list[list[tuple[float, float]]]:
    """Consecutive finite points, as polylines."""
    ok = np.isfinite(xp) & np.isfinite(yp)
    runs, cur = [], []
    for x, y, good in zip(xp.tolist(), yp.tolist(), ok.tolist()):
        if good:
            cur.append((x, y))
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def dash(points: list[tuple[float, float]], on: float, off: float) -> list[list[tuple[float, float]]]:
    """Cut a polyline into the pieces of an on/off dash pattern (lengths in the points' units)."""
    pieces, cur, drawing, left = [], [points[0]], True, on
    for (xa, ya), (xb, yb) in zip(points, points[1:]):
        seg = math.hypot(xb - xa, yb - ya)
        pos = 0.0
        while seg - pos > left:
            pos += left
            pt = (xa + (xb - xa) * pos / seg, ya + (yb - ya) * pos / seg)
            if drawing:
                if pt != cur[-1]:  # (a dash that ends exactly on a corner has it already)
                    cur.append(pt)
                pieces.append(cur)
            else:
                cur = [pt]
            drawing, left = not drawing, off if drawing else on
        left -= seg - pos
        if drawing:
            cur.append((xb, yb))
    if drawing and len(cur) > 1:
        pieces.append(cur)
    return pieces


def _marker(d: ImageDraw.ImageDraw, kind: str, x: float, y: float, r: float, fill) -> None:
    if kind == "s":
        d.rectangle([x - r, y - r, x + r, y + r], fill=fill)
    elif kind == "*":
        pts = [(x + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
                y - (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5)) for k in range(10)]
        d.polygon(pts, fill=fill)
    else:
        d.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def _draw_marks(area: Image.Image, ax: _Axes, offset: tuple[float, float]) -> None:
    """Draw every mark onto ``area`` (the plot area alone, so that marks are clipped to it)."""
    d = ImageDraw.Draw(area, "RGBA")
    ox, oy = offset
    for m in ax.p.marks:
        if m.kind == "bars":
            xe, top = ax.px(m.x) - ox, ax.py(m.y) - oy
            base = float(ax.py([ax.y0 if ax.p.ylog else 0.0])[0]) - oy
            fill = (*m.color, int(255 * m.alpha))
            for i in range(len(m.y)):
                if np.isfinite(top[i]) and m.y[i] != 0:
                    d.rectangle([xe[i], min(top[i], base), xe[i + 1], max(top[i], base)], fill=fill)
        elif m.kind == "vline":
            x = float(ax.px(m.x)[0]) - ox
            if math.isfinite(x):
                _polyline(d, [(x, 0), (x, area.height)], (*m.color, 255), m.style, m.width)
        elif m.kind == "line":
            xp, yp = ax.px(m.x) - ox, ax.py(m.y) - oy
            for run in _runs(xp, yp):
                if len(run) > 1 and m.style:
                    _polyline(d, run, (*m.color, 255), m.style, m.width)
                if m.marker or len(run) == 1:
                    for x, y in run:
                        _marker(d, m.marker or "o", x, y, m.size * SS, (*m.color, 255))
        else:  # scatter
            xp, yp = ax.px(m.x) - ox, ax.py(m.y) - oy
            a = int(255 * m.alpha)
            r = m.size * SS / 2 + 0.5
            per_point = isinstance(m.color, np.ndarray)
            for i, (x, y) in enumerate(zip(xp.tolist(), yp.tolist())):
                if math.isfinite(x) and math.isfinite(y):
                    c = tuple(int(v) for v in m.color[i]) if per_point else m.color
                    d.ellipse([x - r, y - r, x + r, y + r], fill=(*c, a))


def _polyline(d: ImageDraw.ImageDraw, pts: list[tuple[float, float]], fill, style: str, width: float) -> None:
    pattern = DASHES.get(style)
    w = max(1, int(round(width * SS)))
    k = SS * width / 1.5  # dashes scale with the line's width
    for piece in ([pts] if pattern is None else dash(pts, pattern[0] * k, pattern[1] * k)):
        d.line(piece, fill=fill, width=w, joint="curve")


class _Writer:
    """Text on a drawing at ``scale`` drawing pixels to the final figure's pixel, recorded in ``texts``."""

    def __init__(self, img: Image.Image, texts: list[str], scale: int = SS) -> None:
        self.img, self.d, self.texts, self.scale = img, ImageDraw.Draw(img, "RGBA"), texts, scale

    def text(self, xy: tuple[float, float], s: str, px: int, anchor: str = "la", fill=INK) -> None:
        if s:
            self.texts.append(s)
            self.d.text(xy, s, fill=fill, font=font(px * self.scale), anchor=anchor)

    def vertical(self, center: tuple[float, float], s: str, px: int) -> None:
        """Text turned a quarter left (a y label), centred on ``center``."""
        if not s:
            return
        self.texts.append(s)
        f = font(px * self.scale)
        w, h = int(f.getlength(s)) + 2, int(px * self.scale * 1.4)
        tile = Image.new("L", (w, h), 0)
        ImageDraw.Draw(tile).text((w / 2, h / 2), s, fill=255, font=f, anchor="mm")
        tile = tile.rotate(90, expand=True)
        self.img.paste(Image.new("RGB", tile.size, INK), (int(center[0] - tile.width / 2),
                                                          int(center[1] - tile.height / 2)), tile)


MARGIN = dict(left=60, right=12, top=26, bottom=40)  # around each plot area, in pixels of the final figure


def plot_box(panel_size: tuple[int, int], index: int = 0, title_band: int = 0) -> tuple[int, int, int, int]:
    """The plot area (left, top, right, bottom) of panel ``index`` in the final figure's pixels."""
    w, h = panel_size
    return (index * w + MARGIN["left"], title_band + MARGIN["top"], (index + 1) * w - MARGIN["right"],
            title_band + h - MARGIN["bottom"])


def chart(panels: Sequence[Panel], title: str = "", panel_size: tuple[int, int] = (340, 280),
          sharey: bool = False) -> Figure:
    """Panels side by side under an optional title; ``sharey``: one y range for all."""
    panels = list(panels) or [Panel()]  # nothing to show: empty axes rather than no figure
    if sharey and len(panels) > 1:
        lims = [p.limits()[1] for p in panels]
        shared = (min(lo for lo, _ in lims), max(hi for _, hi in lims))
        panels = [Panel(**{**p.__dict__, "ylim": p.ylim or shared}) for p in panels]
    band = 30 if title else 0
    w, h = panel_size
    img = Image.new("RGB", (w * len(panels) * SS, (h + band) * SS), "white")
    texts: list[str] = []
    out = _Writer(img, texts)
    if title:
        out.text((w * len(panels) * SS / 2, 8 * SS), title, 14, "mt")
    for i, p in enumerate(panels):
        box = tuple(v * SS for v in plot_box(panel_size, i, band))
        ax = _Axes(p, box)
        left, top, right, bottom = box
        xt = [t for t in ax.xticks() if ax.x0 - 1e-12 * abs(ax.x0) <= t <= ax.x1 + 1e-12 * abs(ax.x1)]
        yt = [t for t in ax.yticks() if ax.y0 - 1e-12 * abs(ax.y0) <= t <= ax.y1 + 1e-12 * abs(ax.y1)]
        xt_px, yt_px = ax.px(xt).tolist(), ax.py(yt).tolist()
        if p.grid:
            for x in xt_px:
                out.d.line([(x, top), (x, bottom)], fill=FAINT, width=SS)
            for y in yt_px:
                out.d.line([(left, y), (right, y)], fill=FAINT, width=SS)
        area = img.crop((int(left), int(top), int(right), int(bottom)))
        _draw_marks(area, ax, (int(left), int(top)))
        img.paste(area, (int(left), int(top)))
        out.d.rectangle([left, top, right, bottom], outline=INK, width=SS)
        for t, x in zip(xt, xt_px):
            out.d.line([(x, bottom), (x, bottom + 4 * SS)], fill=INK, width=SS)
            out.text((x, bottom + 6 * SS), tick_label(t, xt, p.xlog), 10, "mt")
        for t, y in zip(yt, yt_px):
            out.d.line([(left - 4 * SS, y), (left, y)], fill=INK, width=SS)
            out.text((left - 6 * SS, y), tick_label(t, yt, p.ylog), 10, "rm")
        out.text(((left + right) / 2, top - 6 * SS), p.title, 12, "md")
        out.text(((left + right) / 2, bottom + 22 * SS), p.xlabel, 11, "mt")
        out.vertical((i * w * SS + 9 * SS, (top + bottom) / 2), p.ylabel, 11)
        _legend(out, p, box, ax)
    small = img.reduce(SS)
    return Figure(small, texts)


CORNERS = ("upper right", "upper left", "lower right", "lower left")  # "best" tries them in this order


def _legend(out: _Writer, p: Panel, box: tuple[float, float, float, float], ax: "_Axes") -> None:
    entries = [m for m in p.marks if m.label]
    if not entries or p.legend is None:
        return
    px, pad, sample = 10, 5 * SS, 22 * SS
    line_h = px * SS * 1.5
    width = sample + 3 * pad + max(text_width(m.label, px * SS) for m in entries)
    height = line_h * len(entries) + 2 * pad
    left, top, right, bottom = box

    def corner(where: str) -> tuple[float, float]:
        return (left + 6 * SS if where.endswith("left") else right - 6 * SS - width,
                top + 6 * SS if where.startswith("upper") else bottom - 6 * SS - height)

    where = p.legend
    if where == "best":  # the corner whose box covers the fewest drawn points (line vertices, dots, bar tops)
        with np.errstate(all="ignore"):  # (legend-only marks hold NaN)
            pts = [(ax.px(m.x[:n]), ax.py(m.y[:n])) for m in p.marks if m.kind != "vline"
                   for n in [min(len(m.x), len(m.y))] if n]  # (bars: one more edge than heights)
        xs = np.concatenate([a for a, _ in pts]) if pts else np.zeros(0)
        ys = np.concatenate([b for _, b in pts]) if pts else np.zeros(0)

        def covered(c: str) -> int:
            x0, y0 = corner(c)
            return int(np.sum((xs >= x0) & (xs <= x0 + width) & (ys >= y0) & (ys <= y0 + height)))

        where = min(CORNERS, key=covered)  # (min keeps the first of equals: upper right when nothing is covered)
    x0, y0 = corner(where)
    out.d.rectangle([x0, y0, x0 + width, y0 + height], fill=(255, 255, 255, 215), outline=(190, 190, 190), width=SS)
    for k, m in enumerate(entries):
        y = y0 + pad + line_h * (k + 0.5)
        c = tuple(int(v) for v in m.color[0]) if isinstance(m.color, np.ndarray) else m.color
        if m.kind == "bars":
            out.d.rectangle([x0 + pad, y - 4 * SS, x0 + pad + sample, y + 4 * SS], fill=(*c, int(255 * m.alpha)))
        elif m.kind == "scatter" or (m.kind == "line" and not m.style):
            _marker(out.d, m.marker or "o", x0 + pad + sample / 2, y, max(m.size, 2.5) * SS, (*c, 255))
        else:
            _polyline(out.d, [(x0 + pad, y), (x0 + pad + sample, y)], (*c, 255), m.style, m.width)
            if m.marker:
                _marker(out.d, m.marker, x0 + pad + sample / 2, y, m.size * SS, (*c, 255))
        out.text((x0 + 2 * pad + sample, y), m.label, px, "lm")


# --- grids of images ------------------------------------------------------------------------------------------
def tile_scale(h: int, w: int, target: int = 84) -> int:
    """The whole-pixel enlargement that brings an h x w image near ``target`` pixels on its longer side (>= 1)."""
    return max(1, round(target / max(h, w)))


def image_grid(rows: Sequence[np.ndarray], row_titles: Sequence[str] = (), col_titles: Sequence[str] | None = None,
               title: str = "", gap: int = 4) -> Figure:
    """A grid of images: rows[r] is (n, H, W) gray or (n, H, W, 3) RGB in [0, 1] (clipped), each enlarged by the
    same whole number of pixels; row titles on the left, column titles above the first row."""
    rows = [np.clip(np.nan_to_num(np.asarray(r, dtype=np.float64), nan=0.0), 0.0, 1.0) for r in rows]  # NaN: black
    h, w = rows[0].shape[1:3]
    k = tile_scale(h, w)
    th, tw = h * k, w * k
    n = max(len(r) for r in rows)
    left = int(max([text_width(t, 11) for t in row_titles] + [0])) + (10 if any(row_titles) else 4)
    top = (30 if title else 6) + (16 if col_titles is not None else 0)
    width = left + n * (tw + gap) + 4
    height = top + len(rows) * (th + gap) + 4
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            tile = np.rint(img * 255).astype(np.uint8)
            tile = np.repeat(np.repeat(tile, k, axis=0), k, axis=1)  # nearest, whole pixels
            y, x = top + r * (th + gap), left + c * (tw + gap)
            canvas[y:y + th, x:x + tw] = tile[..., None] if tile.ndim == 2 else tile
    out = _Writer(Image.fromarray(canvas), [], scale=1)
    out.text((width / 2, 8), title, 14, "mt")
    for c, s in enumerate(col_titles or []):
        out.text((left + c * (tw + gap) + tw / 2, top - 3), s, 10, "md")
    for r, s in enumerate(row_titles):
        out.text((left - 6, top + r * (th + gap) + th / 2), s, 11, "rm")
    return Figure(out.img, out.texts)
