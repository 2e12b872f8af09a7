"""Tables from CSV (a header row; quoted fields; blanks and NA tokens as holes), Parquet (pyarrow) or a pandas
DataFrame: raw columns, a schema read from them (:mod:`aekit.table`), and their rows encoded as float vectors."""

from __future__ import annotations

import csv
import json
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


BATCH_ROWS = 65_536  # rows a streamed table is read in at a time


def _from_csv(path: Path) -> Columns:
    return _joined(_csv_batches(path))


def _joined(batches) -> Columns:
    parts = list(batches)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def table_batches(path: str | Path, rows: int = BATCH_ROWS):
    """The raw columns of a CSV or Parquet file, ``rows`` rows at a time (a table larger than memory), with the
    checks of :func:`read_table`; each batch a Columns dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table file not found: {path}")
    return _parquet_batches(path, rows) if path.suffix.lower() in (".parquet", ".pq") else _csv_batches(path, rows)


def _csv_batches(path: Path, rows: int = BATCH_ROWS):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next((r for r in reader if r and r != [""]), None)
            if header is None:
                raise DataFileError(f"{path} holds no rows below its header")
            header = [h.strip() for h in header]
            chunk, line, any_rows = [], 1, False
            for r in reader:
                line += 1
                if not r or r == [""]:  # blank lines (a row of empty fields is a row of holes)
                    continue
                if len(r) != len(header):
                    raise DataFileError(f"{path}, line {line}: {len(r)} fields where the header has {len(header)} (a "
                                        "ragged row; quote fields that hold commas)")
                chunk.append(r)
                if len(chunk) == rows:
                    yield _named(header, list(np.array(chunk, dtype=object).T), str(path))
                    chunk, any_rows = [], True
            if chunk:
                yield _named(header, list(np.array(chunk, dtype=object).T), str(path))
            elif not any_rows:
                raise DataFileError(f"{path} holds no rows below its header")
    except UnicodeDecodeError as e:
        raise DataFileError(f"{path} is not a text CSV file (it holds bytes that are not UTF-8, the first at "
                            f"byte {e.start}): save it as UTF-8 CSV") from None
    except csv.Error as e:
        raise DataFileError(f"{path}: not a CSV file ({e})") from None


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
    return _joined(_parquet_batches(path))


def _parquet_batches(path: Path, rows: int = BATCH_ROWS):
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pt
    except ImportError:
        raise ImportError("Parquet files need pyarrow: pip install 'aekit[tables]'") from None
    try:
        f = pq.ParquetFile(path)
        schema = f.schema_arrow
    except Exception as e:  # pyarrow's error types: the bytes are untrusted
        raise DataFileError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]})") from None
    keep = []
    for name, ty in zip(schema.names, schema.types):
        if name.startswith("__index_level_"):  # the index pandas' to_parquet writes: not data
            continue
        if pt.is_nested(ty):
            raise DataFileError(f"{path}: column {name!r} has the nested type {ty}: aekit reads numbers, text and "
                                "categories")
        if pt.is_temporal(ty):
            raise DataFileError(f"{path}: column {name!r} holds dates or times ({ty}): convert it to a number, or "
                                f"leave it out with --drop {name}")
        keep.append(name)
    batches = f.iter_batches(batch_size=rows, columns=keep) if f.metadata.num_rows else iter(())
    while True:
        try:
            b = next(batches, None)
        except Exception as e:
            raise DataFileError(f"{path}: not a readable Parquet file ({str(e).splitlines()[0][:200]})") from None
        if b is None:
            break
        cols = []
        for col in b.columns:
            if pt.is_dictionary(col.type):
                col = col.cast(col.type.value_type)
            cols.append(np.array(col.to_pylist(), dtype=object))
        yield _named([str(n) for n in b.schema.names], cols, str(path))
    if not f.metadata.num_rows:
        yield _named([str(n) for n in keep], [np.empty(0, dtype=object) for _ in keep], str(path))


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


def labels_of(columns: Columns, name: str, what: str,
              levels: list[str] | None = None) -> tuple[Columns, np.ndarray, list[str] | None]:
    """Take the label column out: class indices, checked by the rule of every label source; a hole is an error.
    Numbers are indices as they are (-1: unknown). Text (or any labels where ``levels`` is given: a run's text
    classes) names classes: each the index of its name in ``levels``, names ``levels`` lacks appended in sorted order
    (the training file's sorted names first, then the test file's new ones), and "-1" an unknown label. Returns the
    other columns, the indices (N,), and the class names by index (None for numbers)."""
    if name not in columns:
        raise DataFileError(f"{what}: no label column {name!r}: its columns are {', '.join(columns)}")
    rest = {k: v for k, v in columns.items() if k != name}
    raw = columns[name]
    hole = is_missing(raw)
    if hole.any():
        i = int(np.flatnonzero(hole)[0])
        raise DataFileError(f"labels of {what}, column {name!r} must be classes (-1 for unknown); row {i} holds "
                            f"{'nan' if raw[i] is None else str(raw[i]).strip().lower() or 'a blank'}")
    if levels is None:
        try:
            y = np.array([float(v) for v in raw])
        except (TypeError, ValueError):
            y = None  # text: class names
        if y is not None:
            return rest, check_labels(y, len(raw), f"{what}, column {name!r}"), None
    text = [str(v).strip() for v in raw]
    names = list(levels or [])
    names += sorted({t for t in text if t != UNLABELLED} - set(names))
    index = {t: k for k, t in enumerate(names)}
    y = np.array([-1 if t == UNLABELLED else index[t] for t in text], dtype=np.int64)
    return rest, check_labels(y, len(raw), f"{what}, column {name!r}"), names


UNLABELLED = "-1"  # a text label column's mark of an unknown label, as sklearn's semi-supervised learners have it


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def table_split(columns: Columns, codec: TableCodec, what: str, y: np.ndarray | None = None) -> Split:
    return Split(torch.from_numpy(codec.encode(columns, what)), y, table=codec)


@DATASETS.register("table", options=("path", "test_path", "label_column", "categorical", "drop", "holes", "stream",
                                    "split", "label_levels"))
def load_table(cfg: DataConfig, seed: int = 0, download: bool = True) -> DataSplits:
    """A table file (CSV, Parquet): its schema read from the training file (kinds, categories, ranges), the rows
    encoded by it; without ``test_path`` a seeded 20 % is held out. With ``stream`` (or a file too large to hold as
    Python values in memory) the file is read in row batches instead (:func:`stream_table`)."""
    if not cfg.path:
        raise ValueError("dataset 'table' needs a path (--data FILE.csv or .parquet)")
    if cfg.stream or _too_large(cfg.path):
        return stream_table(cfg, seed)
    columns = read_table(cfg.path)
    y, levels = None, stored_levels(cfg)
    if cfg.label_column:
        columns, y, levels = labels_of(columns, cfg.label_column, str(cfg.path), levels)
    codec = _codec(columns, columns, cfg)
    test_cols, y_test = None, None
    if cfg.test_path:
        test_cols = read_table(cfg.test_path)
        if cfg.label_column:
            test_cols, y_test, levels = labels_of(test_cols, cfg.label_column, str(cfg.test_path), levels)
    train = table_split(columns, codec, str(cfg.path), y)
    if test_cols is not None:
        test = table_split(test_cols, codec, str(cfg.test_path), y_test)
    else:
        train, test = split_off(train, 0.2, seed, cfg.split)
    return _splits(cfg, train, test, codec.schema, levels)


def stored_levels(cfg: DataConfig) -> list[str] | None:
    """The class names of a run's text label column, as training stored them (``label_levels``), or None."""
    return json.loads(cfg.label_levels) if cfg.label_levels else None


