"""Imputation: the holes of a table filled by a table model, every observed entry left exactly as it was."""

from __future__ import annotations

import numpy as np
import torch

from ..model import Autoencoder
from ..table import RIDGE, Schema, TableCodec, ridge
from .infer import reconstruct


MAX_DRAWS = 1000  # multiple imputation: completed tables at most
LINEAR_ROWS = 20_000  # rows the linear pass fits each column on, at most (evenly spaced among the observed)
CHAIN_ROWS = 2_000  # rows the chained equations are fitted on, at most (evenly spaced); then applied to every row
CHAIN_ROUNDS = 10  # rounds of the chained equations
CHUNK = 65_536  # rows of the linear pass's design matrix at a time


def impute(model: Autoencoder, columns: dict[str, np.ndarray], what: str = "the table",
           linear: bool = True) -> tuple[dict[str, list], int]:
    """The columns (name -> (N,) raw values, as :func:`aekit.data.table.read_table` gives them) with every hole of
    the model's columns filled from the row's other entries, and the number of holes filled: a category with its most
    probable level, a number with the mean of its predictive distribution on its own scale (``TableCodec.decode``'s
    ``mean``: the least squared error), rounded as its column is. With an ensemble (``model.members``), the
    distribution is the mixture of its models' (:func:`outputs`). With ``linear`` (the default), each number's fill
    is then a weighted average of two: the average of the model's fill and a linear pass's (:func:`linear_pass`: a
    ridge regression of its column on all the others, as the model filled them), and chained equations' fill
    (:func:`chained_pass`: MICE from the columns' means, which never reads the model's fills). Each column's weight
    is the one that fills best a third of its observed entries hidden on purpose (seeded; the least squared error,
    between 0 and 1), so a column the model rebuilds better leans on the model and a linear one on the chained
    equations. The fill is then rounded and kept in range as its column is. Observed entries are returned as they
    came (the same objects, so the same text in a CSV); columns the model does not know (dropped ones) as they are. A
    ValueError names a column with holes that the model has no hole for (train with ``--variant denoising --noise
    masking`` to impute any column)."""
    table = model.table
    if table is None:
        raise ValueError("imputation needs a table model (a run trained on a CSV or Parquet table)")
    x = torch.from_numpy(table.encode(columns, what))  # (N, width)
    holes = table.holes_of(x)  # (N, columns)
    spread = _spread(model, x, holes, 0)  # each number's predictive spread, for its mean
    filled = table.decode(outputs(model, x), holes=False, spread=spread, mean=True)  # a value in every entry
    if linear:
        values = parsed(table, columns)  # the number columns' values, parsed once
        hidden, pick = _hidden(table, x, holes, 0, levels=True)  # a third of the observed numbers hidden
        trial = _candidates(model, values, hidden, (holes | pick).numpy(), spread)
        for j, (fill, chain) in _candidates(model, values, x, holes.numpy(), spread, filled).items():
            c = table.schema.columns[j]
            w = _weight(*trial[j], values[j], pick[:, j].numpy()) if j in trial else 0.5
            filled[c.name] = c.rounded(fill + w * (chain - fill))
    holes = holes.numpy()
    out = {k: list(v) for k, v in columns.items()}
    for j, c in enumerate(table.schema.columns):
        for i in np.flatnonzero(holes[:, j]):
            out[c.name][i] = filled[c.name][i]
    return out, int(holes.sum())


def impute_draws(model: Autoencoder, columns: dict[str, np.ndarray], draws: int, seed: int = 0,
                 what: str = "the table") -> tuple[list[dict[str, list]], int]:
    """Multiple imputation: ``draws`` completed tables (each as :func:`impute` gives one) whose filled entries are
    draws from the model's predictive distribution, for Rubin's rules; and the number of holes.

    A category is drawn from the decoder's probabilities. A number is the decoder's value plus Gaussian noise on the
    quantile-normal scale, with each column's spread measured on the table itself: a third of its observed entries
    hidden (seeded), rebuilt, and the error of those rebuilt entries taken as the column's predictive spread. A
    variational model also draws its code from q(z | x). An ensemble's models take the draws in turn (draws of the
    mixture of their predictive distributions). Observed entries are the same objects in every table."""
    if not isinstance(draws, (int, np.integer)) or not 1 <= draws <= MAX_DRAWS:
        raise ValueError(f"draws must be an integer from 1 to {MAX_DRAWS}, got {draws!r}")
    table = model.table
    if table is None:
        raise ValueError("imputation needs a table model (a run trained on a CSV or Parquet table)")
    x = torch.from_numpy(table.encode(columns, what))  # (N, width)
    holes = table.holes_of(x)  # (N, columns)
    spread = _spread(model, x, holes, seed)
    g = torch.Generator().manual_seed(seed)
    fixed = None if model.is_variational else outputs(model, x)  # (K, N, width): each model's, computed once
    out = []
    for d in range(draws):
        k = d % (1 + len(model.members))  # the ensemble's models in turn
        filled = table.decode(fixed[k] if fixed is not None else _drawn(model, x, g, k), g, holes=False,
                              spread=spread, relations=False)
        one = {k: list(vals) for k, vals in columns.items()}
        for j, c in enumerate(table.schema.columns):
            for i in torch.nonzero(holes[:, j])[:, 0].tolist():
                one[c.name][i] = filled[c.name][i]
        out.append(one)
    return out, int(holes.sum())


