"""Classification by a model trained with the classifier variant (a head on the code, learned from the labelled
samples, -1 = unknown, and from the agreement of two views of every sample)."""

from __future__ import annotations

import numpy as np
import torch

from ..model import NO_CLASSIFIER, Autoencoder
from .infer import CHUNK, batched


def predict_proba(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """Class probabilities of the inputs.

    Parameters
    ----------
    model : a model trained with the classifier variant.
    x : (N, *input_shape) inputs.

    Returns
    -------
    (N, C) float32 probabilities (softmax of the head's scores), rows summing to 1.
    """
    if model.classifier is None:
        raise ValueError(NO_CLASSIFIER.format(model.config.variant_name))
    return batched(model, x, lambda xb: torch.softmax(model.classify(xb), 1), batch_size)


def classify(model: Autoencoder, x: np.ndarray | torch.Tensor, batch_size: int = CHUNK) -> np.ndarray:
    """(N, *input_shape) -> (N,) int64 predicted class indices (the most probable class)."""
    return predict_proba(model, x, batch_size).argmax(1).astype(np.int64)
