"""Argument types and the parser class shared by every command."""

from __future__ import annotations

import argparse
from pathlib import Path


class Parser(argparse.ArgumentParser):
    """No prefix matching of long options: ``--data`` must never silently mean ``--data-dir``."""

    def __init__(self, *a, **kw) -> None:
        kw.setdefault("allow_abbrev", False)
        super().__init__(*a, **kw)


def path(text: str) -> Path:
    """A file or folder name; an empty one is refused (Path('') would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: give a file or folder name")
    return Path(text)


def int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def boolean(text: str) -> bool:
    t = text.strip().lower()
    if t in TRUE_WORDS:
        return True
    if t in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def at_least_two(text: str) -> int:
    v = positive_int(text)
    if v < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {v}")
    return v


def bounded(kind, limit_name: str):
    """An argument type: ``kind`` (e.g. positive_int), at most ``LIMITS[limit_name]``."""
    from ..limits import LIMITS

    def parse(text: str) -> int:
        v = kind(text)
        if v > LIMITS[limit_name]:
            raise argparse.ArgumentTypeError(f"{v:,} is too large: the limit is {LIMITS[limit_name]:,}")
        return v

    parse.__name__ = kind.__name__
    return parse


def seed(text: str) -> int:
    from ..limits import LIMITS

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= v <= LIMITS["seed"]:
        raise argparse.ArgumentTypeError(f"a seed must be from 0 to {LIMITS['seed']}, got {v}")
    return v


def non_negative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return v


def port(text: str) -> int:
    v = positive_int(text)
    if v > 65535:
        raise argparse.ArgumentTypeError(f"a port is from 1 to 65535, got {v}")
    return v


def deprecated(new: str):
    """An argparse action for an old spelling kept for one release: it stores like ``new`` and says to use that."""

    class Old(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None) -> None:
            import sys

            print(f"aekit: {option_string} is deprecated: use {new} (the old spelling still works in this release)",
                  file=sys.stderr)
            setattr(namespace, self.dest, True if values is None and self.nargs == 0 else values)

    return Old
