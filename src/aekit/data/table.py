"""Tables from CSV (a header row; quoted fields; blanks and NA tokens as holes), Parquet (pyarrow) or a pandas
DataFrame: raw columns, a schema read from them (:mod:`aekit.table`), and their rows encoded as float vectors."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ..batch import check_labels
from ..config import DataConfig
from ..registry import DATASETS
from ..table import MISSING, Schema, TableCodec, infer_schema, is_missing
from .arrays import DataFileError
from .splits import DataSplits, Split, split_off

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
Columns = dict[str, np.ndarray]  # column name -> (N,) object array of raw values (text, numbers, None)


def read_table(source, what: str | None = None) -> Columns:
    """Raw columns of a CSV or Parquet file, or of a pandas DataFrame. A :class:`DataFileError` names the file (and
    the column or line) for what cannot be a table: bytes that are not UTF-8, ragged rows, empty or duplicated
    column names, nested or date-time columns."""
    if hasattr(source, "columns") and hasattr(source, "dtypes"):
        return _from_frame(source, what or "the DataFrame")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"table file not found: {path}")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _from_parquet(path)
    return _from_csv(path)


def _from_csv(path: Path) -> Columns:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path} is not a text CSV file (it holds bytes that are not UTF-8, the first at "
                            f"byte {e.start}): save it as UTF-8 CSV") from None
    except csv.Error as e:
        raise DataFileError(f"{path}: not a CSV file ({e})") from None
    rows = [r for r in rows if r and r != [""]]  # blank lines (a row of empty fields is a row of holes)
    if len(rows) < 2:
        raise DataFileError(f"{path} holds no rows below its header")
    header = [h.strip() for h in rows[0]]
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataFileError(f"{path}, line {i}: {len(r)} fields where the header has {len(header)} (a ragged "
                                "row; quote fields that hold commas)")
    cols = np.array(rows[1:], dtype=object).T if rows[1:] else np.empty((len(header), 0), dtype=object)
    return _named(header, list(cols), str(path))


def _named(header: list[str], cols: list[np.ndarray], what: str) -> Columns:
    out: Columns = {}
    for j, name in enumerate(header):
        if name == "":
            if j == 0:  # pandas' to_csv writes the index first, unnamed: not data
                continue
            raise DataFileError(f"{what}: column {j} has no name: give every column a name in the header")
        if name in out:
            raise DataFileError(f"{what}: the column name {name!r} appears twice: column names must be unique")
        out[name] = cols[j]
    return out


def _from_parquet(path: Path) -> Columns:
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pt
    except ImportError:
        raise ImportError("Parquet files need pyarrow: pip install 'aekit[tables]'") from None
    try:
        t = pq.read_table(path)
    except Exception as e:  # pyarrow's error types: the bytes are untrusted
        raise DataFileError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]})") from None
    cols, names = [], []
    for name, col in zip(t.column_names, t.columns):
        if name.startswith("__index_level_"):  # the index pandas' to_parquet writes: not data
            continue
        ty = col.type
        if pt.is_nested(ty):
            raise DataFileError(f"{path}: column {name!r} has the nested type {ty}: aekit reads numbers, text and "
                                "categories")
        if pt.is_temporal(ty):
            raise DataFileError(f"{path}: column {name!r} holds dates or times ({ty}): convert it to a number, or "
                                f"leave it out with --drop {name}")
        if pt.is_dictionary(ty):
            col = col.cast(ty.value_type)
        cols.append(np.array(col.to_pylist(), dtype=object))
        names.append(str(name))
    return _named(names, cols, str(path))


def _from_frame(df, what: str) -> Columns:
    cols = []
    for name in df.columns:
        s = df[name]
        kind = getattr(s.dtype, "kind", "O")
        if kind in "mM":
            raise ValueError(f"{what}: column {name!r} holds dates or times ({s.dtype}): convert it to a number")
        if kind == "c":
            raise ValueError(f"{what}: column {name!r} holds complex numbers")
        values = np.empty(len(s), dtype=object)
        values[:] = s.tolist()  # element by element: a column of lists stays a column of lists
        bad = next((v for v in values if not (v is None or isinstance(v, (str, bool, int, float, np.generic)))),
                   None)
        if bad is not None:
            raise ValueError(f"{what}: column {name!r} holds a {type(bad).__name__} ({str(bad)[:40]!r}): aekit reads "
                             "numbers, text and categories")
        cols.append(values)
    return _named([str(n) for n in df.columns], cols, what)


def labels_of(columns: Columns, name: str, what: str) -> tuple[Columns, np.ndarray]:
    """Take the label column out: class indices (numbers as they are, text as the index of its sorted level),
    checked by the rule of every label source; a hole is an error (-1 marks an unknown label)."""
    if name not in columns:
        raise DataFileError(f"{what}: no label column {name!r}: its columns are {', '.join(columns)}")
    rest = {k: v for k, v in columns.items() if k != name}
    raw = columns[name]
    hole = is_missing(raw)
    if hole.any():
        i = int(np.flatnonzero(hole)[0])
        raise DataFileError(f"labels of {what}, column {name!r} must be class indices (-1 for unknown); row {i} holds "
                            f"{'nan' if raw[i] is None else str(raw[i]).strip().lower() or 'a blank'}")
    try:
        y = np.array([-1 if h else float(v) for v, h in zip(raw, hole)])
    except (TypeError, ValueError):
        levels = sorted({str(v).strip() for v, h in zip(raw, hole) if not h})
        y = np.array([-1 if h else levels.index(str(v).strip()) for v, h in zip(raw, hole)])
    return rest, check_labels(y, len(raw), f"{what}, column {name!r}")


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def table_split(columns: Columns, codec: TableCodec, what: str, y: np.ndarray | None = None) -> Split:
    return Split(torch.from_numpy(codec.encode(columns, what)), y, table=codec)


@DATASETS.register("table", options=("path", "test_path", "label_column", "categorical", "drop", "holes"))
def load_table(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    """A table file (CSV, Parquet): its schema read from the training file (kinds, categories, ranges), the rows
    encoded by it; without ``test_path`` a seeded 20 % is held out."""
    if not cfg.path:
        raise ValueError("dataset 'table' needs a path (--data FILE.csv or .parquet)")
    columns = read_table(cfg.path)
    y = None
    if cfg.label_column:
        columns, y = labels_of(columns, cfg.label_column, str(cfg.path))
    try:
        schema = infer_schema(columns, _names(cfg.categorical), _names(cfg.drop))
    except ValueError as e:
        raise DataFileError(f"{cfg.path}: {e}") from None
    test_cols, y_test = None, None
    if cfg.test_path:
        test_cols = read_table(cfg.test_path)
        if cfg.label_column:
            test_cols, y_test = labels_of(test_cols, cfg.label_column, str(cfg.test_path))
    codec = TableCodec(schema).fit(columns)
    if cfg.holes:  # a hole in every column (imputation)
        codec = codec.with_holes()
    train = table_split(columns, codec, str(cfg.path), y)
    if test_cols is not None:
        test = table_split(test_cols, codec, str(cfg.test_path), y_test)
    else:
        train, test = split_off(train, 0.2, seed)
    note = f"; dropped {', '.join(f'{k} ({v})' for k, v in schema.dropped.items())}" if schema.dropped else ""
    return DataSplits(train, test, f"{cfg.path}: a table of {len(schema.columns)} columns ({len(train)} train, "
                                   f"{len(test)} test){note}")


def looks_like_table(path: str | Path) -> bool:
    """Whether a data file is a table rather than a matrix of numbers: Parquet, or a CSV with a header whose rows
    hold text or holes."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for _, r in zip(range(200), csv.reader(f))]
    except (UnicodeDecodeError, csv.Error, OSError):
        return True  # the table reader says what is wrong, naming the file
    for r in rows[1:]:
        for v in r:
            try:
                if not math.isfinite(float(v)):
                    return True
            except ValueError:
                return True
    return False


def write_table(path: str | Path, columns: dict[str, list], names: list[str] | None = None) -> Path:
    """Typed columns as a CSV (a header; integers as integers, holes as empty fields) or Parquet file, atomically."""
    import io

    from ..files import atomic_write, atomic_write_text

    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError("Parquet files need pyarrow: pip install 'aekit[tables]'") from None
        cols = {**({"file": names} if names else {}), **columns}
        t = pa.table({k: pa.array(v) for k, v in cols.items()})
        return atomic_write(path, lambda tmp: pq.write_table(t, tmp))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*(["file"] if names else []), *columns])
    n = len(next(iter(columns.values()))) if columns else 0
    for i in range(n):
        w.writerow([*([names[i]] if names else []),
                    *("" if v[i] is None else v[i] for v in columns.values())])
    return atomic_write_text(path, buf.getvalue())


__all__ = ["Columns", "MISSING", "Schema", "TABLE_SUFFIXES", "load_table", "looks_like_table", "read_table",
           "write_table"]
