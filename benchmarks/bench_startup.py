"""Whole-process wall time of `aekit demo` (figures and report included) against the reference demo written as a
conventional PyTorch script (benchmarks/reference_demo.py), each a fresh Python process, alternating; beside them the
floor (benchmarks/lean_loop.py: torch's import and the 20 epochs written as lean as PyTorch allows, nothing else) and
`import aekit` alone, and the demo run through ``main`` alone (without the program's ``gc.freeze`` and exit).
Medians and their ratios to the reference are printed.
"""

from __future__ import annotations

import compileall
import importlib.util
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
    # aekit as installed: its bytecode compiled once, as pip does at install (an editable install writes it on first
    # use, unless PYTHONDONTWRITEBYTECODE is set, as on this project's machines: then every process would compile
    # aekit's sources again, ~0.07 s, which no installed package pays; the reference's imports are all compiled).
    compileall.compile_dir(importlib.util.find_spec("aekit").submodule_search_locations[0], quiet=1)
    out = Path(tempfile.mkdtemp(prefix="aekit-startup-"))
    runs = {
        "reference script": [sys.executable, str(HERE / "reference_demo.py"), args.data_dir, str(out / "ref")],
        "aekit demo": [sys.executable, "-m", "aekit.cli", "demo", "--data", args.data_dir, "--out", str(out / "demo"),
                       "--overwrite", "--quiet"],
        "lean loop": [sys.executable, str(HERE / "lean_loop.py"), args.data_dir],
        # the same demo through main() alone, without what the program adds (aekit.cli.run: gc.freeze, the exit
        # without the interpreter's teardown): what those save
        "demo through main()": [sys.executable, "-c", "import sys, aekit.cli as c; sys.exit(c.main(sys.argv[1:]))",
                               "demo", "--data", args.data_dir, "--out", str(out / "demo2"), "--overwrite", "--quiet"],
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
          f"(the reference takes {med['reference script'] / med['aekit demo']:.2f}x as long); "
          f"lean loop / reference script: {med['lean loop'] / med['reference script']:.3f}")


if __name__ == "__main__":
    main()
