"""Imputation on tables: the masking recipe hides entries on purpose, impute fills only the holes, observed entries
come out exactly as they went in."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from aekit.cli import main
from aekit.data.table import read_table
from aekit.table import MISSING, TableCodec, infer_schema
from conftest import cli_error


def _pairs(path, n: int = 240, hole_every: int = 0, seed: int = 0):
    """kind decides size (S/L) and roughly weight; holes in size (and weight) every ``hole_every`` rows."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "size", "weight"])
        for i in range(n):
            k = ["small", "large"][i % 2]
            size = "S" if k == "small" else "L"
            weight = f"{(5 if k == 'small' else 50) + rng.normal(0, 1):.2f}"
            if hole_every and i % hole_every == 1:
                size, weight = "", "NA"
            w.writerow([k, size, weight])
    return path


def test_hiding_entries_by_hand():
    cols = {"c": np.array(["a", "b"] * 4, dtype=object), "n": np.array([f"{i}.5" for i in range(8)], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    wide = codec.with_holes()
    assert [c.categories for c in wide.schema.columns][0] == ["a", "b", MISSING] and wide.width == 3 + 2
    x = codec.widen(torch.from_numpy(codec.encode(cols)), wide)
    assert torch.equal(x, torch.from_numpy(wide.encode(cols)))  # widening = encoding with holes
    torch.manual_seed(0)
    h = wide.hide(x, 1.0)  # every entry hidden
    assert torch.equal(h[:, :3], torch.tensor([[0.0, 0.0, 1.0]] * 8)) and torch.equal(h[:, 3:], torch.tensor(
        [[0.0, 1.0]] * 8))
    assert wide.holes_of(h).all() and not wide.holes_of(x).any()
    assert torch.equal(wide.hide(x, 0.0), x)
    # a hole never seen in training is not decoded as one, whatever the logits say
    out = wide.decode(torch.tensor([[0.0, 0.0, 9.0, 0.0, 9.0]]))
    assert out == {"c": ["a"], "n": [4.0]}


def test_the_predictive_mean_by_hand():
    # an integer column of few values (modelled by its levels) and a number whose quantile transform is exp: the
    # mean of a level's probabilities, and E exp(m + s e) = exp(m + s^2 / 2) for e ~ N(0, 1)
    cols = {"k": np.array(["1", "2", "5", "1"] * 3, dtype=object),
            "x": np.array([f"{v:.6f}" for v in np.linspace(0.5, 3.0, 12)], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    (k0, k1), (xa, _) = codec.slices
    assert codec.schema.columns[0].categories == ["1", "2", "5"] and codec.schema.columns[0].kind == "integer"
    grid = torch.linspace(-6, 6, 2401, dtype=torch.float64)
    codec.qz1.data, codec.qx1.data = grid, grid.exp()  # the number's transform: x = exp(z)
    col = codec.schema.columns[1]
    col.lo, col.hi = 0.0, 1e3
    v = torch.zeros(2, codec.width)
    v[:, k0:k1] = torch.log(torch.tensor([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]]))  # means 3.3 and 1.3
    v[:, xa] = torch.tensor([0.0, 1.0])
    out = codec.decode(v, holes=False, spread=[0.0, 0.5], mean=True)
    assert out["k"] == [3, 1]  # 0.2 + 0.6 + 2.5 = 3.3 -> 3; 0.9 + 0.1 + 0.25 = 1.25 -> 1 (the mode would say 5 and 1)
    # (20 Gauss-Hermite nodes, and a fine grid for the transform)
    assert out["x"] == pytest.approx([math.exp(0.125), math.exp(1.125)], abs=1e-4)
    assert codec.decode(v, holes=False)["x"] == pytest.approx([1.0, math.e], abs=1e-4)  # no mean: exp(m)
    assert codec.decode(v, holes=False)["k"] == [5, 1]


def test_the_linear_pass_by_hand():
    from aekit.apps.impute import linear_pass

    # y = 2 a + 10.5 where k is "p", 2 a + 20.5 where k is "q"; two holes in y (rows 1 and 6), whatever was filled
    # there
    a = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    k = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # level indices of p, q
    y = 2 * a + np.where(k == 0, 10.5, 20.5)
    y_filled = y.copy()
    y_filled[[1, 6]] = [0.0, 99.0]  # a model's fills: the pass must not read them as data
    cols = {"a": np.array([f"{v:g}" for v in a], dtype=object), "k": np.array(["p", "q"] * 4, dtype=object),
            "y": np.array([f"{v:g}" for v in y_filled], dtype=object)}
    schema = infer_schema(cols)
    assert [c.kind for c in schema.columns] == ["integer", "categorical", "continuous"]
    holes = np.zeros((8, 3), dtype=bool)
    holes[[1, 6], 2] = True
    exact = linear_pass(schema, [a, k, y_filled], holes, alpha=1e-9)
    assert list(exact) == [2] and exact[2][[1, 6]] == pytest.approx([22.5, 22.5], abs=1e-5)  # 2 + 20.5, 12 + 10.5
    # with a penalty, one number and no category: beta = S_ay / (S_aa + alpha) on the standardised scale, from the
    # six observed rows; the standardisation is over all eight rows (its fills included)
    schema1 = infer_schema({"a": cols["a"], "y": cols["y"]})
    z = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    za, zy = z(a), z(y_filled)
    seen = np.array([0, 2, 3, 4, 5, 7])
    da, dy = za[seen] - za[seen].mean(), zy[seen] - zy[seen].mean()
    beta = (da @ dy) / (da @ da + 1.0)
    hand = (zy[seen].mean() + beta * (za[[1, 6]] - za[seen].mean())) * y_filled.std() + y_filled.mean()
    got = linear_pass(schema1, [a, y_filled], holes[:, [0, 2]], alpha=1.0)[1][[1, 6]]
    assert got == pytest.approx(hand, rel=1e-9)
    assert abs(got[0] - 22.5) > 0.1  # shrunk (the check could fail)
    assert linear_pass(schema1, [a, y_filled], np.zeros((8, 2), dtype=bool)) == {}  # no hole: nothing to do


def test_the_chained_equations_by_hand():
    from aekit.apps.impute import chained_pass

    # y = 2 a + 10.5 where k is "p", 2 a + 20.5 where k is "q"; holes in y (rows 1, 6, 9), in a (row 4) and in k
    # (row 9), with anything in them: the pass must not read them
    a = np.arange(12, dtype=np.float64)
    k = np.array([0, 1] * 6)  # level indices of p, q
    y = 2 * a + np.where(k == 0, 10.5, 20.5)
    holes = np.zeros((12, 3), dtype=bool)
    holes[[1, 6, 9], 2] = holes[4, 0] = holes[9, 1] = True
    cols = {"a": np.array([f"{v:g}" for v in a], dtype=object), "k": np.array(["p", "q"] * 6, dtype=object),
            "y": np.array([f"{v:g}" for v in y], dtype=object)}
    schema = infer_schema(cols)
    assert [c.kind for c in schema.columns] == ["integer", "categorical", "continuous"]
    junk = [a.copy(), k.copy(), y.copy()]
    junk[0][4], junk[1][9], junk[2][[1, 6, 9]] = -50.0, 0, [0.0, 99.0, -7.0]
    exact = chained_pass(schema, junk, holes, alpha=1e-9)
    assert sorted(exact) == [0, 2]
    # where the rest of the row is known, the exact relation: a = (y - 10.5) / 2 in row 4, y in rows 1 and 6
    assert exact[0][4] == pytest.approx(4.0, abs=1e-4)
    assert exact[2][[1, 6]] == pytest.approx([22.5, 22.5], abs=1e-4)
    # row 9's category is a hole: it enters as the observed rows' level shares (6 p, 5 q), never as row 9's junk
    share_q = 5 / 11
    assert exact[2][9] == pytest.approx(2 * 9 + 10.5 + 10 * share_q, abs=1e-4)
    # observed entries come back as they are
    seen = ~holes[:, 2]
    assert np.array_equal(exact[2][seen], y[seen]) and np.array_equal(np.delete(exact[0], 4), np.delete(a, 4))
    again = chained_pass(schema, junk, holes, alpha=1e-9)
    assert all(np.array_equal(again[j], exact[j]) for j in exact)  # deterministic
    # one round with a penalty, one number y on one complete number a: from the mean, beta = S_ay / (S_aa + alpha)
    # on the observed rows, with y standardised by its observed entries and a by all of its
    schema1 = infer_schema({"a": cols["a"], "y": cols["y"]})
    seen = np.flatnonzero(~holes[:, 2])
    za = (a - a.mean()) / a.std()
    zy = (y - y[seen].mean()) / y[seen].std()
    da, dy = za[seen] - za[seen].mean(), zy[seen] - zy[seen].mean()
    beta = (da @ dy) / (da @ da + 1.0)
    hand = (zy[seen].mean() + beta * (za[[1, 6, 9]] - za[seen].mean())) * y[seen].std() + y[seen].mean()
    got = chained_pass(schema1, [a, junk[2]], holes[:, [0, 2]] & [False, True], alpha=1.0, rounds=1)
    assert list(got) == [1] and got[1][[1, 6, 9]] == pytest.approx(hand, rel=1e-9)
    assert abs(got[1][6] - y[6]) > 0.1  # shrunk, and y is no function of a alone: the check could fail
    # predictions stay inside the column's observed range: row 6's a far out would predict y near 2,000
    a_far = a.copy()
    a_far[6] = 1000.0
    far = chained_pass(schema1, [a_far, junk[2]], holes[:, [0, 2]] & [False, True], alpha=1e-9)
    assert far[1][6] == y[seen].max() and far[1][1] < y[seen].max()  # (only row 6 clipped)
    assert chained_pass(schema1, [a, y], np.zeros((12, 2), dtype=bool)) == {}  # no hole: nothing to do


def test_the_mixing_weight_by_hand():
    from aekit.apps.impute import _weight

    fill, chain = np.array([0.0, 0.0, 1.0, 5.0]), np.array([2.0, 2.0, 3.0, 9.0])
    pick = np.array([True, True, True, False])  # the last entry is not scored
    # d = chain - fill = 2, 2, 2; r = truth - fill: w = d.r / d.d
    assert _weight(fill, chain, np.array([1.0, 1.0, 2.0, 99.0]), pick) == 0.5
    assert _weight(fill, chain, np.array([0.5, 1.5, 1.0, 99.0]), pick) == pytest.approx((1 + 3 + 0) / 12)
    assert _weight(fill, chain, np.array([3.0, 3.0, 4.0, 0.0]), pick) == 1.0  # (1.5, clipped)
    assert _weight(fill, chain, np.array([-1.0, 0.0, 1.0, 0.0]), pick) == 0.0  # (-1/6, clipped)
    assert _weight(fill, chain, fill, np.zeros(4, dtype=bool)) == 0.5  # nothing to score
    assert _weight(fill, fill, chain, pick) == 0.5  # the two agree: nothing to choose


def test_impute_fills_only_the_holes_and_keeps_observed_text(tmp_path, capsys):
    _pairs(tmp_path / "train.csv")
    run = tmp_path / "r"
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--variant", "denoising", "--noise", "masking",
                 "--noise-level", "0.3", "--out", str(run), "--quiet", "--no-report"]) == 0
    _pairs(tmp_path / "inc.csv", n=40, hole_every=4, seed=1)
    assert main(["impute", str(run), "--input", str(tmp_path / "inc.csv"), "--out", str(tmp_path / "f.csv")]) == 0
    assert "Filled 20 hole(s) in 40 rows" in capsys.readouterr().out
    with open(tmp_path / "inc.csv") as f:
        before = list(csv.reader(f))
    with open(tmp_path / "f.csv") as f:
        after = list(csv.reader(f))
    assert after[0] == before[0] and len(after) == len(before)
    for b, a in zip(before[1:], after[1:]):
        for vb, va in zip(b, a):
            if vb not in ("", "NA"):
                assert va == vb  # observed: the same text, bit for bit
    filled = [a for b, a in zip(before[1:], after[1:]) if b[1] == ""]
    assert len(filled) == 10 and all(r[1] == ("S" if r[0] == "small" else "L") for r in filled)
    assert all(abs(float(r[2]) - (5 if r[0] == "small" else 50)) < 10 for r in filled)  # from the row's kind
    # a table without holes imputes to itself
    assert main(["impute", str(run), "--input", str(tmp_path / "train.csv"), "--out", str(tmp_path / "g.csv")]) == 0
    assert (tmp_path / "g.csv").read_text() == (tmp_path / "train.csv").read_text().replace("\r\n", "\n")
    # a row with nothing observed is filled, and said: every such row gets the same typical values
    lines = (tmp_path / "inc.csv").read_text().splitlines()
    (tmp_path / "empty.csv").write_text("\n".join([lines[0], ",,", *lines[1:5], ",,"]) + "\n")
    capsys.readouterr()
    assert main(["impute", str(run), "--input", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "e.csv")]) == 0
    assert "2 row(s) of" in capsys.readouterr().out
    with open(tmp_path / "e.csv") as f:
        rows = list(csv.reader(f))
    assert rows[1] == rows[-1] and "" not in rows[1]


