"""Applications of a trained model, one module each; every public name is re-exported here.

- :mod:`.infer`: ``encode``, ``reconstruct``, ``decode``, ``reconstruction_error`` (batched, batch-invariant);
- :mod:`.generate`: ``interpolate``, ``interpolate_codes``, ``slerp``, ``sample``, ``log_likelihood``;
- :mod:`.denoise`: ``denoise``, ``psnr``;
- :mod:`.anomaly`: ``detect``, ``run_detector`` (a run's one scoring rule), ``AnomalyScorer``, ``error_threshold``,
  ``check_error_window``, ``local_error``, ``worst_columns`` (a table row's column rebuilt worst),
  ``detector_recipe``, ``NEIGHBORS``, ``MAX_REFERENCE``;
- :mod:`.probe`: ``probe``, ``linear_probe``;
- :mod:`.codec`: ``compress``, ``decompress`` (files of bits from a model trained with the rate variant);
- :mod:`.classify`: ``classify``, ``predict_proba`` (a model trained with the classifier variant),
  ``classifier_recipe`` (its default sizes), ``image_rows`` (whether rows of numbers are square images),
  ``class_names`` (a labelled run's classes by name), ``label_value`` (its label column's value for a class).

A new application is a new module here, exported below, with its command in :mod:`aekit.cli`.
"""

from __future__ import annotations

from .anomaly import (
           MAX_REFERENCE,
           NEIGHBORS,
           AnomalyScorer,
           Detection,
           check_error_window,
           default_score,
           detect,
           detector_recipe,
           error_threshold,
           local_error,
           run_detector,
           worst_columns,
)
from .classify import class_names, classifier_recipe, classify, image_rows, label_value, predict_proba
from .codec import compress, decompress
from .denoise import Denoised, denoise, psnr
from .generate import interpolate, interpolate_codes, log_likelihood, sample, sample_rows, slerp
from .impute import impute, impute_draws
from .infer import CHUNK, batched, decode, encode, reconstruct, reconstruction_error, table_errors
from .probe import linear_probe, probe

__all__ = ["CHUNK", "MAX_REFERENCE", "NEIGHBORS", "AnomalyScorer", "Denoised", "Detection", "batched",
           "check_error_window", "class_names", "classifier_recipe", "classify", "image_rows", "compress", "decode",
           "default_score", "decompress", "denoise", "detect", "detector_recipe", "encode", "impute", "impute_draws",
           "error_threshold", "interpolate", "interpolate_codes", "label_value", "linear_probe", "local_error",
           "log_likelihood", "predict_proba", "probe", "psnr", "reconstruct", "reconstruction_error", "run_detector",
           "sample", "sample_rows", "slerp", "table_errors", "worst_columns"]
