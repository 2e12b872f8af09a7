"""Imputation: the holes of a table filled by a table model, every observed entry left exactly as it was."""

from __future__ import annotations

import numpy as np
import torch

from ..model import Autoencoder
from .infer import reconstruct


def impute(model: Autoencoder, columns: dict[str, np.ndarray], what: str = "the table") -> tuple[dict[str, list], int]:
    """The columns (name -> (N,) raw values, as :func:`aekit.data.table.read_table` gives them) with every hole of
    the model's columns filled by its reconstruction from the row's other entries, and the number of holes filled.
    Observed entries are returned as they came (the same objects, so the same text in a CSV); columns the model
    does not know (dropped ones) as they are. A ValueError names a column with holes that the model has no hole
    for (train with ``--variant denoising --noise masking`` to impute any column)."""
    table = model.table
    if table is None:
        raise ValueError("imputation needs a table model (a run trained on a CSV or Parquet table)")
    x = table.encode(columns, what)  # (N, width)
    holes = table.holes_of(torch.from_numpy(x)).numpy()  # (N, columns)
    filled = table.decode(reconstruct(model, x), holes=False)  # a value in every entry
    out = {k: list(v) for k, v in columns.items()}
    for j, c in enumerate(table.schema.columns):
        for i in np.flatnonzero(holes[:, j]):
            out[c.name][i] = filled[c.name][i]
    return out, int(holes.sum())
