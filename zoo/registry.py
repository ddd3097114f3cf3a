"""The model registry: `get`, `list_models`, `register`, `info`."""

import dataclasses
import fnmatch
import inspect
import math
import types

import keras

from keras_prelu.activations import activation_spec
from keras_prelu.utils.naming import natural_key
from keras_prelu.utils.validation import suggest
from zoo import weights as weight_files

_REGISTRY = {}


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered model: its builder, default arguments and reference figures.

    `arch` names the architecture its activation variants share (e.g.
    "resnet20" for "resnet20_prelu"); `fixed` are the arguments that define it.
    """

    name: str
    builder: object
    defaults: types.MappingProxyType
    arch: str = None
    fixed: frozenset = frozenset()
    family: str = None
    paper: str = None
    published: types.MappingProxyType = None

    def config(self, **overrides):
        """The builder's keyword arguments: its own defaults, then the entry's, then `overrides`."""
        params = _parameters(self.builder)
        config = {
            key: p.default
            for key, p in params.items()
            if p.default is not inspect.Parameter.empty and p.kind is not p.VAR_KEYWORD
        }
        config.update(self.defaults)
        config.update(overrides)
        return config


def _parameters(builder):
    try:
        return dict(inspect.signature(builder).parameters)
    except (TypeError, ValueError):
        return {}


def _check_arguments(name, builder, arguments):
    params = _parameters(builder)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in arguments:
        if key not in params or params[key].kind is params[key].VAR_POSITIONAL:
            known = sorted(k for k, p in params.items() if p.kind is not p.VAR_POSITIONAL)
            raise ValueError(
                f"Model {name!r} takes no argument {key!r}. Known: {known}. "
                f"Received: {key}={arguments[key]!r}"
            )



def _patterns(argument, value):
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(
        f"`{argument}` must be a pattern string or a list of them. Received: {argument}={value!r}"
    )


def list_models(include="*", exclude=None):
    """Names matching any `include` and no `exclude` fnmatch pattern, in natural order."""
    include = _patterns("include", "*" if include is None else include)
    exclude = _patterns("exclude", exclude)
    names = [
        name
        for name in _REGISTRY
        if any(fnmatch.fnmatchcase(name, p) for p in include)
        and not any(fnmatch.fnmatchcase(name, p) for p in exclude)
    ]
    return sorted(names, key=natural_key)


def entry(name):
    """The `ModelEntry` under `name`; an unknown name raises a ValueError with suggestions."""
    if isinstance(name, str) and name in _REGISTRY:
        return _REGISTRY[name]
    hint = suggest(name, _REGISTRY) or " See zoo.list_models()."
    raise ValueError(f"Unknown model.{hint} Received: name={name!r}")


def entries():
    """Every `ModelEntry`, in registration order."""
    return list(_REGISTRY.values())


def add_entry(name, builder, defaults, fixed=(), family=None, paper=None, published=None, arch=None):
    """Register `builder` under `name` with `defaults`; `fixed` name the arguments that define it.

    `register` is the user-facing form; the zoo's families register their
    variants through this. A taken name raises ValueError.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A model name must be a non-empty string. Received: name={name!r}")
    if name in _REGISTRY:
        raise ValueError(
            f"A model named {name!r} is already registered; pick another name. "
            f"Received: name={name!r}"
        )
    if not callable(builder):
        raise ValueError(f"`builder` must be callable. Received: builder={builder!r}")
    _check_arguments(name, builder, defaults)
    missing = [key for key in fixed if key not in defaults]
    if missing:
        raise ValueError(f"Variant-defining arguments need a value. Received: fixed={missing}")
    _REGISTRY[name] = ModelEntry(
        name=name,
        builder=builder,
        defaults=types.MappingProxyType(dict(defaults)),
        arch=arch or name,
        fixed=frozenset(fixed),
        family=family or getattr(builder, "family", None) or builder.__name__,
        paper=paper,
        published=None if published is None else types.MappingProxyType(dict(published)),
    )


