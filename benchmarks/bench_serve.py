"""Load on `aekit serve`, on 127.0.0.1 only, bounded in requests and time: 1, 16 and 64 concurrent clients (threads
with keep-alive connections) posting single-sample and 64-sample `/score` requests (JSON) to the reference MLP
(784-128-64-32) served by uvicorn in its own process; requests per second and p50 / p99 latency, against the same
scoring called in-process; and the ONNX export's parity error for the same model.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


import aekit
from aekit import apps
from aekit.config import RECIPES
from common import header, parser


def load(port: int, body: bytes, clients: int, requests: int, seconds: float) -> dict:
    lat: list[float] = []
    failed = [0]
    lock = threading.Lock()
    per = requests // clients
    deadline = time.perf_counter() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(per):
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/score", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except OSError:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    failed[0] += 1
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()
    return {"clients": clients, "requests": len(lat), "failed": failed[0], "rps": len(lat) / wall,
            "p50_ms": 1000 * lat[len(lat) // 2], "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))]}


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--requests", type=int, default=3000, help="requests per configuration (bounded)")
    p.add_argument("--seconds", type=float, default=30.0, help="time limit per configuration")
    args = p.parse_args()
    header("aekit serve under load")
    data = aekit.load_data(aekit.DataConfig(dataset="mnist", data_dir=args.data_dir), download=False)
    run = Path(tempfile.mkdtemp(prefix="aekit-serve-")) / "run"
    cfg = aekit.Config().override(**{**RECIPES["seed"], "epochs": 3}, dataset="mnist", data_dir=args.data_dir)
    model = aekit.fit(cfg, data, out_dir=run, quiet=True).model
    x1, x64 = data.test.x[:1].numpy(), data.test.x[:64].numpy()

    from aekit.apps.export import export_onnx

    res = export_onnx(model, run / "onnx", data.test.x[:256].numpy())
    print(f"ONNX parity (reference MLP, 256 test images): largest absolute difference {res.max_abs_diff:.2e}")

    for name, x in (("single sample", x1), ("64 samples", x64)):
        ts = []
        for _ in range(300):
            t0 = time.perf_counter()
            apps.reconstruction_error(model, x)
            ts.append(time.perf_counter() - t0)
        print(f"in-process scoring, {name}: median {1000 * statistics.median(ts):.3f} ms")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "aekit.cli", "serve", str(run), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        for _ in range(200):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        for name, x in (("single sample", x1), ("64 samples", x64)):
            body = json.dumps({"x": x.tolist()}).encode()
            for clients in (1, 16, 64):
                r = load(port, body, clients, args.requests if x is x1 else args.requests // 4, args.seconds)
                print(f"/score {name:<13} {clients:>2} clients: {r['rps']:7.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
                      f"p99 {r['p99_ms']:.1f} ms, {r['requests']} requests, {r['failed']} failed", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