def _splits(cfg: DataConfig, train: Split, test: Split, schema: Schema, levels: list[str] | None,
            how: str = "") -> DataSplits:
    """The table's DataSplits; text labels' class names as its classes, and for the run to store
    (``label_levels``: later commands read labels by them)."""
    return DataSplits(train, test, _described(cfg, schema, len(train), len(test), how),
                      source={"label_levels": json.dumps(levels)} if levels is not None else None,
                      classes=levels)


def _codec(summary: Columns, sample: Columns, cfg: DataConfig) -> TableCodec:
    """The codec of a table: its schema read from ``summary`` (every value that matters: the rows, or a streamed
    file's sample and extremes), its quantile transforms fitted to ``sample`` (rows)."""
    try:
        schema = infer_schema(summary, _names(cfg.categorical), _names(cfg.drop),
                              len(next(iter(sample.values()))) if sample else None)
    except ValueError as e:
        raise DataFileError(f"{cfg.path}: {e}") from None
    codec = TableCodec(schema).fit(sample)
    return codec.with_holes() if cfg.holes else codec  # holes: one in every column (imputation)


def _described(cfg: DataConfig, schema: Schema, n_train: int, n_test: int, how: str = "") -> str:
    note = f"; dropped {', '.join(f'{k} ({v})' for k, v in schema.dropped.items())}" if schema.dropped else ""
    return (f"{cfg.path}: a table of {len(schema.columns)} columns{how} ({n_train} train, {n_test} test)"
            f"{note}")


# --- tables larger than memory --------------------------------------------------------------------------------------
SAMPLE_ROWS = 100_000  # a streamed table's kinds and quantiles are read from this many rows drawn evenly at random
DISTINCT_MAX = 1000  # distinct values kept per column while streaming (beyond: numbers, or an identifier)
PYTHON_BYTES = 12  # memory a file byte takes as Python values when read whole (measured: ~8-15x for CSV)


def _too_large(path: str | Path) -> bool:
    from .. import limits

    avail = limits.available_memory()
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    return bool(avail) and size * PYTHON_BYTES > 0.5 * avail