def parsed(table: TableCodec, columns: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """The number columns' (N,) float values (NaN at the holes), by column index, from raw columns."""
    return {j: table._numbers(table.schema.columns[j], columns[table.schema.columns[j].name])
            for j in _number_columns(table.schema)}


def _number_columns(schema: Schema) -> list[int]:
    """The indices of the schema's number columns (integer or continuous, however they are modelled)."""
    return [j for j, c in enumerate(schema.columns) if c.kind in ("integer", "continuous")]


def _candidates(model: Autoencoder, values: dict[int, np.ndarray], x: torch.Tensor, holes: np.ndarray,
                spread: list[float], filled: dict[str, list] | None = None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The two fills :func:`impute` weighs, for each number column with holes and at least two observed rows:
    {column index: ((N,) the average of the model's fill and the ridge pass's, (N,) the chained equations' fill)},
    on the column's own scale. values: :func:`parsed`'s; x: the encoded rows (N, width) with ``holes`` (N, columns)
    as holes; ``filled``: the model's decoded fills of x when already made."""
    table = model.table
    if filled is None:
        filled = table.decode(outputs(model, x), holes=False, spread=spread, mean=True)
    completed = _completed(table, values, x, holes, filled)
    chain = chained_pass(table.schema, completed, holes)
    out = {}
    for j, fit in linear_pass(table.schema, completed, holes).items():
        c = table.schema.columns[j]
        out[j] = ((np.asarray(filled[c.name], dtype=np.float64) + fit) / 2, chain[j])
    return out


def _weight(fill: np.ndarray, chain: np.ndarray, truth: np.ndarray, pick: np.ndarray) -> float:
    """The weight w in [0, 1] of ``chain`` against ``fill`` (each (N,)) whose mix fill + w (chain - fill) has the
    least squared error on the ``pick`` (N,) entries, whose true values ``truth`` (N,) are known; 0.5 with none."""
    d, r = (chain - fill)[pick], (truth - fill)[pick]
    return float(np.clip(d @ r / (d @ d), 0.0, 1.0)) if pick.any() and d @ d > 0 else 0.5


def _completed(table: TableCodec, values: dict[int, np.ndarray], x: torch.Tensor, holes: np.ndarray,
               filled: dict[str, list]) -> list[np.ndarray]:
    """Each column of the table with its holes filled, as :func:`linear_pass` reads it: a number column's (N,)
    float values, a category's (N,) level indices. Observed entries are the data's, holes the model's fills. values:
    the number columns' values (:func:`parsed`); x: the encoded rows (N, width); holes: (N, columns) bool; filled:
    ``TableCodec.decode``'s values for every entry."""
    out = []
    for j, (c, (a, b)) in enumerate(zip(table.schema.columns, table.slices)):
        hole = holes[:, j]
        fill = np.asarray(filled[c.name], dtype=object)[hole]
        if j in values:
            v = values[j].copy()
            v[hole] = fill.astype(np.float64)
        else:
            v = x[:, a:b].argmax(1).numpy()  # the observed level
            index = {c.typed(level): i for i, level in enumerate(c.categories)}
            v[hole] = [index[t] for t in fill]
        out.append(v)
    return out


def linear_pass(schema: Schema, columns: list[np.ndarray], holes: np.ndarray,
                alpha: float = RIDGE) -> dict[int, np.ndarray]:
    """A ridge regression of each number column that has holes on every other column of a completed table: numbers
    standardised, categories one-hot, fitted on the rows where the column was observed (at most LINEAR_ROWS of them,
    evenly spaced) with penalty ``alpha`` and an unpenalised intercept. One round of chained equations (MICE) started
    from the model's fills instead of the columns' means: the model's fills and these predictions err in other ways,
    so their average errs less than either (see benchmarks/README.md). ``columns``: per column of the schema, its
    (N,) values with no hole, a number column's as floats and a category's as level indices (:func:`_completed`);
    ``holes``: (N, columns) bool. Returns {column index: (N,) predictions on the column's own scale} for the number
    columns with holes and at least two observed rows."""
    numbers = _number_columns(schema)
    z = np.zeros((len(holes), len(numbers)))  # (N, numbers): standardised
    scale = []
    for k, j in enumerate(numbers):
        v = columns[j]
        mu, sd = v.mean(), v.std()
        sd = sd if sd > 0 else 1.0
        z[:, k] = (v - mu) / sd
        scale.append((mu, sd))
    cats = [(columns[j], len(c.categories)) for j, c in enumerate(schema.columns) if j not in numbers]

    def design(rows: np.ndarray, skip: int) -> np.ndarray:  # (rows, features): the other columns
        return np.concatenate([np.delete(z[rows], skip, axis=1)] + [np.eye(w)[level[rows]] for level, w in cats],
                              axis=1)

    out = {}
    for k, j in enumerate(numbers):
        seen = np.flatnonzero(~holes[:, j])
        missing = np.flatnonzero(holes[:, j])
        if not len(missing) or len(seen) < 2:
            continue
        rows = seen[np.linspace(0, len(seen) - 1, min(len(seen), LINEAR_ROWS)).round().astype(np.int64)]
        beta, a_mean, y_mean = ridge(design(rows, k), z[rows, k], alpha)  # (features,)
        fit = columns[j].astype(np.float64)  # (N,): a copy
        for i in range(0, len(missing), CHUNK):
            part = missing[i:i + CHUNK]
            fit[part] = (y_mean + (design(part, k) - a_mean) @ beta) * scale[k][1] + scale[k][0]
        out[j] = fit
    return out


def chained_pass(schema: Schema, columns: list[np.ndarray], holes: np.ndarray, alpha: float = RIDGE,
                 rounds: int = CHAIN_ROUNDS) -> dict[int, np.ndarray]:
    """Chained equations (MICE) on the table's observed entries alone, from the columns' means: in each of
    ``rounds`` rounds, each number column with holes in turn gets a ridge regression (penalty ``alpha``, an
    unpenalised intercept) on all the other columns as they stand, fitted on its observed rows, and its holes take
    the predictions, kept inside the column's observed range. Numbers are standardised by their observed entries;
    categories are one-hot, a hole as the level shares of the observed rows (the model's fills are never read).
    Fitted on at most CHAIN_ROWS evenly spaced rows; every row's holes are then filled by the last round's
    regressions, in the same order. ``columns`` and ``holes`` as :func:`linear_pass` takes them (the values in the
    holes are never read). Returns {column index: (N,) values on the column's own scale, its fills in the holes}
    for the number columns with holes and at least two observed rows."""
    numbers = _number_columns(schema)
    targets = [j for j in numbers if holes[:, j].any() and (~holes[:, j]).sum() >= 2]
    if not targets:
        return {}
    scale, cats = {}, []
    for j in numbers:
        seen = columns[j][~holes[:, j]].astype(np.float64)
        mu, sd = (seen.mean(), seen.std()) if len(seen) else (0.0, 1.0)
        sd = sd if sd > 0 else 1.0
        scale[j] = (mu, sd, (seen.min() - mu) / sd if len(seen) else 0.0, (seen.max() - mu) / sd if len(seen) else 0.0)
    for j, c in enumerate(schema.columns):
        if j not in scale:
            seen = columns[j][~holes[:, j]]
            shares = np.bincount(seen, minlength=len(c.categories)) / max(len(seen), 1)
            cats.append((j, len(c.categories), shares))

    def design(rows: np.ndarray) -> np.ndarray:  # (rows, numbers + one-hot units): holes at the means and shares
        blocks = [np.where(holes[rows, j], 0.0, (columns[j][rows].astype(np.float64) - scale[j][0]) / scale[j][1])
                  [:, None] for j in numbers]
        for j, w, shares in cats:
            oh = np.eye(w)[columns[j][rows]]
            oh[holes[rows, j]] = shares
            blocks.append(oh)
        return np.concatenate(blocks, axis=1)

    def predict(a: np.ndarray, k: int, rows: np.ndarray, coef) -> np.ndarray:
        beta, x_mean, y_mean = coef
        return y_mean + (np.delete(a[rows], k, axis=1) - x_mean) @ beta

    n = len(holes)
    fit_rows = np.unique(np.linspace(0, n - 1, min(n, CHAIN_ROWS)).round().astype(np.int64))
    a = design(fit_rows)  # (rows, features)
    order = [(numbers.index(j), j) for j in targets]
    coefs: dict[int, tuple] = {}
    for _ in range(rounds):
        for k, j in order:
            hole = holes[fit_rows, j]
            if (~hole).sum() < 2:  # too few observed among the rows fitted on: the column stays at its mean
                coefs[j] = (np.zeros(a.shape[1] - 1), np.zeros(a.shape[1] - 1), 0.0)
                continue
            seen = np.flatnonzero(~hole)
            coefs[j] = ridge(np.delete(a[seen], k, axis=1), a[seen, k], alpha)
            a[hole, k] = np.clip(predict(a, k, np.flatnonzero(hole), coefs[j]), scale[j][2], scale[j][3])
    out = {j: columns[j].astype(np.float64) for j in targets}  # (N,) copies
    for i in range(0, n, CHUNK):
        part = np.arange(i, min(i + CHUNK, n))
        d = design(part)
        for _ in range(rounds):  # the same rounds of the same (last) regressions, for every row
            for k, j in order:
                hole = np.flatnonzero(holes[part, j])
                d[hole, k] = np.clip(predict(d, k, hole, coefs[j]), scale[j][2], scale[j][3])
        for k, j in order:
            hole = holes[part, j]
            out[j][part[hole]] = d[hole, k] * scale[j][1] + scale[j][0]
    return out


def outputs(model: Autoencoder, x: torch.Tensor) -> np.ndarray:
    """The decoder's outputs (K, N, width) for encoded rows x (N, width) of each of the K models of the ensemble:
    the model, then its members (``model.members``; K = 1 without)."""
    return np.stack([reconstruct(m, x) for m in (model, *model.members)])


def _drawn(model: Autoencoder, x: torch.Tensor, g: torch.Generator, k: int = 0) -> np.ndarray:
    """The decoder's output for rows x of a variational ensemble's k-th model, from a draw of q(z | x)."""
    model = (model, *model.members)[k]
    model.eval()
    with torch.no_grad():
        b = model.bottleneck(model._features(x.to(model.device), None))
        z = b.mu + torch.exp(0.5 * b.logvar) * torch.randn(b.mu.shape, generator=g).to(b.mu.device)
        return model.decode(model.bottleneck.act(z)).cpu().numpy()


def _spread(model: Autoencoder, x: torch.Tensor, holes: torch.Tensor, seed: int, share: float = 1 / 3) -> list[float]:
    """Each number column's predictive spread on the quantile-normal scale: the RMS error of observed entries
    hidden (a ``share`` of them, seeded) and rebuilt from the rest of their rows (by each model of an ensemble);
    0 for categories."""
    table = model.table
    hidden, pick = _hidden(table, x, holes, seed, share)
    r = torch.from_numpy(outputs(model, hidden))  # (K, N, width)
    out = []
    for j, (c, (a, _)) in enumerate(zip(table.schema.columns, table.slices)):
        rows = pick[:, j]
        out.append(0.0 if c.onehot or not c.missing or not rows.any() else
                   float((r[:, rows, a] - x[rows, a]).pow(2).mean().sqrt()))
    return out


def _hidden(table: TableCodec, x: torch.Tensor, holes: torch.Tensor, seed: int, share: float = 1 / 3,
            levels: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded rows x (N, width) with a ``share`` of the observed numbers hidden as holes (seeded; in the columns that
    have holes; with ``levels``, integer columns modelled by their levels too), and which entries were hidden
    (N, columns) bool."""
    g = torch.Generator().manual_seed(seed + 1)
    pick = (torch.rand(holes.shape, generator=g) < share) & ~holes  # (N, columns): observed entries to hide
    for j, c in enumerate(table.schema.columns):
        if not c.missing or (c.onehot and not (levels and c.kind == "integer")):  # (no hole: none to fill either)
            pick[:, j] = False
    return table.as_holes(x, pick), pick
