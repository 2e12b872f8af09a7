"""An HTTP service over a trained model (FastAPI on uvicorn; the ``serve`` extra), and its web page.

Endpoints: ``GET /healthz``, ``GET /info``, ``POST /encode``, ``/reconstruct``, ``/score``, ``/generate`` (runs with a
sampler, and VAEs), ``/interpolate``; ``GET /`` the page, ``GET /docs`` the endpoints (offline, from the OpenAPI
schema). Samples come as JSON (``{"x": [...]}``, or the
array itself) or as ``.npy`` bytes (``Content-Type: application/x-npy``), many per request, processed in the fixed
chunks of :mod:`aekit.apps`. Bad input is a 4xx whose ``detail`` names the problem: 413 past the size limits (the
body's, checked while it is read; the samples'; the memory a request would need), 422 for what is not an array of
finite float32 numbers of the model's sample shape, or JSON nested too deeply, integers of too many digits, NaN and
Infinity; never a 500.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations (Request, imported inside
# create_app because fastapi is an optional extra) and must see the objects, not strings.
import asyncio
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import apps
from .. import checkpoint as ckpt
from .. import limits
from ..limits import check_batch_memory
from ..model import Autoencoder
from ..registry import SAMPLERS

MAX_BYTES = 16 * 2 ** 20  # the largest request body
MAX_SAMPLES = 10_000  # the most samples in one request
MAX_DEPTH = 8  # JSON nesting: an object, samples, and at most 5 axes of a sample
MAX_DIGITS = 20  # digits of a JSON integer (an int64 has 19)


def _require():
    try:
        import fastapi
        import uvicorn  # noqa: F401
    except ImportError:
        raise ImportError("the service needs the serve extra: pip install 'aekit[serve]' (fastapi, uvicorn)") from None
    return fastapi


class BadInput(ValueError):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def read_body(request) -> bytes:
    """The request's body, read in pieces: a 413 as soon as it passes MAX_BYTES (or its Content-Length says it
    will), before the rest is read."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BYTES:
        raise BadInput(413, f"the body has {int(length)} bytes; the limit is {MAX_BYTES}")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            raise BadInput(413, f"the body has more than {MAX_BYTES} bytes; the limit is {MAX_BYTES}")
        parts.append(chunk)
    return b"".join(parts)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise BadInput(422, f"an integer of {len(text.lstrip('-'))} digits; at most {MAX_DIGITS} are accepted")
    return int(text)


def _constant(name: str):
    raise BadInput(422, f"{name} is not a number aekit accepts (the samples must be finite)")


def parse_json(raw: bytes, default: Any = None) -> Any:
    """A request's JSON with bounded nesting and integers, and without NaN or Infinity; BadInput (422) otherwise."""
    depth = top = 0
    for ch in raw[:1 << 16].translate(None, b'"0123456789.,-eE \t\n\r:'):  # an early look; strings are rare here
        depth += 1 if ch in b"[{" else -1 if ch in b"]}" else 0
        top = max(top, depth)
    if top > MAX_DEPTH:
        raise BadInput(422, f"the JSON is nested {top} deep; at most {MAX_DEPTH} levels are accepted")
    try:
        return json.loads(raw, parse_int=_int, parse_constant=_constant) if raw.strip() else default
    except RecursionError:
        raise BadInput(422, f"the JSON is nested too deeply; at most {MAX_DEPTH} levels are accepted") from None
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, BadInput):
            raise
        raise BadInput(422, f"the body is not valid JSON ({e})") from None


def _load_npy(raw: bytes) -> np.ndarray:
    """An .npy body, its header checked against the body's length before anything is allocated."""
    from numpy.lib import format as npy

    buf = io.BytesIO(raw)
    try:
        version = npy.read_magic(buf)
        header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
        if header is None:
            raise ValueError(f".npy version {version[0]}.{version[1]} is not accepted (1.0 or 2.0)")
        shape, _, dtype = header(buf)
        if dtype.hasobject:
            raise ValueError("object arrays are not accepted")
        need = math.prod(shape) * dtype.itemsize
        if need > len(raw) - buf.tell():
            raise ValueError(f"the header claims shape {shape} of {dtype} ({need} bytes), the body holds "
                             f"{len(raw) - buf.tell()}")
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise BadInput(422, f"the body is not a readable .npy array ({' '.join(str(e).split())})") from None