def register(name, builder=None, **defaults):
    """Register `builder(**kwargs) -> keras.Model` under `name`, with default keyword arguments.

    Usable as `register("my_net", build_fn, depth=4)`, as a decorator
    `@register("my_net", depth=4)`, or bare `@register` (registers the
    function under its own name). A taken name raises ValueError. Returns the
    builder.
    """
    if callable(name) and builder is None and not defaults:
        add_entry(name.__name__, name, {})
        return name
    if builder is None:

        def decorator(function):
            add_entry(name, function, defaults)
            return function

        return decorator
    add_entry(name, builder, defaults)
    return builder


def get(name, weights=None, **overrides):
    """Build the registered model `name` (uncompiled), optionally loading `weights`.

    Overrides replace the registered defaults (`input_shape`, `num_classes`,
    `activation`, family arguments); one that contradicts an argument
    defining the variant (e.g. `depth=32` on `resnet20_relu`) raises.
    `weights`: a `.weights.h5` or `.keras` file, or a run directory (see
    `zoo.weights.RUN_WEIGHT_FILES`), whose input shape and classes then are
    the defaults.
    """
    model_entry = entry(name)
    if weights is not None:  # a run directory knows the input shape and classes it trained
        overrides = {**weight_files.run_model_arguments(weights), **overrides}
    for key in sorted(model_entry.fixed & overrides.keys()):
        if overrides[key] != model_entry.defaults[key]:
            raise ValueError(
                f"{key}={model_entry.defaults[key]!r} defines {name!r}; use another variant "
                f"or the family builder. Received: {key}={overrides[key]!r}"
            )
    _check_arguments(name, model_entry.builder, overrides)
    config = model_entry.config(**overrides)
    if "name" in _parameters(model_entry.builder) and "name" not in overrides:
        config["name"] = _built_name(model_entry, overrides.get("activation"))
    model = model_entry.builder(**config)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"The builder of {name!r} must return a keras.Model. Received: {type(model).__name__}"
        )
    if weights is not None:
        weight_files.load_weights(model, weights)
    return model


def _built_name(model_entry, activation):
    """The entry's name, or, when `activation` overrides its own, a name that says what was
    built: `zoo.get("resnet20_prelu", activation="relu")` is named "resnet20_relu"."""
    if activation is None or activation == model_entry.defaults.get("activation"):
        return model_entry.name
    if isinstance(activation, str):
        try:
            suffix = activation_spec(activation).zoo_suffix
        except ValueError:
            suffix = activation
    else:
        suffix = getattr(activation, "__name__", type(activation).__name__).lower()
    stem = model_entry.arch if model_entry.arch != model_entry.name else model_entry.name
    return f"{stem}_{suffix}"


def info(name, model=None):
    """A dict describing the model: family, depth, activation, default input and classes,
    parameters, the paper it follows and its published figure.

    `params` counts trainable parameters (what papers and torchvision report);
    `total_params` adds non-trainable state such as BatchNorm statistics.
    Builds the model once, unless an already built `model` of this entry is given.
    """
    model_entry = entry(name)
    config = model_entry.config()
    model = get(name) if model is None else model
    activation = config.get("activation")
    input_shapes = [tuple(tensor.shape[1:]) for tensor in model.inputs]
    output_sizes = [tensor.shape[-1] for tensor in model.outputs]
    return {
        "name": name,
        "family": model_entry.family,
        "depth": config.get("depth"),
        "width": config.get("width"),
        "activation": activation
        if activation is None or isinstance(activation, str)
        else repr(activation),
        "norm": config.get("norm"),
        "input_shape": input_shapes[0] if len(input_shapes) == 1 else input_shapes,
        "num_classes": output_sizes[0] if len(output_sizes) == 1 else output_sizes,
        "params": sum(math.prod(w.shape) for w in model.trainable_weights),
        "total_params": int(model.count_params()),
        "paper": model_entry.paper,
        "published": None if model_entry.published is None else dict(model_entry.published),
    }