def test_impute_says_what_it_cannot_fill(tmp_path, capsys):
    _pairs(tmp_path / "train.csv")
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--out", str(tmp_path / "plain"), "--quiet",
                 "--no-report"]) == 0  # no holes in training, no masking: no column can take a hole
    _pairs(tmp_path / "inc.csv", n=20, hole_every=4)
    line = cli_error(capsys, ["impute", str(tmp_path / "plain"), "--input", str(tmp_path / "inc.csv"), "--out",
                              str(tmp_path / "f.csv")])
    assert "column 'size' has a hole at row 1, and the run saw none in that column" in line
    assert not (tmp_path / "f.csv").exists()
    (tmp_path / "other.csv").write_text("a,b\nx,1\ny,\n")
    line = cli_error(capsys, ["impute", str(tmp_path / "plain"), "--input", str(tmp_path / "other.csv"), "--out",
                              str(tmp_path / "f.csv")])
    assert "lacks the column(s) kind, size, weight" in line
    assert main(["train", "--data", "digits", "--out", str(tmp_path / "img"), "--epochs", "1", "--quiet",
                 "--no-report"]) == 0
    line = cli_error(capsys, ["impute", str(tmp_path / "img"), "--input", str(tmp_path / "inc.csv"), "--out",
                              str(tmp_path / "f.csv")])
    assert "is not a table run" in line


