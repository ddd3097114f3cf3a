"""Small argument checks shared by layers, constraints and initializers."""

import math
import numbers


def check_number(name, value, minimum=None, maximum=None, strict_minimum=False):
    """Return `value` as a float, or raise a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
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
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}. Received: {name}={value}")
    return value


def check_choice(name, value, choices):
    """Raise a ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {sorted(choices)}. Received: {name}={value!r}"
        )
    return value
