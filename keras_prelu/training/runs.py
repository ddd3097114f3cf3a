"""Run directories: atomic checkpoints every epoch, `history.json`, TensorBoard logs, final model, model card.

    run/
      config.json              what was asked for (model, dataset, recipe, precision, ...)
      checkpoints/epoch-0003.npz   model + optimizer variables, epoch, step, RNG, history
      history.json             {"loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                "slopes": {layer: {"mean", "min", "max"}}}: one value per epoch
      logs/train, logs/validation  TensorBoard event files
      model.keras, final.weights.h5  the final model (zoo.get(name, weights=run) reads these)
      model_card.json, model_card.md

Every file is written atomically (`keras_prelu.utils.files`), so a kill at
any moment leaves either the old or the new file, never a torn one; the file
names come from `keras_prelu.utils.run_layout`.
A checkpoint holds everything needed to continue: all model variables
(BatchNorm statistics and random-generator states included), all optimizer
variables (step count, momenta, loss scale), and a JSON state with the
completed epoch, the optimizer step, the RNG seeds and the history so far.
"""

import contextlib
import hashlib
import json
import logging
import os
import pathlib
import re

import keras
import numpy as np

import zoo
from keras_prelu.training.model_card import model_card_markdown
from keras_prelu.utils import summaries
from keras_prelu.utils.files import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    load_error_text,
    read_json,
    save_with_suffix,
)
from keras_prelu.utils.run_layout import (
    CONFIG_INPUT_SHAPE,
    CONFIG_NUM_CLASSES,
    FINAL_FILES_KEY,
    CHECKPOINTS,
    CONFIG,
    HISTORY,
    LOGS,
    MODEL_CARD_JSON,
    MODEL_CARD_MD,
    MODEL_FILE,
    WEIGHTS_FILE,
)

_CHECKPOINT_RE = re.compile(r"^epoch-(\d{4,})\.npz$")
_STATE_KEY = "__state__"
_log = logging.getLogger("keras_prelu")


def _values(variables):
    return [np.asarray(v.numpy()) for v in variables]


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model or optimizer, or cannot be read."""


def save_checkpoint(path, model, optimizer, state):
    """Write model and optimizer variables plus the JSON-serializable `state` to `path` atomically."""
    arrays = {}
    for i, value in enumerate(_values(model.variables)):
        arrays[f"model/{i:05d}"] = value
    for i, value in enumerate(_values(optimizer.variables)):
        arrays[f"optimizer/{i:05d}"] = value
    state = dict(state)
    state["model_variables"] = [[v.path, list(v.shape)] for v in model.variables]
    state["optimizer_variables"] = [[v.path, list(v.shape)] for v in optimizer.variables]
    state["checksums"] = {key: _checksum(value) for key, value in arrays.items()}
    arrays[_STATE_KEY] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic_write(path, write)


class RunFileError(ValueError):
    """A file of a run directory is damaged, truncated or not what the run wrote."""


class RunFileMismatch(RunFileError):
    """A run's final model file is not the one the run wrote."""