def test_a_row_of_holes_is_a_row(tmp_path):
    (tmp_path / "t.csv").write_text("a,b\nx,1\n,\ny,2\n")
    cols = read_table(tmp_path / "t.csv")
    assert list(cols["a"]) == ["x", "", "y"]


def test_the_imputer_follows_sklearns_rules_and_keeps_observed_values(tmp_path):
    import pytest
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.utils.estimator_checks import check_estimator

    from aekit.sklearn import AutoencoderImputer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    X[:, 1] = 2 * X[:, 0] + 0.1 * rng.normal(size=300)
    Xi = X.copy()
    Xi[rng.random(X.shape) < 0.2] = np.nan
    holes = np.isnan(Xi)
    imp = AutoencoderImputer(random_state=0).fit(Xi)
    F = imp.transform(Xi)
    assert np.array_equal(F[~holes], Xi[~holes]) and not np.isnan(F).any()
    both = holes[:, 1] & ~holes[:, 0]  # column 1 hidden, column 0 seen: rebuilt from it, far better than the mean
    err = np.sqrt(np.mean((F[both, 1] - X[both, 1]) ** 2))
    assert err < 0.5 * np.sqrt(np.mean((np.nanmean(Xi[:, 1]) - X[both, 1]) ** 2))
    marked = np.where(holes, -999.0, X)  # another marker
    assert np.array_equal(AutoencoderImputer(missing_values=-999.0, random_state=0).fit(marked).transform(marked),
                          F)
    pipe = make_pipeline(AutoencoderImputer(epochs=2, random_state=0), LinearRegression()).fit(Xi[:, :2], X[:, 2])
    assert pipe.predict(Xi[:5, :2]).shape == (5,)
    ct = ColumnTransformer([("imp", AutoencoderImputer(epochs=2, random_state=0), [0, 1])], remainder="drop")
    assert ct.fit_transform(Xi).shape == (300, 2)
    failed = [c["check_name"] for c in check_estimator(AutoencoderImputer(epochs=2), on_fail=None)
              if c["status"] == "failed"]
    assert failed == []
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"kind": ["small", "large"] * 60, "size": ["S", "L"] * 60, "w": np.arange(120) * 0.5})
    inc = df.astype(object).copy()
    inc.loc[::7, "size"] = None
    out = AutoencoderImputer(random_state=0).fit(inc).transform(inc)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == ["kind", "size", "w"]
    assert out["size"].notna().all() and (out["w"] == df["w"]).all()


