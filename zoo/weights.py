"""Load weights saved by this project into a zoo model, checking first that they fit.

Accepted: a `.weights.h5` file, a `.keras` file, or a training run directory
holding one of `RUN_WEIGHT_FILES` (the first present, in that order, wins).
"""

import io
import json
import os
import pathlib
import tempfile
import zipfile

import h5py

from keras_prelu.utils.naming import natural_key
from keras_prelu.utils.run_layout import (
    CONFIG,
    CONFIG_INPUT_SHAPE,
    CONFIG_NUM_CLASSES,
    KERAS_ARCHIVE_WEIGHTS,
    RUN_WEIGHT_FILES,
)

__all__ = ["RUN_WEIGHT_FILES", "check_fit", "load_weights", "resolve"]


def run_model_arguments(path):
    """{"input_shape", "num_classes"} of the model a training run directory trained (from its
    `config.json`); {} for files and for directories without a readable config."""
    config_path = pathlib.Path(os.fspath(path)) / CONFIG
    try:
        config = json.loads(config_path.read_text())
        return {"input_shape": tuple(int(d) for d in config[CONFIG_INPUT_SHAPE]),
                "num_classes": int(config[CONFIG_NUM_CLASSES])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def resolve(path):
    """The file `path` designates: itself, or the first of `RUN_WEIGHT_FILES` in a directory."""
    path = pathlib.Path(os.fspath(path))
    if path.is_dir():
        for file_name in RUN_WEIGHT_FILES:
            if (path / file_name).is_file():
                return path / file_name
        raise ValueError(
            f"The run directory holds none of {list(RUN_WEIGHT_FILES)}. "
            f"Received: weights={str(path)!r}"
        )
    if not path.exists():
        raise FileNotFoundError(
            f"No such weights file or directory. Received: weights={str(path)!r}"
        )
    if not (path.name.endswith(".weights.h5") or path.suffix == ".keras"):
        raise ValueError(
            "Weights must be a `.weights.h5` file, a `.keras` file or a run directory. "
            f"Received: weights={str(path)!r}"
        )
    return path



def _layer_weights(h5):
    """{saved path: (layer name, [variable shapes])} for layers holding variables."""
    found = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and name.endswith("/vars") and name.startswith("layers/"):
            shapes = [tuple(obj[key].shape) for key in sorted(obj, key=int)]
            if shapes:
                found[name[: -len("/vars")]] = (obj.attrs.get("name", name), shapes)

    h5.visititems(visit)
    return found


def _saved_layer_weights(path):
    """{saved path: (layer name, shapes)} of a weights or `.keras` file; unreadable files raise ValueError."""
    try:
        return _read_saved_layer_weights(path)
    except (OSError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(
            "The weights file cannot be read (damaged, or not a Keras weights file): "
            f"{type(error).__name__}: {error}. Received: weights={str(path)!r}"
        ) from None


def _read_saved_layer_weights(path):
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as archive:
            if KERAS_ARCHIVE_WEIGHTS not in archive.namelist():
                raise ValueError(
                    f"Not a Keras v3 archive (no {KERAS_ARCHIVE_WEIGHTS}). "
                    f"Received: weights={str(path)!r}"
                )
            data = io.BytesIO(archive.read(KERAS_ARCHIVE_WEIGHTS))
        with h5py.File(data, "r") as h5:
            return _layer_weights(h5)
    with h5py.File(path, "r") as h5:
        return _layer_weights(h5)


def _model_layer_weights(model):
    with tempfile.TemporaryDirectory() as tmp:
        reference = pathlib.Path(tmp) / "reference.weights.h5"
        model.save_weights(reference)
        with h5py.File(reference, "r") as h5:
            return _layer_weights(h5)


def check_fit(model, path):
    """Raise a ValueError naming the first layer (in model order) whose saved weights do not fit."""
    path = resolve(path)
    saved = _saved_layer_weights(path)
    expected = _model_layer_weights(model)
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    prefix = f"The weights in {str(path)!r} do not fit model {model.name!r}:"
    for key in sorted(expected, key=lambda k: (order.get(expected[k][0], len(order)), k)):
        name, shapes = expected[key]
        if key not in saved:
            raise ValueError(
                f"{prefix} layer {name!r} needs variables of shapes {shapes}; "
                "the file has none for it."
            )
        saved_name, saved_shapes = saved[key]
        if saved_shapes != shapes:
            raise ValueError(
                f"{prefix} layer {name!r} needs variables of shapes {shapes}; "
                f"the file has {saved_shapes} (saved from layer {saved_name!r})."
            )
    for key in sorted(saved.keys() - expected.keys(), key=natural_key):
        saved_name, saved_shapes = saved[key]
        raise ValueError(
            f"{prefix} the file has variables {saved_shapes} of layer {saved_name!r}, "
            "which the model does not have."
        )
    return path


def load_weights(model, path):
    """Check that the weights at `path` fit `model`, then load them; returns the model."""
    model.load_weights(check_fit(model, path))
    return model
