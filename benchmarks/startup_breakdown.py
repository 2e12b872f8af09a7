"""Where the time of `aekit demo` goes, part by part (the figures behind bench_startup.py's explanation):

1. the phases of one demo run in this process through `aekit.cli.main` (data, training, test codes and metrics,
   report), and the full garbage collections during it (main alone: no gc.freeze);
2. one checkpoint (`checkpoint.epoch_files` and its write) of the demo's model, mean of 20;
3. a training step of aekit's loop (`compute_loss` on the reference MLP, FlatAdam) against the lean loop's (a plain
   nn.Sequential), in this process, alternating, 6 x 790 steps each;
4. `import torch` with and without the collector, fresh processes, alternating, 4 each.

    cd benchmarks && python startup_breakdown.py
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header, parser


def phases(data_dir: str) -> None:
    from aekit import viz  # noqa: F401  (imported before timing, as the demo process has it)
    from aekit.cli import main
    from aekit.cli import train as cli_train
    from aekit.viz import report

    spans: dict[str, float] = {}

    def timed(module, name: str, label: str) -> None:
        f = getattr(module, name)

        def g(*a, **k):
            t = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                spans[label] = spans.get(label, 0.0) + time.perf_counter() - t
        setattr(module, name, g)

    for module, name, label in [(cli_train, "_demo_data", "data"), (cli_train, "fit", "training (fit)"),
                                (cli_train.apps, "encode", "codes (the demo's and the report's)"),
                                (cli_train, "evaluate", "test metrics"), (report, "write_report", "report")]:
        timed(module, name, label)
    collections = {"n": 0, "s": 0.0}
    started = {}

    def on_gc(phase, info):
        if info["generation"] == 2:
            if phase == "start":
                started["t"] = time.perf_counter()
            else:
                collections["n"] += 1
                collections["s"] += time.perf_counter() - started["t"]

    gc.callbacks.append(on_gc)
    out = Path(tempfile.mkdtemp(prefix="aekit-breakdown-"))
    t = time.perf_counter()
    main(["demo", "--data", data_dir, "--out", str(out / "demo"), "--overwrite", "--quiet"])
    total = time.perf_counter() - t
    gc.callbacks.remove(on_gc)
    print(f"1. one demo through main(), {total:.2f} s: " + ", ".join(f"{k} {v:.3f} s" for k, v in spans.items()))
    print(f"   full collections during it: {collections['n']}, {collections['s']:.3f} s")


def checkpoint_write(data_dir: str) -> None:
    import aekit
    from aekit import checkpoint as ckpt
    from aekit.config import RECIPES
    from aekit.data import DataConfig, load_data
    from aekit.optim import FlatAdam
    from aekit.train import flatten_parameters

    data = load_data(DataConfig(dataset="mnist", data_dir=data_dir))
    out = Path(tempfile.mkdtemp(prefix="aekit-ckpt-"))
    res = aekit.fit(aekit.Config().override(**{**RECIPES["seed"], "epochs": 1}), data, out_dir=out / "run", quiet=True)
    flat = flatten_parameters(res.model)
    opt = FlatAdam(flat, 1e-3)  # with its moments filled, as in training
    flat.grad.normal_()
    opt.step()
    times = []
    for epoch in range(20):
        t = time.perf_counter()
        ckpt.epoch_files(out / "run", res.model, opt, None, epoch + 1, res.history, float("inf"), 0, None)()
        times.append(time.perf_counter() - t)
    print(f"2. one checkpoint of the reference MLP (copy, serialise, hash, write, fsync): "
          f"{statistics.mean(times) * 1e3:.1f} ms (mean of 20)")


def steps() -> None:
    import torch
    from torch import nn

    import aekit
    from aekit.config import RECIPES
    from aekit.model import build_model, resolve_config
    from aekit.optim import FlatAdam
    from aekit.terms import compute_loss
    from aekit.train import flatten_parameters

    cfg = resolve_config(aekit.Config().override(**RECIPES["seed"]), (1, 28, 28), 0.0, 1.0)
    torch.manual_seed(0)
    ours = build_model(cfg).train()
    ours_flat = flatten_parameters(ours)
    ours_opt = FlatAdam(ours_flat, 1e-3)
    lean = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                         nn.Linear(64, 32), nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                         nn.Linear(128, 784), nn.Sigmoid())
    lean_flat = flatten_parameters(lean)
    lean_opt = FlatAdam(lean_flat, 1e-3)
    x = torch.rand(10_000, 1, 28, 28)

    def ours_step(xb):
        parts, _ = compute_loss(ours, xb, cfg)
        ours_flat.grad.zero_()
        parts["loss"].backward()
        ours_opt.step()
        return torch.stack([v.detach() for v in parts.values()])

    def lean_step(xb):
        loss = nn.functional.mse_loss(lean(xb).view_as(xb), xb)
        lean_flat.grad.zero_()
        loss.backward()
        lean_opt.step()
        return loss.detach()

    def ms_per_step(step, n: int = 790) -> float:
        perm = torch.randperm(len(x))
        t = time.perf_counter()
        for i in range(n):
            j = (i * 128) % (len(x) - 128)
            step(x.index_select(0, perm[j:j + 128]))
        return (time.perf_counter() - t) / n * 1e3

    times = {"aekit": [], "lean": []}
    for r in range(6):
        for name, step in ([("aekit", ours_step), ("lean", lean_step)][:: 1 if r % 2 == 0 else -1]):
            times[name].append(ms_per_step(step))
    a, b = statistics.median(times["aekit"]), statistics.median(times["lean"])
    print(f"3. a training step: aekit's loop {a:.3f} ms, the lean loop {b:.3f} ms ({(a / b - 1) * 100:+.1f} %)")


def import_with_and_without_gc() -> None:
    code = "import time, gc; t = time.perf_counter(); {}; import torch; print(time.perf_counter() - t)"
    times = {"collector on": [], "collector off": []}
    for r in range(8):
        name = "collector on" if r % 2 == 0 else "collector off"
        out = subprocess.run([sys.executable, "-c", code.format("pass" if r % 2 == 0 else "gc.disable()")],
                             capture_output=True, text=True, check=True)
        times[name].append(float(out.stdout))
    print("4. import torch: " + ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in times.items()))


def main() -> None:
    args = parser(__doc__).parse_args()
    header("where aekit demo's time goes")
    phases(args.data_dir)
    checkpoint_write(args.data_dir)
    steps()
    import_with_and_without_gc()


if __name__ == "__main__":
    main()
