"""Parity checks: the Keras model's reference outputs, how far an artifact's are from
them (`Parity`), and the batch they are compared on."""

import dataclasses

import keras
import numpy as np

from keras_prelu.export.common import ExportError, ParityError


def keras_outputs(model, x, out_names, batch_size=64):
    """The Keras model's outputs (its normal fast path) as {name: ndarray}."""
    chunks = {name: [] for name in out_names}
    for start in range(0, len(x), batch_size):
        outputs = keras.tree.flatten(model(x[start : start + batch_size], training=False))
        for name, value in zip(out_names, outputs):
            chunks[name].append(keras.ops.convert_to_numpy(value))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


@dataclasses.dataclass(frozen=True)
class Parity:
    """How far an artifact's outputs are from the Keras model's.

    `max_abs_diff` is the largest |exported - Keras|; `max_scaled_diff` divides
    each output's differences by max(1, that output's largest |Keras value|),
    so it is the absolute difference for outputs within [-1, 1] and a relative
    one for larger outputs (float32 rounding grows with the magnitude: logits
    of 20 carry about 2e-6 of rounding between two correct kernels).
    """

    max_abs_diff: float
    max_scaled_diff: float
    output_scale: float

    def worst(self, other):
        return Parity(
            max(self.max_abs_diff, other.max_abs_diff),
            max(self.max_scaled_diff, other.max_scaled_diff),
            max(self.output_scale, other.output_scale),
        )


def compare_outputs(reference, got, what="The export"):
    """`Parity` of `got` against `reference` ({name: array}); missing or misshapen outputs raise."""
    worst_abs = worst_scaled = scale = 0.0
    for name, ref in reference.items():
        if name not in got:
            raise ExportError(f"{what} has no output {name!r}; it has {sorted(got)}")
        value = np.asarray(got[name])
        if value.shape != ref.shape:
            raise ExportError(
                f"{what} output {name!r} has shape {value.shape}, the Keras model's {ref.shape}"
            )
        ref64, value64 = ref.astype("float64"), value.astype("float64")
        same_nonfinite = (~np.isfinite(ref64)) & (ref64 == value64)
        diff = np.where(same_nonfinite, 0.0, np.abs(ref64 - value64))
        diff = np.where(np.isnan(diff), np.inf, diff)
        if not diff.size:
            continue
        finite = np.abs(ref64[np.isfinite(ref64)])
        output_scale = float(finite.max()) if finite.size else 0.0
        worst_abs = max(worst_abs, float(diff.max()))
        worst_scaled = max(worst_scaled, float(diff.max()) / max(1.0, output_scale))
        scale = max(scale, output_scale)
    return Parity(worst_abs, worst_scaled, scale)


def check_parity(reference, got, atol, what):
    """`compare_outputs`, raising `ParityError` when the scaled difference exceeds `atol`."""
    parity = compare_outputs(reference, got, what)
    if not parity.max_scaled_diff <= atol:
        raise ParityError(
            f"{what} differs from the Keras model: max |diff| = {parity.max_abs_diff:.3g} "
            f"(outputs up to {parity.output_scale:.3g} in magnitude) > tolerance {atol:g}"
            + (" x max(1, |output|)" if parity.output_scale > 1 else "")
        )
    return parity


def as_sample(sample, spec, size, seed=0):
    """(batch as ndarray of the signature dtype, description); `size` random normal rows if None."""
    if sample is None:
        rng = np.random.default_rng(seed)
        shape = (size,) + tuple(spec.shape[1:])
        if any(s is None for s in shape):
            raise ValueError(
                f"The model's input shape {tuple(spec.shape)} has unknown sizes beyond the "
                "batch; pass a `sample` batch to verify the export with."
            )
        return rng.standard_normal(shape).astype(spec.dtype.as_numpy_dtype), "random normal"
    x = np.asarray(sample)
    expected = tuple(spec.shape[1:])
    if x.ndim != len(expected) + 1 or any(
        e is not None and e != s for e, s in zip(expected, x.shape[1:])
    ):
        raise ValueError(
            f"The sample batch must have shape (N,) + {expected}. Received: shape {x.shape}"
        )
    if len(x) == 0:
        raise ValueError("The sample batch is empty.")
    return x.astype(spec.dtype.as_numpy_dtype), "given"
