"""Augmentation on tables: does adding aekit's synthetic rows help a classifier?

Protocol (issue 29), on the development tables of ``bench_tables.py`` (their halves and targets), scored on the
holdout half with HistGradientBoostingClassifier (categories ordinal-encoded and declared categorical):

1. Few labels: 100 random rows of the train half (seed 0..4) alone, against the same 100 rows plus 100 synthetic
   rows of each class drawn from an :class:`aekit.sklearn.AutoencoderSynthesizer` fitted on those 100 rows
   (``aekit.apps.sample_rows`` with ``where={target: class}``). Accuracy, mean over the five draws.
2. Imbalance: the whole train half, its minority classes oversampled up to the majority's count, by aekit (rows of
   that class from a synthesizer fitted on the train half) against imbalanced-learn's SMOTE-NC (SMOTE for numbers,
   the most frequent value among neighbours for categories), and against no oversampling. Balanced accuracy.

    python benchmarks/bench_table_augment.py
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from bench_tables import DEV_TABLES, load


def _xy(df, target, enc, cats, feats):
    x = df[feats].copy()
    if cats:
        x[cats] = enc.transform(df[cats].astype(str))
    return x.astype(float).to_numpy(), df[target].astype(str).to_numpy()


def score(train, hold, target, balanced: bool = False) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import OrdinalEncoder

    feats = [c for c in hold.columns if c != target]
    cats = [c for c in feats if not np.issubdtype(hold[c].dtype, np.number)]
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    if cats:
        enc.fit(hold[cats].astype(str))
    x, y = _xy(train, target, enc, cats, feats)
    hx, hy = _xy(hold, target, enc, cats, feats)
    clf = HistGradientBoostingClassifier(categorical_features=[c in cats for c in feats] or None, random_state=0)
    pred = clf.fit(x, y).predict(hx)
    return float(balanced_accuracy_score(hy, pred) if balanced else np.mean(pred == hy))


def synthetic_by_class(rows, target: str, counts: dict, seed: int = 0):
    """Rows of each class (count per class) from a synthesizer fitted on ``rows``."""
    import pandas as pd

    from aekit import apps
    from aekit.sklearn import AutoencoderSynthesizer

    syn = AutoencoderSynthesizer(random_state=seed).fit(rows)
    level = {str(v): v for v in rows[target].unique()}
    parts = []
    for cls, n in counts.items():
        if n <= 0:
            continue
        text = str(int(float(cls))) if isinstance(cls, (int, float, np.number)) and float(cls).is_integer() else \
            str(cls)
        out, _ = apps.sample_rows(syn.model_, int(n), seed, where={target: text})
        df = pd.DataFrame(out)
        df[target] = level[str(cls)]
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def smote_nc(train, target: str, seed: int = 0):
    import pandas as pd
    from imblearn.over_sampling import SMOTENC, RandomOverSampler

    feats = [c for c in train.columns if c != target]
    cats = [c for c in feats if not np.issubdtype(train[c].dtype, np.number)]
    x = train[feats].copy()
    for c in feats:
        x[c] = x[c].astype(str) if c in cats else x[c].fillna(x[c].median())
    k = max(1, min(5, int(train[target].value_counts().min()) - 1))
    if cats and len(cats) < len(feats):
        s = SMOTENC(categorical_features=[c in cats for c in feats], random_state=seed, k_neighbors=k)
    else:  # SMOTE-NC needs numbers and categories; all-categorical: random oversampling
        s = RandomOverSampler(random_state=seed)
    xr, yr = s.fit_resample(x, train[target].astype(str))
    out = pd.DataFrame(xr, columns=feats)
    for c in feats:
        if c not in cats:
            out[c] = out[c].astype(float)
    levels = {str(v): v for v in train[target].unique()}
    out[target] = [levels[v] for v in yr]
    return out


def main() -> None:
    import pandas as pd

    warnings.filterwarnings("ignore")
    few, imb = [], []
    for name, (_, _, target) in DEV_TABLES.items():
        train, hold, _ = load(name)
        train = train.dropna(subset=[target])
        alone, aug = [], []
        for seed in range(5):
            small = train.sample(100, random_state=seed)
            if small[target].nunique() < 2:
                continue
            alone.append(score(small, hold, target))
            counts = {c: 100 for c in small[target].unique()}
            aug.append(score(pd.concat([small, synthetic_by_class(small, target, counts, seed)], ignore_index=True),
                             hold, target))
        few.append({"table": name, "alone": np.mean(alone), "augmented": np.mean(aug)})
        vc = train[target].value_counts()
        need = {c: int(vc.max() - n) for c, n in vc.items()}
        imb.append({"table": name, "minority_share": float(vc.min() / vc.sum()),
                    "none": score(train, hold, target, True),
                    "aekit": score(pd.concat([train, synthetic_by_class(train, target, need)], ignore_index=True),
                                   hold, target, True),
                    "smote_nc": score(smote_nc(train, target), hold, target, True)})
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in {**few[-1], **imb[-1]}.items()}),
              flush=True)
    f, i = pd.DataFrame(few), pd.DataFrame(imb)
    print(f"100 rows: accuracy alone {f['alone'].mean():.3f}, with synthetic rows {f['augmented'].mean():.3f} "
          f"(better on {(f['augmented'] > f['alone']).sum()} of {len(f)})")
    print(f"oversampling: balanced accuracy none {i['none'].mean():.3f}, aekit {i['aekit'].mean():.3f}, SMOTE-NC "
          f"{i['smote_nc'].mean():.3f} (aekit above SMOTE-NC on {(i['aekit'] > i['smote_nc']).sum()} of {len(i)})")


if __name__ == "__main__":
    main()