def _samples(model: Autoencoder, raw: bytes, content_type: str, key: str = "x") -> np.ndarray:
    """The request's samples as float32 (N, *input_shape), or BadInput naming what is wrong."""
    if len(raw) > MAX_BYTES:
        raise BadInput(413, f"the body has {len(raw)} bytes; the limit is {MAX_BYTES}")
    if "application/x-npy" in content_type:
        arr = _load_npy(raw)
    else:
        body = parse_json(raw)
        if isinstance(body, dict):
            if key not in body:
                raise BadInput(422, f"the JSON object has no {key!r} field")
            body = body[key]
        try:
            arr = np.asarray(body, dtype=np.float64)
        except (ValueError, TypeError):
            raise BadInput(422, f"{key!r} must be an array of numbers of one shape (ragged or not numbers)") from None
    if arr.dtype.kind not in "biuf":
        raise BadInput(422, f"{key!r} must hold real numbers, not {arr.dtype}")
    shape, rnn = tuple(model.input_shape), model.config.model.arch == "rnn"
    size = math.prod(shape)
    if arr.shape == shape or (rnn and arr.ndim == 2 and arr.shape[1] == shape[1]):
        arr = arr[None]  # one sample (a sequence of any length, for a recurrent model)
    elif not rnn and arr.ndim == 1 and arr.size == size:
        arr = arr.reshape(1, *shape)  # one sample, flattened
    elif not rnn and arr.ndim == 2 and arr.shape[1] == size:
        arr = arr.reshape(len(arr), *shape)  # samples, flattened
    ok = arr.ndim == len(shape) + 1 and (arr.shape[2] == shape[1] if rnn else arr.shape[1:] == shape)
    if not ok:
        want = f"(N, T, {shape[1]})" if rnn else f"(N, {', '.join(map(str, shape))})"
        raise BadInput(422, f"samples of shape {arr.shape} do not fit this model: expected {want} or one sample")
    if len(arr) == 0:
        raise BadInput(422, "no samples")
    if rnn and arr.shape[1] == 0:
        raise BadInput(422, "a sequence needs at least one step; these have 0")
    if len(arr) > MAX_SAMPLES:
        raise BadInput(413, f"{len(arr)} samples; the limit is {MAX_SAMPLES} per request")
    if rnn:  # the memory of one chunk of sequences this long
        try:
            check_batch_memory(model.config, min(len(arr), apps.CHUNK), "a request of", arr.shape[1], training=False)
            limits.check("steps", arr.shape[1], what="steps per sequence")
        except limits.TooLarge as e:
            raise BadInput(413, str(e)) from None
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise BadInput(422, "the samples contain NaN or infinite values, or values beyond float32's range "
                            "(about 3.4e38)")
    return out


