"""Tables: a schema read from the columns (per column its kind, categories, range and rounding, whether it had holes)
and a codec that turns typed rows into one float vector of column groups and back (RDT's reversible transformers are
the model). The model sees the vectors; the loss is a sum over the column groups (:meth:`TableCodec.loss`), so every
variant, sampler and application works on tables unchanged.

Encoding, per column (chosen on the development tables of the table issue):

- numbers (``continuous``, ``integer`` with many values): a quantile transform to a standard normal (the empirical
  CDF through up to :data:`QUANTILES` points, then the normal's inverse CDF), so that any marginal, skewed or with
  ties, becomes one the decoder can match; decoding inverts it, so values stay inside the training range, and they
  are rounded to the decimals the column was written with (integers to integers). A column with holes adds a 0/1
  "missing" flag, and the value's loss counts only where it was observed.
- categories (``categorical``, ``boolean``, integers with at most :data:`FEW_VALUES` values): one-hot, decoded as
  the most probable level (reconstruction) or a draw from the decoder's probabilities (generation); a hole is a
  level of its own.

The loss: squared error for numbers (observed entries only), cross-entropy for categories, binary cross-entropy for
the missing flags; each column a named part (``recon/<column>``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

QUANTILES = 1000  # support points of a number column's quantile transform
FEW_VALUES = 10  # integer columns with at most this many distinct values are modelled as categories
IDENTIFIER_SHARE = 0.5  # text columns with more distinct values than this share of rows (and > 50) are identifiers
KINDS = ("continuous", "integer", "categorical", "boolean")
MISSING = ""  # the level a hole gets in a categorical column (written back as an empty field)


@dataclass
class Column:
    """One column of a table schema."""

    name: str
    kind: str  # continuous | integer | categorical | boolean
    categories: list[str] = field(default_factory=list)  # one-hot levels (as text), MISSING for holes
    lo: float = 0.0  # numbers: the training range
    hi: float = 0.0
    decimals: int = 0  # numbers: digits after the point, for rounding
    missing: bool = False  # the column has a hole: its training data had some (or every column has one: imputation)
    points: int = 0  # numbers: support points of the quantile transform
    holes_seen: bool | None = None  # None: as missing; False: a hole for imputation only, never decoded as one

    @property
    def onehot(self) -> bool:
        return bool(self.categories)

    @property
    def width(self) -> int:
        return len(self.categories) if self.onehot else 1 + int(self.missing)

    @property
    def numeric_levels(self) -> bool:
        """Its levels are whole numbers (an integer column of few values, a 0/1 column): read and written as ints."""
        return self.kind == "integer" or (self.kind == "boolean" and set(self.categories) <= {"0", "1", MISSING})

    def rounded(self, x: np.ndarray) -> list:
        """Numbers (N,) as this number column holds them: rounded to its decimals, inside its training range, ints
        for an integer column."""
        x = np.clip(np.round(x, self.decimals), self.lo, self.hi)
        return [int(t) for t in x] if self.kind == "integer" else [float(t) for t in x]

    def typed(self, level: str):
        """A level as the column's type: None for a hole, an int where the levels are numbers, else the text."""
        if level == MISSING:
            return None
        return int(float(level)) if self.numeric_levels else level


