"""Walking a Keras model: every layer, the slope variables, whether the outputs are probabilities."""

import re

import keras
import numpy as np

#: Learnable negative slopes are the variables named this (ours and keras.layers.PReLU's).
SLOPE_VARIABLE_NAME = "alpha"
# Optimizers see either the Keras variable ("alpha") or, on TensorFlow, the
# backing tf.Variable ("layer_name/alpha:0").
SLOPE_VARIABLE_PATTERN = rf"(^|/){SLOPE_VARIABLE_NAME}(:\d+)?$"


def all_layers(model):
    """Every layer of `model`, nested models' layers included (depth first)."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
    return found


def named_layers(model, prefix=""):
    """(name, layer) for every layer of `model` but inputs, nested layers named `outer/inner`."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        found.append((prefix + layer.name, layer))
        if isinstance(layer, keras.Model):
            found.extend(named_layers(layer, prefix + layer.name + "/"))
    return found


def is_slope_variable(variable):
    """Whether a variable is a learnable negative slope, by its name (`alpha`)."""
    return re.search(SLOPE_VARIABLE_PATTERN, getattr(variable, "name", "") or "") is not None


def slope_variables(model):
    """{layer name: slope variable} for every layer holding a slope variable (PReLU)."""
    found = {}
    for layer in all_layers(model):
        alpha = getattr(layer, SLOPE_VARIABLE_NAME, None)
        if isinstance(alpha, keras.Variable) and is_slope_variable(alpha):
            found[layer.name] = alpha
    return found


def output_layer(model):
    """The layer producing the model's (first) output, looking inside nested models."""
    layer = None
    outputs = getattr(model, "outputs", None)
    if outputs:
        history = getattr(outputs[0], "_keras_history", None)
        layer = None if history is None else history.operation
    if layer is None:
        layers = getattr(model, "layers", None)
        layer = layers[-1] if layers else None
    if isinstance(layer, keras.Model) and layer is not model:
        return output_layer(layer)
    return layer


def outputs_are_probabilities(model):
    """True when the (first) output comes out of a softmax or a sigmoid; else outputs are logits."""
    layer = output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return True
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name in ("softmax", "sigmoid")


def variables_are_finite(model):
    """Whether every floating-point variable of `model` (weights, statistics) is finite."""
    return all(
        np.all(np.isfinite(keras.ops.convert_to_numpy(v))) for v in model.variables
        if np.issubdtype(np.dtype(keras.backend.standardize_dtype(v.dtype)), np.floating)
    )