class _Summary:
    """What a pass over a streamed table keeps of each column to read its schema as the whole file would give it:
    a uniform sample of rows (seeded), and per column its distinct values (up to DISTINCT_MAX), its text that is not
    a number, its smallest, largest and longest-written numbers and whether it has holes."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.sample: Columns | None = None
        self.keys = np.zeros(0)
        self.extra: dict[str, dict] = {}
        self.rows = 0

    def add(self, batch: Columns) -> None:
        from ..table import _all_text, _decimals, _number_list

        n = len(next(iter(batch.values()))) if batch else 0
        self.rows += n
        keys = self.rng.random(n)  # a row's random key: the SAMPLE_ROWS smallest keys are a uniform sample
        if self.sample is None:
            self.sample, self.keys = batch, keys
        else:
            self.sample = {k: np.concatenate([self.sample[k], batch[k]]) for k in self.sample}
            self.keys = np.concatenate([self.keys, keys])
        if len(self.keys) > SAMPLE_ROWS:
            keep = np.sort(np.argpartition(self.keys, SAMPLE_ROWS)[:SAMPLE_ROWS])
            self.sample, self.keys = {k: v[keep] for k, v in self.sample.items()}, self.keys[keep]
        for name, values in batch.items():
            e = self.extra.setdefault(name, {"distinct": {}, "text": {}, "lo": None, "hi": None, "long": None,
                                             "hole": None})
            hole = is_missing(values)
            if hole.any() and e["hole"] is None:
                e["hole"] = values[int(np.flatnonzero(hole)[0])]
            seen = values[~hole]
            if _all_text(seen):  # a CSV's column: each distinct text once, in order of first appearance (all that
                # the loop keeps of a value is from its first appearance)
                seen = list(dict.fromkeys(seen))
            for v, x in zip(seen, _number_list(seen)):
                key = str(v).strip()
                if len(e["distinct"]) < DISTINCT_MAX:
                    e["distinct"].setdefault(key, v)
                if x is None or not math.isfinite(x):
                    if len(e["text"]) < DISTINCT_MAX:
                        e["text"].setdefault(key, v)
                    continue
                if e["lo"] is None or x < e["lo"][0]:
                    e["lo"] = (x, v)
                if e["hi"] is None or x > e["hi"][0]:
                    e["hi"] = (x, v)
                d = _decimals(v)
                if e["long"] is None or d > e["long"][0]:
                    e["long"] = (d, v)

    def summary(self) -> Columns:
        """Per column the sample's values and the extremes the sample may lack (levels, text, range, rounding, a
        hole): what :func:`aekit.table.infer_schema` reads to give the whole file's schema."""
        out = {}
        for name, values in self.sample.items():
            e = self.extra[name]
            more = [*e["distinct"].values(), *e["text"].values(),
                    *(t[1] for t in (e["lo"], e["hi"], e["long"]) if t is not None)]
            if e["hole"] is not None:
                more.append(e["hole"])
            out[name] = np.concatenate([values, np.array(more, dtype=object)])
        return out


def _label_batches(path, label: str | None):
    """(columns, raw labels) of each row batch of a table file; the labels None without a label column."""
    for batch in table_batches(path):
        if label and label not in batch:
            raise DataFileError(f"{path}: no label column {label!r}: its columns are {', '.join(batch)}")
        n = len(next(iter(batch.values()))) if batch else 0
        yield batch, (batch.pop(label) if label else np.empty(n, dtype=object))


def stream_table(cfg: DataConfig, seed: int = 0) -> DataSplits:
    """A table file read in row batches (a table larger than memory): a first pass reads the schema (kinds and
    quantiles from a uniform sample of SAMPLE_ROWS rows; levels, ranges, rounding and holes from every row), a second
    encodes every batch into float32 .npy shards on disk (in the temporary folder, $TMPDIR; removed when the
    process ends), which training then reads batch by batch like ``--stream`` data."""
    import atexit
    import shutil
    import tempfile

    from .stream import StreamedArray

    summary = _Summary(seed)
    for batch, _ in _label_batches(cfg.path, cfg.label_column):
        summary.add(batch)
    codec = _codec(summary.summary(), summary.sample, cfg)
    folder = Path(tempfile.mkdtemp(prefix="aekit-table-"))
    atexit.register(shutil.rmtree, folder, True)

    def encoded(path, name: str) -> Split:
        """The file's rows encoded into shards under folder/name, and its labels."""
        (folder / name).mkdir()
        raw, start = [], 0
        for k, (batch, labels) in enumerate(_label_batches(path, cfg.label_column)):
            np.save(folder / name / f"{k:08d}.npy", codec.encode(batch, f"{path} (the batch from row {start})"))
            raw.append(labels)
            start += len(labels)
        y = None
        if cfg.label_column:
            _, y, levels[0] = labels_of({cfg.label_column: np.concatenate(raw)}, cfg.label_column, str(path),
                                        levels[0])
        return Split(StreamedArray(folder / name), y, table=codec)

    levels = [stored_levels(cfg)]  # (the training file's names, then the test file's new ones)
    train = encoded(cfg.path, "train")
    if cfg.test_path:
        test = encoded(cfg.test_path, "test")
    else:
        train, test = split_off(train, 0.2, seed, cfg.split)
    return _splits(cfg, train, test, codec.schema, levels[0], ", streamed from disk")


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
