"""Optimizers that never decay PReLU slopes (He et al. 2015: decay pushes them back to ReLU)."""

import keras

from keras_prelu.utils.models import SLOPE_VARIABLE_PATTERN, is_slope_variable
from keras_prelu.utils.validation import PACKAGE

__all__ = [
    "SLOPE_VARIABLE_PATTERN", "exclude_slopes_from_weight_decay", "get", "is_slope_variable",
    "slope_exempt_class",
]


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


_SLOPE_EXEMPT = {}


def slope_exempt_class(cls):
    """The registered subclass of Keras optimizer class `cls` whose constructor exempts the slopes.

    Its config is the Keras one under the name `keras_prelu>SlopeExempt<Name>`,
    so an optimizer deserialized from it (e.g. a `.keras` file's compile
    settings) exempts the slopes again; Keras does not serialize
    `exclude_from_weight_decay`.
    """
    if getattr(cls, "_exempts_slopes", False):  # already one of these subclasses
        return cls
    if cls not in _SLOPE_EXEMPT:
        name = f"SlopeExempt{cls.__name__}"

        def __init__(self, *args, **kwargs):
            cls.__init__(self, *args, **kwargs)
            exclude_slopes_from_weight_decay(self)

        subclass = type(name, (cls,), {
            "__init__": __init__, "__module__": __name__, "_exempts_slopes": True,
            "__doc__": f"`keras.optimizers.{cls.__name__}` whose weight decay never touches "
                       "PReLU slopes, also after serialization.",
        })
        _SLOPE_EXEMPT[cls] = keras.saving.register_keras_serializable(package=PACKAGE, name=name)(
            subclass)
    return _SLOPE_EXEMPT[cls]


# Registered at import, so saved files name classes that exist when they are loaded.
for _name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam",
              "Lion", "Adafactor"):
    if hasattr(keras.optimizers, _name):
        slope_exempt_class(getattr(keras.optimizers, _name))


def get(identifier, **kwargs):
    """A Keras optimizer by name or config (e.g. `"sgd"`, `"adamw"`) with slopes exempt from decay.

    Names and configs of the common Keras optimizers give an instance of their
    registered `SlopeExempt...` subclass, whose exemption survives
    serialization; other classes, and an optimizer instance passed in, are
    exempted in place.
    """
    if isinstance(identifier, keras.optimizers.Optimizer):
        return exclude_slopes_from_weight_decay(identifier)
    if isinstance(identifier, str):
        try:
            cls = type(keras.optimizers.get(identifier))
        except ValueError as error:
            raise ValueError(
                "Unknown optimizer. Accepted: a Keras optimizer name such as 'sgd', "
                f"'adam', 'adamw'. Received: optimizer={identifier!r}"
            ) from error
        return _exempt_instance(cls, **kwargs)
    optimizer = keras.optimizers.get(identifier)
    return _exempt_instance(type(optimizer), **optimizer.get_config())


def _exempt_instance(cls, **config):
    """An optimizer of `cls` (its registered slope-exempt subclass where there is one)."""
    exempt = cls if getattr(cls, "_exempts_slopes", False) else _SLOPE_EXEMPT.get(cls)
    if exempt is not None:
        return exempt.from_config(config)
    return exclude_slopes_from_weight_decay(cls.from_config(config))
