"""The names a study works with: its activations (from `keras_prelu.activations.ACTIVATIONS`),
the zoo models and cells they give, and the parsing of the user's lists and counts.

    parse_activations("relu, leaky")          # ["relu", "leaky_relu"]
    model_name("mlp3x256", "leaky_relu")      # "mlp3x256_leaky"
    resolve_architecture("mlp3x256_prelu")    # "mlp3x256"
"""

import zoo
from keras_prelu import activations as activation_table
from keras_prelu.utils.validation import check_int, close_matches

#: Study activation name -> zoo name suffix, in the activation table's order.
ACTIVATION_SUFFIXES = {spec.name: spec.zoo_suffix for spec in activation_table.ACTIVATIONS}
DEFAULT_ACTIVATIONS = tuple(ACTIVATION_SUFFIXES)
#: Seeds of a study unless told otherwise: enough for a t-interval that can exclude 0.
DEFAULT_SEEDS = 5
#: The activations whose negative slope is learned.
LEARNABLE = tuple(spec.name for spec in activation_table.ACTIVATIONS if spec.learnable)


class StudyError(ValueError):
    """A study that cannot run as asked: unknown activation or model, bad counts, a conflicting DIR."""


def _accepted():
    return ", ".join(DEFAULT_ACTIVATIONS)


def _canonical_activation(raw):
    """The table's name of one user-given activation; unknown names raise StudyError with a hint."""
    try:
        return activation_table.canonical_name(raw)
    except ValueError:
        close = close_matches(raw.lower(), DEFAULT_ACTIVATIONS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise StudyError(f"unknown activation {raw!r}{hint}: accepted are {_accepted()}") from None


def parse_activations(activations):
    """Canonical study names from "relu,prelu" or a list; unknown or repeated names raise StudyError."""
    if isinstance(activations, str):
        activations = [part.strip() for part in activations.split(",")]
    if not activations or any(not isinstance(a, str) or not a for a in activations):
        raise StudyError(
            f"--activations needs a comma-separated list from {_accepted()}; "
            f"received {activations!r}"
        )
    names = []
    for raw in activations:
        name = _canonical_activation(raw)
        if name in names:
            raise StudyError(f"activation {name!r} is listed twice in --activations")
        names.append(name)
    return names


def parse_seeds(seeds):
    """`seeds` (a count K >= 1) as the list 0..K-1; anything else raises StudyError."""
    if isinstance(seeds, str):
        try:
            seeds = int(seeds.strip())
        except ValueError:
            raise StudyError(f"--seeds takes a count of seeds, a whole number >= 1, not {seeds!r}") from None
    try:
        count = check_int("seeds", seeds, minimum=1)
    except ValueError:
        raise StudyError(f"--seeds takes a count of seeds, a whole number >= 1, not {seeds!r}") from None
    return list(range(count))


def model_name(architecture, activation):
    """The zoo name of `architecture` with `activation`: ("mlp3x256", "leaky_relu") -> "mlp3x256_leaky"."""
    return f"{architecture}_{ACTIVATION_SUFFIXES[activation]}"


def _architecture_of(name, known):
    """The architecture of a zoo name or family name, or None when `name` is neither."""
    if not isinstance(name, str) or not name:
        return None
    if name in known:
        for suffix in sorted(ACTIVATION_SUFFIXES.values(), key=len, reverse=True):
            if name.endswith("_" + suffix):
                return name[: -len(suffix) - 1]
        return None
    if any(f"{name}_{suffix}" in known for suffix in ACTIVATION_SUFFIXES.values()):
        return name
    return None


def resolve_architecture(name, activations=DEFAULT_ACTIVATIONS):
    """The architecture of a family name ("mlp3x256") or a full zoo name ("mlp3x256_prelu").

    Raises StudyError when it names no zoo model or a needed variant is not registered.
    """
    known = set(zoo.list_models())
    architecture = _architecture_of(name, known)
    if architecture is None:
        families = sorted({m.rsplit("_", 1)[0] for m in known if not m.endswith("_prelu_shared")})
        close = close_matches(name, families + sorted(known))
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise StudyError(
            f"unknown model {name!r}: {hint}give an architecture such as "
            f"{', '.join(families[:4])} or a zoo name such as mlp3x256_prelu "
            "(`keras-prelu list` shows all)"
        )
    missing = [model_name(architecture, a) for a in activations if model_name(architecture, a) not in known]
    if missing:
        raise StudyError(f"the zoo has no {', '.join(missing)}: architecture {architecture!r} "
                         "lacks these activations")
    return architecture


def cell_id(activation, seed):
    """The name of one (activation, seed) cell: "prelu-seed1"."""
    return f"{activation}-seed{seed}"


def fixed_slope(activation):
    """The negative slope of a fixed-slope activation at inference (None for learnable ones)."""
    return activation_table.inference_slope(activation)


def reference_activation(activations):
    """The activation every other is compared with: ReLU when the study has it, else the first."""
    return "relu" if "relu" in activations else activations[0]
