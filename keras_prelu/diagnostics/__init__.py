"""Diagnostics for rectifier networks: what the theory of PReLU asks to watch.

- `NegativeFractionMonitor` / `measure_negative_fraction`: per channel, how
  often each rectifier's input is negative; idle PReLU slopes, dead ReLUs.
- `SlopeTracker` / `slope_statistics`: learned slopes per epoch; warns when a
  slope leaves (0, 1).
- `stability_report`: weight gains, negative-path gains, balancing slopes,
  measured gradient flow; flags vanishing/exploding chains.
- `find_bn_prelu_pairs`, `fold_batchnorm`, `foldable_batchnorms`:
  BatchNorm/PReLU coupling and inference-mode folding.
- `sculpt`: remove rectifiers with slopes near 1 and merge linear layers.
- `zero_input_gradient_fraction`, `fgsm_accuracy`, `pgd_accuracy`: gradient
  masking and robustness curves.
- `keras_prelu.diagnostics.plots` (needs matplotlib, loaded on first use).

All functions take Functional or Sequential Keras models, on the TensorFlow,
JAX and PyTorch backends of Keras (TensorFlow is imported only where it is
used: on TensorFlow the passes are compiled `tf.function`s; elsewhere they run
batch by batch, with gradients from `_gradients` and jitted on JAX). Data is
NumPy (`x`, `(x, y)`) everywhere, or a `tf.data.Dataset` where TensorFlow is
installed. TensorBoard event files (`log_dir=`) are written with or without
TensorFlow.
"""

import importlib

from keras_prelu.diagnostics.batchnorm import (
    BNPReLUPair,
    find_bn_prelu_pairs,
    fold_batchnorm,
    foldable_batchnorms,
)
from keras_prelu.diagnostics.negative_fraction import (
    LayerNegativeFraction,
    NegativeFractionMonitor,
    NegativeFractionReport,
    measure_negative_fraction,
)
from keras_prelu.diagnostics.robustness import (
    RobustnessCurve,
    fgsm_accuracy,
    pgd_accuracy,
    zero_input_gradient_fraction,
)
from keras_prelu.diagnostics.sculpt import SculptResult, sculpt
from keras_prelu.diagnostics.slopes import SlopeTracker, SlopeWarning, slope_statistics
from keras_prelu.diagnostics.stability import (
    ChainStability,
    LayerStability,
    StabilityReport,
    stability_report,
)

__all__ = [
    "BNPReLUPair",
    "ChainStability",
    "LayerNegativeFraction",
    "LayerStability",
    "NegativeFractionMonitor",
    "NegativeFractionReport",
    "RobustnessCurve",
    "SculptResult",
    "SlopeTracker",
    "SlopeWarning",
    "StabilityReport",
    "fgsm_accuracy",
    "find_bn_prelu_pairs",
    "fold_batchnorm",
    "foldable_batchnorms",
    "measure_negative_fraction",
    "pgd_accuracy",
    "plots",
    "sculpt",
    "slope_statistics",
    "stability_report",
    "zero_input_gradient_fraction",
]


def __getattr__(name):
    # `plots` needs matplotlib: import it only when it is asked for.
    if name == "plots":
        return importlib.import_module("keras_prelu.diagnostics.plots")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