def _table_rows(model: Autoencoder, body) -> np.ndarray:
    """``{"rows": [{column: value, ...}, ...]}`` -> the rows encoded by the run's codec (N, width); a 422 naming the
    column for a missing column, a new category, a hole where training had none, text in a number column."""
    rows = body.get("rows") if isinstance(body, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
        raise BadInput(422, 'the body must be a JSON object {"rows": [{column: value, ...}, ...]} with at least '
                            "one row")
    if len(rows) > MAX_SAMPLES:
        raise BadInput(413, f"{len(rows)} rows; the limit is {MAX_SAMPLES} per request")
    names = model.table.schema.names
    for i, r in enumerate(rows):
        lacking = [n for n in names if n not in r]
        if lacking:
            raise BadInput(422, f"row {i} lacks the column(s) {', '.join(lacking)} (the run's columns: "
                                f"{', '.join(names)})")
        bad = next((k for k, v in r.items() if not (v is None or isinstance(v, (str, int, float)))), None)
        if bad is not None:
            raise BadInput(422, f"row {i}, column {bad!r}: a value must be a number, a string or null")
    columns = {}
    for n in names:
        col = np.empty(len(rows), dtype=object)
        col[:] = [r[n] for r in rows]
        columns[n] = col
    try:
        return model.table.encode(columns, "the request")
    except ValueError as e:
        raise BadInput(422, str(e)) from None


def _example_row(model: Autoencoder) -> dict:
    """A typical row of a table run, for the documentation: each category's first level, each number's middle."""
    return {c.name: (c.categories[0] if c.onehot else (c.lo + c.hi) / 2) for c in model.table.schema.columns}


def finite(result: np.ndarray) -> np.ndarray:
    """The model's answer, or a 422 when finite inputs drove it out of float32's range (values like 1e38)."""
    if not np.isfinite(result).all():
        raise BadInput(422, "the samples are too large for this model: its results overflow float32 (NaN or "
                            "infinite); send values on the scale of its training data")
    return result


def _whole(body: dict, name: str, default: int, low: int, high: int) -> int:
    """An integer field of a JSON object, from low to high; BadInput otherwise (2.7, "4", true, 1e400...)."""
    v = body.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadInput(422, f"{name} must be an integer, got {v!r}")
    if not low <= v <= high:
        raise BadInput(413 if v > high and name == "n" else 422, f"{name} must be from {low} to {high}, got {v}")
    return v


class Coalescer:
    """Answers the requests that wait at the same moment with one call of a row-wise function.

    ``fn`` maps samples (N, ...) to one result row per sample, and a row must not depend on which other samples come
    with it: :mod:`aekit.apps` guarantees that by running every forward pass on a fixed chunk of rows. Requests of at
    most ``max_rows`` samples that are waiting in the same turn of the event loop are concatenated and run together
    (under load, one forward pass for many single-sample requests instead of one each); larger requests run alone.
    The results are the same as calling ``fn`` on each request by itself.
    """

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], max_rows: int = apps.CHUNK) -> None:
        self.fn, self.max_rows = fn, max_rows
        self.waiting: list[tuple[np.ndarray, asyncio.Future]] = []

    async def __call__(self, x: np.ndarray) -> np.ndarray:
        if len(x) > self.max_rows:
            return self.fn(x)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self.waiting.append((x, fut))
        if len(self.waiting) == 1:  # the first to wait: run them all once the requests ready now have come in
            loop.call_soon(self._run)
        return await fut

    def _run(self) -> None:
        items, self.waiting = self.waiting, []
        try:
            out = self.fn(np.concatenate([x for x, _ in items]))
        except Exception as e:  # noqa: BLE001 (handed to every request that shared the call)
            for _, fut in items:
                if not fut.done():
                    fut.set_exception(e)
            return
        start = 0
        for x, fut in items:
            if not fut.done():  # a client that went away has a cancelled future
                fut.set_result(out[start:start + len(x)])
            start += len(x)


