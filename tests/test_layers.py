"""Imports run one way (DESIGN.md): the layers contract in pyproject.toml holds, imports inside functions included,
and no group of modules imports each other in a loop."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")
tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("aekit")


def _contract() -> dict:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in cfg["contracts"] if c["type"] == "layers"]
    return contract


def test_the_layers_contract_holds(graph):
    contract = _contract()
    layers = [grimp.Layer(*(m.strip() for m in line.split("|")), independent=True) for line in contract["layers"]]
    illegal = graph.find_illegal_dependencies_for_layers(layers=layers, containers=set(contract["containers"]))
    found = [f"{d.importer} -> {d.imported} (via {' -> '.join(d.routes[0].heads)}...)" for d in illegal]
    assert found == []


def test_every_module_of_the_package_is_in_a_layer(graph):
    named = {m.strip() for line in _contract()["layers"] for m in line.split("|")}
    top = {m.split(".")[1] for m in graph.modules if m.count(".") >= 1}
    assert top <= named, f"modules in no layer: {sorted(top - named)}"


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return groups


def test_no_modules_import_each_other_in_a_loop(graph):
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_loop(tmp_path, monkeypatch):
    pkg = tmp_path / "loopy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from . import b\n")  # an import inside a function is an import
    (pkg / "b.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _cycles(grimp.build_graph("loopy", cache_dir=None)) == [["loopy.a", "loopy.b"]]


def test_public_subpackages_load_on_first_use_and_not_before():
    from conftest import modules_imported_by

    assert not {"aekit.apps", "aekit.viz", "aekit.sklearn"} & modules_imported_by("import aekit")
    loaded = modules_imported_by("import aekit; aekit.apps.compress; aekit.viz.reconstruction_view; "
                                 "aekit.sklearn.AutoencoderImputer; aekit.table.TableCodec")
    assert {"aekit.apps", "aekit.viz", "aekit.sklearn", "aekit.table"} <= loaded
