"""Run directories: atomic checkpoints every epoch, `history.json`, TensorBoard logs, final model, model card.

    run/
      config.json              what was asked for (model, dataset, recipe, precision, ...)
      checkpoints/epoch-0003.npz   model + optimizer variables, epoch, step, RNG, history
      history.json             {"loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                "slopes": {layer: {"mean", "min", "max"}}}: one value per epoch
      logs/train, logs/validation  TensorBoard event files
      model.keras, final.weights.h5  the final model (zoo.get(name, weights=run) reads these)
      model_card.json, model_card.md

Every file is written atomically: to a temporary sibling, flushed and
fsync'ed, then `os.replace`d over the target (and the folder fsync'ed), so a
kill at any moment leaves either the old or the new file, never a torn one.
A checkpoint holds everything needed to continue: all model variables
(BatchNorm statistics and random-generator states included), all optimizer
variables (step count, momenta, loss scale), and a JSON state with the
completed epoch, the optimizer step, the RNG seeds and the history so far.
"""

import contextlib
import json
import os
import pathlib
import re
import tempfile

import numpy as np

CONFIG = "config.json"
HISTORY = "history.json"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "final.weights.h5"
MODEL_CARD_JSON = "model_card.json"
MODEL_CARD_MD = "model_card.md"
_CHECKPOINT_RE = re.compile(r"^epoch-(\d{4,})\.npz$")
_STATE_KEY = "__state__"
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_dir(path):
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path, write):
    """Create `path` atomically: `write(tmp_path)` fills a temporary sibling, which then replaces `path`.

    On any error (or a kill) the previous `path`, if any, is left untouched
    and the temporary file is removed (after a kill it is left as a hidden
    `.name.tmp-*` file that readers ignore).
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path, text):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)

    return atomic_write(path, write)


def atomic_write_json(path, data):
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


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
    arrays[_STATE_KEY] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)

    return atomic_write(path, write)


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


def restore_model_variables(path, model):
    """Load only the model variables of a checkpoint (for evaluation); returns its state dict."""
    return restore_checkpoint(path, model, None)


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
        return _read_json(path)

    def save_history(self, history):
        if self.writer:
            atomic_write_json(self.path / HISTORY, history)

    def load_history(self):
        path = self.path / HISTORY
        return _read_json(path) if path.is_file() else new_history()

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
        """The newest readable checkpoint's path, or None (an unreadable newest one is skipped)."""
        for _, path in reversed(self.checkpoints()):
            try:
                read_checkpoint_state(path)
            except CheckpointError:
                continue
            return path
        return None

    def restore(self, model, optimizer, path=None):
        """Restore the newest (or the given) checkpoint; returns its state, or None when there is none."""
        path = path or self.latest_checkpoint()
        if path is None:
            return None
        return restore_checkpoint(path, model, optimizer)

    # -- the end of a run -------------------------------------------------------------------
    def save_final_model(self, model):
        """`model.keras` (architecture + weights) and `final.weights.h5`, each written atomically."""
        if not self.writer:
            return
        atomic_write(self.path / MODEL_FILE, lambda tmp: _save_as(model.save, tmp, ".keras"))
        atomic_write(self.path / WEIGHTS_FILE, lambda tmp: _save_as(model.save_weights, tmp, ".weights.h5"))

    def write_model_card(self, card):
        if not self.writer:
            return
        atomic_write_json(self.path / MODEL_CARD_JSON, card)
        atomic_write_text(self.path / MODEL_CARD_MD, model_card_markdown(card))

    def load_model_card(self):
        return _read_json(self.path / MODEL_CARD_JSON)


class TensorBoardLog:
    """Scalars and histograms per epoch for TensorBoard, one folder per split: `log_dir/<split>`."""

    def __init__(self, log_dir, enabled=True):
        self.log_dir = pathlib.Path(log_dir)
        self.enabled = enabled
        self._loggers = {}

    def write(self, split, step, scalars=None, histograms=None):
        if not self.enabled:
            return
        from keras_prelu.summaries import SummaryLogger

        if split not in self._loggers:
            self._loggers[split] = SummaryLogger(str(self.log_dir / split))
        self._loggers[split].write(step, scalars=scalars, histograms=histograms)


def read_scalars(log_dir):
    """{split: {tag: [(step, value), ...]}} from the event files of a run's `logs/` folder."""
    from keras_prelu.summaries import scalar_events

    found = {}
    for path, tag, step, value in scalar_events(log_dir):
        found.setdefault(path.parent.name, {}).setdefault(tag, []).append((step, value))
    return found


def _save_as(save, tmp, suffix):
    """Keras insists on file suffixes: save to a suffixed sibling of `tmp`, then move it onto `tmp`."""
    named = f"{tmp}{suffix}"
    try:
        save(named)
        os.replace(named, tmp)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(named)


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_format(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {_format(v)}" for k, v in value.items())
    return str(value)


def model_card_markdown(card):
    """A short human-readable card from the model-card dict."""
    lines = [f"# {card.get('model', 'model')} on {card.get('dataset', {}).get('name', '?')}", ""]
    results = card.get("results", {})
    if results:
        lines += ["## Results", ""]
        if "test_accuracy" in results:
            lines.append(f"- test accuracy: **{100 * results['test_accuracy']:.2f}%** "
                         f"({results.get('test_examples', '?')} images, split "
                         f"`{card.get('dataset', {}).get('test_split', 'test')}`)")
        for key, value in results.items():
            if key not in ("test_accuracy",):
                lines.append(f"- {key.replace('_', ' ')}: {_format(value)}")
        lines.append("")
    for section in ("model_info", "dataset", "recipe", "training", "environment"):
        if card.get(section):
            lines += [f"## {section.replace('_', ' ').capitalize()}", ""]
            for key, value in card[section].items():
                lines.append(f"- {key.replace('_', ' ')}: {_format(value)}")
            lines.append("")
    if card.get("command"):
        lines += ["## Command", "", "```", card["command"], "```", ""]
    return "\n".join(lines)