def create_app(model: Autoencoder, threshold: float | None = None, title: str = "aekit",
               scorer: "apps.AnomalyScorer | None" = None):
    """A FastAPI app serving ``model``. /score gives ``scorer``'s scores (the run's rule, :func:`aekit.apps.
    run_detector`, as ``aekit serve`` sets it up) or, without one, the mean squared reconstruction error;
    ``threshold`` flags outliers (a request may override it)."""
    fastapi = _require()
    from fastapi import Request
    from fastapi.responses import HTMLResponse, JSONResponse

    model = model.cpu().eval()
    # /docs is served below from the OpenAPI schema, offline (FastAPI's Swagger UI loads its script from a CDN)
    app = fastapi.FastAPI(title=f"{title}: {model.config.variant_name} {model.config.model.arch} autoencoder",
                          description="Encode, reconstruct, score, generate and interpolate with a trained aekit "
                                      "model. Bodies: JSON `{\"x\": [...]}` or `.npy` bytes (application/x-npy).",
                          docs_url=None, redoc_url=None)

    @app.exception_handler(BadInput)
    async def _bad(request: Request, exc: BadInput):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status)

    encode_rows = Coalescer(lambda x: apps.encode(model, x))
    reconstruct_rows = Coalescer(lambda x: apps.reconstruct(model, x))
    score_rows = Coalescer(scorer.score if scorer is not None else lambda x: apps.reconstruction_error(model, x))
    score_name = scorer.method if scorer is not None else "reconstruction"
    app.state.coalescers = {"encode": encode_rows, "reconstruct": reconstruct_rows, "score": score_rows}

    async def read(request: Request, key: str = "x") -> np.ndarray:
        raw = await read_body(request)
        if model.table is not None:  # a table run: JSON records with the run's column names
            return _table_rows(model, parse_json(raw, {}))
        return _samples(model, raw, request.headers.get("content-type", ""), key)

    def rows_out(values: np.ndarray, generator=None) -> list[dict]:
        """Decoder outputs (N, width) as typed records of a table run."""
        cols = model.table.decode(values, generator)
        return [dict(zip(cols, r)) for r in zip(*cols.values())]

    async def read_object(request: Request, what: str) -> tuple[bytes, dict]:
        raw = await read_body(request)
        body = parse_json(raw, {})
        if not isinstance(body, dict):
            raise BadInput(422, f"the body must be a JSON object like {what}")
        return raw, body

    example = {"x": np.zeros((1, *model.input_shape)).tolist()} if model.table is None else \
        {"rows": [_example_row(model)]}
    body_doc: dict[str, Any] = {"requestBody": {"content": {
        "application/json": {"example": example, "schema": {"type": "object"}},
        "application/x-npy": {"schema": {"type": "string", "format": "binary"}}}}}

    @app.get("/healthz", summary="Liveness")
    def healthz() -> dict:
        return {"status": "ok"}

    classes = model.sampler.classes if model.sampler is not None else []  # what /generate's label may ask for
    names = apps.class_names(model) if classes else []

    @app.get("/info", summary="What the model is", responses={200: {"content": {"application/json": {"example": {
        "arch": "mlp", "variant": "vanilla", "input_shape": [1, 28, 28], "latent_dim": 32, "threshold": 0.05}}}}})
    def info() -> dict:
        m = model.config.model
        return {"arch": m.arch, "variant": model.config.variant_name, "input_shape": list(model.input_shape),
                "latent_dim": model.latent_dim, "code_shape": list(model.code_shape), "threshold": threshold,
                "score": score_name,
                "variational": model.is_variational, "sampler": model.default_sampler(),
                "classes": classes, "class_names": [names[c] if 0 <= c < len(names) else str(c) for c in classes],
                "image": len(model.input_shape) == 3
                and model.input_shape[0] in (1, 3),
                "columns": None if model.table is None else
                [{"name": c.name, "kind": c.kind, **({"levels": c.categories} if c.onehot else
                                                     {"range": [c.lo, c.hi]}), "missing": c.missing}
                 for c in model.table.schema.columns]}

    @app.post("/encode", summary="Codes of the samples", openapi_extra=body_doc)
    async def encode(request: Request) -> dict:
        return {"codes": finite(await encode_rows(await read(request))).tolist()}

    @app.post("/reconstruct", summary="Reconstructions of the samples", openapi_extra=body_doc)
    async def reconstruct(request: Request) -> dict:
        r = finite(await reconstruct_rows(await read(request)))
        return {"reconstructions": r.tolist()} if model.table is None else {"rows": rows_out(r)}

    @app.post("/score", summary="Anomaly scores and outlier flags",
              description="The run's scoring rule, as `aekit detect` gives it (for `aekit serve`: its default score "
                          "fitted on the run's training data, with its threshold). `?threshold=T` overrides the "
                          "stored threshold. A table run also names each row's column rebuilt worst and its share "
                          "of the row's error (`columns`).", openapi_extra=body_doc)
    async def score(request: Request, threshold_override: float | None = fastapi.Query(None, alias="threshold")) \
            -> dict:
        x = await read(request)
        t = threshold if threshold_override is None else threshold_override
        if t is not None and not math.isfinite(t):
            raise BadInput(422, "threshold must be a finite number")
        s = finite(await score_rows(x)).astype(float)
        out = {"scores": s.tolist(), "threshold": t, "outlier": None if t is None else (s > t).tolist(),
               "score": score_name}
        if model.table is not None:  # which column made each row anomalous, as `aekit detect` names it
            out["columns"] = [{"column": c, "share": share} for c, share in apps.worst_columns(model, x)]
        return out

    @app.post("/generate", summary="New samples: codes from the run's sampler, decoded",
              description="`sampler`: gmm (the mixture fitted to the training codes) or normal (N(0, I), VAEs); "
                          "the run's default when omitted. `label`: only samples of that class (`/info`'s "
                          "`classes`).",
              openapi_extra={"requestBody": {"content": {"application/json": {"example": {"n": 4, "seed": 0}}}}})
    async def generate(request: Request) -> dict:
        _, body = await read_object(request, '{"n": 4, "seed": 0}')
        n = _whole(body, "n", 1, 1, MAX_SAMPLES)
        seed = _whole(body, "seed", 0, 0, limits.LIMITS["seed"])
        sampler = body.get("sampler")
        if sampler is not None and (not isinstance(sampler, str) or sampler not in SAMPLERS):
            raise BadInput(422, f"sampler must be one of {', '.join(SAMPLERS.names())}, got {sampler!r}")
        label = body.get("label")
        if label is not None and (isinstance(label, bool) or not isinstance(label, int)):
            raise BadInput(422, f"label must be an integer class, got {label!r}")
        try:
            s = finite(apps.sample(model, n, seed=seed, sampler=sampler, label=label))
            if model.table is not None:  # typed records, categories drawn as aekit generate draws them
                import torch

                rows = rows_out(s, torch.Generator().manual_seed(seed))
                column = model.config.data.label_column
                if label is not None and column:  # the class asked for, as its label column (named as trained)
                    rows = [{**r, column: apps.label_value(model, label)} for r in rows]
                return {"rows": rows}
            return {"samples": s.tolist()}
        except limits.TooLarge as e:
            raise BadInput(413, str(e)) from None
        except ValueError as e:  # no such sampler for this model
            raise BadInput(422, str(e)) from None

    @app.post("/interpolate", summary="Decoded points between the codes of two samples",
              openapi_extra={"requestBody": {"content": {"application/json": {"example": {
                  "x": np.zeros((2, *model.input_shape)).tolist(), "steps": 5, "method": "linear"}}}}})
    async def interpolate(request: Request) -> dict:
        raw, body = await read_object(request, '{"x": [two samples], "steps": 5, "method": "linear"}')
        x = _samples(model, raw, "application/json") if model.table is None else _table_rows(model, body)
        steps, method = _whole(body, "steps", 5, 2, 256), body.get("method", "linear")
        if len(x) != 2:
            raise BadInput(422, f"x must hold exactly two samples, got {len(x)}")
        if method not in ("linear", "slerp"):
            raise BadInput(422, f"method must be linear or slerp, got {method!r}")
        path = finite(apps.interpolate(model, x[0], x[1], steps, method))
        return {"path": path.tolist()} if model.table is None else {"rows": rows_out(path)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return (Path(__file__).parent / "page.html").read_text()

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs() -> str:
        return docs_page(app.openapi())

    return app


def docs_page(schema: dict) -> str:
    """The service's endpoints as one self-contained HTML page (no script, nothing fetched): method, path, summary,
    description and example body of each, from the OpenAPI schema (the full schema is at /openapi.json)."""
    from html import escape

    def marked(text: str) -> str:  # the descriptions' Markdown `code` spans as <code>
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))

    rows = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            example = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("example")
            body = f"<pre>{escape(json.dumps(_abridged(example)))}</pre>" if example is not None else ""
            summary, description = escape(op.get("summary", "")), marked(op.get("description", ""))
            rows.append(f"<section><h2><code>{method.upper()} {escape(path)}</code></h2><p>{summary}</p>"
                        f"<p>{description}</p>{body}</section>")
    info = schema.get("info", {})
    title, about = escape(info.get("title", "aekit")), marked(info.get("description", ""))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<link rel='icon' href='data:,'><style>body{font-family:system-ui,sans-serif;max-width:900px;margin:2em "
            "auto;padding:0 1em;color:#222}pre{background:#f5f5f5;padding:8px;overflow-x:auto}h2{font-size:16px}"
            f"</style></head><body><h1>{title}</h1><p>{about}</p>"
            "<p>The OpenAPI schema: <a href='/openapi.json'>/openapi.json</a></p>" + "".join(rows) + "</body></html>")


