"""Compression: real files of bits from a model trained with the rate variant.

The code round(z) (N, L) is entropy-coded with constriction's range coder, one categorical model per code dimension
(for a spatial code (N, L, h, w): per channel, or per channel and position, as the model's prior).
Those models are integer tables (counts that sum to about 2^16 over an integer range per dimension, with an escape
symbol at each end for the rare values outside it, whose values are stored raw), computed once from the learned prior
and stored with the run (``entropy_tables.safetensors``): decoding reads integers and never recomputes the prior in
floating point, so a file written on one machine decodes bit-identically on another.

File format (all integers little-endian; ``v`` = unsigned LEB128 varint)::

    b"AEKC"  version:u8  model:8 bytes (SHA-256 of the weights and tables, truncated)
    count:v  sample ndim:v  sample shape:v...  code ndim:v  code shape:v...  escapes:v  words:v
    escapes: int32[escapes]   payload: uint32[words]   crc32 of everything before:u32
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch

from .. import limits
from ..bottleneck import EntropyTables, from_prior_rows, prior_rows
from ..model import Autoencoder
from .denoise import psnr
from .infer import batched, decode

MAGIC, VERSION = b"AEKC", 1


class CompressedFileError(ValueError):
    """A compressed stream that is truncated, damaged, of another format, or made with another model."""


def _prior(model: Autoencoder):
    prior = getattr(model.bottleneck, "prior", None)
    if prior is None:
        raise ValueError(f"compression needs a model trained with the rate variant (e.g. --variant rate); this one "
                         f"is {model.config.variant_name!r}")
    return prior


def tables_of(model: Autoencoder) -> EntropyTables:
    """The model's tables: those stored with its run (set by :func:`aekit.load`), else computed once and kept."""
    tables = getattr(model, "entropy_tables", None)
    if tables is None:
        _prior(model)
        tables = model.bottleneck.integer_tables()
        model.entropy_tables = tables
    return tables


def model_digest(model: Autoencoder, tables: EntropyTables) -> bytes:
    """8 bytes that identify the weights and the tables."""
    from ..checkpoint import tensor_digest

    return hashlib.sha256(tensor_digest(model.state_dict()).encode() + tables.digest()).digest()[:8]


