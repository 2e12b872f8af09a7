"""Tables: the schema read from the values, the codec's round trip by hand, the loss by column, and every command on
a CSV of numbers, categories, integers, yes/no and blanks."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from aekit.cli import main
from aekit.data.table import looks_like_table, read_table, write_table
from aekit.table import MISSING, Schema, TableCodec, infer_schema
from conftest import cli_error

TINY = ["--hidden", "16", "--latent-dim", "3", "--epochs", "2", "--quiet", "--no-report"]


def _people(path, n: int = 60, seed: int = 0):
    """A CSV as pandas' to_csv writes one: an unnamed index, a quoted name with a comma, numbers with 2 decimals,
    a whole-number column of many values, a rating 1-5, yes/no, a city, and blanks and NA in two columns."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        income = "" if i % 7 == 3 else f"{rng.normal(50, 10):.2f}"
        city = "NA" if i % 11 == 5 else ["Oslo", "Lima", "Pune"][i % 3]
        rows.append([i, f"Doe, John {i}", income, int(rng.integers(18, 90)), int(rng.integers(1, 6)),
                     ["yes", "no"][i % 2], city])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "name", "income", "age", "rating", "member", "city"])
        w.writerows(rows)
    return path


def test_kinds_are_read_from_the_values(tmp_path):
    cols = read_table(_people(tmp_path / "p.csv"))
    assert list(cols) == ["name", "income", "age", "rating", "member", "city"]  # the unnamed index is not data
    assert cols["name"][0] == "Doe, John 0"  # a quoted field keeps its comma
    s = infer_schema(cols)
    kinds = {c.name: (c.kind, c.onehot, c.missing) for c in s.columns}
    assert kinds == {"income": ("continuous", False, True), "age": ("integer", False, False),
                     "rating": ("integer", True, False), "member": ("boolean", True, False),
                     "city": ("categorical", True, True)}
    assert "name" in s.dropped and "identifier-like" in s.dropped["name"]
    city = next(c for c in s.columns if c.name == "city")
    assert city.categories == ["Lima", "Oslo", "Pune", MISSING]
    income = next(c for c in s.columns if c.name == "income")
    assert income.decimals == 2 and income.lo < income.hi
    assert Schema.from_json(s.to_json()) == s  # stored in the run's config and read back


def test_overrides_name_columns_that_exist(tmp_path):
    cols = read_table(_people(tmp_path / "p.csv"))
    s = infer_schema(cols, categorical=("age",), drop=("member",))
    assert next(c for c in s.columns if c.name == "age").kind == "categorical" and s.dropped["member"] == "--drop"
    with pytest.raises(ValueError, match="no column 'nope'"):
        infer_schema(cols, drop=("nope",))


def test_encode_then_decode_gives_the_same_typed_table(tmp_path):
    cols = read_table(_people(tmp_path / "p.csv"))
    s = infer_schema(cols)
    codec = TableCodec(s).fit(cols)
    x = codec.encode(cols)
    assert x.shape == (60, codec.width) and codec.width == 2 + 1 + 5 + 2 + 4  # income+flag, age, rating, member, city
    back = codec.decode(x)
    assert back["income"] == [None if v == "" else float(v) for v in cols["income"]]  # 2 decimals, holes kept
    assert back["age"] == [int(v) for v in cols["age"]] and all(type(v) is int for v in back["age"])
    assert back["rating"] == [int(v) for v in cols["rating"]]
    assert back["member"] == list(cols["member"])
    assert back["city"] == [None if v == "NA" else v for v in cols["city"]]