@dataclass
class Schema:
    columns: list[Column]
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it was left out

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.columns)

    def to_json(self) -> str:
        return json.dumps({"columns": [asdict(c) for c in self.columns], "dropped": self.dropped},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Schema":
        d = json.loads(text)
        try:
            cols = [Column(**c) for c in d["columns"]]
        except (TypeError, KeyError) as e:
            raise ValueError(f"not a table schema ({e})") from None
        for c in cols:
            if c.kind not in KINDS or not isinstance(c.name, str) or not all(isinstance(v, str) for v in c.categories):
                raise ValueError(f"not a table schema (column {c.name!r} of kind {c.kind!r})")
        return cls(cols, dict(d.get("dropped", {})))

    def describe(self) -> str:
        """One line per column: name, kind and what it holds (for messages, the report and ``aekit info``)."""
        out = []
        for c in self.columns:
            if c.onehot:
                levels = [v if v != MISSING else "(missing)" for v in c.categories]
                what = f"{len(levels)} levels: {', '.join(levels[:6])}{', ...' if len(levels) > 6 else ''}"
            else:
                what = f"{c.lo:g} to {c.hi:g}" + (f", {c.decimals} decimals" if c.kind == "continuous" else "")
            out.append(f"{c.name}: {c.kind}, {what}" + (", with holes" if c.missing else ""))
        out += [f"{name}: dropped ({why})" for name, why in self.dropped.items()]
        return "\n".join(out)


# --- reading a column's kind ------------------------------------------------------------------------------------------
NA_TOKENS = {"", "na", "n/a", "nan", "null", "none", "?", "#n/a", "<na>", "nat"}
_TRUE, _FALSE = {"true", "yes", "y", "t"}, {"false", "no", "n", "f"}


def _all_text(values) -> bool:
    """Whether every value is a str (a CSV's column): the fast paths below read such a column at once."""
    return set(map(type, values)) <= {str}


def _na_text(v: str) -> bool:
    return v.strip().lower() in NA_TOKENS


def is_missing(values: np.ndarray) -> np.ndarray:
    """(N,) bool: None, NaN, or an NA token (blank, NA, N/A, NaN, null, None, ?, ...) of a text column."""
    if _all_text(values):  # each distinct text looked at once
        na = {v for v in set(values) if _na_text(v)}
        if not na:
            return np.zeros(len(values), dtype=bool)
        return np.fromiter((v in na for v in values), dtype=bool, count=len(values))
    out = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        if v is None:
            out[i] = True
        elif isinstance(v, str):
            out[i] = _na_text(v)
        elif isinstance(v, float) and math.isnan(v):
            out[i] = True
    return out


def _number(v) -> float | None:
    if isinstance(v, (bool, np.bool_)):
        return None
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    try:
        return float(str(v).strip().replace(",", "")) if isinstance(v, str) and v.strip() else None
    except ValueError:
        return None


def _number_list(values) -> list[float | None]:
    """:func:`_number` of each value. A column of text (a CSV's) is read in one pass when it is all numbers, else
    each distinct text once; anything else value by value."""
    if _all_text(values):
        try:
            return [float(v.replace(",", "")) for v in values]  # (float() strips the blanks itself)
        except ValueError:  # a blank, a word: each distinct text as _number reads it
            read = {v: _number(v) for v in set(values)}
            return [read[v] for v in values]
    return [_number(v) for v in values]


def _decimals(v) -> int:
    if not isinstance(v, str):
        if isinstance(v, (int, np.integer)):
            return 0
        s = repr(float(v))
        return 0 if "e" in s else max(0, len(s.split(".")[1].rstrip("0"))) if "." in s else 0
    s = v.strip()
    return len(s.split(".")[1]) if "." in s and "e" not in s.lower() else 0


def _looks_like_date(v: str) -> bool:
    s = v.strip()
    return len(s) >= 8 and s[:4].isdigit() and s[4] in "-/" and s[5:7].isdigit() and s[7] in "-/"


def infer_column(name: str, values: np.ndarray, categorical: bool = False, rows: int | None = None) -> Column | str:
    """The Column a list of raw values (text, numbers, None) makes, or a string saying why it is dropped (an
    identifier). A ValueError names the column for what cannot be read: all missing, numbers mixed with text,
    dates. ``rows``: how many rows the values stand for, when they are a sample with extremes added (a streamed
    table): the share of distinct values that makes an identifier is of it (default: len(values))."""
    hole = is_missing(values)
    seen = values[~hole]
    if len(seen) == 0:
        raise ValueError(f"column {name!r} holds no values (every entry is missing): drop it")
    nums = _number_list(seen)
    infinite = [k for k, x in enumerate(nums) if x is not None and not math.isfinite(x)]
    if infinite and not categorical and all(x is not None for x in nums):
        i = int(np.flatnonzero(~hole)[infinite[0]])
        raise ValueError(f"column {name!r}, row {i}: {str(values[i])!r} is not a finite number (leave the entry blank "
                         "for a hole, or make the column a category with --categorical)")
    numeric = all(x is not None and math.isfinite(x) for x in nums) and not categorical
    if not numeric and not categorical:
        bad = [v for v, x in zip(seen, nums) if x is None]
        share = 1 - len(bad) / len(seen)
        if share >= 0.9:  # nearly all numbers: a typo, not a category
            i = int(np.flatnonzero(~hole)[[k for k, x in enumerate(nums) if x is None][0]])
            raise ValueError(f"column {name!r} mixes numbers and text: row {i} holds {str(values[i])!r} among "
                             f"{len(seen) - len(bad)} numbers (make it a category with --categorical {name}, or fix "
                             "the value)")
    if numeric:
        x = np.array(nums, dtype=np.float64)
        distinct = np.unique(x)
        whole = bool(np.all(x == np.round(x)))
        if len(distinct) <= 2 and set(distinct.tolist()) <= {0.0, 1.0}:
            return Column(name, "boolean", _levels([str(int(v)) for v in x], hole), missing=bool(hole.any()))
        if whole and len(distinct) <= FEW_VALUES:
            return Column(name, "integer", _levels([str(int(v)) for v in x], hole), lo=float(x.min()),
                          hi=float(x.max()), missing=bool(hole.any()))
        decimals = 0 if whole else min(6, max(_decimals(v) for v in (set(seen) if _all_text(seen) else seen)))
        return Column(name, "integer" if whole else "continuous", lo=float(x.min()), hi=float(x.max()),
                      decimals=decimals, missing=bool(hole.any()), points=min(QUANTILES, len(distinct)))
    text = [str(v).strip() for v in seen]
    distinct = set(text)
    low = {t.lower() for t in distinct}
    if len(distinct) <= 2 and low <= _TRUE | _FALSE and not categorical:
        return Column(name, "boolean", _levels(text, hole), missing=bool(hole.any()))
    rows = len(values) if rows is None else rows
    if not categorical and len(distinct) > 50 and len(distinct) > IDENTIFIER_SHARE * rows:
        if all(_looks_like_date(t) for t in text[:100]):
            raise ValueError(f"column {name!r} holds dates ({text[0]!r}, ...): aekit reads numbers and categories; "
                             f"convert it (e.g. to days or a year), or leave it out with --drop {name}")
        return f"identifier-like: {len(distinct)} distinct values in {rows} rows"
    return Column(name, "categorical", _levels(text, hole), missing=bool(hole.any()))


def _levels(text: list[str], hole: np.ndarray) -> list[str]:
    """Sorted levels (numbers by value), with MISSING last when there are holes."""
    def key(s: str):
        x = _number(s)
        return (0, x, s) if x is not None else (1, 0.0, s)

    return sorted(set(text), key=key) + ([MISSING] if hole.any() else [])


def infer_schema(columns: dict[str, np.ndarray], categorical: tuple[str, ...] = (),
                 drop: tuple[str, ...] = (), rows: int | None = None) -> Schema:
    """The schema of raw columns (name -> (N,) object array): kinds read from the values, ``categorical`` forced to
    categories, ``drop`` left out; identifier-like text columns are dropped (``Schema.dropped`` says why). ``rows``:
    see :func:`infer_column`."""
    for name in (*categorical, *drop):
        if name not in columns:
            raise ValueError(f"no column {name!r}: the columns are {', '.join(columns)}")
    cols, dropped = [], {}
    for name, values in columns.items():
        if name in drop:
            dropped[name] = "--drop"
            continue
        c = infer_column(name, values, name in categorical, rows)
        if isinstance(c, str):
            dropped[name] = c
        else:
            cols.append(c)
    if not cols:
        raise ValueError("the table has no column left to model" + (f" (dropped: {', '.join(dropped)})"
                                                                    if dropped else ""))
    return Schema(cols, dropped)


# --- the recipe ------------------------------------------------------------------------------------------------------
MEAN_NODES = 20  # Gauss-Hermite nodes of a predictive mean (decode(mean=True))
TABLE_STEPS = 2000  # gradient steps of the table recipe on large tables
TABLE_BATCH = 64  # rows of a batch (a few more where that spares an epoch a last batch of under 16 rows)
IMPUTE_MEMBERS = 5  # models averaged by the imputation recipe
TABLE_EPOCHS = 30  # at most: more passes over a small table make its synthetic rows copies of its rows
SAMPLER_COMPONENTS = 10  # the table recipe's code sampler: a mixture of 10 Gaussians ...
ROWS_PER_PARAMETER = 8  # ... where the rows give at least 8 per parameter of one full-covariance component, else one
RIDGE = 1.0  # the penalty of a ridge regression on quantile-normal (or standardised) columns
RELATION_FOLDS = 5  # folds of the cross-validation that judges a number's relation to the other columns
RELATION_GAIN = 0.7  # a relation redraws a number where its held-out error is at most this share of the decoder's
RELATION_VALUES = 20  # ... and the column has at least this many distinct values (not a few-valued measurement)
RELATION_ROWS = 5000  # rows the relations are fitted on, at most (evenly spaced)
SYNTHETIC_ROWS = 2000  # rows the model generates (without relations) to judge the categories' relations, at least
SYNTHETIC_MARGIN = 0.05  # nats: a category is redrawn where generated rows predict it worse than real ones by this


def table_recipe(n_rows: int, schema: Schema, impute: bool = False) -> dict:
    """Training settings for a table of ``n_rows`` rows, from its size and columns (chosen on the development tables
    of the table issue, see benchmarks/README.md): two hidden layers of 2 x the encoded width but at most a quarter
    of the rows (64 to 256), a code of half the columns plus one (4 to 16), batches of TABLE_BATCH rows (a few more
    where an epoch would end in a batch of under a quarter of that, and k = n_rows // TABLE_BATCH batches can hold
    its rows: 200 rows in 3 batches of 67 rather than 64, 64, 64 and 8, a step on 8 rows being as costly as a full
    one and noisier), at most TABLE_EPOCHS epochs and about TABLE_STEPS gradient steps for large tables (a small
    table's synthetic rows copy its rows when the model is trained longer or given more room), and no validation
    split. ``impute`` (the masking recipe):
    hidden layers of 256 and a code of 16 whatever the table, batches of 256 at a learning rate of 3e-3, and an
    ensemble of IMPUTE_MEMBERS models whose predictions are averaged (chosen at 30 % of the entries hidden at random;
    see benchmarks/README.md). The sampler: SAMPLER_COMPONENTS components where
    the rows give at least ROWS_PER_PARAMETER rows per parameter of one full-covariance Gaussian over the code (d
    means, d (d + 1) / 2 covariances, a weight), else a single Gaussian (the mixture's narrow components on a small
    table's few codes draw rows near the training rows). Returns config fields."""
    width, columns = schema.width, len(schema.columns)
    batch = 256 if impute else TABLE_BATCH
    k, rest = divmod(n_rows, TABLE_BATCH)
    if not impute and k and 0 < rest < TABLE_BATCH // 4:  # a small last batch: its rows shared among k batches,
        even = -(-n_rows // k)  # where k batches (the last no smaller than a quarter) can hold them
        batch = even if n_rows - (k - 1) * even >= TABLE_BATCH // 4 else batch
    epochs = int(np.clip(round(TABLE_STEPS * batch / max(n_rows, 1)), 1, TABLE_EPOCHS))
    h = 256 if impute else int(np.clip(min(2 * width, n_rows / 4), 64, 256))
    d = 16 if impute else int(np.clip(columns // 2 + 1, 4, 16))
    parameters = d * (d + 3) // 2 + 1  # of one full-covariance Gaussian over d-dimensional codes
    recipe = {"hidden": (h, h), "latent_dim": d, "epochs": epochs, "batch_size": batch, "val_fraction": 0.0,
              "sampler_components": SAMPLER_COMPONENTS if n_rows >= ROWS_PER_PARAMETER * parameters else 1}
    return {**recipe, "lr": 3e-3, "members": IMPUTE_MEMBERS} if impute else recipe


def ridge(x: np.ndarray, y: np.ndarray, alpha: float = RIDGE) -> tuple[np.ndarray, np.ndarray, float]:
    """A ridge regression of y (n,) on x (n, features) with penalty ``alpha`` and an unpenalised intercept: its
    weights (features,), and the means of x (features,) and y it is centred on (predict y_mean + (x - x_mean) @ w)."""
    x_mean, y_mean = x.mean(0), y.mean()
    xc = x - x_mean
    return np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - y_mean)), x_mean, y_mean


def _generated_loss(f_gen: np.ndarray, y_gen: np.ndarray, f: np.ndarray, y: np.ndarray, levels: int) -> float:
    """Mean cross-entropy on real rows (f (n, predictors), y (n,) levels) of a :func:`discriminant` fitted on
    generated rows (f_gen, y_gen)."""
    w, w0 = discriminant(f_gen, y_gen, levels)
    return float(F.cross_entropy(torch.from_numpy(f @ w + w0), torch.from_numpy(y)))


def discriminant(x: np.ndarray, y: np.ndarray, levels: int, alpha: float = RIDGE) -> tuple[np.ndarray, np.ndarray]:
    """Linear discriminant analysis of levels y (n,) in 0..levels-1 on x (n, features), in closed form: each level a
    Gaussian around its mean with one covariance shared by all (the pooled within-level scatter plus ``alpha`` on
    its diagonal, divided by n), and its share of the rows (at least one half row) as its prior. Its posterior is a
    softmax of linear logits: returns their weights (features, levels) and intercepts (levels,). In torch, float64:
    numpy's threaded BLAS on a few thousand rows, between torch's own operations, made both wait for each other
    (a table's relations 7 to 11 times slower on 2 cores)."""
    x_, y_ = torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64), torch.as_tensor(y, dtype=torch.int64)
    onehot = F.one_hot(y_, levels).double()  # (n, levels)
    count = onehot.sum(0)  # (levels,)
    means = onehot.T @ x_ / count.clamp(min=1)[:, None]  # (levels, features)
    within = x_ - means[y_]  # (n, features)
    cov = (within.T @ within + alpha * torch.eye(x_.shape[1], dtype=torch.float64)) / len(x_)
    w = torch.linalg.solve(cov, means.T)  # (features, levels)
    prior = count.clamp(min=0.5) / max(float(count.sum()), 1.0)
    return w.numpy(), (prior.log() - 0.5 * (means * w.T).sum(1)).numpy()


# --- the codec -------------------------------------------------------------------------------------------------------
def _ndtri(p: np.ndarray) -> np.ndarray:
    return np.sqrt(2.0) * _erfinv(2.0 * p - 1.0)


def _erfinv(y: np.ndarray) -> np.ndarray:
    return torch.erfinv(torch.as_tensor(y, dtype=torch.float64)).numpy()


class TableCodec(nn.Module):
    """Typed rows <-> float vectors (N, width) for a :class:`Schema`; the quantile transforms' support points are
    buffers (saved with the weights, like the standardiser's statistics)."""

    def __init__(self, schema: Schema) -> None:
        super().__init__()
        self.schema = schema
        for j, c in enumerate(schema.columns):
            if not c.onehot:
                self.register_buffer(f"qx{j}", torch.zeros(max(c.points, 1), dtype=torch.float64))
                self.register_buffer(f"qz{j}", torch.zeros(max(c.points, 1), dtype=torch.float64))
        self.slices: list[tuple[int, int]] = []
        start = 0
        for c in schema.columns:
            self.slices.append((start, start + c.width))
            start += c.width
        self.width = start
        self._register_loss_index()
        # each number column's residual spread on the quantile-normal scale (0 for categories): the RMS error of the
        # training rows' reconstructions, fitted with the sampler (fit_spread) and stored in its file; generation
        # draws a number around the decoder's value with it (p(x | z) a Gaussian, not a point)
        self.spread = torch.zeros(len(schema.columns), dtype=torch.float64)
        # each column's relation to the rest of its row (fit_relations, stored with the spreads): for each unit (a
        # number's value, a category's level logit) the weights of the other columns' units (width), of the decoder's
        # own value, and an intercept; relation_error[j] > 0 where generation redraws column j from it
        self.relations = torch.zeros(self.width, self.width + 2, dtype=torch.float64)
        self.relation_error = torch.zeros(len(schema.columns), dtype=torch.float64)

    def _register_loss_index(self) -> None:
        """Index buffers (not saved; they follow the codec to its device) that gather the columns' units in one
        operation per kind for :meth:`loss_matrix`: the numbers' value units (those without a missing flag first,
        then those with one), the flags' units, the categories' units padded to the widest (C, W) with which of them
        are pads, and the order that puts the kinds' columns back in the table's."""
        kind = ["cats" if c.onehot else "flagged" if c.missing else "plain" for c in self.schema.columns]
        starts = [a for a, _ in self.slices]
        cats = [s for s, k in zip(self.slices, kind) if k == "cats"]
        w = max([b - a for a, b in cats], default=1)
        grouped = [j for k in ("plain", "flagged", "cats") for j, kj in enumerate(kind) if kj == k]
        flagged = [a for a, k in zip(starts, kind) if k == "flagged"]
        index = {"values": [a for a, k in zip(starts, kind) if k == "plain"] + flagged,
                 "flags": [a + 1 for a in flagged], "order": np.argsort(grouped).tolist()}
        for name, v in index.items():
            self.register_buffer(f"loss_{name}", torch.tensor(v, dtype=torch.long), persistent=False)
        # a pad repeats its category's last unit (so a category's smallest unit is its smallest level), masked out
        self.register_buffer("loss_cats", torch.tensor([[a + min(i, b - a - 1) for i in range(w)] for a, b in cats],
                                                       dtype=torch.long).reshape(-1), persistent=False)  # (C * W,)
        self.register_buffer("loss_pad", torch.tensor([[i >= b - a for i in range(w)] for a, b in cats],
                                                      dtype=torch.bool).reshape(-1, w), persistent=False)  # (C, W)

    # fitting and encoding
    @torch.no_grad()
    def fit(self, columns: dict[str, np.ndarray]) -> "TableCodec":
        """The quantile transforms from raw columns (the schema's columns, name -> (N,) values)."""
        for j, c in enumerate(self.schema.columns):
            if c.onehot:
                continue
            v = self._numbers(c, columns[c.name])
            v = v[~np.isnan(v)]
            qx, qz = _quantiles(v, c.points)
            getattr(self, f"qx{j}").copy_(torch.from_numpy(qx))
            getattr(self, f"qz{j}").copy_(torch.from_numpy(qz))
        return self

    @staticmethod
    def _numbers(c: Column, values: np.ndarray) -> np.ndarray:
        """A number column's values (N,) float64, NaN for its holes; a ValueError names the first entry that is not
        a finite number."""
        hole = is_missing(values)
        out = np.full(len(values), np.nan)
        seen = np.flatnonzero(~hole)
        x = np.array(_number_list(values[seen]), dtype=np.float64)  # (a value that is not a number: NaN)
        bad = np.flatnonzero(~np.isfinite(x))
        if len(bad):
            i = int(seen[bad[0]])
            raise ValueError(f"column {c.name!r}, row {i}: {str(values[i])!r} is not a number")
        out[seen] = x
        return out

    def encode(self, columns: dict[str, np.ndarray], what: str = "the table", unknown: str = "error") -> np.ndarray:
        """Raw columns -> (N, width) float32. A ValueError names the column and row of a value training never saw
        (a new category, a hole in a column that had none, text in a number column); a number that an integer column of
        few values never held in training is read as its nearest level (:func:`_nearest_level`; with
        ``unknown="zeros"`` only inside the column's training range). With ``unknown="zeros"`` a new
        category is encoded as no level at all (its one-hot group all zero: the loss then counts it as the least
        likely level, which is what anomaly scores want; :meth:`unknown_entries` counts them)."""
        if unknown not in ("error", "zeros"):
            raise ValueError(f"unknown must be error or zeros, got {unknown!r}")
        missing = [c.name for c in self.schema.columns if c.name not in columns]
        if missing:
            raise ValueError(f"{what} lacks the column(s) {', '.join(missing)} of the run's table")
        n = len(next(iter(columns.values()))) if columns else 0
        out = np.zeros((n, self.width), dtype=np.float32)
        for j, (c, (a, b)) in enumerate(zip(self.schema.columns, self.slices)):
            values = columns[c.name]
            hole = is_missing(values)
            if hole.any() and not c.missing:
                i = int(np.flatnonzero(hole)[0])
                raise ValueError(f"{what}: column {c.name!r} has a hole at row {i}, and the run saw none in that "
                                 "column in training")
            if c.onehot:
                index = {v: k for k, v in enumerate(c.categories)}
                texts: dict = {}  # each distinct value's level text, computed once (values that are equal, 1 and
                # 1.0 and True, have the same text)
                for i, v in enumerate(values):
                    if hole[i]:
                        key = MISSING
                    else:
                        try:
                            key = texts.get(v)
                            if key is None:
                                key = texts[v] = _level_text(v, c.numeric_levels)
                        except TypeError:  # a value that cannot be a dict key
                            key = _level_text(v, c.numeric_levels)
                    k = index.get(key)
                    if k is None and c.kind == "integer" and not hole[i]:
                        k = _nearest_level(c, v, within=unknown == "zeros")
                    if k is None and unknown == "zeros":  # left all zero: see unknown_entries
                        continue
                    if k is None:
                        raise ValueError(f"{what}: column {c.name!r}, row {i} holds {key!r}, a category the run "
                                         f"never saw in training (its levels: {', '.join(c.categories[:8])})")
                    out[i, a + k] = 1.0
            else:
                x = self._numbers(c, values)
                z = np.interp(np.where(hole, 0.0, x), getattr(self, f"qx{j}").numpy(), getattr(self, f"qz{j}").numpy())
                out[:, a] = np.where(hole, 0.0, z)
                if c.missing:
                    out[:, a + 1] = hole
        return out

    @torch.no_grad()
    def fit_spread(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Each number column's residual spread (columns,), float64: the RMS error of reconstructions x_hat of
        encoded rows x (both (N, width)) over the observed entries; 0 for categories. Stored as :attr:`spread`."""
        out = torch.zeros(len(self.slices), dtype=torch.float64)
        for j, (c, (a, _)) in enumerate(zip(self.schema.columns, self.slices)):
            if c.onehot:
                continue
            seen = x[:, a + 1] < 0.5 if c.missing else torch.ones(len(x), dtype=torch.bool, device=x.device)
            if seen.any():
                out[j] = (x_hat[seen, a] - x[seen, a]).double().pow(2).mean().sqrt().cpu()
        self.spread = out
        return out

    @torch.no_grad()
    def fit_relations(self, x: torch.Tensor, x_hat: torch.Tensor,
                      generated: torch.Tensor | None = None) -> torch.Tensor:
        """Each column's relation to the rest of its row, for generation to redraw it from (:meth:`decode`), fitted on
        at most RELATION_ROWS evenly spaced rows where the column is known:
        - a number: a ridge regression (penalty RIDGE) of its quantile-normal value on every other column's encoded
          units (numbers' values, categories' one-hot units) and on the decoder's own value for it. Kept where it
          fills rows it was not fitted on clearly better than the decoder fills the rows it was trained on: its RMS
          error over RELATION_FOLDS cross-validation folds at most RELATION_GAIN times the column's :attr:`spread`
          (call :meth:`fit_spread` first); only for columns of at least RELATION_VALUES distinct values.
        - a category of two levels or more: a linear discriminant (:func:`discriminant`) of its level on every other
          column's units (not the decoder's own logits: with them, tried as a logistic regression, the redrawn levels
          followed the training rows' own). Kept where its cross-entropy over the cross-validation folds is at most
          the decoder's on the rows it was trained on, or, given ``generated`` rows (the model's own, drawn without
          relations: :meth:`drawn_rows`), where the same discriminant fitted on them predicts the real rows worse,
          by more than SYNTHETIC_MARGIN nats, than the held-out one fitted on real rows: generation loses that
          column's relation to the rest of the row, and the redraw restores it.
        x, x_hat: encoded rows and their reconstructions (N, width); generated: (M, width). Sets :attr:`relations`
        (width, width + 2): for each unit a number's value or a category's level logit, the weights of the other
        columns' units, of the decoder's own value and an intercept; and :attr:`relation_error` (columns,), the
        held-out error of each kept relation (a number's RMS error, which generation draws its noise with; a
        category's cross-entropy), 0 where none is kept. Returns the latter."""
        rows = np.unique(np.linspace(0, len(x) - 1, min(len(x), RELATION_ROWS)).astype(np.int64))
        x, x_hat = x[rows].double().cpu().numpy(), x_hat[rows].double().cpu().numpy()
        gen = None if generated is None else generated.double().cpu().numpy()  # (M, width)
        units = np.zeros(self.width, dtype=bool)  # the predictors: a number's value, a category's levels
        for c, (a, b) in zip(self.schema.columns, self.slices):
            units[a:b if c.onehot else a + 1] = True
        fold = np.arange(len(x)) % RELATION_FOLDS
        relations, error = torch.zeros_like(self.relations), torch.zeros_like(self.relation_error)
        for j, (c, (a, b)) in enumerate(zip(self.schema.columns, self.slices)):
            known = x[:, a:b].sum(1) > 0 if c.onehot else x[:, a + 1] < 0.5 if c.missing else np.ones(len(x), bool)
            use = units.copy()
            use[a:b] = False  # the column's own units
            k = fold[known]
            if known.sum() < 2 * RELATION_FOLDS:
                continue
            if c.onehot:
                if b - a < 2:
                    continue
                f, y = x[known][:, use], x[known, a:b].argmax(1)  # (n, predictors), (n,) levels
                decoder = float(F.cross_entropy(torch.from_numpy(x_hat[known, a:b]), torch.from_numpy(y)))
                held_out = sum(float(F.cross_entropy(torch.from_numpy(f[k == i] @ w + w0), torch.from_numpy(y[k == i]),
                                                     reduction="sum"))
                               for i in range(RELATION_FOLDS) for w, w0 in [discriminant(f[k != i], y[k != i], b - a)]
                               ) / len(y)
                if held_out > decoder and (gen is None or held_out + SYNTHETIC_MARGIN >= _generated_loss(
                        gen[:, use], gen[:, a:b].argmax(1), f, y, b - a)):
                    continue
                w, w0 = discriminant(f, y, b - a)
                relations[a:b, np.flatnonzero(use)] = torch.from_numpy(w.T)
                relations[a:b, self.width + 1] = torch.from_numpy(w0)
                error[j] = held_out
                continue
            if self.spread[j] <= 0 or len(np.unique(x[known, a])) < RELATION_VALUES:
                continue
            f = np.concatenate([x[:, use], x_hat[:, a:a + 1]], 1)[known]  # (n, predictors + 1)
            y = x[known, a]
            err = np.concatenate([y[k == i] - m - (f[k == i] - fm) @ w for i in range(RELATION_FOLDS)
                                  for w, fm, m in [ridge(f[k != i], y[k != i])]])
            held_out = float(np.sqrt(np.mean(err ** 2)))
            if held_out > RELATION_GAIN * float(self.spread[j]):
                continue
            w, fm, m = ridge(f, y)
            relations[a, np.flatnonzero(use)] = torch.from_numpy(w[:-1])
            relations[a, self.width] = float(w[-1])
            relations[a, self.width + 1] = m - float(fm @ w)
            error[j] = held_out
        self.relations, self.relation_error = relations, error
        return error

    def _redraw(self, v: torch.Tensor, own: torch.Tensor, drawn: dict[int, torch.Tensor],
                generator: torch.Generator, banned: dict[int, int]) -> None:
        """Generation's second step, in place: each column with a relation (:meth:`fit_relations`) redrawn from it
        given the rest of the row as drawn so far, the numbers first, in column order (from the relation's
        prediction, plus Gaussian noise of its held-out error; the decoder's own value ``own`` (N, width) is one of
        its inputs), then the categories (from their relation's probabilities; ``banned``: column -> a level never
        drawn, a hole where the data had none). v: the drawn rows (N, width), the numbers' values; ``drawn``
        (column -> (N,) levels): the categories' levels, replaced by their redraws."""
        row = v.double()  # (N, width): a copy, with the categories as their drawn levels' one-hot units
        for j, k in drawn.items():
            a, b = self.slices[j]
            row[:, a:b] = F.one_hot(k, b - a).double()
        r, w = self.relations[:, :self.width], self.relations[:, self.width:]  # (width, width), (width, 2)
        kept = torch.nonzero(self.relation_error > 0)[:, 0].tolist()
        for j in sorted(kept, key=lambda j: self.schema.columns[j].onehot):  # numbers, then categories
            a, b = self.slices[j]
            z = row @ r[a:b].T + own[:, a:b].double() * w[a:b, 0] + w[a:b, 1]  # (N, b - a)
            if not self.schema.columns[j].onehot:
                noise = torch.randn(len(row), generator=generator, dtype=torch.float64)
                row[:, a] = z[:, 0] + self.relation_error[j] * noise
                v[:, a] = row[:, a].float()
                continue
            if j in banned:
                z[:, banned[j]] = -math.inf
            drawn[j] = torch.multinomial(F.softmax(z, 1), 1, generator=generator)[:, 0]
            row[:, a:b] = F.one_hot(drawn[j], b - a).double()

    def _shown(self, holes: bool) -> list[bool]:
        """Per column, whether decoding gives it holes: only where asked and where the training data had some."""
        return [holes and (c.missing if c.holes_seen is None else c.holes_seen) for c in self.schema.columns]

    def _banned(self, shown: list[bool]) -> dict[int, int]:
        """Column -> the level of a category's hole, never drawn where the column gets no holes (:meth:`_shown`)."""
        return {j: c.categories.index(MISSING) for j, c in enumerate(self.schema.columns)
                if c.onehot and c.missing and not shown[j]}

    def _draw(self, v: torch.Tensor, generator: torch.Generator, banned: dict[int, int],
              spread: torch.Tensor | list[float] | None = None) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Generation's first step: decoder outputs v (N, width) -> a copy with each number drawn from a Gaussian of
        its column's ``spread`` (default :attr:`spread`) around the decoder's value, and each category's level drawn
        from the decoder's probabilities (column -> (N,) levels; ``banned``: column -> a level never drawn)."""
        spread = torch.as_tensor(self.spread if spread is None else spread, dtype=torch.float32)
        v, drawn = v.clone(), {}
        for j, (c, (a, _)) in enumerate(zip(self.schema.columns, self.slices)):
            if not c.onehot and spread[j] > 0:
                v[:, a] += spread[j] * torch.randn(len(v), generator=generator)
        for j, (c, (a, b)) in enumerate(zip(self.schema.columns, self.slices)):
            if c.onehot:  # drawn first: the relations read them
                logits = v[:, a:b].clone()  # (N, levels)
                if j in banned:
                    logits[:, banned[j]] = -math.inf
                drawn[j] = torch.multinomial(F.softmax(logits, 1), 1, generator=generator)[:, 0]
        return v, drawn

    @torch.no_grad()
    def drawn_rows(self, v: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Generated rows as the model sees rows (N, width), from decoder outputs v (N, width), without relations:
        each number drawn around the decoder's value (:meth:`_draw`), each category one-hot at its drawn level, no
        holes. What :meth:`fit_relations` compares the real rows with."""
        out, drawn = self._draw(v.float().cpu(), generator, self._banned(self._shown(True)))
        for j, (c, (a, b)) in enumerate(zip(self.schema.columns, self.slices)):
            if c.onehot:
                out[:, a:b] = F.one_hot(drawn[j], b - a).float()
            elif c.missing:
                out[:, a + 1] = 0.0
        return out

    def decode(self, v: torch.Tensor | np.ndarray, generator: torch.Generator | None = None,
               holes: bool = True, spread: torch.Tensor | list[float] | None = None,
               mean: bool = False, relations: bool = True) -> dict[str, list]:
        """(N, width) decoder outputs -> typed columns (name -> list): numbers as float (or int), rounded and inside
        the training range, None for a hole; categories as their levels. With a ``generator``, categories and holes
        are drawn from the decoder's probabilities and each number from a Gaussian of its column's ``spread``
        (columns,) around the decoder's value on the quantile-normal scale (generation; :attr:`spread` by default),
        the categories first; then (``relations``) each column that has a relation is redrawn from it given the row's
        drawn values (:meth:`fit_relations`, :meth:`_redraw`). Without a generator, the most probable
        (reconstruction). ``mean`` (without a generator): each number the mean of its predictive distribution on the
        column's own scale, the value least far from the truth in squared error (a quantile-modelled number: the
        Gaussian of ``spread`` around the decoder's value, mapped back through the quantile transform; an integer
        column of few values: its levels weighted by their probabilities), then rounded as the column is
        (imputation); with ``mean``, v may also be the outputs of an ensemble's K models (K, N, width), whose
        predictive distribution is the mixture of theirs: each number's mean is the average of their means, each
        category's probabilities the average of theirs. ``holes=False``: a value in every entry, never a hole
        (imputation)."""
        v = torch.as_tensor(np.asarray(v, dtype=np.float32) if not torch.is_tensor(v) else v).float().cpu()
        if v.ndim == 3 and not (mean and generator is None):
            raise ValueError("decode takes the outputs of several models (K, N, width) only for their mean")
        v = v if v.ndim == 3 else v[None]  # (K, N, width)
        shown = self._shown(holes)
        banned = self._banned(shown)
        drawn: dict[int, torch.Tensor] = {}  # a draw's categories: column -> (N,) levels
        if generator is not None:
            own = v[0]  # (N, width): the decoder's values
            drawn_v, drawn = self._draw(own, generator, banned, spread)
            v = drawn_v[None]
            if relations:
                self._redraw(v[0], own, drawn, generator, banned)
        out: dict[str, list] = {}
        for j, (c, (a, b)) in enumerate(zip(self.schema.columns, self.slices)):
            if c.onehot:
                if j in drawn:  # a draw (one model: K = 1)
                    out[c.name] = [c.typed(c.categories[i]) for i in drawn[j].tolist()]
                    continue
                logits = v[:, :, a:b].clone()  # (K, N, levels)
                if j in banned:
                    logits[:, :, banned[j]] = -math.inf
                p = F.softmax(logits.double(), 2).mean(0)  # (N, levels): the models' probabilities, averaged
                if mean and c.kind == "integer":  # the levels' mean, rounded to a level
                    levels = torch.tensor([0.0 if t == MISSING else float(t) for t in c.categories])
                    x = (p @ levels.double()).numpy()
                    out[c.name] = c.rounded(x)
                    continue
                k = p.argmax(1).tolist()
                out[c.name] = [c.typed(c.categories[i]) for i in k]
                continue
            qz, qx = getattr(self, f"qz{j}").numpy(), getattr(self, f"qx{j}").numpy()
            z = v[:, :, a].double().numpy()  # (K, N)
            if mean and generator is None and spread is not None and float(spread[j]) > 0:
                t, w = np.polynomial.hermite.hermgauss(MEAN_NODES)  # E f(z + s e), e ~ N(0, 1), by Gauss-Hermite
                x = (np.interp(z[..., None] + float(spread[j]) * np.sqrt(2.0) * t, qz, qx) @ w).mean(0) / np.sqrt(np.pi)
            else:
                x = np.interp(z, qz, qx).mean(0)
            vals = c.rounded(x)
            if c.missing and shown[j]:
                p = torch.sigmoid(v[:, :, a + 1]).mean(0)
                hole = (torch.rand(len(p), generator=generator) < p) if generator is not None else p > 0.5
                vals = [None if h else t for t, h in zip(vals, hole.tolist())]
            out[c.name] = vals
        return out

    # the loss
    def loss_matrix(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Each sample's loss per column (B, columns), in the table's column order: squared error of an observed
        number (0 where it was missing) plus the missing flag's binary cross-entropy; a category's cross-entropy (a
        row of no known level, an unseen category: the least likely level's surprise). x_hat: decoder outputs
        (B, width) (values and logits), x: encoded rows (B, width). Each kind is computed for all its columns at
        once."""
        parts = []  # each kind's (B, its columns), gathered by index_select (cheaper than indexing, both ways)
        if len(self.loss_values):  # squared errors (B, numbers), those of numbers without a missing flag first
            sq = (x_hat.index_select(1, self.loss_values) - x.index_select(1, self.loss_values)).square()
            plain = len(self.loss_values) - len(self.loss_flags)
            parts.append(sq[:, :plain])
            if len(self.loss_flags):  # a flagged number's squared error only where observed (flag y = 0), plus
                # the flag's binary cross-entropy with logits as softplus(l) - l y: stable, exported to ONNX without
                # log(0) 0
                y, logit = x.index_select(1, self.loss_flags), x_hat.index_select(1, self.loss_flags)  # (B, flagged)
                flagged = sq[:, plain:]
                parts.append(torch.addcmul(flagged, flagged, y, value=-1.0)
                             + torch.addcmul(F.softplus(logit), logit, y, value=-1.0))
        if len(self.loss_cats):
            c, w = self.loss_pad.shape
            raw = x_hat.index_select(1, self.loss_cats).view(-1, c, w)  # (B, C, W), the batch left free (an exported
            # graph's batch axis)
            seen = x.index_select(1, self.loss_cats).view(-1, c, w).masked_fill(self.loss_pad, 0.0) > 0  # the level
            # the target: the row's level (its one unit above 0, as encode gives them), or where it has none (an
            # unseen category) its least likely one
            target = (-raw.detach()).masked_fill(seen, float("inf")).argmax(2)  # (B, C)
            parts.append(F.cross_entropy(raw.masked_fill(self.loss_pad, float("-inf")).view(-1, w), target.view(-1),
                                         reduction="none").view(-1, c))  # (B, C)
        return torch.cat(parts, 1).index_select(1, self.loss_order)  # (B, columns)

    def loss(self, x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """:meth:`loss_matrix` by column name: {column: (B,)}."""
        return dict(zip([c.name for c in self.schema.columns], self.loss_matrix(x_hat, x).unbind(1)))

    def with_holes(self) -> "TableCodec":
        """The same codec with a hole for every column (a number's missing flag, a category's MISSING level), as
        imputation needs: the model learns to rebuild entries hidden on purpose (:meth:`hide`)."""
        cols = [Column(**{**asdict(c), "missing": True, "holes_seen": c.holes_seen if c.holes_seen is not None else
                          c.missing, "categories": c.categories + ([MISSING] if c.onehot and MISSING not in
                                                                  c.categories else [])})
                for c in self.schema.columns]
        wide = TableCodec(Schema(cols, dict(self.schema.dropped)))
        wide.load_state_dict(self.state_dict())
        wide.spread = self.spread.clone()
        return wide

    def widen(self, x: torch.Tensor, wide: "TableCodec") -> torch.Tensor:
        """Rows (N, width) encoded by this codec, as :meth:`with_holes`'s codec ``wide`` encodes them: (N, wide
        width), every new flag and MISSING unit 0."""
        out = x.new_zeros(len(x), wide.width)
        for (a, b), (c, _) in zip(self.slices, wide.slices):
            out[:, c:c + (b - a)] = x[:, a:b]
        return out

    def hide(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """Masking noise for imputation (the MIDAS recipe): each observed entry hidden with probability ``p``, as a
        hole is encoded (:meth:`as_holes`). Needs a hole in every column (:meth:`with_holes`). (B, width)."""
        for c in self.schema.columns:
            if not c.missing:
                raise ValueError(f"column {c.name!r} has no hole to hide entries in: use with_holes()")
        return self.as_holes(x, torch.rand(len(x), len(self.slices), device=x.device) < p)

    def as_holes(self, x: torch.Tensor, take: torch.Tensor) -> torch.Tensor:
        """Encoded rows x (B, width) with the entries ``take`` (B, columns) bool written as holes are encoded (a
        number: value 0, flag 1; a category: its MISSING level), in columns that have a hole. (B, width)."""
        out = x.clone()
        for j, (c, (a, b)) in enumerate(zip(self.schema.columns, self.slices)):
            t = take[:, j]
            if c.onehot:
                out[t, a:b] = 0.0
                out[t, a + c.categories.index(MISSING)] = 1.0
            else:
                out[t, a] = 0.0
                out[t, a + 1] = 1.0
        return out

    def unknown_entries(self, x: np.ndarray | torch.Tensor) -> int:
        """How many categories of encoded rows x are no level at all (``encode(unknown="zeros")`` of a category
        training never saw)."""
        x = torch.as_tensor(x)
        return sum(int((x[:, a:b].sum(1) == 0).sum()) for c, (a, b) in zip(self.schema.columns, self.slices)
                   if c.onehot)

    def holes_of(self, x: torch.Tensor) -> torch.Tensor:
        """(N, columns) bool: the entries that are holes in encoded rows x."""
        out = []
        for c, (a, b) in zip(self.schema.columns, self.slices):
            if not c.missing:
                out.append(torch.zeros(len(x), dtype=torch.bool, device=x.device))
            elif c.onehot:
                out.append(x[:, a + c.categories.index(MISSING)] > 0.5)
            else:
                out.append(x[:, a + 1] > 0.5)
        return torch.stack(out, 1)

    def swap(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """Swap noise, the corruption of the denoising variant for tables: each entry (a column's group) replaced,
        with probability ``p``, by the same column of another random row of the batch. (B, width)."""
        b = len(x)
        take = torch.rand(b, len(self.slices), device=x.device) < p  # (B, columns)
        other = torch.randint(b, (b, len(self.slices)), device=x.device)  # (B, columns)
        col = torch.cat([torch.full((hi - lo,), j, dtype=torch.long) for j, (lo, hi) in enumerate(self.slices)])
        col = col.to(x.device)  # (width,): the column of each encoded value
        rows = torch.where(take[:, col], other[:, col], torch.arange(b, device=x.device)[:, None])  # (B, width)
        return torch.gather(x, 0, rows)


def _nearest_level(c: Column, v, within: bool = False) -> int | None:
    """The index of the level of an integer column of few values (one-hot) nearest to a number training never saw
    in it (a count of 5 where training saw 4 and 6: 4, the lower of two as near; 9 where it saw at most 6: 6); None
    for a value that is not a number, and with ``within`` for a number outside the column's training range."""
    x = _number(v)
    if x is None or not math.isfinite(x) or (within and not c.lo <= x <= c.hi):
        return None
    levels = [(abs(float(t) - x), float(t), k) for k, t in enumerate(c.categories) if t != MISSING]
    return min(levels)[2]


def _level_text(v, numeric: bool = False) -> str:
    """A value as the text of its level: whole numbers of a numeric column without their decimals ("27.0": "27")."""
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    x = _number(v) if numeric else None
    if x is not None and math.isfinite(x) and x == int(x):
        return str(int(x))
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _quantiles(v: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Support points (x, z) of the quantile transform of observed values ``v``: z = Phi^-1(F(x)) with F the
    mid-rank empirical CDF, at the distinct values (or ``points`` evenly spaced quantiles of many)."""
    n = len(v)
    distinct = np.unique(v)
    if len(distinct) <= points:
        qx = distinct
    else:
        qx = np.unique(np.quantile(v, np.linspace(0, 1, points)))
    below = np.searchsorted(np.sort(v), qx, side="left")
    upto = np.searchsorted(np.sort(v), qx, side="right")
    cdf = np.clip((below + upto) / (2.0 * n), 0.5 / n, 1 - 0.5 / n)
    qz = _ndtri(cdf)
    if len(qx) == 1:  # a constant column: one point, z = 0
        qz = np.zeros(1)
    pad = max(points, 1) - len(qx)  # fixed-size buffers: repeat the last point
    return np.concatenate([qx, np.repeat(qx[-1:], pad)]), np.concatenate([qz, np.repeat(qz[-1:], pad)])


__all__ = ["Column", "Schema", "TableCodec", "infer_schema", "is_missing", "table_recipe"]
