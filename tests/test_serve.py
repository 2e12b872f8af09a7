"""The HTTP service (FastAPI's test client) and its page (headless Chromium driven by Playwright)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import shutil
import socket
import threading
import time

import numpy as np
import pytest

import aekit
from conftest import tiny_config

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from aekit import apps  # noqa: E402
from aekit.serve import MAX_SAMPLES, Coalescer, create_app  # noqa: E402


@pytest.fixture(scope="module")
def models(digits):
    plain = aekit.fit(tiny_config(arch="conv", channels=(8,), epochs=3, lr=3e-3), digits, quiet=True).model
    vae = aekit.fit(tiny_config(variant="vae", epochs=2), digits, quiet=True).model
    table = aekit.fit(tiny_config(hidden=(8,), latent_dim=2, epochs=2), np.random.default_rng(0).random(
        (200, 5), dtype=np.float32), quiet=True).model
    return {"image": plain, "vae": vae, "table": table}


@pytest.fixture(scope="module")
def client(models):
    return TestClient(create_app(models["image"], threshold=0.05))


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def test_every_endpoint(client, models, digits):
    model, x = models["image"], digits.test.x.numpy()[:3]
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/info").json()
    assert info["input_shape"] == [1, 8, 8] and info["threshold"] == 0.05 and info["image"] is True
    codes = client.post("/encode", json={"x": x.tolist()}).json()["codes"]
    np.testing.assert_allclose(codes, apps.encode(model, x), atol=1e-6)
    rec = client.post("/reconstruct", content=_npy(x), headers={"Content-Type": "application/x-npy"}).json()
    np.testing.assert_allclose(rec["reconstructions"], apps.reconstruct(model, x), atol=1e-6)
    sc = client.post("/score", json={"x": x.tolist()}).json()
    np.testing.assert_allclose(sc["scores"], apps.reconstruction_error(model, x), rtol=1e-6)
    assert sc["outlier"] == [s > 0.05 for s in sc["scores"]]
    over = client.post("/score?threshold=0", json=x[0].tolist()).json()  # one sample, the threshold overridden
    assert over["threshold"] == 0 and over["outlier"] == [True]
    flat = client.post("/score", json={"x": x.reshape(3, 64).tolist()}).json()  # flattened rows
    assert flat["scores"] == sc["scores"]
    path = client.post("/interpolate", json={"x": x[:2].tolist(), "steps": 4}).json()["path"]
    assert np.asarray(path).shape == (4, 1, 8, 8)
    # a plain autoencoder generates from its fitted mixture, not from N(0, I)
    gen = client.post("/generate", json={"n": 3, "seed": 2}).json()["samples"]
    np.testing.assert_array_equal(np.asarray(gen, dtype=np.float32), apps.sample(model, 3, seed=2))
    r = client.post("/generate", json={"n": 2, "sampler": "normal"})
    assert r.status_code == 422 and "variational" in r.json()["detail"]
    assert client.post("/generate", json={"sampler": "flow"}).status_code == 422
    assert client.get("/info").json()["sampler"] == "gmm"
    vae = TestClient(create_app(models["vae"]))
    assert np.asarray(vae.post("/generate", json={"n": 3, "seed": 1}).json()["samples"]).shape == (3, 1, 8, 8)
    normal = vae.post("/generate", json={"n": 3, "seed": 1, "sampler": "normal"}).json()["samples"]
    np.testing.assert_array_equal(np.asarray(normal, dtype=np.float32), apps.sample(models["vae"], 3, 1, "normal"))
    table = TestClient(create_app(aekit.fit(tiny_config(epochs=1, sampler="none"), np.random.default_rng(0).random(
        (50, 5), dtype=np.float32), quiet=True).model))
    assert table.post("/generate", json={"n": 2}).status_code == 422  # no sampler, not a VAE
    assert table.get("/info").json()["sampler"] is None
    assert vae.post("/score", json={"x": x.tolist()}).json()["outlier"] is None  # no threshold stored
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "src=\"http" not in page.text  # offline page
    html = client.get("/docs").text  # the endpoints, without Swagger UI's scripts from a CDN
    assert "/score" in html and "<script" not in html and "src=" not in html and "href='http" not in html
    assert "`" not in html and "<code>" in html  # the descriptions' Markdown code spans are drawn as code
    assert len(html) < 20_000 and "in all" in html  # example bodies abridged, not pages of zeros
    docs = client.get("/openapi.json").json()
    assert {"/encode", "/reconstruct", "/score", "/generate", "/interpolate", "/info", "/healthz"} <= set(docs["paths"])
    assert "example" in str(docs["paths"]["/score"]["post"]["requestBody"])


@pytest.mark.parametrize("kwargs,status,expect", [
    (dict(json={"x": [[1.0, 2.0]]}), 422, "do not fit this model"),
    (dict(json={"x": "abc"}), 422, "must be an array of numbers"),
    (dict(json={"x": [[1, [2]], [3]]}), 422, "must be an array of numbers"),
    (dict(json={"y": [1]}), 422, "has no 'x' field"),
    (dict(content=b"{not json", headers={"Content-Type": "application/json"}), 422, "not valid JSON"),
    (dict(content=b"\x93NUMPY garbage", headers={"Content-Type": "application/x-npy"}), 422, "not a readable .npy"),
    (dict(content=b'{"x": [' + b",".join([b"NaN"] * 64) + b"]}", headers={"Content-Type": "application/json"}),
     422, "NaN"),
    (dict(json={"x": []}), 422, "do not fit"),
    (dict(content=_npy(np.zeros((MAX_SAMPLES + 1, 64), np.float32)), headers={"Content-Type": "application/x-npy"}),
     413, "the limit is"),
    (dict(content=b"0" * (16 * 2 ** 20 + 1), headers={"Content-Type": "application/json"}), 413, "bytes; the limit"),
])
def test_bad_requests_are_4xx_that_name_the_problem(client, kwargs, status, expect):
    r = client.post("/score", **kwargs)
    assert r.status_code == status and expect in r.json()["detail"], r.text
    assert client.get("/healthz").status_code == 200  # and the server lives on


def test_other_bad_requests(client):
    assert client.post("/interpolate", json={"x": [[[[0.0] * 8] * 8]], "steps": 4}).status_code == 422  # one sample
    r = client.post("/interpolate", json={"x": [[[[0.0] * 8] * 8]] * 2, "steps": 1})
    assert r.status_code == 422 and "steps" in r.json()["detail"]
    assert client.post("/score?threshold=abc", json={"x": [[[[0.0] * 8] * 8]]}).status_code == 422


def test_a_table_model_scores_csv_rows(models):
    c = TestClient(create_app(models["table"], threshold=0.1))
    rows = np.random.default_rng(1).random((4, 5)).tolist()
    r = c.post("/score", json={"x": rows}).json()
    assert len(r["scores"]) == 4 and c.get("/info").json()["image"] is False


@contextlib.contextmanager
def _served(app):
    """Serve ``app`` with uvicorn on a free port of 127.0.0.1 in a thread; yields the port."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_waiting_requests_share_one_call():
    seen = []

    def fn(x):  # row-wise: each row's result depends on that row alone
        seen.append(len(x))
        if (x < 0).any():
            raise ValueError("negative")
        return x.sum(1)

    co = Coalescer(fn, max_rows=4)
    rng = np.random.default_rng(0)
    xs = [rng.random((k, 3)) for k in (1, 2, 1, 4, 6)]  # the last has more than max_rows: it runs alone

    async def main():
        return await asyncio.gather(*(co(x) for x in xs))

    out = asyncio.run(main())
    assert sorted(seen) == [6, 8]  # two calls: 1 + 2 + 1 + 4 rows in one; the 6 rows alone
    for x, o in zip(xs, out):
        np.testing.assert_array_equal(o, x.sum(1))  # each request gets its own rows back

    async def failing():
        return await asyncio.gather(co(np.ones((1, 3))), co(-np.ones((1, 3))), return_exceptions=True)

    a, b = asyncio.run(failing())  # one call for both: its error reaches both requests
    assert isinstance(a, ValueError) and isinstance(b, ValueError) and len(seen) == 3