def file_digest(path, chunk=1 << 20):
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _checksum(array):
    array = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def verify_checkpoint(path):
    """Read every array of a checkpoint and check it against the checksums saved with it.

    Returns the checkpoint's state; raises CheckpointError naming what is damaged.
    Checkpoints written before checksums were recorded are checked by the
    archive's own CRC only.
    """
    state = read_checkpoint_state(path)
    checksums = state.get("checksums") or {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                if key == _STATE_KEY:
                    continue
                value = archive[key]  # a flipped byte fails the archive's CRC here
                if key in checksums and _checksum(value) != checksums[key]:
                    raise CheckpointError(f"checksum mismatch in {key}")
    except Exception as error:  # a checksum mismatch, a bad CRC, an unreadable member
        raise CheckpointError(f"Checkpoint {str(path)!r} is damaged: {error}") from None
    return state


def read_checkpoint_state(path):
    """The JSON state stored in a checkpoint (raises CheckpointError if unreadable)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(archive[_STATE_KEY].tobytes().decode("utf-8"))
    except Exception as error:
        raise CheckpointError(f"Cannot read checkpoint {str(path)!r}: {error}") from None


def _assign(variables, archive, prefix, what, path):
    keys = sorted(k for k in archive.files if k.startswith(prefix + "/"))
    if len(keys) != len(variables):
        raise CheckpointError(
            f"Checkpoint {str(path)!r} holds {len(keys)} {what} variables; the {what} has "
            f"{len(variables)}. It was saved from a different {what}."
        )
    values = [archive[k] for k in keys]
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != tuple(value.shape):
            raise CheckpointError(
                f"Checkpoint {str(path)!r} does not fit the {what}: variable {variable.path!r} "
                f"has shape {tuple(variable.shape)}, the checkpoint {tuple(value.shape)}."
            )
    for variable, value in zip(variables, values):
        variable.assign(value)


def restore_checkpoint(path, model, optimizer):
    """Load a checkpoint into an already built model and optimizer (None: model only); returns its state dict."""
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as error:
        raise CheckpointError(f"Cannot read checkpoint {str(path)!r}: {error}") from None
    with archive:
        state = json.loads(archive[_STATE_KEY].tobytes().decode("utf-8"))
        _assign(model.variables, archive, "model", "model", path)
        if optimizer is not None:
            _assign(optimizer.variables, archive, "optimizer", "optimizer", path)
    return state


def new_history():
    return {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": [], "lr": [], "slopes": {}}


def append_history(history, epoch_metrics, slopes):
    """Append one epoch: `epoch_metrics` has loss/accuracy/val_loss/val_accuracy/lr; `slopes` {layer: values}."""
    epochs_before = len(history["loss"])
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        history.setdefault(key, []).append(float(epoch_metrics[key]))
    for key in epoch_metrics:
        if key not in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            history.setdefault(key, []).append(float(epoch_metrics[key]))
    for name, values in slopes.items():
        values = np.asarray(values, dtype=np.float64)
        series = history["slopes"].setdefault(
            name, {"mean": [None] * epochs_before, "min": [None] * epochs_before,
                   "max": [None] * epochs_before}
        )
        series["mean"].append(float(values.mean()))
        series["min"].append(float(values.min()))
        series["max"].append(float(values.max()))
    return history


class RunDir:
    """A training run's folder. With `writer=False` (non-chief workers) nothing is written."""

    def __init__(self, path, writer=True):
        self.path = pathlib.Path(path)
        self.writer = bool(writer)

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)

    # -- layout -------------------------------------------------------------------
    def file(self, name):
        return self.path / name

    @property
    def checkpoint_dir(self):
        return self.path / CHECKPOINTS

    @property
    def log_dir(self):
        return self.path / LOGS

    def holds_run(self):
        return (self.path / CONFIG).is_file() or self.checkpoint_dir.is_dir()

    def create(self):
        if self.writer:
            self.path.mkdir(parents=True, exist_ok=True)
        return self

    # -- config and history -----------------------------------------------------------
    def save_config(self, config):
        if self.writer:
            atomic_write_json(self.path / CONFIG, config)

    def load_config(self):
        path = self.path / CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"No {CONFIG} in run directory {str(self.path)!r}")
        config = self._read(CONFIG)
        if not isinstance(config.get("settings"), dict) or not config["settings"].get("model"):
            raise RunFileError(f"{CONFIG} in {str(self.path)!r} is incomplete: it names no model "
                               "settings")
        return config

    def _read(self, name):
        """A JSON file of the run as a dict; a damaged one raises RunFileError."""
        try:
            value = read_json(self.path / name)
        except (OSError, ValueError) as error:
            raise RunFileError(f"{name} in {str(self.path)!r} cannot be read ({error}); the run "
                               "directory is damaged") from None
        if not isinstance(value, dict):
            raise RunFileError(f"{name} in {str(self.path)!r} is not a JSON object; the run "
                               "directory is damaged")
        return value

    def save_history(self, history):
        if self.writer:
            atomic_write_json(self.path / HISTORY, history)

    def load_history(self):
        return self._read(HISTORY) if (self.path / HISTORY).is_file() else new_history()

    # -- checkpoints ---------------------------------------------------------------------
    def checkpoints(self):
        """(epoch, path) of every checkpoint, oldest first (temporary files ignored)."""
        if not self.checkpoint_dir.is_dir():
            return []
        found = []
        for entry in self.checkpoint_dir.iterdir():
            match = _CHECKPOINT_RE.match(entry.name)
            if match and entry.is_file():
                found.append((int(match.group(1)), entry))
        return sorted(found)

    def checkpoint_path(self, epoch):
        return self.checkpoint_dir / f"epoch-{epoch:04d}.npz"

    def save_checkpoint(self, model, optimizer, state, keep=2):
        """Write the checkpoint of completed epoch `state["epoch"]`; keep the newest `keep`."""
        if not self.writer:
            return None
        path = save_checkpoint(self.checkpoint_path(int(state["epoch"])), model, optimizer, state)
        for _, old in self.checkpoints()[:-keep]:
            with contextlib.suppress(OSError):
                old.unlink()
        return path

    def latest_checkpoint(self):
        """The newest intact checkpoint's path, or None.

        Every array of a candidate is read and checked against its checksums.
        A damaged one is skipped with one warning naming it; it is never
        deleted (a writing run moves it aside as `*.damaged`, so that a new
        checkpoint of the same epoch does not replace it).
        """
        for _, path in reversed(self.checkpoints()):
            try:
                verify_checkpoint(path)
            except CheckpointError as error:
                kept = self._set_aside(path)
                _log.warning("keras_prelu: %s; skipped%s", error,
                             f" and kept as {kept.name}" if kept != path else "")
                continue
            return path
        return None

    def _set_aside(self, path):
        if not self.writer:
            return path
        aside = path.with_name(path.name + ".damaged")
        try:
            os.replace(path, aside)
        except OSError:
            return path
        return aside

    def restore(self, model, optimizer, path=None):
        """Restore the newest (or the given) checkpoint; returns its state, or None when there is none."""
        path = path or self.latest_checkpoint()
        if path is None:
            return None
        return restore_checkpoint(path, model, optimizer)

    # -- the end of a run -------------------------------------------------------------------
    def save_final_model(self, model):
        """`model.keras` (architecture + weights) and `final.weights.h5`, each written atomically.

        Returns their record for the model card ({file name: sha256}), by which
        `load_model` recognises a file replaced later.
        """
        if not self.writer:
            return {}
        atomic_write(self.path / MODEL_FILE, lambda tmp: save_with_suffix(model.save, tmp, ".keras"))
        atomic_write(
            self.path / WEIGHTS_FILE,
            lambda tmp: save_with_suffix(model.save_weights, tmp, ".weights.h5"),
        )
        return {name: file_digest(self.path / name) for name in (MODEL_FILE, WEIGHTS_FILE)}

    def check_final_file(self, name):
        """Raise RunFileMismatch when final file `name` is not the one the run recorded (runs
        from before the record was kept, or without a model card, are not checked)."""
        try:
            recorded = self.load_model_card().get(FINAL_FILES_KEY, {}).get(name)
        except (OSError, ValueError, AttributeError):
            return
        if recorded and file_digest(self.path / name) != recorded:
            raise RunFileMismatch(
                f"{name} in {str(self.path)!r} is not the run's final model: it differs from the "
                f"file the run recorded at its end (replaced or damaged); refusing to use it"
            )

    def write_model_card(self, card):
        if not self.writer:
            return
        atomic_write_json(self.path / MODEL_CARD_JSON, card)
        atomic_write_text(self.path / MODEL_CARD_MD, model_card_markdown(card))

    def load_model_card(self):
        return self._read(MODEL_CARD_JSON)

    # -- reading the trained model -------------------------------------------------------------
    def load_model(self, final_only=False):
        """The run's model and where it came from: (model, source).

        The final model (`model.keras`, with `final.weights.h5` when present),
        else the zoo model rebuilt from `config.json` with `final.weights.h5`,
        else (unless `final_only`) the newest readable checkpoint. Raises
        FileNotFoundError when the directory holds none of them.
        """
        model_file = self.path / MODEL_FILE
        weights = self.path / WEIGHTS_FILE
        if model_file.is_file():
            self.check_final_file(MODEL_FILE)
            model = self._keras(MODEL_FILE, lambda: keras.saving.load_model(model_file, compile=False))
            if weights.is_file():
                self.check_final_file(WEIGHTS_FILE)
                self._keras(WEIGHTS_FILE, lambda: model.load_weights(weights))
            return model, MODEL_FILE
        if not (self.path / CONFIG).is_file():
            raise FileNotFoundError(
                f"{str(self.path)!r} is not a run directory: it has no {MODEL_FILE} and no {CONFIG}"
            )
        if final_only and not weights.is_file():
            raise FileNotFoundError(
                f"{str(self.path)!r} has no {MODEL_FILE} yet: the run has not finished"
            )
        model = self.build_model()
        if weights.is_file():
            self.check_final_file(WEIGHTS_FILE)
            self._keras(WEIGHTS_FILE, lambda: model.load_weights(weights))
            return model, WEIGHTS_FILE
        checkpoint = self.latest_checkpoint()
        if checkpoint is None:
            raise FileNotFoundError(
                f"run {str(self.path)!r} has no final model and no checkpoint yet"
            )
        restore_checkpoint(checkpoint, model, None)
        return model, f"checkpoint {checkpoint.name}"

    def _keras(self, name, load):
        """Run a Keras loading call on file `name`; its failure becomes one RunFileError."""
        try:
            return load()
        except Exception as error:  # Keras raises ValueError, TypeError, OSError, zip errors...
            raise RunFileError(f"{name} in {str(self.path)!r} cannot be loaded (damaged or not "
                               f"written by this run): {load_error_text(error)}") from None

    def build_model(self):
        """The run's zoo model, freshly initialised, for the data it was trained on."""
        config = self.load_config()
        return zoo.get(
            config["settings"]["model"],
            input_shape=tuple(config[CONFIG_INPUT_SHAPE]),
            num_classes=int(config[CONFIG_NUM_CLASSES]),
        )


class TensorBoardLog:
    """Scalars and histograms per epoch for TensorBoard, one folder per split: `log_dir/<split>`."""

    def __init__(self, log_dir, enabled=True):
        self.log_dir = pathlib.Path(log_dir)
        self.enabled = enabled
        self._loggers = {}

    def write(self, split, step, scalars=None, histograms=None):
        if not self.enabled:
            return
        if split not in self._loggers:
            self._loggers[split] = summaries.SummaryLogger(str(self.log_dir / split))
        self._loggers[split].write(step, scalars=scalars, histograms=histograms)
