"""Scale on this machine: samples/s of the reference MLP on MNIST (batch 128) trained in memory vs streamed from a
memory-mapped .npy file (alternating, in one process), and with 1 vs 2 torchrun processes (gloo, 1 thread each)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import aekit
from aekit.config import RECIPES
from aekit.data.stream import StreamedArray
from common import header, parser

WORKER = """
import json, sys, time, aekit
cfg = aekit.Config.from_dict(json.loads(sys.argv[1]))
data = aekit.load_data(cfg.data)
t0 = time.perf_counter(); aekit.fit(cfg, data, quiet=True); dt = time.perf_counter() - t0
import os
if os.environ.get("RANK", "0") == "0": print("SECONDS", dt)
"""


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    header("Scale: streaming and processes")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    cfg = aekit.Config().override(**{**RECIPES["seed"], "epochs": args.epochs})
    n = len(data.train) * args.epochs
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.npy"
        np.save(path, data.train.x.numpy())
        aekit.fit(cfg.override(epochs=1), data, quiet=True)  # warm-up: one-time imports and allocations
        times: dict[str, list[float]] = {"in memory": [], "memory-mapped": []}
        for _ in range(args.repeats):
            for name, x in (("in memory", data.train.x), ("memory-mapped", StreamedArray(path))):
                t0 = time.perf_counter()
                aekit.fit(cfg, aekit.Split(x), quiet=True)
                times[name].append(time.perf_counter() - t0)
        for name, ts in times.items():
            print(f"{name:14s} {n / statistics.median(ts):8.0f} samples/s")
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        dcfg = cfg.override(dataset="mnist", data_dir=args.data_dir)
        for nproc in (1, 2):
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  f"--nproc_per_node={nproc}", str(script), dcfg.to_json()],
                                 env=env, capture_output=True, text=True, check=True).stdout
            secs = float(out.split("SECONDS")[1].split()[0])
            print(f"torchrun x{nproc} {n / secs:8.0f} samples/s (1 thread per process)")


if __name__ == "__main__":
    main()
