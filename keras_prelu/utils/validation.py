"""Argument checks shared by every layer of the package, and the package's serialization name."""

import difflib
import math
import numbers

import numpy as np

#: The package string of `register_keras_serializable`: part of every saved file, never change it.
PACKAGE = "keras_prelu"


def check_int(name, value, minimum=None, maximum=None):
    """Return `value` as an int (bools refused), or raise a ValueError naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)):
        bounds = _bounds_text(minimum, maximum)
        raise ValueError(f"`{name}` must be an int{bounds}. Received: {name}={value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(
            f"`{name}` must be an int{_bounds_text(minimum, maximum)}. Received: {name}={value!r}"
        )
    return value


def _bounds_text(minimum, maximum):
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def check_number(name, value, minimum=None, maximum=None, strict_minimum=False, strict_maximum=False):
    """Return `value` as a finite float, or raise a ValueError naming `name`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a real number. Received: {name}={value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite. Received: {name}={value}")
    if minimum is not None:
        too_small = value <= minimum if strict_minimum else value < minimum
        if too_small:
            relation = ">" if strict_minimum else ">="
            raise ValueError(
                f"`{name}` must be {relation} {minimum}. Received: {name}={value}"
            )
    if maximum is not None:
        too_large = value >= maximum if strict_maximum else value > maximum
        if too_large:
            relation = "<" if strict_maximum else "<="
            raise ValueError(f"`{name}` must be {relation} {maximum}. Received: {name}={value}")
    return value


def check_choice(name, value, choices):
    """Raise a ValueError unless `value` is one of `choices`."""
    if value not in choices:
        shown = sorted(choices, key=lambda c: (c is None, str(c)))
        raise ValueError(f"`{name}` must be one of {shown}. Received: {name}={value!r}")
    return value


def close_matches(value, known, n=3):
    """The entries of `known` closest to `value` (difflib, best first; may be empty)."""
    return difflib.get_close_matches(str(value), list(known), n=n, cutoff=0.6)


def suggest(value, known, n=3):
    """" Did you mean: a, b?" for close matches of `value` among `known`, else ""."""
    close = close_matches(value, known, n)
    return f" Did you mean: {', '.join(close)}?" if close else ""
