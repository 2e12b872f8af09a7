"""Whole-process wall time of `aekit demo` (figures and report included) against the reference demo written as a
conventional PyTorch script (benchmarks/reference_demo.py), each a fresh Python process, alternating; and the time
of `import aekit` alone. Medians and their ratio are printed.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header, parser

HERE = Path(__file__).resolve().parent


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    header("aekit demo process vs the reference script")
    out = Path(tempfile.mkdtemp(prefix="aekit-startup-"))
    runs = {
        "reference script": [sys.executable, str(HERE / "reference_demo.py"), args.data_dir, str(out / "ref")],
        "aekit demo": [sys.executable, "-m", "aekit.cli", "demo", "--data", args.data_dir, "--out", str(out / "demo"),
                       "--overwrite", "--quiet"],
        "import aekit": [sys.executable, "-c", "import aekit"],
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.repeats):
        order = list(runs) if r % 2 == 0 else list(reversed(runs))
        for name in order:
            times[name].append(wall(runs[name]))
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("medians: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items()))
    print(f"aekit demo / reference script: {med['aekit demo'] / med['reference script']:.3f} "
          f"(the reference takes {med['reference script'] / med['aekit demo']:.2f}x as long)")


if __name__ == "__main__":
    main()
