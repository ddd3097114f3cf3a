"""The serving signature every format shares: one named input with a dynamic batch,
named outputs, and the function that runs the model in inference mode."""

import inspect
import re

import keras
import tensorflow as tf


def _sanitize(name, fallback):
    name = re.sub(r"[^A-Za-z0-9_]", "_", str(name or "")).strip("_")
    if not name:
        name = fallback
    if name[0].isdigit():
        name = f"{fallback}_{name}"
    return name


def check_model(model):
    """The single input of `model`; a TypeError or ValueError for anything export cannot handle."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model).__name__}")
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            "The model has no defined inputs; build it with keras.Input(...) "
            "(functional) or give a Sequential model an Input layer."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"Export supports single-input models. Received a model with {len(inputs)} inputs."
        )
    return inputs[0]


def io_names(model, input_name=None):
    """(input name, [output names]): identifiers, unique, from the model's (or `input_name`)."""
    model_input = check_model(model)
    in_name = _sanitize(input_name or model_input.name, "input")
    try:
        raw = list(model.output_names)
    except (AttributeError, ValueError):
        raw = []
    count = len(keras.tree.flatten(model.outputs))
    if len(raw) != count:
        raw = [f"output_{i}" for i in range(count)]
    out_names = []
    for i, name in enumerate(raw):
        name = _sanitize(name, f"output_{i}")
        if name in out_names or name == in_name:
            name = f"{name}_{i}"
        out_names.append(name)
    return in_name, out_names


def input_spec(model, in_name):
    """The `tf.TensorSpec` of the serving input: the model's input with a dynamic batch."""
    model_input = check_model(model)
    shape = (None,) + tuple(model_input.shape[1:])
    return tf.TensorSpec(shape, keras.backend.standardize_dtype(model_input.dtype), name=in_name)


def serving_function(model, in_name, out_names):
    """`fn(<in_name>=x) -> {output name: tensor}` running the model in inference mode."""

    def serve(x):
        outputs = keras.tree.flatten(model(x, training=False))
        return {name: value for name, value in zip(out_names, outputs)}

    # The argument name becomes the signature's input name in every format.
    serve.__signature__ = inspect.Signature(
        [inspect.Parameter(in_name, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    )
    return serve