def _abridged(value, most: int = 3):
    """An example body for reading: every list longer than ``most`` cut to its first ``most`` items and a note of
    how many there are (the full example is in /openapi.json)."""
    if isinstance(value, list):
        head = [_abridged(v, most) for v in value[:most]]
        return head + [f"... {len(value)} in all"] if len(value) > most else head
    if isinstance(value, dict):
        return {k: _abridged(v, most) for k, v in value.items()}
    return value


def app_for_run(run_dir: str | Path):
    """The app ``aekit serve`` runs: the run's model, and its one scoring rule (:func:`aekit.apps.run_detector`,
    fitted on the run's training data) for /score; reconstruction errors without a threshold when that data cannot be
    loaded."""
    model = ckpt.load(run_dir)
    det = None
    try:
        from ..data import load_data

        data = load_data(model.config.data, seed=model.config.train.seed, download=False)
        det = apps.run_detector(model, data.train.x)
    except (FileNotFoundError, ValueError, ConnectionError) as e:
        print(f"note: /score gives reconstruction errors, without a threshold (the run's training data could not be "
              f"loaded: {e})")
    return create_app(model, None if det is None else det.threshold, Path(run_dir).name,
                      None if det is None else det.scorer)


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Load a run and serve it until interrupted (:func:`app_for_run`)."""
    _require()
    import uvicorn

    app = app_for_run(run_dir)
    sock = bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.run(sockets=[sock])


def bind(host: str, port: int):
    """A listening socket on (host, port), or one clear error before anything starts: a host that does not resolve
    (ValueError), a port in use or not allowed (OSError)."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise ValueError(f"cannot serve on host {host!r}: it does not resolve to an address ({e})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise OSError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    sock.set_inheritable(True)
    return sock