def test_concurrent_clients_get_their_own_results(models, digits):
    """16 client threads with keep-alive connections post single samples at once to a real server: every answer is
    the in-process result for that sample, whichever requests shared its forward pass."""
    model, x = models["image"], digits.test.x.numpy()[:64]
    want = apps.reconstruction_error(model, x)
    app = create_app(model)
    co, calls = app.state.coalescers["score"], []
    co.fn = (lambda fn: lambda rows: (calls.append(len(rows)), fn(rows))[1])(co.fn)  # counts the forward passes
    got: dict[int, float] = {}
    with _served(app) as port:
        def client(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for i in range(k, len(x), 16):
                conn.request("POST", "/score", json.dumps({"x": x[i].tolist()}), {"Content-Type": "application/json"})
                r = conn.getresponse()
                assert r.status == 200
                got[i] = json.loads(r.read())["scores"][0]

        threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(got) == list(range(len(x)))
    np.testing.assert_allclose([got[i] for i in range(len(x))], want, rtol=1e-6)
    assert 1 <= len(calls) <= len(x) and sum(calls) == len(x)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def _browser(app):
    """``app`` served on 127.0.0.1 and its page open in headless Chromium: yields (page, the console errors and
    failed requests seen, port)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with _served(app) as port, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(f"http://127.0.0.1:{port}/")
        try:
            yield page, errors, port
        finally:
            browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_in_a_real_browser(models):
    """Serve a digits model on 127.0.0.1, draw a stroke on the canvas with the mouse in headless Chromium, and see a
    reconstruction and a score appear."""
    with _browser(create_app(models["image"], threshold=0.05)) as (page, errors, port):
        page.wait_for_selector("#image-card:not(.hidden)")
        box = page.locator("#draw").bounding_box()
        page.mouse.move(box["x"] + 90, box["y"] + 60)
        page.mouse.down()
        for k in range(12):
            page.mouse.move(box["x"] + 90 + 6 * k, box["y"] + 60 + 14 * k)
        page.mouse.up()
        page.wait_for_function("document.getElementById('recon').dataset.ready === '1' && "
                               "document.getElementById('score').textContent !== '–'", timeout=15000)
        score = float(page.locator("#score").text_content())
        assert score > 0 and page.locator("#verdict").text_content() in ("normal", "anomalous")
        # the label names the run's scoring rule (here no scorer: the reconstruction error)
        assert page.locator("#score-label").text_content() == "anomaly score (reconstruction error)"
        # the badge's text is white on its red or green, not the muted grey of the pane's other text
        assert page.evaluate("getComputedStyle(document.getElementById('verdict')).color") == "rgb(255, 255, 255)"
        pixels = page.evaluate("""() => { const c = document.getElementById('recon');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i]; return s / (d.length / 4); }""")
        assert pixels > 1  # the reconstruction was painted (not an empty black canvas)
        # the digits model's sampler was fitted by class: pick a class and sample it
        page.wait_for_selector("#class-row:not(.hidden)")
        assert page.locator("#class-pick option").count() == 11  # "any" and the ten digits
        page.select_option("#class-pick", "3")
        with page.expect_response(lambda r: r.url.endswith("/generate")) as resp:
            page.click("#sample-btn")
        assert resp.value.status == 200 and resp.value.request.post_data_json["label"] == 3
        assert page.locator("#error").text_content() == ""
        page.goto(f"http://127.0.0.1:{port}/docs")  # offline: nothing fetched from elsewhere
        assert "POST /generate" in page.locator("body").text_content()
        assert errors == []  # no console errors, no 404 (the favicon)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_page_of_a_table_run_in_a_real_browser(tmp_path):
    """A table run's page: a form of its columns scored and reconstructed at every change, generated rows, and a CSV
    with a header (a quoted field, a hole) scored row by row."""
    from aekit import checkpoint as ckpt
    from aekit.cli import main

    rng = np.random.default_rng(0)
    lines = ["age,city,member,income"] + [
        f"{rng.integers(18, 80)},{['Oslo', 'Lima', 'Pune'][i % 3] if i % 10 else ''},{['yes', 'no'][i % 2]},"
        f"{rng.normal(50, 10):.2f}" for i in range(120)]
    (tmp_path / "people.csv").write_text("\n".join(lines) + "\n")
    assert main(["train", "--data", str(tmp_path / "people.csv"), "--epochs", "3", "--out", str(tmp_path / "r"),
                 "--quiet", "--no-report"]) == 0
    model = ckpt.load(tmp_path / "r")
    (tmp_path / "up.csv").write_text('age,city,member,income\n30,"Oslo",yes,50.5\n70,,no,20\n')
    with _browser(create_app(model, threshold=1.0)) as (page, errors, _):
        page.wait_for_function("document.getElementById('row-table').dataset.ready === '1'", timeout=15000)
        assert page.locator("#image-card").is_hidden() and page.locator("#row-card").is_visible()
        # the typical row: the first level of each category, the middle of each number's range
        assert page.locator('[data-col="1"] option').all_text_contents() == ["Lima", "Oslo", "Pune", "(missing)"]
        assert page.input_value('[data-col="1"]') == "0" and page.input_value('[data-col="2"]') == "0"
        first_text = page.locator("#row-score").text_content()
        first = float(first_text)
        assert first > 0 and page.locator("#row-verdict").text_content() in ("normal", "anomalous")
        assert page.locator("#rec-2").text_content() in ("no", "yes")  # a boolean rebuilt as one of its levels
        with page.expect_response(lambda r: r.url.endswith("/score")) as resp:  # a change scores the row again
            page.fill('[data-col="0"]', "500")
            page.locator('[data-col="0"]').dispatch_event("change")
        assert resp.value.request.post_data_json["rows"][0]["age"] == 500
        page.wait_for_function(f"document.getElementById('row-score').textContent !== '{first_text}'")
        assert float(page.locator("#row-score").text_content()) > first  # far beyond the training range
        assert page.locator("#rec-0").get_attribute("class") == "changed"  # rebuilt far from the 500 given
        assert page.locator("#row-worst").text_content().startswith("rebuilt worst: ")
        with page.expect_response(lambda r: r.url.endswith("/score")) as resp:  # a category's hole: null
            page.select_option('[data-col="1"]', "3")
        assert resp.value.request.post_data_json["rows"][0]["city"] is None
        with page.expect_response(lambda r: r.url.endswith("/score")) as resp:  # a generated row into the form
            page.click("#row-sampled")
        assert set(resp.value.request.post_data_json["rows"][0]) == {"age", "city", "member", "income"}
        page.click("#rows-btn")  # ten generated rows with the run's columns
        page.wait_for_selector("#rows-table tr:nth-child(11)")
        assert page.locator("#rows-table th").all_text_contents() == ["age", "city", "member", "income"]
        assert set(page.locator("#rows-table tr td:nth-child(3)").all_text_contents()) <= {"yes", "no"}
        with page.expect_response(lambda r: r.url.endswith("/score") and
                                  len(r.request.post_data_json["rows"]) == 2) as resp:
            page.set_input_files("#upload-table", str(tmp_path / "up.csv"))
        assert resp.value.request.post_data_json["rows"] == [
            {"age": "30", "city": "Oslo", "member": "yes", "income": "50.5"},
            {"age": "70", "city": None, "member": "no", "income": "20"}]
        page.wait_for_selector("#scores tr:nth-child(3)")
        named = page.locator("#scores tr td:nth-child(4)").all_text_contents()  # each row's column rebuilt worst
        assert len(named) == 2 and set(named) <= {"age", "city", "member", "income"}
        assert page.locator("#error").text_content() == "" and errors == []


def _hostile() -> list[tuple[str, dict, int, str]]:
    """(path, request kwargs, status, words of the detail): a client's mistakes of every kind the service bounds."""
    js = {"Content-Type": "application/json"}
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 6, 10 ** 6)})
    return [
        ("/score", dict(content=b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", headers=js), 422, "nested"),
        ("/score", dict(content=b'{"x": [' + b"1" * 400 + b"]}", headers=js), 422, "400 digits"),
        ("/score", dict(content=b'{"x": [Infinity]}', headers=js), 422, "Infinity"),
        ("/score", dict(json={"x": [[1e300] * 64]}), 422, "float32"),
        ("/score", dict(json={"x": [[1e39] * 64]}), 422, "float32"),
        ("/reconstruct", dict(json={"x": [[3e38] * 64]}), 422, "overflow float32"),
        ("/score", dict(content=huge.getvalue() + b"\0" * 64, headers={"Content-Type": "application/x-npy"}), 422,
         "the header claims shape"),
        ("/generate", dict(json={"n": 2.7}), 422, "n must be an integer"),
        ("/generate", dict(content=b'{"n": 1e400}', headers=js), 422, "n must be an integer"),
        ("/generate", dict(content=b'{"n": Infinity}', headers=js), 422, "Infinity"),
        ("/generate", dict(json={"n": 10 ** 9}), 413, "n must be from 1 to"),
        ("/generate", dict(json={"seed": 2 ** 70}), 422, "digits"),
        ("/generate", dict(json={"seed": -1}), 422, "seed must be from 0"),
        ("/generate", dict(json=[1, 2]), 422, "a JSON object"),
        ("/interpolate", dict(json={"x": [[0.0] * 64] * 2, "steps": 1e8}), 422, "steps must be an integer"),
    ]


@pytest.mark.parametrize("case", range(len(_hostile())))
def test_hostile_requests_are_4xx_never_500(models, case):
    path, kwargs, status, expect = _hostile()[case]
    c = TestClient(create_app(models["vae"]))
    r = c.post(path, **kwargs)
    assert r.status_code == status and expect in r.json()["detail"], r.text


@pytest.fixture(scope="module")
def rnn_model():
    x = np.random.default_rng(0).random((40, 12, 2), dtype=np.float32)
    return aekit.fit(tiny_config(arch="rnn", rnn_hidden=8, latent_dim=2, epochs=1), x, quiet=True).model


def test_a_recurrent_model_bounds_its_sequences(rnn_model, monkeypatch):
    c = TestClient(create_app(rnn_model))
    r = c.post("/encode", json={"x": [[]]})
    assert r.status_code == 422 and "do not fit" in r.json()["detail"]
    r = c.post("/encode", content=_npy(np.zeros((1, 0, 2), np.float32)), headers={"Content-Type": "application/x-npy"})
    assert r.status_code == 422 and "at least one step" in r.json()["detail"]
    monkeypatch.setattr(aekit.limits, "available_memory", lambda: 2 ** 30)  # a 1 GiB machine
    long = np.zeros((1, 1_500_000, 2), np.float32)  # 12 MB of .npy: a few GB of recurrent activations
    r = c.post("/encode", content=_npy(long), headers={"Content-Type": "application/x-npy"})
    assert r.status_code == 413 and "too large" in r.json()["detail"]
    ok = c.post("/encode", json={"x": np.zeros((2, 5, 2)).tolist()})
    assert ok.status_code == 200 and np.asarray(ok.json()["codes"]).shape == (2, 2)


def test_the_body_limit_applies_while_reading(models):
    """A body sent in 1 MiB pieces without a Content-Length gets its 413 as soon as it passes the limit, on a real
    server: the body is never finished here, so an answer proves that the rest was not waited for."""
    import aekit.serve as S

    c = TestClient(create_app(models["image"]))
    r = c.post("/score", content=b"[]", headers={"Content-Type": "application/json",
                                                 "Content-Length": str(S.MAX_BYTES + 1)})
    assert r.status_code == 413
    with _served(create_app(models["image"])) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.putrequest("POST", "/score")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for _ in range(S.MAX_BYTES // 2 ** 20 + 1):  # one piece past the limit, and no end
            conn.send(b"100000\r\n" + b" " * 2 ** 20 + b"\r\n")
        r = conn.getresponse()
        assert r.status == 413 and b"more than" in r.read()
        conn.close()


def test_hostile_and_valid_requests_mixed_on_a_real_server(models, digits):
    """Four clients send valid /score requests while four others send the hostile ones above, all at once: every
    valid answer is the in-process result, every hostile one its 4xx, and no answer is a 500."""
    model, x = models["vae"], digits.test.x.numpy()[:32]
    want = apps.reconstruction_error(model, x)
    app = create_app(model)
    co, calls = app.state.coalescers["score"], []
    co.fn = (lambda fn: lambda rows: (calls.append(len(rows)), fn(rows))[1])(co.fn)  # counts the forward passes
    got: dict[int, float] = {}
    statuses: list[tuple[int, int]] = []  # (got, expected)
    hostile = [h for h in _hostile() if "content" in h[1] or "json" in h[1]]
    with _served(app) as port:
        def valid(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for i in range(k, len(x), 4):
                conn.request("POST", "/score", json.dumps({"x": x[i].tolist()}), {"Content-Type": "application/json"})
                r = conn.getresponse()
                if r.status == 200:  # (an assert here would end only this thread: a missing answer fails below)
                    got[i] = json.loads(r.read())["scores"][0]

        def bad(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for path, kw, status, _ in hostile[k::4]:
                body = kw["content"] if "content" in kw else json.dumps(kw["json"]).encode()
                conn.request("POST", path, body, kw.get("headers", {"Content-Type": "application/json"}))
                r = conn.getresponse()
                r.read()
                statuses.append((r.status, status))

        threads = [threading.Thread(target=f, args=(k,)) for k in range(4) for f in (valid, bad)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(got) == list(range(len(x))) and len(statuses) == len(hostile)
    assert all(a == b for a, b in statuses), statuses  # each hostile request got its own 4xx, none a 500
    np.testing.assert_allclose([got[i] for i in range(len(x))], want, rtol=1e-6)


def test_one_score_and_threshold_per_run_everywhere(tmp_path, capsys):
    """For one table run and one input: aekit detect, the service (and so its page), the report and the sklearn
    detector built from the run give the same scores and the same threshold (the run's rule: knn+tails here)."""
    import csv as csv_module

    from aekit.cli import main
    from aekit.serve import app_for_run
    from aekit.sklearn import AutoencoderOutlierDetector
    from aekit.viz.report import write_report

    rng = np.random.default_rng(0)
    table = (rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))).astype(np.float32)
    np.save(tmp_path / "table.npy", table[:300])
    np.save(tmp_path / "new.npy", table[300:])
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "table.npy"), "--arch", "mlp", "--hidden", "12", "--latent-dim",
                 "2", "--epochs", "3", "--out", str(run), "--quiet", "--no-report"]) == 0
    assert main(["detect", str(run), "--input", str(tmp_path / "new.npy"), "--out", str(tmp_path / "d.csv")]) == 0
    threshold = float(capsys.readouterr().out.split("Threshold ")[1].split()[0])
    detect = np.array([float(r["score"]) for r in csv_module.DictReader((tmp_path / "d.csv").open())])
    served = TestClient(app_for_run(run)).post("/score", json={"x": table[300:].tolist()}).json()
    assert served["score"] == "knn+tails"
    np.testing.assert_allclose(served["scores"], detect, rtol=1e-5)
    assert served["threshold"] == pytest.approx(threshold, rel=1e-5)
    sk = AutoencoderOutlierDetector.from_run(run)
    np.testing.assert_allclose(-sk.score_samples(table[300:]), detect, rtol=1e-5)
    assert -sk.offset_ == pytest.approx(threshold, rel=1e-5)
    assert list(sk.predict(table[300:]) == -1) == served["outlier"]
    page = write_report(run).read_text()
    assert "(knn+tails: the run" in page and f"threshold {threshold:.4g} set on" in page
