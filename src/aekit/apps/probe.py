"""Feature quality: a linear probe on the codes, against PCA codes of the same size and the raw inputs."""

from __future__ import annotations

import numpy as np

from ..batch import class_labels
from ..model import Autoencoder
from .infer import encode

def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 seed: int = 0) -> float:
    """Test accuracy of a standardised logistic regression fitted on (train_x, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(train_x.reshape(len(train_x), -1), train_y)
    return float(clf.score(test_x.reshape(len(test_x), -1), test_y))


def probe(model: Autoencoder, train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
          test_y: np.ndarray) -> dict[str, float]:
    """Linear-probe accuracy on the model's codes, on PCA codes of the same size (fewer when the training split has
    fewer samples or features than the code has values: the key says how many), and on the raw inputs. Rows whose
    label is unknown (-1) are left out; the training split needs labelled samples of two classes."""
    from sklearn.decomposition import PCA

    train_y = class_labels(train_y, what="the probe's training split", n=len(train_x)).numpy()
    test_y = class_labels(test_y, what="the probe's test split", n=len(test_x), min_classes=1).numpy()
    train_x, train_y = train_x[train_y >= 0], train_y[train_y >= 0]
    test_x, test_y = test_x[test_y >= 0], test_y[test_y >= 0]
    L = int(np.prod(model.code_shape))
    flat_tr, flat_te = train_x.reshape(len(train_x), -1), test_x.reshape(len(test_x), -1)
    k = min(L, *flat_tr.shape)
    pca = PCA(k, random_state=0).fit(flat_tr)
    return {
        f"codes_{L}d": linear_probe(encode(model, train_x).reshape(len(train_x), -1), train_y,
                                    encode(model, test_x).reshape(len(test_x), -1), test_y),
        f"pca_{k}d": linear_probe(pca.transform(flat_tr), train_y, pca.transform(flat_te), test_y),
        f"raw_{flat_tr.shape[1]}d": linear_probe(flat_tr, train_y, flat_te, test_y),
    }
