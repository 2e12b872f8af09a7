"""Shared helpers for the benchmark scripts (run from the repository root)."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

import torch

DEFAULT_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--data-dir", default=os.environ.get("AEKIT_DATA_DIR", str(DEFAULT_MNIST)),
                   help="folder with MNIST's IDX files (default ../shared/data/mnist)")
    return p


def header(title: str) -> None:
    print(f"# {title}")
    print(f"date {datetime.date.today()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, command: python {' '.join(sys.argv)}")