def test_an_integer_column_of_few_values_reads_an_unseen_count_as_its_nearest_level():
    cols = {"kids": np.array(["0", "1", "2", "3", "4", "6"] * 3, dtype=object),
            "city": np.array(["Oslo", "Lima"] * 9, dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    kids = codec.schema.columns[0]
    assert kids.kind == "integer" and kids.onehot and kids.categories == ["0", "1", "2", "3", "4", "6"]
    new = {"kids": np.array(["5", "5.6", "4.4", "0.2"], dtype=object), "city": np.array(["Oslo"] * 4, dtype=object)}
    # 5 lies as near 4 as 6: the lower; 5.6 -> 6; 4.4 -> 4; 0.2 -> 0
    assert codec.decode(codec.encode(new))["kids"] == [4, 6, 4, 0]
    # beyond the training range: the end level; with unknown="zeros" (detect's new data) no level, as a new category
    far = {"kids": np.array(["9", "-1"], dtype=object), "city": np.array(["Oslo"] * 2, dtype=object)}
    assert codec.decode(codec.encode(far))["kids"] == [6, 0]
    assert codec.encode(far, unknown="zeros")[:, :6].sum() == 0
    assert codec.decode(codec.encode(new, unknown="zeros"))["kids"] == [4, 6, 4, 0]  # inside the range: as before
    with pytest.raises(ValueError, match="column 'kids', row 0 holds 'many', a category the run never saw"):
        codec.encode({"kids": np.array(["many"], dtype=object), "city": np.array(["Oslo"], dtype=object)})
    with pytest.raises(ValueError, match="'Rome', a category the run never saw"):  # text columns: as before
        codec.encode({"kids": np.array(["1"], dtype=object), "city": np.array(["Rome"], dtype=object)})


def test_the_quantile_transform_by_hand():
    cols = {"v": np.array(["1.5", "2.5", "2.5", "4.5"], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    assert codec.schema.columns[0].kind == "continuous" and codec.schema.columns[0].decimals == 1
    # mid-rank CDF: 1.5 -> (0 + 1) / 8, 2.5 -> (1 + 3) / 8, 4.5 -> (3 + 4) / 8; z = Phi^-1
    z = codec.encode(cols)[:, 0]
    want = [math.sqrt(2) * float(torch.erfinv(torch.tensor(2 * p - 1, dtype=torch.float64))) for p in
            (1 / 8, 4 / 8, 4 / 8, 7 / 8)]
    assert np.allclose(z, want, atol=1e-6)
    out = codec.decode(torch.tensor([[-10.0], [10.0], [float(want[1])]]))["v"]
    assert out == [1.5, 4.5, 2.5]  # outside the range: clipped to it


def test_generated_categories_are_training_levels_and_numbers_stay_in_range(tmp_path):
    cols = read_table(_people(tmp_path / "p.csv"))
    codec = TableCodec(infer_schema(cols)).fit(cols)
    raw = torch.randn(500, codec.width) * 5  # any decoder output
    rows = codec.decode(raw, torch.Generator().manual_seed(0))
    assert set(rows["city"]) <= {"Lima", "Oslo", "Pune", None} and set(rows["member"]) <= {"yes", "no"}
    ages = [int(v) for v in cols["age"]]
    assert all(type(v) is int and min(ages) <= v <= max(ages) for v in rows["age"])
    assert any(v is None for v in rows["income"]) and any(v is not None for v in rows["income"])


def test_a_generated_number_is_drawn_around_the_decoders_value_with_the_residual_spread(tmp_path):
    cols = {"n": np.array(["1.5", "", "3.0", "2.0"], dtype=object), "c": np.array(["a", "b", "a", "b"], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    x = torch.from_numpy(codec.encode(cols))
    (a, _), _ = codec.slices
    x_hat = x.clone()
    x_hat[:, a] += torch.tensor([0.3, 5.0, -0.4, 0.0])  # row 1 is a hole: its error never counts
    spread = codec.fit_spread(x, x_hat)
    assert spread[1] == 0 and torch.isclose(spread[0], torch.tensor((0.09 + 0.16 + 0.0) / 3).double().sqrt())
    # drawn with a spread of 0.5 on the quantile-normal scale: values around the decoder's (the middle level)
    v = torch.zeros(4000, codec.width)
    v[:, a] = float(x[3, a])  # the quantile-normal value of 2.0
    exact = codec.decode(v, torch.Generator().manual_seed(0), spread=[0.0, 0.0])["n"]
    assert {t for t in exact if t is not None} == {2.0}
    drawn = [t for t in codec.decode(v, torch.Generator().manual_seed(0), spread=[0.5, 0.0])["n"] if t is not None]
    assert len(set(drawn)) > 10 and 1.5 <= min(drawn) and max(drawn) <= 3.0  # spread, and inside the range
    assert codec.decode(v)["n"][0] == 2.0  # reconstruction (no generator) draws nothing


def _related(n: int = 40, seed: int = 0) -> dict[str, np.ndarray]:
    """x of n distinct values, y = 3 x + 1 (the same ranks: on the quantile-normal scale y is x), u unrelated,
    f a continuous column of 12 values that follows x, and a category."""
    rng = np.random.default_rng(seed)
    x = rng.permutation(n) + 0.5
    return {"x": np.array([f"{v}" for v in x], dtype=object), "y": np.array([f"{3 * v + 1}" for v in x], dtype=object),
            "u": np.array([f"{v}" for v in rng.permutation(n) + 0.25], dtype=object),
            "f": np.array([f"{v // (n / 12) + 0.5}" for v in x], dtype=object),
            "c": np.array(["p", "q"] * (n // 2), dtype=object)}


def test_a_numbers_relation_to_its_row_by_hand_kept_only_where_it_beats_the_decoder():
    from aekit.table import RIDGE

    cols = _related()
    codec = TableCodec(infer_schema(cols)).fit(cols)
    assert [c.onehot for c in codec.schema.columns] == [False, False, False, False, True]
    x = torch.from_numpy(codec.encode(cols)).double()
    (ax, _), (ay, _), (au, _), (af, _), (ac, bc) = codec.slices
    assert torch.equal(x[:, ax], x[:, ay])  # y is x on the quantile-normal scale
    x_hat = torch.zeros_like(x)  # a decoder that knows nothing: every number's spread is its RMS value
    codec.fit_spread(x, x_hat)
    kept = codec.fit_relations(x, x_hat)
    # y and x follow each other; u follows nothing, and f has too few values (12 < RELATION_VALUES) to be redrawn
    assert kept[0] > 0 and kept[1] > 0 and kept[2] == 0 and kept[3] == 0 and kept[4] == 0
    assert float(kept[1]) <= 0.7 * float(codec.spread[1])
    # y's relation by hand: the ridge weights on the other columns' units (x, u, f and c's two levels; the decoder's
    # value is constant, so its weight is 0) and the intercept
    feats = torch.stack([x[:, ax], x[:, au], x[:, af], x[:, ac], x[:, ac + 1]], 1).numpy()
    fc, yc = feats - feats.mean(0), x[:, ay].numpy() - float(x[:, ay].mean())
    w = np.linalg.solve(fc.T @ fc + RIDGE * np.eye(5), fc.T @ yc)
    r = codec.relations[ay].numpy()
    assert np.allclose(r[[ax, au, af, ac, ac + 1]], w) and r[ay] == 0 and abs(r[codec.width]) < 1e-12
    assert np.isclose(r[-1], float(x[:, ay].mean()) - feats.mean(0) @ w)
    assert w[0] == max(w)  # y follows x most (and f, which follows x in steps)
    # a decoder that rebuilds y as well as the relation could: the relation is not kept
    codec.fit_spread(x, x.clone() + 0.01)
    assert codec.fit_relations(x, x.clone() + 0.01)[1] == 0


def test_a_categorys_relation_by_hand_gaussian_levels_with_a_shared_covariance():
    from aekit.table import RIDGE

    cols = _related()
    cols["c"] = np.array(["hi" if float(v) > 20 else "lo" for v in cols["x"]], dtype=object)  # follows x
    codec = TableCodec(infer_schema(cols)).fit(cols)
    x = torch.from_numpy(codec.encode(cols)).double()
    (ax, _), (ay, _), (au, _), (af, _), (ac, bc) = codec.slices
    x_hat = torch.zeros_like(x)  # the decoder's logits 0: a cross-entropy of ln 2 per row
    codec.fit_spread(x, x_hat)
    kept = codec.fit_relations(x, x_hat)
    assert 0 < kept[4] < math.log(2)  # kept: its held-out cross-entropy beats the decoder's
    # by hand, by Bayes' rule: each level a Gaussian around its mean with the pooled covariance (its scatter about
    # the level means plus RIDGE on the diagonal, over n), its share as its prior; the relation's softmax must give
    # the same posterior
    feats = torch.stack([x[:, ax], x[:, ay], x[:, au], x[:, af]], 1).numpy()  # (N, 4): the other columns' units
    level = x[:, ac:bc].argmax(1).numpy()
    means = np.stack([feats[level == l].mean(0) for l in (0, 1)])  # (2, 4)
    cov = ((feats - means[level]).T @ (feats - means[level]) + RIDGE * np.eye(4)) / len(feats)
    d = feats[:, None, :] - means[None]  # (N, 2, 4)
    log_joint = np.log([np.mean(level == 0), np.mean(level == 1)]) - 0.5 * np.einsum(
        "nlf,fg,nlg->nl", d, np.linalg.inv(cov), d)
    want = np.exp(log_joint - log_joint.max(1, keepdims=True))
    w, w0 = codec.relations[ac:bc, [ax, ay, au, af]].T.numpy(), codec.relations[ac:bc, -1].numpy()
    got = np.exp(feats @ w + w0 - (feats @ w + w0).max(1, keepdims=True))
    assert np.allclose(got / got.sum(1, keepdims=True), want / want.sum(1, keepdims=True), atol=1e-9)
    assert codec.relations[ac:bc, [ac, ac + 1, codec.width]].abs().max() == 0  # not its own units, not the decoder


def test_a_categorys_relation_is_kept_where_the_models_own_rows_lose_it():
    from aekit.table import SYNTHETIC_MARGIN

    cols = _related()
    cols["c"] = np.array(["hi" if float(v) > 20 else "lo" for v in cols["x"]], dtype=object)  # follows x
    codec = TableCodec(infer_schema(cols)).fit(cols)
    x = torch.from_numpy(codec.encode(cols)).double()
    ac, bc = codec.slices[4]
    x_hat = x.clone()
    x_hat[:, ac:bc] = 20.0 * x[:, ac:bc] - 10.0  # the decoder rebuilds c from its own code: cross-entropy ~ e^-20
    codec.fit_spread(x, x_hat)
    assert codec.fit_relations(x, x_hat)[4] == 0  # the decoder's rule alone keeps no relation for c
    held_out = float(codec.fit_relations(x, torch.zeros_like(x))[4])  # (logits 0: kept, its held-out loss)
    # the model's rows with c drawn apart from x (c shuffled among them): fitted on them, the discriminant predicts
    # the real rows no better than chance, more than SYNTHETIC_MARGIN worse than the held-out one: c is redrawn
    lost = x.clone()
    lost[:, ac:bc] = x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0)), ac:bc]
    kept = codec.fit_relations(x, x_hat, lost)
    assert kept[4] == pytest.approx(held_out) and held_out + SYNTHETIC_MARGIN < math.log(2)
    # rows that keep c's relation to x (the real rows themselves): nothing to restore
    assert codec.fit_relations(x, x_hat, x.clone())[4] == 0


def test_the_models_own_rows_are_drawn_as_generation_draws_them_before_any_relation():
    cols = _related()
    cols["c"] = np.array(["hi" if float(v) > 20 else "lo" for v in cols["x"]], dtype=object)
    codec = TableCodec(infer_schema(cols)).fit(cols)
    x = torch.from_numpy(codec.encode(cols)).float()
    ax, _ = codec.slices[0]
    ac, bc = codec.slices[4]
    v = x.clone()
    v[:, ac:bc] = torch.tensor([30.0, -30.0])  # the decoder sure of c's first level on every row
    codec.spread = torch.zeros(len(codec.slices), dtype=torch.float64)  # no spread: numbers are the decoder's
    rows = codec.drawn_rows(v, torch.Generator().manual_seed(0))
    assert torch.equal(rows[:, ax], v[:, ax])
    assert torch.equal(rows[:, ac:bc], torch.tensor([1.0, 0.0]).expand(len(x), 2))
    codec.spread[0] = 0.5  # a spread of 0.5: x drawn around the decoder's value with that standard deviation
    rows = codec.drawn_rows(v.repeat(50, 1), torch.Generator().manual_seed(0))
    assert abs(float((rows[:, ax] - v[:, ax].repeat(50)).std()) - 0.5) < 0.05


def test_generation_redraws_a_number_from_its_relation_given_the_drawn_categories():
    cols = _related()
    codec = TableCodec(infer_schema(cols)).fit(cols)
    (ax, _), (ay, _), _, _, (ac, _) = codec.slices
    codec.spread.zero_()  # no residual draw: the decoder's values themselves
    # by hand: y = 2 [c is q] + 0.5 (the decoder's y) - 1, with a held-out error too small to move a rounded value
    codec.relations[ay, ac + 1], codec.relations[ay, codec.width], codec.relations[ay, -1] = 2.0, 0.5, -1.0
    codec.relation_error[1] = 1e-9
    v = torch.zeros(200, codec.width)
    v[:, ay] = 0.4
    v[:100, ac], v[100:, ac + 1] = 30.0, 30.0  # the first hundred rows are p, the rest q (softmax: certain)
    rows = codec.decode(v, torch.Generator().manual_seed(0))
    assert rows["c"] == ["p"] * 100 + ["q"] * 100
    want = torch.zeros(2, codec.width)
    want[:, ay] = torch.tensor([-0.8, 1.2])  # 0.5 x 0.4 - 1, and + 2
    p, q = codec.decode(want)["y"]
    assert p != q and rows["y"] == [p] * 100 + [q] * 100
    assert set(codec.decode(v, torch.Generator().manual_seed(0), relations=False)["y"]) == {
        codec.decode(v[:1])["y"][0]}  # without relations: the decoder's value
    # then the categories, from their relation given the row: c's level q wherever x's value is above 0, whatever the
    # decoder's logits say (they say p for the first hundred rows)
    codec.relations[ac + 1, ax], codec.relation_error[4] = 40.0, 0.1
    v[:, ax] = torch.tensor([1.0, -1.0]).repeat(100)
    rows = codec.decode(v, torch.Generator().manual_seed(0))
    assert rows["c"] == ["q", "p"] * 100
    assert rows["y"] == [p] * 100 + [q] * 100  # y was redrawn first, from c as the decoder's logits drew it


def test_the_run_stores_each_numbers_residual_spread_with_its_sampler(tmp_path, capsys):
    from aekit import checkpoint as ckpt

    run = tmp_path / "run"
    data = str(_people(tmp_path / "p.csv"))
    assert main(["train", "--data", data, "--test-path", data, "--out", str(run), *TINY]) == 0  # all rows trained
    model = ckpt.load(run)
    cols = read_table(tmp_path / "p.csv")
    x = torch.from_numpy(model.table.encode(cols))
    want = model.table.spread.clone()
    assert torch.allclose(model.table.fit_spread(x, torch.from_numpy(model.reconstructions(x))), want, atol=1e-5)
    kinds = [c.onehot for c in model.table.schema.columns]
    assert all((s > 0) != onehot for s, onehot in zip(want.tolist(), kinds))  # numbers only
    tensors, meta = ckpt.load_tensors(run / ckpt.SAMPLER)
    tensors["spread"] = -tensors["spread"]
    ckpt.save_tensors(run / ckpt.SAMPLER, tensors, meta)  # a recomputed checksum
    line = cli_error(capsys, ["generate", str(run), "-n", "4", "--out", str(tmp_path / "s.csv")])
    assert str(run / ckpt.SAMPLER) in line and "spreads" in line and not (tmp_path / "s.csv").exists()
    tensors["spread"] = -tensors["spread"]  # and the relations, stored beside the spreads and loaded with them
    assert tensors["relations"].shape == (model.table.width, model.table.width + 2)
    assert torch.equal(tensors["relations"], model.table.relations.float())
    tensors["relations"][0, 0] = float("nan")
    ckpt.save_tensors(run / ckpt.SAMPLER, tensors, meta)
    line = cli_error(capsys, ["generate", str(run), "-n", "4", "--out", str(tmp_path / "s.csv")])
    assert str(run / ckpt.SAMPLER) in line and "relations" in line and not (tmp_path / "s.csv").exists()
    del tensors["relation_error"]
    ckpt.save_tensors(run / ckpt.SAMPLER, tensors, meta)
    line = cli_error(capsys, ["generate", str(run), "-n", "4", "--out", str(tmp_path / "s.csv")])
    assert "relations without the other" in line and not (tmp_path / "s.csv").exists()


def test_the_loss_by_hand_and_a_hidden_number_gets_no_gradient():
    cols = {"n": np.array(["1.5", "", "3.0", "2.0"], dtype=object), "c": np.array(["a", "b", "a", "b"], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    x = torch.from_numpy(codec.encode(cols))
    x_hat = torch.randn_like(x, requires_grad=True)
    parts = codec.loss(x_hat, x)
    (a, _), (c0, c1) = codec.slices
    flag = torch.nn.functional.binary_cross_entropy_with_logits(x_hat[:, a + 1], x[:, a + 1], reduction="none")
    seen = torch.tensor([1.0, 0.0, 1.0, 1.0])
    assert torch.allclose(parts["n"], (x_hat[:, a] - x[:, a]).pow(2) * seen + flag)
    assert torch.allclose(parts["c"], -torch.log_softmax(x_hat[:, c0:c1], 1)[torch.arange(4), x[:, c0:c1].argmax(1)])
    sum(p.sum() for p in parts.values()).backward()
    assert x_hat.grad[1, a] == 0 and x_hat.grad[0, a] != 0  # the hole's value never enters the loss


def test_the_loss_of_mixed_columns_by_hand_in_the_tables_order():
    # categories of 3 and 2 levels (padded together), a number with holes between them, one without: each column's
    # loss by its own formula, in the table's column order, and no gradient into another column's units
    cols = {"wide": np.array(["a", "b", "c", "a", "b"], dtype=object),
            "hole": np.array(["1.0", "", "2.5", "4.0", "3.0"], dtype=object),
            "yes": np.array(["y", "n", "n", "y", "y"], dtype=object),
            "num": np.array(["0.5", "1.5", "2.0", "7.0", "3.5"], dtype=object)}
    codec = TableCodec(infer_schema(cols, categorical=("yes",))).fit(cols)
    x = torch.from_numpy(codec.encode(cols))
    x_hat = torch.randn(5, codec.width, generator=torch.Generator().manual_seed(0), requires_grad=True)
    m = codec.loss_matrix(x_hat, x)
    (w0, w1), (h, _), (y0, y1), (n, _) = codec.slices
    assert (w1 - w0, y1 - y0) == (3, 2) and m.shape == (5, 4)

    def ce(a: int, b: int) -> torch.Tensor:
        return -torch.log_softmax(x_hat[:, a:b], 1)[torch.arange(5), x[:, a:b].argmax(1)]

    seen = 1.0 - x[:, h + 1]
    flag = torch.nn.functional.binary_cross_entropy_with_logits(x_hat[:, h + 1], x[:, h + 1], reduction="none")
    want = torch.stack([ce(w0, w1), (x_hat[:, h] - x[:, h]).pow(2) * seen + flag, ce(y0, y1),
                        (x_hat[:, n] - x[:, n]).pow(2)], 1)
    assert torch.allclose(m, want, atol=1e-6)
    assert list(codec.loss(x_hat, x)) == ["wide", "hole", "yes", "num"]
    m[:, 2].sum().backward()  # the two-level column alone: only its own units get a gradient
    assert x_hat.grad[:, y0:y1].abs().sum() > 0
    assert x_hat.grad[:, :y0].abs().sum() == 0 and x_hat.grad[:, y1:].abs().sum() == 0


def test_swap_noise_moves_whole_column_groups_between_rows():
    cols = {"c": np.array(["a", "b", "c", "a"] * 8, dtype=object), "n": np.arange(32).astype(str).astype(object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    x = torch.from_numpy(codec.encode(cols))
    assert torch.equal(codec.swap(x, 0.0), x)
    torch.manual_seed(0)
    y = codec.swap(x, 1.0)
    (c0, c1), (n0, _) = codec.slices
    assert torch.equal(y[:, c0:c1].sum(1), torch.ones(32))  # still one-hot
    rows = [{tuple(r.tolist()) for r in x[:, c0:c1]}, set(x[:, n0].tolist())]
    assert all(tuple(r.tolist()) in rows[0] for r in y[:, c0:c1]) and set(y[:, n0].tolist()) <= rows[1]
    assert not torch.equal(y, x)


@pytest.mark.parametrize("content,expect", [
    ("a,b\n1,x\n2,y\n3,\n", None),  # fine: a table (b has a hole)
    ("a,a\nx,2\n", "the column name 'a' appears twice"),
    ("a,,b\nx,2,3\n", "column 1 has no name"),
    ("a,b\nx,2\n3\n", "line 3: 1 fields where the header has 2"),
    ("a,b\n,x\n,y\n", "column 'a' holds no values"),
    ("a,b\n" + "".join(f"{i},x\n" for i in range(30)) + "oops,x\n", "column 'a' mixes numbers and text: row 30"),
    ("a,b\n1,x\n2,y\ninf,z\n4,x\n", "column 'a', row 2: 'inf' is not a finite number"),  # was an IndexError
    ("d,b\n" + "".join(f"2024-01-{i + 1:02d},x\n" for i in range(28)) + "".join(
        f"2024-02-{i + 1:02d},y\n" for i in range(28)), "holds dates"),
])
def test_tables_that_cannot_be_read_name_the_problem(tmp_path, capsys, content, expect):
    path = tmp_path / "t.csv"
    path.write_text(content)
    if expect is None:
        assert infer_schema(read_table(path)).names == ["a", "b"]
        return
    line = cli_error(capsys, ["train", "--data", str(path), "--out", str(tmp_path / "r"), *TINY])
    assert expect in line and str(path) in line and not (tmp_path / "r").exists()


def test_a_file_that_is_not_utf8_or_a_bad_parquet_is_named(tmp_path, capsys):
    (tmp_path / "b.csv").write_bytes(b"a,b\n\xff\xfe,1\n")
    assert "not a text CSV file" in cli_error(capsys, ["train", "--data", str(tmp_path / "b.csv"), "--out",
                                                       str(tmp_path / "r"), *TINY])
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    assert "not a readable Parquet file" in cli_error(capsys, ["train", "--data", str(tmp_path / "x.parquet"),
                                                               "--out", str(tmp_path / "r"), *TINY])


def test_numeric_csvs_stay_matrices_and_text_or_holes_make_tables(tmp_path):
    (tmp_path / "m.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "t.csv").write_text("a,b\n1,x\n3,4\n")
    (tmp_path / "h.csv").write_text("a,b\n1,\n3,4\n")
    assert [looks_like_table(tmp_path / n) for n in ("m.csv", "t.csv", "h.csv")] == [False, True, True]


def test_every_command_on_a_table(tmp_path, capsys):
    data = _people(tmp_path / "p.csv", n=120)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    out = capsys.readouterr().out
    assert "a table of 5 columns" in out and "dropped name (identifier-like" in out and "recon/city" in out
    assert main(["generate", str(run), "-n", "50", "--out", str(tmp_path / "s.csv")]) == 0
    s = read_table(tmp_path / "s.csv")
    assert list(s) == ["income", "age", "rating", "member", "city"] and len(s["age"]) == 50
    assert set(s["city"]) <= {"Lima", "Oslo", "Pune", ""} and all(v.lstrip("-").isdigit() for v in s["age"])
    assert main(["reconstruct", str(run), "--input", str(data), "--out", str(tmp_path / "r.csv")]) == 0
    assert "category error rate" in capsys.readouterr().out
    r = read_table(tmp_path / "r.csv")
    assert list(r) == list(s) and len(r["city"]) == 120
    assert main(["encode", str(run), "--input", str(data), "--out", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (120, 3)
    # a category training never saw: an error naming the column, the row and the value
    rows = (tmp_path / "p.csv").read_text().replace("Oslo", "Rome", 1)
    (tmp_path / "new.csv").write_text(rows)
    line = cli_error(capsys, ["reconstruct", str(run), "--input", str(tmp_path / "new.csv"), "--out",
                              str(tmp_path / "n.csv")])
    assert "column 'city', row 0 holds 'Rome', a category the run never saw" in line
    assert "use a .csv or .parquet name" in cli_error(capsys, ["generate", str(run), "--out", str(tmp_path / "s.npy")])


def test_parquet_and_dataframes_read_like_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    csv_cols = read_table(_people(tmp_path / "p.csv"))
    df = pd.read_csv(tmp_path / "p.csv", index_col=0)
    df.to_parquet(tmp_path / "p.parquet")
    for cols in (read_table(df), read_table(tmp_path / "p.parquet")):
        assert list(cols) == list(csv_cols)
        s = infer_schema(cols)
        assert [(c.name, c.kind) for c in s.columns] == [(c.name, c.kind) for c in infer_schema(csv_cols).columns]
    write_table(tmp_path / "o.parquet", {"a": [1, None, 3], "b": ["x", "y", None]})
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "o.parquet").to_pydict() == {"a": [1, None, 3], "b": ["x", "y", None]}
    with pytest.raises(ValueError, match="column 'when' holds dates"):
        read_table(pd.DataFrame({"when": pd.to_datetime(["2024-01-01"] * 3), "a": [1, 2, 3]}))
    with pytest.raises(ValueError, match="column 'l' holds a list"):
        read_table(pd.DataFrame({"l": [[1], [2]], "a": [1, 2]}))


def test_whole_numbers_written_with_a_point_are_the_same_level():
    cols = {"age": np.array(["27.0", "32", "27", "42.0"], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    assert codec.schema.columns[0].categories == ["27", "32", "42"]
    assert codec.decode(codec.encode(cols))["age"] == [27, 32, 27, 42]


def test_the_table_recipe_by_hand_and_flags_win(tmp_path, capsys):
    from aekit.table import table_recipe

    s = infer_schema({"a": np.array(["x", "y"] * 10, dtype=object),
                      "b": np.array([f"{i}.5" for i in range(20)], dtype=object)})
    assert s.width == 3 and len(s.columns) == 2
    assert table_recipe(192, s) == {"hidden": (64, 64), "latent_dim": 4, "epochs": 30, "batch_size": 64,
                                    "val_fraction": 0.0, "sampler_components": 10}  # 2000 * 64 / 192 > 30 epochs
    # batches of 64, but where an epoch would end in one of under 16 rows (a quarter) its rows join the others: 200
    # rows in 3 of 67 (67, 67, 66: 200 - 2 x 67) rather than 64, 64, 64 and 8; 523 in 8 of 66 (the last 61), 140 in 2
    # of 70; not at 16 rows left over (208), nor where k batches cannot hold them with a last of 16 or more (4,165 =
    # 65 x 64 + 5: batches of 65 would end in one of 5), nor under 64 rows or with nothing left over
    assert [table_recipe(n, s)["batch_size"] for n in (200, 523, 140, 208, 4165, 4160, 64, 10)] == [67, 66, 70, 64, 64,
                                                                                                  64, 64, 64]
    assert table_recipe(10_000, s)["epochs"] == 13  # round(2000 * 64 / 10,000): about 2,000 steps
    wide = infer_schema({"c": np.array([f"l{i % 60}" for i in range(240)], dtype=object),
                         **{f"n{j}": np.array([f"{i * (j + 1)}.5" for i in range(240)], dtype=object)
                            for j in range(19)}})
    assert wide.width == 60 + 19 and len(wide.columns) == 20
    assert table_recipe(2000, wide)["hidden"] == (158, 158)  # 2 x 79: the encoded width, under 2000 / 4
    assert table_recipe(400, wide)["hidden"] == (100, 100)  # at most a quarter of the rows
    assert table_recipe(200, wide)["hidden"] == (64, 64)  # and at least 64
    assert table_recipe(200, wide)["latent_dim"] == 11  # half the columns, plus one
    assert table_recipe(200, wide, impute=True) == {"hidden": (256, 256), "latent_dim": 16, "epochs": 30,
                                                    "batch_size": 256, "val_fraction": 0.0, "sampler_components": 1,
                                                    "lr": 3e-3, "members": 5}  # 200 rows < 8 x 153 (a code of 16)
    # the sampler: 10 components from 8 rows per parameter of one Gaussian over the code (a code of 11: 11 means,
    # 66 covariances and a weight, 78 parameters; 624 rows), a single Gaussian below
    assert [table_recipe(n, wide)["sampler_components"] for n in (623, 624)] == [1, 10]
    assert [table_recipe(n, s)["sampler_components"] for n in (119, 120)] == [1, 10]  # a code of 4: 15 parameters
    data = _people(tmp_path / "p.csv", n=100)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "2", "--quiet",
                 "--no-report"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("Recipe table"))
    assert "epochs" not in line and "latent_dim 4" in line and "hidden (64, 64)" in line  # --epochs 2 wins


def test_detect_names_the_column_that_makes_a_row_unusual(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = ["kind,size,weight"]
    for i in range(300):  # kind decides size; weight is noise
        k = ["small", "large"][i % 2]
        rows.append(f"{k},{'S' if k == 'small' else 'L'},{rng.normal(10, 1):.2f}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "new.csv").write_text("kind,size,weight\nsmall,S,10.00\nsmall,L,10.00\n")  # the second: swapped
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--out", str(tmp_path / "r"), "--quiet",
                 "--no-report"]) == 0
    assert main(["detect", str(tmp_path / "r"), "--input", str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "d.csv")]) == 0
    with open(tmp_path / "d.csv") as f:
        d = list(csv.DictReader(f))
    assert float(d[1]["score"]) > float(d[0]["score"]) and d[1]["column"] in ("kind", "size")
    assert all(0 <= float(r["column_share"]) <= 1 for r in d)
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from aekit import checkpoint as ckpt
    from aekit.serve import create_app

    rows = [{"kind": "small", "size": s, "weight": 10.0} for s in ("S", "L")]
    served = TestClient(create_app(ckpt.load(tmp_path / "r"))).post("/score", json={"rows": rows}).json()
    assert [c["column"] for c in served["columns"]] == [r["column"] for r in d]  # the service names them alike
    assert [round(c["share"], 3) for c in served["columns"]] == [float(r["column_share"]) for r in d]


def test_the_synthesizer_takes_and_gives_dataframes_and_passes_sklearns_checks(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.utils.estimator_checks import check_estimator

    from aekit.sklearn import AutoencoderSynthesizer

    df = pd.read_csv(_people(tmp_path / "p.csv", n=120), index_col=0)
    syn = AutoencoderSynthesizer(epochs=3, random_state=0).fit(df)
    out = syn.sample(40)
    assert list(out.columns) == ["income", "age", "rating", "member", "city"] and len(out) == 40  # name dropped
    assert set(out["city"].dropna()) <= {"Lima", "Oslo", "Pune"} and set(out["member"]) <= {"yes", "no"}
    assert out["age"].between(df["age"].min(), df["age"].max()).all()
    assert syn.sample(40).equals(out) and not syn.sample(40, random_state=1).equals(out)  # seeded
    assert list(syn.feature_names_in_) == list(df.columns) and syn.schema_.dropped.keys() == {"name"}
    failed = [c["check_name"] for c in check_estimator(AutoencoderSynthesizer(epochs=2), on_fail=None)
              if c["status"] == "failed"]
    assert failed == []


def test_export_writes_the_codec_beside_the_graphs_and_it_encodes_as_aekit_does(tmp_path):
    pytest.importorskip("onnxruntime")
    import json

    from aekit.apps.export import run_onnx

    data = _people(tmp_path / "p.csv", n=80)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "2", "--quiet",
                 "--no-report"]) == 0
    assert main(["export", str(tmp_path / "r"), "--out", str(tmp_path / "onnx")]) == 0
    spec = json.loads((tmp_path / "onnx" / "table.json").read_text())
    import aekit

    model = aekit.load(tmp_path / "r")
    cols = read_table(data)
    want = model.table.encode(cols)
    got = np.zeros_like(want)
    for c in spec["columns"]:  # what a user of the ONNX files does with table.json, by hand
        a, b = c["slice"]
        values = cols[c["name"]]
        for i, v in enumerate(values):
            hole = v in ("", "NA")
            if "levels" in c:
                got[i, a + c["levels"].index("" if hole else str(v))] = 1
            else:
                got[i, a] = 0.0 if hole else np.interp(float(v), c["x"], c["z"])
                if c["missing"]:
                    got[i, a + 1] = float(hole)
    assert np.allclose(got, want, atol=1e-6)
    seen = want.copy()
    a, b = model.table.slices[[c.name for c in model.table.schema.columns].index("city")]
    seen[0, a:b] = 0  # a city training never saw (encode(unknown="zeros")): scored as its least likely level
    recon, score = run_onnx(tmp_path / "onnx" / "autoencoder.onnx", seen)
    assert recon.shape == want.shape and np.isfinite(score).all()  # holes included
    x = torch.as_tensor(seen)
    with torch.no_grad():  # the graph's score is the model's own: the mean of its column losses
        assert np.allclose(score, model.table.loss_matrix(model.reconstruct(x), x).mean(1).numpy(), atol=1e-5)


def test_the_service_takes_and_gives_records_with_column_names(tmp_path):
    pytest.importorskip("fastapi")
    import aekit
    from fastapi.testclient import TestClient

    from aekit.serve import create_app

    data = _people(tmp_path / "p.csv", n=100)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "2", "--quiet",
                 "--no-report"]) == 0
    c = TestClient(create_app(aekit.load(tmp_path / "r")))
    info = c.get("/info").json()
    assert [col["name"] for col in info["columns"]] == ["income", "age", "rating", "member", "city"]
    row = {"income": 51.5, "age": 40, "rating": 3, "member": "yes", "city": "Oslo"}
    r = c.post("/reconstruct", json={"rows": [row, {**row, "income": None, "city": None}]})
    assert r.status_code == 200 and set(r.json()["rows"][0]) == set(row)
    assert r.json()["rows"][0]["city"] in ("Lima", "Oslo", "Pune", None)
    # the recipe's code: 5 // 2 + 1 = 3 values for five columns, at least 4
    assert len(c.post("/encode", json={"rows": [row]}).json()["codes"][0]) == 4
    g = c.post("/generate", json={"n": 3, "seed": 1}).json()["rows"]
    assert len(g) == 3 and all(type(v["age"]) is int for v in g)
    assert len(c.post("/interpolate", json={"rows": [row, {**row, "age": 80}], "steps": 3}).json()["rows"]) == 3
    for body, expect in (({"rows": [{**row, "city": "Rome"}]}, "'Rome', a category the run never saw"),
                         ({"rows": [{"age": 3}]}, "row 0 lacks the column(s) income, rating, member, city"),
                         ({"x": [[0.0]]}, '{"rows": [{column: value'),
                         ({"rows": [{**row, "age": [1]}]}, "column 'age': a value must be")):
        r = c.post("/score", json=body)
        assert r.status_code == 422 and expect in r.json()["detail"], r.json()


def test_generate_where_keeps_the_rows_of_a_condition(tmp_path, capsys):
    data = _people(tmp_path / "p.csv", n=150)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--quiet", "--no-report"]) == 0
    assert main(["generate", str(tmp_path / "r"), "-n", "20", "--where", "city=Pune", "--where", "member=no",
                 "--out", str(tmp_path / "w.csv")]) == 0
    assert "where city=Pune, member=no (20 of" in capsys.readouterr().out
    rows = read_table(tmp_path / "w.csv")
    assert list(rows["city"]) == ["Pune"] * 20 and list(rows["member"]) == ["no"] * 20
    for where, expect in (("city=Rome", "column 'city' has no level 'Rome'"), ("nope=1", "no column 'nope'"),
                          ("income=3", "holds numbers over a range"), ("city", "write COLUMN=VALUE")):
        line = cli_error(capsys, ["generate", str(tmp_path / "r"), "--where", where, "--out", str(tmp_path / "x.csv")])
        assert expect in line and not (tmp_path / "x.csv").exists()


def test_the_report_of_a_table_run_compares_columns_and_associations(tmp_path):
    from aekit.viz.views import associations

    data = _people(tmp_path / "p.csv", n=100)
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "r"), "--epochs", "2", "--quiet"]) == 0
    figs = {p.name for p in (tmp_path / "r" / "figures").iterdir()}
    assert {"table_columns.png", "table_associations.png", "loss_curves.png"} <= figs
    assert "reconstructions.png" not in figs  # encoded vectors are not a picture of a row
    page = (tmp_path / "r" / "report.html").read_text()
    assert "synthetic rows (orange)" in page and "in the order income, age, rating, member, city" in page
    assert "<td>city</td><td>categorical, 4 levels: Lima, Oslo, Pune, (missing), with holes</td>" in page
    assert '"table":' not in page  # the schema as a table of its own, not a JSON string in the config
    # associations by hand: a column and its copy go together perfectly, an independent one hardly
    rng = np.random.default_rng(0)
    a = rng.normal(size=400)
    cols = {"a": np.array([f"{v:.3f}" for v in a], dtype=object), "b": np.array([f"{2 * v:.3f}" for v in a],
                                                                               dtype=object),
            "c": np.array([f"{v:.3f}" for v in rng.normal(size=400)], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    model = type("M", (), {"table": codec})()
    m = associations(model, codec.encode(cols))
    assert m[0, 1] > 0.99 and m[0, 2] < 0.2 and np.allclose(m, m.T) and np.allclose(np.diag(m), 1)


def test_an_unseen_category_is_scored_as_the_least_likely_level_by_detect_and_refused_elsewhere():
    cols = {"c": np.array(["a", "b"] * 10, dtype=object), "n": np.array([f"{i}.5" for i in range(20)], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    new = {"c": np.array(["a", "zzz"], dtype=object), "n": np.array(["1.5", "2.5"], dtype=object)}
    with pytest.raises(ValueError, match="'zzz', a category the run never saw"):
        codec.encode(new)
    x = torch.from_numpy(codec.encode(new, unknown="zeros"))
    assert codec.unknown_entries(x) == 1 and x[1, :2].sum() == 0
    logits = torch.tensor([[2.0, -1.0, 0.0], [2.0, -1.0, 0.0]])
    loss = codec.loss(logits, x)["c"]
    assert torch.allclose(loss[1], -torch.log_softmax(logits[1, :2], 0).min())  # the least likely level's surprise
    assert torch.allclose(loss[0], -torch.log_softmax(logits[0, :2], 0)[0])


def test_the_transformer_and_the_detector_take_dataframes_of_mixed_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    from aekit.sklearn import AutoencoderOutlierDetector, AutoencoderTransformer

    df = pd.read_csv(_people(tmp_path / "p.csv", n=150), index_col=0).drop(columns=["name"])
    t = AutoencoderTransformer(latent_dim=3, epochs=3, random_state=0).set_output(transform="pandas")
    codes = t.fit_transform(df)
    assert isinstance(codes, pd.DataFrame) and codes.shape == (150, 3)
    assert list(codes.columns) == ["autoencodertransformer0", "autoencodertransformer1", "autoencodertransformer2"]
    back = t.inverse_transform(codes.to_numpy())
    assert list(back.columns) == list(df.columns) and set(back["city"].dropna()) <= {"Lima", "Oslo", "Pune"}
    with pytest.raises(ValueError, match="the estimator was fitted with"):
        t.transform(df[["age", "city", "income", "rating", "member"]])
    det = AutoencoderOutlierDetector(random_state=0).fit(df)
    odd = df.head(3).copy()
    odd.loc[odd.index[0], "city"] = "Atlantis"  # a category fit never saw: scored, not refused
    scores = det.score_samples(odd)
    assert scores.shape == (3,) and scores[0] < scores[1:].min()
    assert det.reconstruction_error(df.head(4), per_feature=True).shape == (4, 5)  # one error per column


def test_a_constant_column_is_kept_and_decodes_to_its_value_and_nested_parquet_is_named(tmp_path):
    cols = {"k": np.array(["7.5"] * 6, dtype=object), "c": np.array(["x"] * 6, dtype=object),
            "v": np.array(["a", "b", "a", "b", "a", "b"], dtype=object)}
    codec = TableCodec(infer_schema(cols)).fit(cols)
    out = codec.decode(torch.randn(5, codec.width) * 3, torch.Generator().manual_seed(0))
    assert out["k"] == [7.5] * 5 and out["c"] == ["x"] * 5
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2], "l": [[1, 2], [3]]}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match=r"n.parquet: column 'l' has the nested type list"):
        read_table(tmp_path / "n.parquet")


# --- tables larger than memory ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_streamed_table_reads_the_schema_and_rows_of_the_whole_file(tmp_path, monkeypatch, suffix):
    from aekit.config import DataConfig
    from aekit.data import table as tables

    path = _people(tmp_path / "p.csv", n=90)
    if suffix == ".parquet":
        pd = pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        pd.read_csv(path, index_col=0, keep_default_na=False).to_parquet(tmp_path / "p.parquet")
        path = tmp_path / "p.parquet"
    cfg = DataConfig(dataset="table", path=str(path), test_path=str(path))
    whole = tables.load_table(cfg)
    monkeypatch.setattr(tables, "BATCH_ROWS", 7)  # 13 batches, the last of 6 rows
    streamed = tables.load_table(DataConfig(**{**cfg.__dict__, "stream": True}))
    assert "streamed from disk" in streamed.name
    assert streamed.train.table.schema == whole.train.table.schema
    assert torch.equal(streamed.train.x[:], whole.train.x) and torch.equal(streamed.test.x[:], whole.test.x)
    # a sample of 10 rows reads the kinds; levels, ranges, rounding and holes still come from every row
    monkeypatch.setattr(tables, "SAMPLE_ROWS", 10)
    small = tables.load_table(DataConfig(**{**cfg.__dict__, "stream": True}))
    got = {c.name: c for c in small.train.table.schema.columns}
    for c in whole.train.table.schema.columns:
        g = got[c.name]
        assert (g.kind, g.categories, g.lo, g.hi, g.decimals, g.missing) == (c.kind, c.categories, c.lo, c.hi,
                                                                              c.decimals, c.missing)


def test_a_streamed_table_names_a_bad_row_in_a_later_batch_and_large_files_stream_by_themselves(tmp_path, monkeypatch,
                                                                                                capsys):
    from aekit import limits
    from aekit.data import table as tables

    path = _people(tmp_path / "p.csv", n=30)
    monkeypatch.setattr(tables, "BATCH_ROWS", 7)
    with open(path, "a") as f:
        f.write("31,x,1.0,40\n")  # line 32: 4 fields
    line = cli_error(capsys, ["train", "--data", str(path), "--stream", "--out", str(tmp_path / "r"), *TINY])
    assert f"{path}, line 32: 4 fields where the header has 7" in line and not (tmp_path / "r").exists()
    path = _people(tmp_path / "q.csv", n=30)
    monkeypatch.setattr(tables, "PYTHON_BYTES", limits.available_memory())  # as Python values: more than there is
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "r"), *TINY]) == 0
    assert "streamed from disk" in capsys.readouterr().out


def test_the_classifier_takes_a_dataframe_of_mixed_columns_with_the_table_recipe():
    pd = pytest.importorskip("pandas")
    from aekit.sklearn import AutoencoderClassifier
    from aekit.table import table_recipe

    rng = np.random.default_rng(0)
    n = 240
    shop = rng.choice(["north", "south", "east"], n)
    spend = np.where(shop == "north", 80.0, 20.0) + rng.normal(0, 5, n)  # north spends more
    df = pd.DataFrame({"shop": shop, "spend": spend.round(2), "visits": rng.integers(1, 9, n),
                       "member": rng.choice(["yes", "no"], n)})
    y = np.where(shop == "north", "big", "small").astype(object)
    y_train = y.copy()
    y_train[np.arange(n) % 5 != 0] = "-1"  # a fifth labelled, the rest unlabelled (sklearn's -1)
    clf = AutoencoderClassifier(random_state=0).fit(df, y_train)
    assert list(clf.classes_) == ["big", "small"] and clf.table_ is not None and clf.image_shape_ is None
    recipe = table_recipe(n, clf.table_.schema)  # the sizes `aekit train --label-column` gives this table
    m = clf.config_.model
    assert (m.arch, m.hidden, m.latent_dim, clf.config_.train.epochs) == \
        ("mlp", recipe["hidden"], recipe["latent_dim"], recipe["epochs"])
    assert clf.config_.loss.pseudo_weight == 0.0 and clf.config_.loss.view_noise == 0.1  # the config's defaults
    assert clf.config_.loss.neighbour_share == 0.0
    assert list(clf.feature_names_in_) == ["shop", "spend", "visits", "member"]
    assert (clf.predict(df) == y).mean() >= 0.95
    proba = clf.predict_proba(df.head(4))
    assert proba.shape == (4, 2) and np.allclose(proba.sum(1), 1.0, atol=1e-5)
    odd = df.head(2).copy()
    odd.loc[odd.index[0], "shop"] = "west"  # a level fit never saw: read as none of the known ones, not refused
    assert set(clf.predict(odd)) <= {"big", "small"}
    with pytest.raises(ValueError, match="the estimator was fitted with"):
        clf.predict(df[["spend", "shop", "visits", "member"]])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AutoencoderClassifier().fit(df, y_train[:-1])
    with pytest.raises(ValueError, match="no labelled sample"):
        AutoencoderClassifier().fit(df, np.full(n, "-1", dtype=object))


def test_a_dataframe_of_numbers_with_holes_is_a_table_and_a_table_given_to_an_array_model_is_refused():
    pd = pytest.importorskip("pandas")
    from aekit.sklearn import AutoencoderClassifier, AutoencoderTransformer

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=80).round(3), "b": rng.integers(0, 50, 80).astype(float)})
    df.loc[[3, 17], "a"] = np.nan  # two holes: an array of numbers refuses them, a table reads them
    t = AutoencoderTransformer(latent_dim=2, epochs=2, random_state=0).fit(df)
    assert t.table_ is not None and [c.missing for c in t.table_.schema.columns] == [True, False]
    assert np.isfinite(t.transform(df)).all() and t.transform(df).shape == (80, 2)
    y = np.where(df["b"] > 25, "hi", "lo").astype(object)
    clf = AutoencoderClassifier(epochs=5, random_state=0).fit(df, y)
    assert clf.table_ is not None and set(clf.predict(df)) <= {"hi", "lo"}
    plain = AutoencoderTransformer(latent_dim=2, epochs=1, random_state=0).fit(df.fillna(0.0).to_numpy())
    with pytest.raises(ValueError, match="NaN"):  # fitted on numbers: sklearn's own error, not a crash
        plain.transform(df.to_numpy())
    with pytest.raises(ValueError):
        plain.transform(pd.DataFrame({"a": ["x"] * 3, "b": [1.0, 2.0, 3.0]}))


def test_text_labels_of_a_table_name_the_same_classes_in_every_file_and_minus_one_is_unlabelled(tmp_path, capsys):
    import json

    from aekit import checkpoint as ckpt
    from aekit.data.table import labels_of

    # by hand: sorted names, "-1" unknown; a later file's names are read by the training file's, new ones appended
    cols = {"x": np.array([1, 2, 3, 4], dtype=object), "y": np.array(["no", "-1", "yes", " no"], dtype=object)}
    rest, y, levels = labels_of(cols, "y", "t.csv")
    assert list(rest) == ["x"] and y.tolist() == [0, -1, 1, 0] and levels == ["no", "yes"]
    _, y2, levels2 = labels_of({"y": np.array(["yes", "maybe", "-1"], dtype=object)}, "y", "u.csv", levels)
    assert y2.tolist() == [1, 2, -1] and levels2 == ["no", "yes", "maybe"]
    _, y3, _ = labels_of({"y": np.array(["1", "0"], dtype=object)}, "y", "v.csv", ["0", "1"])  # names, not indices
    assert y3.tolist() == [1, 0]
    assert labels_of({"y": np.array(["1", "-1"], dtype=object)}, "y", "n.csv")[1:] == (pytest.approx([1, -1]), None)
    # through the command line: 40 labelled rows of 200, "-1" for the rest; a new file holding only "small" rows
    rng = np.random.default_rng(0)
    lines = ["size,city,label"] + [
        f"{rng.normal(10 if i % 2 == 0 else 0, 1):.2f},{'ab'[i % 2]},{('big', 'small')[i % 2] if i < 40 else -1}"
        for i in range(200)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "new.csv").write_text("size,city,label\n" + "".join(f"{rng.normal(0, 1):.2f},b,small\n"
                                                                   for _ in range(10)))
    assert main(["train", "--data", str(tmp_path / "t.csv"), "--label-column", "label", "--variant", "classifier",
                 "--out", str(tmp_path / "r"), "--quiet", "--no-report"]) == 0
    model = ckpt.load(tmp_path / "r")
    assert model.config.model.classes == 2 and json.loads(model.config.data.label_levels) == ["big", "small"]
    capsys.readouterr()
    assert main(["classify", str(tmp_path / "r"), "--input", str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "l.csv")]) == 0
    assert "accuracy 1.0000 on the 10 labelled samples" in capsys.readouterr().out
    with open(tmp_path / "l.csv") as f:
        out = list(csv.DictReader(f))
    assert {(r["label"], r["class"]) for r in out} == {("1", "small")}  # "small" is class 1, as in training
    # generate asks for a class by its name (or its index), and writes it as the label column
    assert main(["generate", str(tmp_path / "r"), "-n", "4", "--label", "small", "--out",
                 str(tmp_path / "g.csv")]) == 0
    assert "of class 1 (small)" in capsys.readouterr().out
    with open(tmp_path / "g.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["label"] for r in rows} == {"small"} and set(rows[0]) == {"size", "city", "label"}
    err = cli_error(capsys, ["generate", str(tmp_path / "r"), "--label", "huge", "--out", str(tmp_path / "h.csv")])
    assert "--label 'huge' is neither a class index nor one of this run's class names (big, small)" in err
    assert not (tmp_path / "h.csv").exists()
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from aekit.serve import create_app

    client = TestClient(create_app(model))  # the service names the classes and writes the one asked for
    info = client.get("/info").json()
    assert info["classes"] == [0, 1] and info["class_names"] == ["big", "small"]
    served = client.post("/generate", json={"n": 3, "label": 1}).json()["rows"]
    assert [r["label"] for r in served] == ["small"] * 3 and set(served[0]) == {"size", "city", "label"}


def test_a_tables_model_trains_on_one_thread_and_the_callers_count_is_restored(tmp_path):
    import aekit

    table = aekit.load_data(aekit.DataConfig(dataset="table", path=str(_people(tmp_path / "p.csv", n=60))))
    cfg = aekit.Config().override(hidden=(16,), latent_dim=3, epochs=2)
    before = torch.get_num_threads()
    seen = []
    try:
        torch.set_num_threads(2)
        aekit.fit(cfg, table, quiet=True, on_epoch=lambda r: seen.append(torch.get_num_threads()))
        assert seen == [1, 1] and torch.get_num_threads() == 2  # a table: one thread, and the caller's two after
        seen.clear()
        aekit.fit(cfg, np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32), quiet=True,
                  on_epoch=lambda r: seen.append(torch.get_num_threads()))
        assert seen == [2, 2]  # numbers alone keep torch's count
    finally:
        torch.set_num_threads(before)


def test_a_column_of_text_is_read_at_once_as_each_value_is_read_alone():
    from aekit.table import _number, _number_list, is_missing

    numbers = np.array([" 3 ", "1,000", "1e5", "-0.5", "inf", "1_000", "7"], dtype=object)
    mixed = np.array([" 3 ", "", "NA", " n/a ", "yes", "1,5", "?", "None", "null", "12"], dtype=object)
    frame = np.array([None, float("nan"), 2, True, 2.5, "x", " NULL "], dtype=object)  # a DataFrame's objects
    for values in (numbers, mixed, frame):
        assert _number_list(values) == [_number(v) for v in values]
    assert _number_list(numbers) == [3.0, 1000.0, 100000.0, -0.5, math.inf, 1000.0, 7.0]
    assert _number_list(mixed) == [3.0, None, None, None, None, 15.0, None, None, None, 12.0]
    assert is_missing(mixed).tolist() == [False, True, True, True, False, False, True, True, True, False]
    assert is_missing(frame).tolist() == [True, True, False, False, False, False, True]
    assert not is_missing(numbers).any()
