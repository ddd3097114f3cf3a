"""What to export and what to check it on: the model (a model, a `.keras` file or a run
directory), its float32 form, and real inputs from the run's dataset."""

import dataclasses
import json
import os
import pathlib

import keras
import numpy as np

import zoo  # noqa: F401  (registers the zoo's custom layers before deserializing)
from keras_prelu.export.common import (
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_EVAL_SIZE,
    DEFAULT_SAMPLE_SIZE,
    ExportError,
)
from keras_prelu.training import data as data_lib
from keras_prelu.training.runs import RunDir
from keras_prelu.utils.files import load_error_text
from keras_prelu.utils.models import all_layers
from keras_prelu.utils.run_layout import CONFIG, MODEL_CARD_JSON

_REDUCED_PRECISIONS = ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16")


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


def load_model(source):
    """A Keras model from a model, a `.keras` file or a training run directory.

    A run directory's final model: `model.keras` with `final.weights.h5`
    loaded on top when present, else the zoo model its `config.json` names
    with `final.weights.h5` (see `keras_prelu.training.runs.RunDir.load_model`).
    """
    if isinstance(source, keras.Model):
        return source
    path = pathlib.Path(os.fspath(source))
    if not path.exists():
        raise FileNotFoundError(f"No such model file or run directory: {str(path)!r}")
    if path.is_dir():
        model, _ = RunDir(path, writer=False).load_model(final_only=True)
        return model
    if path.suffix != ".keras":
        raise ValueError(
            f"Expected a .keras file or a run directory. Received: {str(path)!r}"
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # a damaged archive, or a crafted one Keras refuses (TypeError)
        raise ValueError(f"{str(path)!r} cannot be loaded as a Keras model (damaged, or not a "
                         f".keras file): {load_error_text(error)}") from None


def is_reduced_precision(model):
    """Whether any layer of `model` (nested ones included) computes in less than float32."""
    return any(
        keras.backend.standardize_dtype(getattr(layer, "compute_dtype", "float32")) != "float32"
        for layer in all_layers(model)
        if not isinstance(layer, keras.layers.InputLayer)
    )


def policy_name(model):
    """The name of the first non-float32 dtype policy in `model`, else "float32"."""
    for layer in all_layers(model):
        policy = getattr(layer, "dtype_policy", None)
        if policy is not None and getattr(policy, "compute_dtype", "float32") != "float32":
            return policy.name
    return "float32"


def _float32_policies(config):
    """A model config with every mixed or float16/bfloat16 dtype policy set to float32."""
    if isinstance(config, list):
        return [_float32_policies(item) for item in config]
    if not isinstance(config, dict):
        return config
    result = {}
    for key, value in config.items():
        if key == "dtype" and isinstance(value, dict) and value.get("class_name") == "DTypePolicy":
            value = {**value, "config": {**value.get("config", {}), "name": "float32"}}
        elif key == "dtype" and value in _REDUCED_PRECISIONS:
            value = "float32"
        else:
            value = _float32_policies(value)
        result[key] = value
    return result


def float32_model(model):
    """`model` itself if it computes in float32, else a float32 copy with the same weights.

    Mixed-precision models keep float32 variables, so the copy holds exactly
    the trained values; TFLite builtins and most ONNX runtimes want float32.
    """
    if not is_reduced_precision(model):
        return model
    copy = model.__class__.from_config(_float32_policies(model.get_config()))
    copy.set_weights([np.asarray(w, dtype="float32") for w in model.get_weights()])
    if is_reduced_precision(copy):
        raise ExportError("Could not build a float32 copy of the mixed-precision model")
    return copy


# ---------------------------------------------------------------------------
# Real data
# ---------------------------------------------------------------------------


def _read_json_dict(path):
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def run_dataset(run_dir):
    """(dataset name, data_dir or None) a training run directory names, else None.

    Reads `model_card.json`'s `"dataset"` (a name, or a dict with `"name"`),
    and the TFDS folder from `config.json`'s `"settings"."data_dir"`.
    """
    run_dir = pathlib.Path(os.fspath(run_dir))
    card, config = _read_json_dict(run_dir / MODEL_CARD_JSON), _read_json_dict(run_dir / CONFIG)
    settings = config.get("settings") if isinstance(config.get("settings"), dict) else {}
    dataset = card.get("dataset", settings.get("dataset"))
    if isinstance(dataset, dict):
        dataset = dataset.get("name")
    if not isinstance(dataset, str) or not dataset:
        return None
    data_dir = settings.get("data_dir")
    return dataset, data_dir if isinstance(data_dir, str) else None


@dataclasses.dataclass
class RealData:
    """Normalised real inputs from a `keras_prelu.training.data` dataset, for checks and calibration."""

    name: str
    sample: np.ndarray
    representative: tuple
    evaluation: tuple


def _take(dataset, count):
    xs, ys, total = [], [], 0
    for x, y in dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        total += len(ys[-1])
        if total >= count:
            break
    return np.concatenate(xs)[:count], np.concatenate(ys)[:count]


def dataset_arrays(data, data_dir=None, sample_size=DEFAULT_SAMPLE_SIZE,
                   calibration_size=DEFAULT_CALIBRATION_SIZE, eval_size=DEFAULT_EVAL_SIZE, seed=0):
    """`RealData` from a dataset name or a loaded `keras_prelu.training.data.Data`.

    The check batch is the first `sample_size` test images, the calibration
    sample `calibration_size` training images drawn with `seed`, the
    evaluation set the first `eval_size` test images with labels; all
    normalised the way training normalises them.
    """
    if isinstance(data, str):
        data = data_lib.load(data, data_dir=data_dir, download=False)
    test = _take(data.eval_dataset(256, split="test"), max(eval_size, sample_size))
    if data.in_memory:
        images, labels = data.split("train")
        count = min(calibration_size, len(labels))
        pick = np.sort(np.random.default_rng(seed).choice(len(labels), count, replace=False))
        train = (np.asarray(data.normalize(images[pick])), np.asarray(labels[pick]))
    else:
        train = _take(data.eval_dataset(256, split="train"), calibration_size)
    return RealData(
        name=data.info.name,
        sample=test[0][:sample_size],
        representative=train,
        evaluation=(test[0][:eval_size], test[1][:eval_size]),
    )


def find_real_data(source, data, data_dir, sizes):
    """(RealData or None, note on why none was used) for `export_model`'s `data`.

    `data` is a `RealData`, a dataset name or a loaded dataset; when None, a
    run directory's own dataset is tried (offline), and a failure to load it
    is reported in the note rather than raised.
    """
    if isinstance(data, RealData):
        return data, ""
    if data is None:
        if isinstance(source, keras.Model) or not os.path.isdir(os.fspath(source)):
            return None, ""
        named = run_dataset(source)
        if named is None:
            return None, ""
        data, card_dir = named
        data_dir = data_dir or card_dir
        try:
            return dataset_arrays(data, data_dir, **sizes), ""
        except Exception as error:  # offline, not prepared, ...: say so, verify on random inputs
            first = (str(error).splitlines() or [type(error).__name__])[0]
            return None, f"the run's dataset {data!r} did not load: {first}"
    return dataset_arrays(data, data_dir, **sizes), ""