def test_multiple_imputation_gives_k_tables_that_differ_only_in_the_holes(tmp_path, capsys):
    _pairs(tmp_path / "train.csv")
    run = tmp_path / "r"
    assert main(["train", "--data", str(tmp_path / "train.csv"), "--variant", "denoising", "--noise", "masking",
                 "--out", str(run), "--quiet", "--no-report"]) == 0
    _pairs(tmp_path / "inc.csv", n=40, hole_every=4, seed=1)
    assert main(["impute", str(run), "--input", str(tmp_path / "inc.csv"), "--draws", "5", "--out",
                 str(tmp_path / "d.csv")]) == 0
    assert "Filled 20 hole(s) in 40 rows of" in capsys.readouterr().out
    with open(tmp_path / "d.csv") as f:
        d = list(csv.DictReader(f))
    with open(tmp_path / "inc.csv") as f:
        inc = list(csv.DictReader(f))
    assert len(d) == 5 * 40 and [int(r["draw"]) for r in d[::40]] == [1, 2, 3, 4, 5]
    for i, row in enumerate(inc):
        mine = [d[k * 40 + i] for k in range(5)]
        for col in ("kind", "size", "weight"):
            if row[col] not in ("", "NA"):
                assert all(m[col] == row[col] for m in mine)  # observed: the same text in every table
        if row["weight"] == "NA":
            assert len({m["weight"] for m in mine}) > 1  # a number's draws spread
    for k, expect in (("0", "expected a positive integer, got 0"), ("5000", "draws must be an integer from 1 to 1000")):
        line = cli_error(capsys, ["impute", str(run), "--input", str(tmp_path / "inc.csv"), "--draws", k, "--out",
                                  str(tmp_path / "x.csv")])
        assert expect in line and not (tmp_path / "x.csv").exists()


