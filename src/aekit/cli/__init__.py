"""The ``aekit`` command: the parser and ``main``. Commands live by group: :mod:`.train` (demo, train, evaluate)
and :mod:`.apps` (encode, reconstruct, generate, interpolate, denoise, detect, probe, report); :mod:`.common` holds
the argument types. A new command is a ``cmd_*`` function and a parser in its group's ``add_*_commands``."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import gc
import os
import sys
import threading
import warnings
from typing import NoReturn, Sequence

from .. import files
from .. import registry as R
from .apps import add_app_commands
from .common import Parser
from .train import add_train_commands, old_switch_values


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="aekit", description="Autoencoders on PyTorch: train, evaluate, apply, report.",
                                allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    add_train_commands(sub)
    add_app_commands(sub)
    return p


@functools.lru_cache(maxsize=1)
def _built(names: tuple) -> argparse.ArgumentParser:
    return build_parser()


def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process while the registries' names stay the same (their names are choices and
    help of some flags; a name registered later builds it anew): 7 ms of a small table's 0.12 s ``train`` then
    ``generate`` in one process. Parsing leaves it as it was."""
    return _built(tuple(tuple(r.names()) for r in vars(R).values() if isinstance(r, R.Registry)))


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"  # a user's warning (a skipped file), not a developer's: no source line


def main(argv: Sequence[str] | None = None) -> int:
    argv = old_switch_values(list(sys.argv[1:] if argv is None else argv))
    args = _parser().parse_args(argv)
    args.argv = argv
    formatwarning, warnings.formatwarning = warnings.formatwarning, _warning_line
    try:
        with files.together() if getattr(args, "together", False) else contextlib.nullcontext():
            return args.func(args)
    except (ValueError, OSError, ConnectionError, MemoryError, ImportError) as e:  # OSError: missing files, full
        # disk, read-only; ImportError: an optional extra that is not installed (the message names it)
        msg = " ".join(str(e).split()) or type(e).__name__  # one line
        if isinstance(e, OSError) and e.filename and str(e.filename) not in msg:
            msg += f": {e.filename}"
        print(f"aekit {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatwarning


def run() -> NoReturn:
    """The ``aekit`` program (``aekit`` and ``python -m aekit.cli``): :func:`main` in a process of its own.

    Everything imported by then (torch and aekit: ~200,000 objects) is moved out of the garbage collector's reach
    first (``gc.freeze``), so that the collections during the run skip it. At the end the process leaves without the
    interpreter's teardown, which would free those objects one by one: the ``atexit`` handlers run and the output is
    flushed first, and every file aekit writes is closed, and on disk, before ``main`` returns. Together 0.2-0.6 s of
    ``aekit demo``'s 5 s (``benchmarks/bench_startup.py``). While a thread of someone else's still runs, the exit is
    the ordinary one, which waits for it. ``main`` itself, which tests and other programs call, leaves the collector
    and the interpreter alone."""
    gc.freeze()
    code = main()
    exit_funcs = getattr(atexit, "_run_exitfuncs", None)  # private: a Python without it gets the ordinary exit
    if exit_funcs is None or any(t.is_alive() and not t.daemon for t in threading.enumerate()
                                 if t is not threading.main_thread()):
        sys.exit(code)
    exit_funcs()  # what the interpreter would run on its way out, then the flush it would do
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that went away (aekit ... | head): nothing more to say
            pass
    os._exit(code)
