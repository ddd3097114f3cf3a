"""Optimizers that never decay PReLU slopes (He et al. 2015: decay pushes them back to ReLU)."""

import keras

from keras_prelu.utils.models import SLOPE_VARIABLE_PATTERN, is_slope_variable

__all__ = ["SLOPE_VARIABLE_PATTERN", "exclude_slopes_from_weight_decay", "get", "is_slope_variable"]


def exclude_slopes_from_weight_decay(optimizer):
    """Make `optimizer` skip weight decay on slope variables; returns it.

    Keeps whatever the optimizer already excluded. Call before the optimizer
    is built (before its first step).
    """
    if getattr(optimizer, "built", False):
        raise ValueError(
            "Call exclude_slopes_from_weight_decay before the optimizer's first "
            f"step (it is already built). Received: optimizer={optimizer.name!r}"
        )
    kept_variables = getattr(optimizer, "_exclude_from_weight_decay", set())
    old_pattern = getattr(optimizer, "_exclude_from_weight_decay_pattern", None)
    patterns = [SLOPE_VARIABLE_PATTERN]
    if old_pattern is not None:
        patterns.append(old_pattern.pattern)
    optimizer.exclude_from_weight_decay(var_names=patterns)
    optimizer._exclude_from_weight_decay = set(kept_variables)
    return optimizer


def get(identifier, **kwargs):
    """A Keras optimizer by name or config (e.g. `"sgd"`, `"adamw"`) with slopes exempt from decay."""
    if isinstance(identifier, keras.optimizers.Optimizer):
        optimizer = identifier
    elif isinstance(identifier, str):
        try:
            cls = type(keras.optimizers.get(identifier))
        except ValueError as error:
            raise ValueError(
                "Unknown optimizer. Accepted: a Keras optimizer name such as 'sgd', "
                f"'adam', 'adamw'. Received: optimizer={identifier!r}"
            ) from error
        optimizer = cls(**kwargs)
    else:
        optimizer = keras.optimizers.get(identifier)
    return exclude_slopes_from_weight_decay(optimizer)
