"""A study directory: its `study.json` state, its cells, and the checks that decide what a rerun redoes.

    DIR/study.json                    settings, the commands that ran, each cell's state
    DIR/cells/<activation>-seed<k>/   a run directory (see keras_prelu.training.runs) plus measurements.json
    DIR/report.md, DIR/figures/*.png

`study.json` is rewritten atomically after every step.
"""

import datetime
import pathlib

from keras_prelu.study.names import StudyError, cell_id
from keras_prelu.training import runs
from keras_prelu.utils.files import atomic_write_json, read_json
from keras_prelu.utils.run_layout import MODEL_CARD_JSON

STATE_FILE = "study.json"
REPORT_FILE = "report.md"
CELLS = "cells"
FIGURES = "figures"
MEASUREMENTS = "measurements.json"
STATE_FORMAT = 1
# Settings that define the cells: a study directory cannot be resumed with other values.
CELL_SETTINGS = ("architecture", "dataset", "recipe", "epochs", "batch_size", "learning_rate",
                 "warmup_epochs", "steps_per_epoch", "backend")
# What a study saved before a setting was recorded ran with.
CELL_SETTING_DEFAULTS = {"backend": "tensorflow"}
# Settings of the measurements: other values re-measure finished cells (no retraining).
MEASURE_SETTINGS = ("fgsm_epsilon", "attack_examples")
# What a cell's measurements.json holds; older ones are measured again (no retraining).
MEASUREMENT_FORMAT = 2


def now():
    """The local time to the second, as study.json and the report show it."""
    return datetime.datetime.now().isoformat(timespec="seconds")


class Study:
    """A study directory: its `study.json` state and its cells."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.state = None

    @property
    def state_file(self):
        return self.path / STATE_FILE

    def exists(self):
        return self.state_file.is_file()

    def load(self):
        try:
            self.state = read_json(self.state_file)
        except FileNotFoundError:
            raise StudyError(f"{str(self.path)!r} holds no study (no {STATE_FILE})") from None
        except ValueError as error:
            raise StudyError(f"{str(self.state_file)!r} cannot be read: {error}") from None
        return self.state

    def save(self):
        atomic_write_json(self.state_file, self.state)

    def cell_dir(self, cid):
        return self.path / CELLS / cid

    def set_cell(self, cid, **fields):
        self.state["cells"][cid].update(fields, updated=now())
        self.save()


def check_resume(saved, given, path):
    """Raise StudyError when a given cell setting differs from the saved study's."""
    for key in CELL_SETTINGS:
        value = given.get(key)
        held = saved.get(key, CELL_SETTING_DEFAULTS.get(key))
        if value is not None and value != held:
            raise StudyError(
                f"{str(path)!r} holds a study with {key}={held!r}, not {value!r}: rerun "
                "with its settings (KERAS_BACKEND for the backend) to resume it, or choose another "
                "--out"
            )


def read_measurements(run_dir):
    """A cell's measurements.json, or None when it is missing or unreadable."""
    try:
        return read_json(pathlib.Path(run_dir) / MEASUREMENTS)
    except (FileNotFoundError, ValueError):
        return None


def measured_as(measurements, settings):
    """Whether `measurements` were taken with the study's measurement settings."""
    done = measurements.get("measured_with", {})
    return done.get("format") == MEASUREMENT_FORMAT and all(
        done.get(key) == settings.get(key) for key in MEASURE_SETTINGS)


def timing_covers(timing, activations, settings):
    """Whether the saved speed phase holds every activation (training and inference), at the
    study's batch size."""
    return bool(timing) and timing.get("batch_size") == settings["batch_size"] and all(
        a in timing.get(part, {}) for a in activations for part in ("train", "inference"))


def cell_results(study):
    """{activation: [per-seed dicts with card, history, config, measurements, dir]} for the study's settings.

    Diverged cells are left out (an activation whose every cell diverged too); raises StudyError
    when a cell is not finished, or every cell diverged.
    """
    settings = study.state["settings"]
    found = {}
    for activation in settings["activations"]:
        cells = []
        for seed in settings["seeds"]:
            if study.state["cells"].get(cell_id(activation, seed), {}).get("status") == "diverged":
                continue
            run_dir = study.cell_dir(cell_id(activation, seed))
            run = runs.RunDir(run_dir, writer=False)
            measurements = read_measurements(run_dir)
            if not run.file(MODEL_CARD_JSON).is_file() or measurements is None:
                raise StudyError(f"cell {cell_id(activation, seed)} of {str(study.path)!r} is not "
                                 "finished; run the compare command again to finish it")
            cells.append({"seed": seed, "card": run.load_model_card(), "history": run.load_history(),
                          "config": run.load_config(), "measurements": measurements, "dir": run_dir})
        if cells:
            found[activation] = cells
    if not found:
        raise StudyError(f"every cell of {str(study.path)!r} diverged: nothing to report; try a "
                         "lower --lr")
    return found
