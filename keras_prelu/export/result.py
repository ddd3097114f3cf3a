"""`ExportResult`: what `export_model` wrote and how it was verified."""

import dataclasses

from keras_prelu.export.common import SERVING_ENDPOINT


@dataclasses.dataclass
class ExportResult:
    """What `export_model` wrote and how it was verified.

    Attributes:
        format: one of `FORMATS`.
        path: the artifact written (for a versioned SavedModel, `PATH/VERSION`).
        max_abs_diff: largest |exported - Keras| over the outputs of the check
            batch (and of its first row alone, which checks a batch of 1).
        max_scaled_diff: the same divided by max(1, |Keras output|); this is
            what is held to `atol` (see `Parity`).
        output_scale: largest |Keras output| on the check batch.
        atol: the tolerance.
        sample_size: number of inputs in the check batch.
        sample_source: where the check batch came from ("given", "random normal").
        inputs: {name: (dtype, shape)} of the exported signature (batch as -1).
        outputs: {name: (dtype, shape)} likewise.
        ops: for TFLite and ONNX, {op name: count} of the written graph.
        note: e.g. that a mixed-precision model was exported as float32.
        jit_compile: for a SavedModel, whether it serves as one XLA computation.
        quantization: for int8 TFLite, figures of the quantized model against
            the Keras model (accuracies, drop in percentage points, agreement,
            max |diff|); the parity fields above then describe the float
            conversion of the same graph, which is checked before quantizing.
    """

    format: str
    path: str
    max_abs_diff: float
    max_scaled_diff: float
    output_scale: float
    atol: float
    sample_size: int
    sample_source: str
    inputs: dict
    outputs: dict
    ops: dict = None
    quantization: dict = None
    note: str = ""
    jit_compile: bool = False

    def summary(self):
        """Human-readable lines, as printed by `keras-prelu export`."""
        lines = [f"exported {self.format} to {self.path}"]
        ins = ", ".join(f"{n} {d}{list(s)}" for n, (d, s) in self.inputs.items())
        outs = ", ".join(f"{n} {d}{list(s)}" for n, (d, s) in self.outputs.items())
        signature = f"signature '{SERVING_ENDPOINT}': " if self.format == "saved_model" else ""
        lines.append(f"  {signature}inputs {ins} -> outputs {outs}")
        if self.ops:
            lines.append("  ops: " + ", ".join(f"{n} x{c}" for n, c in sorted(self.ops.items())))
        what = "float conversion parity" if self.quantization else "parity"
        tolerance = f"{self.atol:g}" + (" x max(1, |output|)" if self.output_scale > 1 else "")
        lines.append(
            f"  {what} vs Keras on {self.sample_size} inputs ({self.sample_source}): "
            f"max |diff| = {self.max_abs_diff:.3g} (outputs up to {self.output_scale:.3g}; "
            f"tolerance {tolerance})"
        )
        if self.jit_compile:
            lines.append(
                "  compiled: the serving function is one XLA computation; serve it where XLA is "
                "available (TF Serving on CPU: --xla_cpu_compilation_enabled=true); each new "
                "batch size compiles on its first call")
        if self.note:
            lines.append(f"  note: {self.note}")
        if self.quantization:
            lines.extend(_quantization_lines(self.quantization))
        return "\n".join(lines)

    def to_dict(self):
        return dataclasses.asdict(self)


def _quantization_lines(q):
    lines = []
    if q.get("accuracy_keras") is not None:
        lines.append(
            f"  int8 accuracy on {q['eval_size']} labelled samples ({q['eval_source']}): "
            f"Keras {q['accuracy_keras']:.4f} -> int8 {q['accuracy_int8']:.4f} "
            f"(drop {q['accuracy_drop_pp']:.2f} percentage points)"
        )
    agreement = (
        f"top-1 agreement {q['top1_agreement']:.4f}, "
        if q.get("top1_agreement") is not None else ""
    )
    lines.append(
        f"  int8 vs Keras on {q['eval_size']} samples: {agreement}"
        f"max |diff| = {q['max_abs_diff']:.3g} (calibrated on {q['calibration_size']} samples)"
    )
    return lines