def test_an_ensembles_mean_by_hand():
    # two models' outputs (K=2): a number's mean is the average of their means on the column's own scale (the
    # mixture's mean, not the transform of the averaged values), a category's probabilities the average of theirs
    cols = {"c": np.array(["a", "b", "c"] * 4, dtype=object),
            "x": np.array([f"{v:.6f}" for v in np.linspace(0.5, 3.0, 12)], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    (c0, c1), (xa, _) = codec.slices
    grid = torch.linspace(-6, 6, 2401, dtype=torch.float64)
    codec.qz1.data, codec.qx1.data = grid, grid.exp()  # the number's transform: x = exp(z)
    col = codec.schema.columns[1]
    col.lo, col.hi = 0.0, 1e3
    v = torch.zeros(2, 1, codec.width)  # (K, N, width)
    v[0, 0, c0:c1] = torch.tensor([2.0, 0.0, -10.0])  # p = (0.881, 0.119, 0.000)
    v[1, 0, c0:c1] = torch.tensor([-10.0, 0.0, 0.5])  # p = (0.000, 0.378, 0.622)
    v[:, 0, xa] = torch.tensor([0.0, 2.0])
    out = codec.decode(v, holes=False, spread=[0.0, 0.0], mean=True)
    assert out["c"] == ["a"]  # mean p = (0.440, 0.249, 0.311); averaged logits (-4, 0, -4.75) would say "b"
    assert out["x"] == pytest.approx([(1.0 + math.exp(2.0)) / 2], abs=1e-4)  # not exp(1) = 2.718
    out = codec.decode(v, holes=False, spread=[0.0, 0.5], mean=True)  # each mean E exp(m + s e) = exp(m + s^2 / 2)
    assert out["x"] == pytest.approx([(math.exp(0.125) + math.exp(2.125)) / 2], abs=1e-4)
    with pytest.raises(ValueError, match="only for their mean"):
        codec.decode(v)


def _ensemble_run(tmp_path, members: int):
    """The masking recipe's config of an ensemble of ``members`` models (3 epochs) on _pairs' table, and its data."""
    from aekit import Config
    from aekit.data import load_data

    _pairs(tmp_path / "train.csv")
    cfg = Config().override(dataset="table", path=str(tmp_path / "train.csv"), variant="denoising", noise="masking",
                            holes=True, epochs=3, batch_size=64, val_fraction=0.0, members=members)
    return cfg, load_data(cfg.data)


def test_an_ensemble_is_saved_with_its_run_bound_to_its_weights_and_resumed(tmp_path, capsys):
    from aekit import checkpoint as ckpt
    from aekit import fit

    cfg, data = _ensemble_run(tmp_path, 3)
    res = fit(cfg, data, out_dir=tmp_path / "r", quiet=True)
    assert len(res.model.members) == 2 and (tmp_path / "r" / "members.safetensors").is_file()
    seeds = [torch.cat([p.flatten() for p in m.parameters()]) for m in (res.model, *res.model.members)]
    assert not torch.equal(seeds[0], seeds[1]) and not torch.equal(seeds[1], seeds[2])  # other seeds
    loaded = ckpt.load(tmp_path / "r")
    assert all(torch.equal(a, torch.cat([p.flatten() for p in m.parameters()]))
               for a, m in zip(seeds, (loaded, *loaded.members), strict=True))
    # a run killed after its last epoch, before its members were written: its commands use the first model alone,
    # and resuming trains them, the same as they were
    before = ckpt.load_tensors(tmp_path / "r" / "members.safetensors")
    (tmp_path / "r" / "members.safetensors").unlink()
    assert ckpt.load(tmp_path / "r").members == []
    fit(cfg, data, out_dir=tmp_path / "r", resume=True, quiet=True)
    again = ckpt.load_tensors(tmp_path / "r" / "members.safetensors")
    assert again[1] == before[1] and again[0].keys() == before[0].keys()  # (safetensors orders metadata freely)
    assert all(torch.equal(v, before[0][k]) for k, v in again[0].items())
    # members of other weights are refused
    fit(cfg.override(seed=5), data, out_dir=tmp_path / "o", quiet=True)
    (tmp_path / "r" / "members.safetensors").write_bytes((tmp_path / "o" / "members.safetensors").read_bytes())
    with pytest.raises(ValueError, match="not computed from this run's weights"):
        ckpt.load(tmp_path / "r")
    with pytest.raises(ValueError, match="members must be from 1 to 20"):
        cfg.override(members=0)
    line = cli_error(capsys, ["train", "--data", str(tmp_path / "train.csv"), "--members", "21", "--out",
                              str(tmp_path / "x")])
    assert "members must be from 1 to 20" in line and not (tmp_path / "x").exists()


def test_an_ensembles_fill_is_the_mixtures_mean(tmp_path):
    from aekit import apps, fit

    cfg, data = _ensemble_run(tmp_path, 3)
    model = fit(cfg, data, quiet=True).model.cpu()
    _pairs(tmp_path / "inc.csv", n=40, hole_every=4, seed=1)
    cols = read_table(tmp_path / "inc.csv")
    ensemble, n = apps.impute(model, cols, linear=False)  # the models' own fills (no linear pass)
    members, model.members = model.members, []
    alone = [apps.impute(m, cols, linear=False)[0] for m in (model, *members)]
    holes = [i for i, w in enumerate(cols["weight"]) if w == "NA"]
    assert n == 20 and len(holes) == 10
    for i in holes:  # each number's fill lies between the models' own fills (the mean of their means)
        own = [a["weight"][i] for a in alone]
        assert min(own) - 0.01 <= ensemble["weight"][i] <= max(own) + 0.01
    assert any(len({a["weight"][i] for a in alone}) > 1 for i in holes)  # the models differ
    # with the linear passes, a number's fill mixes two candidates (the models' fill averaged with the ridge pass's,
    # and the chained equations'), with the weight that fills best the entries hidden on purpose
    from aekit.apps.impute import _candidates, _hidden, _spread, _weight, parsed

    model.members = members
    table = model.table
    x = torch.from_numpy(table.encode(cols))
    hole = table.holes_of(x)
    spread = _spread(model, x, hole, 0)
    j = [c.name for c in table.schema.columns].index("weight")
    values = parsed(table, cols)
    fill, chain = _candidates(model, values, x, hole.numpy(), spread)[j]
    hidden, pick = _hidden(table, x, hole, 0, levels=True)
    assert pick[:, j].sum() > 5 and not (pick & hole).any()
    trial = _candidates(model, values, hidden, (hole | pick).numpy(), spread)[j]
    w = _weight(*trial, np.array([float(v) if v != "NA" else np.nan for v in cols["weight"]]), pick[:, j].numpy())
    both = apps.impute(model, cols)[0]
    col = table.schema.columns[j]
    assert [both["weight"][i] for i in holes] == col.rounded((fill + w * (chain - fill))[holes])
    assert [both["weight"][i] for i in holes] != [ensemble["weight"][i] for i in holes]  # the passes moved them
    model.members = [model, model]  # an ensemble of one model three times is that model
    assert apps.impute(model, cols, linear=False)[0] == alone[0]


def test_a_variational_ensembles_draws_keep_what_was_observed_and_differ(tmp_path):
    from aekit import apps, fit

    cfg, data = _ensemble_run(tmp_path, 2)
    model = fit(cfg.override(variant="vae+denoising"), data, quiet=True).model.cpu()
    assert model.is_variational and len(model.members) == 1
    _pairs(tmp_path / "inc.csv", n=40, hole_every=4, seed=1)
    cols = read_table(tmp_path / "inc.csv")
    tables, n = apps.impute_draws(model, cols, 4, seed=3)
    holes = [i for i, w in enumerate(cols["weight"]) if w == "NA"]
    assert n == 20 and len(tables) == 4
    for t in tables:
        assert all(t["weight"][i] is cols["weight"][i] for i in range(40) if i not in holes)  # observed: as read
        assert all(isinstance(t["weight"][i], float) for i in holes)
    assert len({tuple(t["weight"][i] for i in holes) for t in tables}) == 4  # every draw its own
    assert apps.impute_draws(model, cols, 4, seed=3)[0] == tables  # seeded