def quantized_codes(model: Autoencoder, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """round(z) of the inputs: (N, L) int64, or (N, L, h, w) for a spatial code."""
    _prior(model)
    return batched(model, x, model.encode).astype(np.int64)


def estimated_bits(tables: EntropyTables, codes: np.ndarray) -> float:
    """-log2 of the codes' probabilities under the integer tables (escaped values at 32 bits each)."""
    codes = prior_rows(codes, len(tables.offset))  # one column per table
    sym, esc = _symbols(tables, codes)
    total = tables.counts.sum(1).astype(np.float64)  # (L,)
    p = tables.counts[np.arange(codes.shape[1])[None, :], sym] / total[None, :]
    return float(-np.log2(p).sum() + 32 * len(esc))


def _symbols(tables: EntropyTables, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, L) codes -> (N, L) symbols, and the escaped values in channel-major order."""
    rel = codes - tables.offset[None, :]  # 0 .. width-1 inside the table
    width = tables.width[None, :]
    sym = np.where(rel < 0, 0, np.where(rel >= width, width + 1, rel + 1))
    esc_mask = (rel < 0) | (rel >= width)
    esc = codes.T[esc_mask.T]  # channel-major, as the stream
    return sym.astype(np.int32), esc.astype(np.int32)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise CompressedFileError("the header is truncated")
        b = data[pos]
        n |= (b & 0x7F) << shift
        pos += 1
        shift += 7
        if not b & 0x80:
            return n, pos


def _categorical(counts: np.ndarray):
    import constriction

    return constriction.stream.model.Categorical(counts.astype(np.float64), perfect=False)


def compress_codes(tables: EntropyTables, codes: np.ndarray, digest: bytes,
                   sample_shape: tuple[int, ...]) -> bytes:
    """Entropy-code integer codes (N, L) or (N, L, h, w) into a complete file (header, escapes, payload, CRC)."""
    try:
        import constriction
    except ImportError:  # a core dependency; a broken install says so
        raise ImportError("compression needs the constriction package (pip install constriction)") from None
    n, code_shape = len(codes), codes.shape[1:]
    sym, esc = _symbols(tables, prior_rows(codes, len(tables.offset)))
    enc = constriction.stream.queue.RangeEncoder()
    width = tables.width
    for j in range(len(tables.offset)):  # table-major: every row's value j under table j
        enc.encode(sym[:, j], _categorical(tables.counts[j, :width[j] + 2]))
    words = enc.get_compressed().astype("<u4")
    head = MAGIC + bytes([VERSION]) + digest + b"".join(_varint(v) for v in (
        n, len(sample_shape), *sample_shape, len(code_shape), *code_shape, len(esc), len(words)))
    body = head + esc.astype("<i4").tobytes() + words.tobytes()
    return body + struct.pack("<I", zlib.crc32(body))


@dataclass
class Parsed:
    count: int  # samples
    sample_shape: tuple[int, ...]
    code_shape: tuple[int, ...]  # (L,) or (L, h, w)
    model: bytes  # the 8-byte model digest
    escapes: np.ndarray  # (E,) int64 values outside the tables
    words: np.ndarray  # (W,) uint32 range-coder payload


def parse(data: bytes) -> Parsed:
    """The sections of a compressed file; a truncated, damaged or foreign one raises :class:`CompressedFileError`."""
    if len(data) < len(MAGIC) + 1 + 8 + 4 or data[:4] != MAGIC:
        raise CompressedFileError("not an aekit compressed file (wrong magic number or too short)")
    if data[4] != VERSION:
        raise CompressedFileError(f"format version {data[4]}, this aekit reads version {VERSION}")
    (crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise CompressedFileError("the file is truncated or damaged (its checksum does not match)")
    pos = 13
    n, pos = _read_varint(data, pos)
    shapes = []
    for _ in range(2):  # the sample shape, then the code shape
        ndim, pos = _read_varint(data, pos)
        if ndim > 8:
            raise CompressedFileError("the header is damaged (a shape of more than 8 dimensions)")
        dims = []
        for _ in range(ndim):
            s, pos = _read_varint(data, pos)
            dims.append(s)
        shapes.append(tuple(dims))
    if not shapes[1]:
        raise CompressedFileError("the header is damaged (no code shape)")
    n_esc, pos = _read_varint(data, pos)
    n_words, pos = _read_varint(data, pos)
    if pos + 4 * n_esc + 4 * n_words + 4 != len(data):
        raise CompressedFileError("its sections do not add up to its length")
    esc = np.frombuffer(data, "<i4", n_esc, pos).astype(np.int64)
    words = np.frombuffer(data, "<u4", n_words, pos + 4 * n_esc).astype(np.uint32)
    return Parsed(n, shapes[0], shapes[1], data[5:13], esc, words)


def decompress_codes(tables: EntropyTables, data: bytes, digest: bytes | None) -> tuple[np.ndarray, tuple[int, ...]]:
    """The integer codes (N, L) or (N, L, h, w) and the sample shape of a file from :func:`compress_codes`; every way
    a file can be wrong raises :class:`CompressedFileError` saying which."""
    import constriction

    f = parse(data)
    if digest is not None and f.model != digest:
        raise CompressedFileError("it was written with another model (or other entropy tables) than this run's")
    L, size = len(tables.offset), int(np.prod(f.code_shape))  # tables; values per code
    if L not in (f.code_shape[0], size):
        raise CompressedFileError(f"it holds codes of shape {f.code_shape}, which this model's {L} entropy tables "
                                  "do not fit")
    if f.count < 1:
        raise CompressedFileError(f"its header says it holds {f.count} samples: a compressed file holds at least one")
    rows = f.count * size // L
    avail = limits.available_memory()
    if avail and rows * L * 8 > avail // 2:
        raise CompressedFileError(f"its header claims {f.count} samples with codes {f.code_shape}, more than fits in "
                                  "memory here")
    width = tables.width
    # each symbol costs at least -log2 of its table's largest probability: a header claiming more samples than the
    # payload's bits can hold is damaged (the decoder would read past the payload)
    floor_bits = 0.0
    for j in range(L):
        c = tables.counts[j, :width[j] + 2].astype(np.float64)
        floor_bits += rows * -np.log2(c.max() / c.sum())
    if floor_bits > 32 * (len(f.words) + 2):
        raise CompressedFileError(f"the file is damaged: its header claims {f.count} samples, more than its payload "
                                  f"of {4 * len(f.words)} bytes can hold")
    dec = constriction.stream.queue.RangeDecoder(f.words)
    codes = np.empty((rows, L), dtype=np.int64)
    k = 0
    for j in range(L):
        try:
            sym = np.asarray(dec.decode(_categorical(tables.counts[j, :width[j] + 2]), rows), dtype=np.int64)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # a crafted payload behind a valid checksum: ValueError, an AssertionError or
            # a Rust panic of the coder (pyo3's PanicException is a BaseException)
            raise CompressedFileError(f"the file is damaged: its payload cannot be decoded ({type(e).__name__})") \
                from None
        vals = sym - 1 + tables.offset[j]
        out = (sym == 0) | (sym == width[j] + 1)
        m = int(out.sum())
        if k + m > len(f.escapes):
            raise CompressedFileError("the file is damaged (more escaped values than it holds)")
        vals[out] = f.escapes[k:k + m]
        k += m
        codes[:, j] = vals
    return from_prior_rows(codes, f.count, f.code_shape), f.sample_shape


def compress(model: Autoencoder, x: np.ndarray | torch.Tensor) -> bytes:
    """Compress samples into bytes.

    Parameters
    ----------
    model : a model trained with the rate variant (its entropy tables come with its run, or are computed once).
    x : (N, *input_shape) samples.

    Returns
    -------
    The file's bytes: a header (format, model identity, count, sample shape), the range-coded codes and a CRC.
    """
    tables = tables_of(model)
    return compress_codes(tables, quantized_codes(model, x), model_digest(model, tables), tuple(model.input_shape))


def decompress(model: Autoencoder, data: bytes) -> np.ndarray:
    """Decode bytes from :func:`compress` with the same model: (N, *input_shape) float32 reconstructions.
    A truncated, damaged or foreign file, or one made with another model, raises :class:`CompressedFileError`."""
    tables = tables_of(model)
    codes, shape = decompress_codes(tables, data, model_digest(model, tables))
    if shape != tuple(model.input_shape) or codes.shape[1:] != tuple(model.code_shape):
        raise CompressedFileError(f"it holds samples of shape {shape} with codes {codes.shape[1:]}, this model's are "
                                  f"{tuple(model.input_shape)} with codes {tuple(model.code_shape)}")
    return decode(model, codes.astype(np.float32))


def pillow_point(images: np.ndarray, fmt: str, **options) -> tuple[float, float]:
    """(bits per pixel, PSNR) of images (N, C, H, W) in [0, 1] (C = 1 or 3) saved by Pillow as ``fmt`` (PNG, JPEG,
    WEBP), each image its own file, as a user of those codecs would store them."""
    import io

    from PIL import Image

    u8 = np.clip(np.rint(np.asarray(images) * 255), 0, 255).astype(np.uint8)
    mode = "L" if u8.shape[1] == 1 else "RGB"
    bits, out = 0, np.empty_like(u8)
    for i, a in enumerate(u8):
        buf = io.BytesIO()
        Image.fromarray(a[0] if mode == "L" else a.transpose(1, 2, 0), mode).save(buf, format=fmt, **options)
        bits += 8 * buf.tell()
        back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(mode))
        out[i] = back[None] if mode == "L" else back.transpose(2, 0, 1)
    pixels = u8.shape[0] * u8.shape[2] * u8.shape[3]
    return bits / pixels, psnr(u8 / 255.0, out / 255.0)

