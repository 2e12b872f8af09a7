"""Figures, each returning a :class:`Figure` (a PIL image, shown inline in notebooks, and the strings drawn on it),
and :func:`save_figure` (atomic PNG). They are drawn with Pillow (:mod:`.canvas`), without a plotting library.

- :mod:`.canvas`: panels of lines, points and bars, and grids of images;
- :mod:`.figures`: plotting of arrays (one function per kind of figure);
- :mod:`.views`: the figures of a model on its data, shared by the commands, the demo and the report;
- :mod:`.report`: ``write_report``, the self-contained HTML page of a run.

A new figure is a function in ``figures`` (and, if it needs a model, a view in ``views`` that the report lists).
"""

from __future__ import annotations

from .canvas import Figure, Panel, chart  # noqa: F401
from .figures import (  # noqa: F401
    anomaly_histogram,
    code_map,
    denoising_triplets,
    image_grid,
    interpolation_strip,
    loss_curves,
    rate_distortion,
    reconstructions,
    roc_curve,
    sample_grid,
    save_figure,
    sparsity_histogram,
)
from .views import (  # noqa: F401
    class_samples_view,
    code_map_view,
    denoising_view,
    detection_view,
    interpolation_view,
    reconstruction_view,
    samples_view,
    sparsity_view,
)
