"""The activation study: one architecture, several rectifiers, the same seeds, data order and budget.

    from keras_prelu import study
    result = study.compare("mlp3x256", dataset="fashion_mnist", epochs=3, seeds=2,
                           out="runs/study", data_dir="../shared/data/tensorflow_datasets")
    result["report"]                  # runs/study/report.md
    study.plot_run("runs/r20")        # the figures of one training run

This is what `keras-prelu compare` and `keras-prelu plot` run.

Every (activation, seed) pair is a *cell*: zoo model `<architecture>_<suffix>`
trained by `keras_prelu.experiment.train` with that seed (hence the same data
order for every activation) and the same recipe, then measured on the test
split. A study directory holds

    DIR/study.json                    settings, the commands that ran, each cell's state
    DIR/cells/<activation>-seed<k>/   a run directory (see keras_prelu.runs) plus measurements.json
    DIR/report.md                     one row per activation, the command line at the top
    DIR/figures/*.png                 activations, loss curves, slopes, negative fractions, FGSM

Rerunning the same command resumes: finished cells (model card and
measurements present) are skipped, an interrupted cell continues from its
last checkpoint (or restarts when that is impossible), and `study.json` is
rewritten atomically after every step.

What is measured per cell (all on the test split, in inference mode):
- test accuracy (the training code's own evaluation);
- never-positive units: rectifier channels whose input is never positive on
  the test split (for ReLU these are dead units: output and gradient zero);
- idle slopes: PReLU channels negative on fewer than `IDLE_THRESHOLD` of the
  test inputs, whose slope gets (almost) no gradient;
- trainable parameters; final slope statistics (learned for PReLU, the fixed
  inference slope otherwise);
- the fraction of exactly-zero input gradients and FGSM accuracy, both in
  pixel space ([0, 1] images, the run's standardisation inside the model,
  adversarial images clipped to [0, 1]) on a fixed random subset of the test
  split.
The training step time is measured once per study after training: every
activation's model is compiled, then `timing_steps` steps on one fixed batch
are timed in `timing_rounds` interleaved rounds; the minimum per activation is
reported (noise from other processes only ever adds time).
"""

import contextlib
import datetime
import json
import math
import os
import pathlib
import platform
import shutil
import sys
import time

import numpy as np

from keras_prelu.training import runs

#: Study activation name -> zoo name suffix.
ACTIVATION_SUFFIXES = {
    "relu": "relu",
    "leaky_relu": "leaky",
    "prelu": "prelu",
    "prelu_shared": "prelu_shared",
    "rrelu": "rrelu",
}
DEFAULT_ACTIVATIONS = tuple(ACTIVATION_SUFFIXES)
_ALIASES = {"leaky": "leaky_relu", "leakyrelu": "leaky_relu"}
LEARNABLE = ("prelu", "prelu_shared")
IDLE_THRESHOLD = 0.01
STATE_FILE = "study.json"
REPORT_FILE = "report.md"
CELLS = "cells"
FIGURES = "figures"
MEASUREMENTS = "measurements.json"
STATE_FORMAT = 1
# Settings that define the cells: a study directory cannot be resumed with other values.
CELL_SETTINGS = ("architecture", "dataset", "recipe", "epochs", "batch_size", "learning_rate",
                 "warmup_epochs")
# Settings of the measurements: other values re-measure finished cells (no retraining).
MEASURE_SETTINGS = ("fgsm_epsilon", "attack_examples")


class StudyError(ValueError):
    """A study that cannot run as asked: unknown activation or model, bad counts, a conflicting DIR."""


# -- names --------------------------------------------------------------------------------------
def parse_activations(activations):
    """Canonical study names from "relu,prelu" or a list; unknown or repeated names raise StudyError."""
    if isinstance(activations, str):
        activations = [part.strip() for part in activations.split(",")]
    if not activations or any(not isinstance(a, str) or not a for a in activations):
        raise StudyError(
            f"--activations needs a comma-separated list from {', '.join(ACTIVATION_SUFFIXES)}; "
            f"received {activations!r}"
        )
    names = []
    for raw in activations:
        key = _ALIASES.get(raw.lower(), raw.lower())
        if key not in ACTIVATION_SUFFIXES:
            import difflib

            close = difflib.get_close_matches(key, list(ACTIVATION_SUFFIXES), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise StudyError(
                f"unknown activation {raw!r}{hint}: accepted are {', '.join(ACTIVATION_SUFFIXES)}"
            )
        if key in names:
            raise StudyError(f"activation {key!r} is listed twice in --activations")
        names.append(key)
    return names


def parse_seeds(seeds):
    """`seeds` (a count K >= 1) as the list 0..K-1; anything else raises StudyError."""
    if isinstance(seeds, str):
        try:
            seeds = int(seeds.strip())
        except ValueError:
            raise StudyError(f"--seeds takes a count of seeds, a whole number >= 1, not {seeds!r}") from None
    if isinstance(seeds, bool) or not isinstance(seeds, (int, np.integer)) or seeds < 1:
        raise StudyError(f"--seeds takes a count of seeds, a whole number >= 1, not {seeds!r}")
    return list(range(int(seeds)))


def _zoo():
    import zoo

    return zoo


def model_name(architecture, activation):
    """The zoo name of `architecture` with `activation`: ("mlp3x256", "leaky_relu") -> "mlp3x256_leaky"."""
    return f"{architecture}_{ACTIVATION_SUFFIXES[activation]}"


def resolve_architecture(name, activations=DEFAULT_ACTIVATIONS):
    """The architecture of a family name ("mlp3x256") or a full zoo name ("mlp3x256_prelu").

    Raises StudyError when it names no zoo model or a needed variant is not registered.
    """
    zoo = _zoo()
    known = set(zoo.list_models())
    architecture = None
    if isinstance(name, str) and name:
        if name in known:
            for suffix in sorted(ACTIVATION_SUFFIXES.values(), key=len, reverse=True):
                if name.endswith("_" + suffix):
                    architecture = name[: -len(suffix) - 1]
                    break
        elif any(f"{name}_{suffix}" in known for suffix in ACTIVATION_SUFFIXES.values()):
            architecture = name
    if architecture is None:
        import difflib

        families = sorted({m.rsplit("_", 1)[0] for m in known if not m.endswith("_prelu_shared")})
        close = difflib.get_close_matches(str(name), families + sorted(known), n=3, cutoff=0.6)
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
    return f"{activation}-seed{seed}"


# -- study state --------------------------------------------------------------------------------
def _now():
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
            with open(self.state_file, encoding="utf-8") as handle:
                self.state = json.load(handle)
        except FileNotFoundError:
            raise StudyError(f"{str(self.path)!r} holds no study (no {STATE_FILE})") from None
        except ValueError as error:
            raise StudyError(f"{str(self.state_file)!r} cannot be read: {error}") from None
        return self.state

    def save(self):
        runs.atomic_write_json(self.state_file, self.state)

    def cell_dir(self, cid):
        return self.path / CELLS / cid

    def set_cell(self, cid, **fields):
        self.state["cells"][cid].update(fields, updated=_now())
        self.save()


def _check_resume(saved, given, path):
    for key in CELL_SETTINGS:
        value = given.get(key)
        if value is not None and value != saved.get(key):
            raise StudyError(
                f"{str(path)!r} holds a study with {key}={saved.get(key)!r}, not {value!r}: rerun "
                "with its settings to resume it, or choose another --out"
            )


# -- measurements -------------------------------------------------------------------------------
def _pixel_model(model, mean, std):
    """`model` behind its standardisation, so attacks work on [0, 1] images."""
    import keras

    inputs = keras.Input(tuple(model.inputs[0].shape[1:]), name="pixels")
    standardize = keras.layers.Normalization(
        mean=list(mean), variance=[float(s) ** 2 for s in std], axis=-1, name="standardize"
    )
    return keras.Model(inputs, model(standardize(inputs)), name="pixel_space")


def _test_subset(data, limit, seed=0):
    """A fixed random subset of `limit` test images in [0, 1] (float32) and their labels.

    Random, not the first `limit`: some test splits are sorted by class.
    """
    split = data.split("test")
    if data.in_memory:
        images, labels = split
        n = len(labels)
        index = np.sort(np.random.default_rng(seed).choice(n, size=min(limit, n), replace=False))
        images, labels = np.asarray(images)[index], np.asarray(labels)[index]
    else:  # streamed splits: the first `limit` images
        import tensorflow_datasets as tfds

        parts = list(tfds.as_numpy(split.take(limit).batch(1024)))
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
    return np.asarray(images, np.float32) / data.scale, np.asarray(labels, np.int32)


def fixed_slope(activation):
    """The negative slope of a fixed-slope activation at inference (None for learnable ones)."""
    import keras_prelu

    if activation in LEARNABLE:
        return None
    layer = keras_prelu.get_activation(activation)
    if isinstance(layer, keras_prelu.RReLU):
        return float(layer.mean_slope)
    return float(keras_prelu.negative_slope_of(layer))


def measure(model, data, activation, fgsm_epsilon=0.01, attack_examples=2000, batch_size=256):
    """Diagnostics of a trained model on `data`'s test split (see the module docstring); a JSON-able dict."""
    with _quiet_retracing():
        return _measure(model, data, activation, fgsm_epsilon, attack_examples, batch_size)


@contextlib.contextmanager
def _quiet_retracing():
    """Silence TensorFlow's retracing warnings: every cell's new model is compiled once, by design."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _measure(model, data, activation, fgsm_epsilon, attack_examples, batch_size):
    from keras_prelu import diagnostics

    report = diagnostics.measure_negative_fraction(
        model, data.eval_dataset(batch_size, split="test"), idle_threshold=IDLE_THRESHOLD
    )
    slopes = {name: {k: v[k] for k in ("mean", "min", "max", "count")}
              for name, v in diagnostics.slope_statistics(model).items()}
    layers = {}
    for name, layer in report.layers.items():
        entry = {
            "kind": layer.kind,
            "channels": layer.channels,
            "negative_fraction": [round(float(v), 6) for v in layer.negative_fraction],
            "never_positive": int(np.sum(layer.positive_fraction == 0)),
            "dead": int(np.sum(layer.dead)),
            "slopes": 0,
            "idle": 0,
        }
        if layer.kind == "prelu":
            if slopes.get(name, {}).get("count") == 1:
                # One slope for the layer: it learns from every channel's negative inputs.
                entry["slopes"] = 1
                entry["idle"] = int(float(np.mean(layer.negative_fraction)) < IDLE_THRESHOLD)
            else:
                entry["slopes"] = layer.channels
                entry["idle"] = int(np.sum(layer.idle))
        layers[name] = entry
    channels = sum(v["channels"] for v in layers.values())
    learnable = sum(v["slopes"] for v in layers.values())
    never_positive = sum(v["never_positive"] for v in layers.values())
    idle = sum(v["idle"] for v in layers.values())

    x, y = _test_subset(data, attack_examples)
    wrapped = _pixel_model(model, data.info.mean, data.info.std)
    zeros = 0.0
    chunk = 250
    for start in range(0, len(y), chunk):
        part = slice(start, start + chunk)
        fraction = diagnostics.zero_input_gradient_fraction(wrapped, x[part], y[part])
        zeros += fraction * len(y[part])
    epsilons = [0.0, fgsm_epsilon / 2, fgsm_epsilon, 2 * fgsm_epsilon]
    curve = diagnostics.fgsm_accuracy(wrapped, (x, y), epsilons, clip_values=(0.0, 1.0),
                                      batch_size=batch_size)

    return {
        "measured_with": {"fgsm_epsilon": fgsm_epsilon, "attack_examples": attack_examples,
                          "split": "test", "idle_threshold": IDLE_THRESHOLD},
        "activation": activation,
        "trainable_parameters": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
        "negative_fraction_examples": int(report.examples),
        "rectifier_channels": channels,
        "never_positive_fraction": never_positive / channels if channels else None,
        "idle_fraction": idle / learnable if learnable else None,
        "layers": layers,
        "zero_input_gradient_fraction": zeros / len(y),
        "attack_examples": int(len(y)),
        "fgsm": {"epsilons": curve.epsilons, "accuracy": curve.accuracy},
        "fgsm_accuracy": curve.accuracy[2],
        "slopes": slopes,
        "fixed_slope": fixed_slope(activation),
    }


def _load_trained(run_dir, config):
    """The run's final model (or newest checkpoint) rebuilt from the zoo."""
    from keras_prelu import experiment

    settings = config["settings"]
    net = experiment.build_model(settings["model"], config["model_input_shape"], config["num_classes"])
    run = runs.RunDir(run_dir, writer=False)
    if any(run.file(name).is_file() for name in _zoo().RUN_WEIGHT_FILES):
        _zoo().load_weights(net, run_dir)
        return net, "final model"
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise StudyError(f"run {str(run_dir)!r} has no final model and no checkpoint yet")
    runs.restore_model_variables(checkpoint, net)
    return net, f"checkpoint {checkpoint.name}"


# -- step timing ----------------------------------------------------------------------------------
def time_steps(architecture, activations, data, recipe, steps="auto", rounds=5, seed=0,
               jit_compile="auto", round_seconds=1.0):
    """Seconds per training step for each activation: ({activation: [one value per round]}, steps).

    Each model is built and compiled first (a warm-up call traces it); then
    `rounds` rounds run `steps` steps of each model on one fixed batch, in
    alternating order, so every activation sees the same machine load.
    `steps="auto"` sizes a round of the slowest model to about `round_seconds`.
    """
    import keras
    import tensorflow as tf

    from keras_prelu import experiment, training

    batch = next(iter(data.train_dataset(recipe.batch_size, epoch=0, seed=seed)))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    with _quiet_retracing():
        trainers, probe = {}, {}
        for activation in activations:
            keras.utils.set_random_seed(seed)
            net = experiment.build_model(model_name(architecture, activation), data.info.image_shape,
                                         data.info.num_classes)
            optimizer = recipe.make_optimizer(data.steps_per_epoch(recipe.batch_size))
            trainer = training.Trainer(net, optimizer, jit_compile=jit_compile,
                                       steps_per_execution="auto")
            trainer.train_epoch(dataset, 5)  # traces and compiles
            probe[activation] = trainer.train_epoch(dataset, 5)["seconds"] / 5
            trainers[activation] = trainer
        if steps == "auto":
            steps = int(min(5000, max(5, round(round_seconds / max(probe.values())))))
        times = {activation: [] for activation in activations}
        for round_ in range(rounds):
            order = activations if round_ % 2 == 0 else list(reversed(activations))
            for activation in order:
                result = trainers[activation].train_epoch(dataset, steps)
                times[activation].append(result["seconds"] / steps)
    return times, steps


# -- the study ----------------------------------------------------------------------------------
def _write(stream, text):
    stream.write(text + "\n")
    stream.flush()


def compare(
    model,
    dataset=None,
    activations=DEFAULT_ACTIVATIONS,
    *,
    epochs=None,
    seeds=2,
    out=None,
    recipe=None,
    batch_size=None,
    learning_rate=None,
    warmup_epochs=None,
    data_dir=None,
    download=None,
    fgsm_epsilon=0.01,
    attack_examples=2000,
    timing_steps="auto",
    timing_rounds=5,
    progress="lines",
    stream=None,
    command=None,
):
    """Train `model`'s architecture with each activation for each seed, measure, write the report.

    `model`: an architecture ("mlp3x256") or a zoo name whose architecture is
    used ("mlp3x256_prelu"). `dataset`: "digits" (default) or a TFDS name.
    `seeds`: how many seeds (0..seeds-1). Unset training settings (None) take
    the recipe's values, or a resumed study's. `fgsm_epsilon` is in
    pixel units ([0, 1] images). `timing_steps`: steps per timing round,
    "auto" (about 1 s per round) or 0 to skip the step-time measurement. Returns {"report", "figures", "rows", "out", "trained",
    "skipped", "resumed"}; progress goes to `stream` (stderr), one line per cell
    plus the training code's epoch lines.
    """
    from keras_prelu import data as data_lib
    from keras_prelu import experiment
    from keras_prelu import recipes as recipes_lib

    stream = stream or sys.stderr
    activations = parse_activations(activations)
    seeds = parse_seeds(seeds)
    if isinstance(fgsm_epsilon, bool) or not isinstance(fgsm_epsilon, (int, float)) or not (
        0 < fgsm_epsilon <= 1
    ):
        raise StudyError(f"--fgsm-epsilon takes a number in (0, 1] (pixel units), not {fgsm_epsilon!r}")
    checks = [("--attack-examples", attack_examples, 1), ("--timing-rounds", timing_rounds, 1)]
    if timing_steps != "auto":
        checks.append(("--timing-steps", timing_steps, 0))
    for label, value, minimum in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise StudyError(f"{label} takes a whole number >= {minimum}, not {value!r}")
    architecture = resolve_architecture(model, activations)
    if out is None:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = os.path.join("runs", f"study-{architecture}-{dataset or 'digits'}-{stamp}")
    study = Study(out)
    given = {"architecture": architecture, "dataset": dataset, "recipe": recipe, "epochs": epochs,
             "batch_size": batch_size, "learning_rate": learning_rate, "warmup_epochs": warmup_epochs}
    resumed = study.exists()
    if resumed:
        state = study.load()
        _check_resume(state["settings"], given, study.path)
        settings = dict(state["settings"])
    else:
        if study.path.exists() and any(study.path.iterdir()):
            raise StudyError(f"{str(study.path)!r} exists and holds no study; choose another --out")
        try:
            recipe_obj = recipes_lib.get(recipe or "default", epochs=epochs, batch_size=batch_size,
                                         learning_rate=learning_rate, warmup_epochs=warmup_epochs)
        except ValueError as error:
            raise StudyError(str(error).splitlines()[0]) from None
        settings = {"architecture": architecture, "dataset": dataset or data_lib.DIGITS,
                    "recipe": recipe_obj.name,
                    "epochs": recipe_obj.epochs, "batch_size": recipe_obj.batch_size,
                    "learning_rate": recipe_obj.learning_rate,
                    "warmup_epochs": recipe_obj.warmup_epochs}
        state = {"format": STATE_FORMAT, "created": _now(), "settings": settings, "commands": [],
                 "cells": {}, "timing": None}
    settings.update({"fgsm_epsilon": float(fgsm_epsilon), "attack_examples": int(attack_examples),
                     "activations": activations, "seeds": seeds})
    state["settings"] = settings
    state["commands"].append({"command": command or experiment.command_line(), "started": _now()})
    plan = [(activation, seed) for seed in seeds for activation in activations]
    for activation, seed in plan:
        state["cells"].setdefault(cell_id(activation, seed), {
            "activation": activation, "seed": seed, "model": model_name(architecture, activation),
            "status": "pending", "updated": _now()})
    # The data first: an unknown or unavailable dataset fails before anything is written.
    dataset = settings["dataset"]
    data_all = data_lib.load(dataset, data_dir=data_dir, download=True if download is None else download)
    study.state = state
    study.path.mkdir(parents=True, exist_ok=True)
    study.save()

    recipe_obj = recipes_lib.get(settings["recipe"], epochs=settings["epochs"],
                                 batch_size=settings["batch_size"],
                                 learning_rate=settings["learning_rate"],
                                 warmup_epochs=settings["warmup_epochs"])
    trained, skipped, resumed_cells = [], [], []
    total = len(plan)
    for number, (activation, seed) in enumerate(plan, start=1):
        cid = cell_id(activation, seed)
        run_dir = study.cell_dir(cid)
        run = runs.RunDir(run_dir)
        head = f"[{number}/{total}] {activation} seed {seed}"
        finished = run.file(runs.MODEL_CARD_JSON).is_file()
        measurements = _read_measurements(run_dir)
        if finished and measurements is not None and _measured_as(measurements, settings):
            _write(stream, f"{head}: finished earlier, skipped ({run_dir})")
            skipped.append(cid)
            study.set_cell(cid, status="done")
            continue
        if not finished:
            train_args = dict(
                dataset=dataset, recipe=settings["recipe"], epochs=settings["epochs"],
                batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
                warmup_epochs=settings["warmup_epochs"], data_dir=data_dir, download=download,
                seed=seed, progress=progress, stream=stream, command=state["commands"][-1]["command"],
            )
            study.set_cell(cid, status="training")
            started = time.perf_counter()
            result = None
            _reset_session()
            if run.holds_run():
                _write(stream, f"{head}: resuming {model_name(architecture, activation)} in {run_dir}")
                try:
                    result = experiment.train(model_name(architecture, activation), out=str(run_dir),
                                              resume=True, **train_args)
                    resumed_cells.append(cid)
                except (experiment.ConfigError, runs.CheckpointError) as error:
                    _write(stream, f"{head}: cannot resume ({str(error).splitlines()[0]}); restarting")
                    shutil.rmtree(run_dir)
            if result is None:
                _write(stream, f"{head}: training {model_name(architecture, activation)} for "
                               f"{_plural(settings['epochs'], 'epoch')} -> {run_dir}")
                result = experiment.train(model_name(architecture, activation), out=str(run_dir),
                                          **train_args)
            trained.append(cid)
            _write(stream, f"{head}: trained, test accuracy {100 * result['test_accuracy']:.2f}% "
                           f"({time.perf_counter() - started:.0f} s)")
        study.set_cell(cid, status="trained")
        _write(stream, f"{head}: measuring (dead/idle units, input gradients, FGSM)")
        config = run.load_config()
        net, _ = _load_trained(run_dir, config)
        data = data_all.with_normalization(config["dataset"]["mean"], config["dataset"]["std"])
        result = measure(net, data, activation, fgsm_epsilon=settings["fgsm_epsilon"],
                         attack_examples=settings["attack_examples"])
        runs.atomic_write_json(run_dir / MEASUREMENTS, result)
        study.set_cell(cid, status="done")

    timing = state.get("timing")
    if timing_steps and not _timing_covers(timing, activations, settings):
        size = "about 1 s" if timing_steps == "auto" else f"{timing_steps} training steps"
        _write(stream, f"timing: {timing_rounds} interleaved rounds of {size} per activation")
        _reset_session()
        load = os.getloadavg() if hasattr(os, "getloadavg") else None
        times, steps = time_steps(architecture, activations, data_all, recipe_obj,
                                  steps=timing_steps, rounds=timing_rounds)
        state["timing"] = {"steps": steps, "rounds": timing_rounds,
                           "batch_size": settings["batch_size"], "seconds_per_step": times,
                           "load_average": None if load is None else [round(v, 2) for v in load],
                           "cpu_count": os.cpu_count(), "measured": _now()}
        study.save()
    elif not timing_steps and not _timing_covers(timing, activations, settings):
        state["timing"] = None
        study.save()

    written = write_report(study.path)
    state = study.load()
    state["commands"][-1]["finished"] = _now()
    study.save()
    _write(stream, f"report: {written['report']}")
    return {"out": str(study.path), "report": str(written["report"]), "figures": written["figures"],
            "rows": written["rows"], "trained": trained, "skipped": skipped, "resumed": resumed_cells}


def _reset_session():
    import keras

    keras.backend.clear_session()


def _read_measurements(run_dir):
    path = pathlib.Path(run_dir) / MEASUREMENTS
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, ValueError):
        return None


def _measured_as(measurements, settings):
    done = measurements.get("measured_with", {})
    return all(done.get(key) == settings.get(key) for key in MEASURE_SETTINGS)


def _timing_covers(timing, activations, settings):
    return bool(timing) and timing.get("batch_size") == settings["batch_size"] and all(
        a in timing.get("seconds_per_step", {}) for a in activations)


# -- aggregation --------------------------------------------------------------------------------
def _mean_sd(values):
    values = [float(v) for v in values if v is not None]
    if not values:
        return None, None
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), sd


def _cell_results(study):
    """{activation: [per-seed dicts with card, history, measurements]} for the study's settings."""
    settings = study.state["settings"]
    found = {}
    for activation in settings["activations"]:
        cells = []
        for seed in settings["seeds"]:
            run_dir = study.cell_dir(cell_id(activation, seed))
            run = runs.RunDir(run_dir, writer=False)
            measurements = _read_measurements(run_dir)
            if not run.file(runs.MODEL_CARD_JSON).is_file() or measurements is None:
                raise StudyError(f"cell {cell_id(activation, seed)} of {str(study.path)!r} is not "
                                 "finished; run the compare command again to finish it")
            cells.append({"seed": seed, "card": run.load_model_card(), "history": run.load_history(),
                          "config": run.load_config(), "measurements": measurements, "dir": run_dir})
        found[activation] = cells
    return found


def _rows(results, timing):
    seconds = (timing or {}).get("seconds_per_step", {})
    best = {a: min(v) for a, v in seconds.items() if v}
    reference = best.get("relu")
    rows = []
    for activation, cells in results.items():
        accuracy = [c["card"]["results"]["test_accuracy"] for c in cells]
        fgsm = [c["measurements"]["fgsm_accuracy"] for c in cells]
        slopes = _pooled_slopes(cells)
        step = best.get(activation)
        rows.append({
            "activation": activation,
            "model": cells[0]["card"]["model"],
            "seeds": [c["seed"] for c in cells],
            "test_accuracy": _mean_sd(accuracy),
            "test_accuracy_per_seed": accuracy,
            "never_positive": _mean_sd([c["measurements"]["never_positive_fraction"] for c in cells])[0],
            "idle": _mean_sd([c["measurements"]["idle_fraction"] for c in cells])[0],
            "parameters": cells[0]["measurements"]["trainable_parameters"],
            "step_seconds": step,
            "step_vs_relu": step / reference if step and reference else None,
            "slopes": slopes,
            "fixed_slope": cells[0]["measurements"]["fixed_slope"],
            "zero_gradient": _mean_sd([c["measurements"]["zero_input_gradient_fraction"] for c in cells])[0],
            "fgsm_accuracy": _mean_sd(fgsm),
            "train_images_per_second": float(np.median(
                [c["card"]["results"]["median_images_per_second"] for c in cells])),
        })
    return rows


def _pooled_slopes(cells):
    """Final learned slopes over all layers and seeds: mean (channel-weighted), min, max; None if none."""
    total, count, low, high = 0.0, 0, math.inf, -math.inf
    for cell in cells:
        for stats in cell["measurements"]["slopes"].values():
            total += stats["mean"] * stats["count"]
            count += stats["count"]
            low, high = min(low, stats["min"]), max(high, stats["max"])
    if not count:
        return None
    return {"mean": total / count, "min": low, "max": high}


# -- figures --------------------------------------------------------------------------------------
def _mean_series(series_list):
    """Element-wise mean of equal-length lists (None entries skipped)."""
    arrays = [np.asarray([np.nan if v is None else v for v in s], np.float64) for s in series_list]
    length = min(len(a) for a in arrays)
    return [float(v) for v in np.nanmean(np.stack([a[:length] for a in arrays]), axis=0)]


def _initial_slopes(model, input_shape, num_classes):
    import keras

    from keras_prelu import diagnostics, experiment

    keras.utils.set_random_seed(0)
    net = experiment.build_model(model, input_shape, num_classes)
    return diagnostics.slope_statistics(net)


def make_figures(study):
    """The study's PNG figures in DIR/figures: {label: path}."""
    from keras_prelu import layers
    from keras_prelu.diagnostics import plots

    results = _cell_results(study)
    folder = study.path / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    figures = {}

    curves = []
    learnable = [a for a in results if fixed_slope(a) is None]
    if learnable:
        initial = layers.PReLU().initial_slope
        curves.append((f"{', '.join(learnable)} (initial a={initial:g})", learnable[0]))
    for activation, cells in results.items():
        slope = fixed_slope(activation)
        if slope is None:
            pooled = _pooled_slopes(cells)
            if pooled is not None:
                curves.append((f"{activation} (learned mean a={pooled['mean']:.3f})",
                               layers.PReLU(alpha_initializer=pooled["mean"])))
        elif activation == "rrelu":
            curves.append((f"rrelu (inference a={slope:.3f})", activation))
        else:
            curves.append((f"{activation} (a={slope:g})", activation))
    figures["activations"] = plots.plot_activations(folder / "activations.png", curves)

    losses = {}
    for activation, cells in results.items():
        histories = [c["history"] for c in cells]
        losses[f"{activation} train loss"] = _mean_series([h["loss"] for h in histories])
        losses[f"{activation} test loss"] = _mean_series([h["val_loss"] for h in histories])
    for activation, cells in results.items():
        histories = [c["history"] for c in cells]
        losses[f"{activation} train acc"] = _mean_series([h["accuracy"] for h in histories])
        losses[f"{activation} test acc"] = _mean_series([h["val_accuracy"] for h in histories])
    figures["loss_curves"] = plots.plot_loss_curves(losses, folder / "loss_curves.png",
                                                    size=(12.0, 4.5))

    for activation, cells in results.items():
        slopes = _slope_trajectories(cells)
        if slopes:
            config = cells[0]["config"]
            initial = _initial_slopes(config["settings"]["model"], config["model_input_shape"],
                                      config["num_classes"])
            epochs = len(next(iter(slopes.values()))["mean"])
            for name, entry in slopes.items():
                start = initial.get(name)
                if start is not None:
                    for key in ("mean", "min", "max"):
                        entry[key] = [start[key]] + entry[key]
            history = {"slopes": slopes}
            if all(len(e["mean"]) == epochs + 1 for e in slopes.values()):
                history["epoch"] = list(range(-1, epochs))
            figures[f"slopes_{activation}"] = plots.plot_slope_trajectories(
                history, folder / f"slopes_{activation}.png")

    for activation, cells in results.items():
        fractions = {}
        for cell in cells:
            for name, layer in cell["measurements"]["layers"].items():
                fractions.setdefault(name, []).extend(layer["negative_fraction"])
        if fractions:
            figures[f"negative_fraction_{activation}"] = plots.plot_negative_fractions(
                fractions, folder / f"negative_fraction_{activation}.png")

    robustness = {}
    for activation, cells in results.items():
        robustness[activation] = {
            "epsilons": cells[0]["measurements"]["fgsm"]["epsilons"],
            "accuracy": _mean_series([c["measurements"]["fgsm"]["accuracy"] for c in cells]),
        }
    figures["fgsm"] = plots.plot_robustness(robustness, folder / "fgsm.png")
    return {label: pathlib.Path(path) for label, path in figures.items()}


def _slope_trajectories(cells):
    """Per layer, the seed-mean of the per-epoch mean slope, the min of mins and max of maxes."""
    layers = {}
    for cell in cells:
        for name, entry in cell["history"].get("slopes", {}).items():
            layers.setdefault(name, []).append(entry)
    merged = {}
    for name, entries in layers.items():
        merged[name] = {
            "mean": _mean_series([e["mean"] for e in entries]),
            "min": [float(v) for v in np.nanmin(np.asarray([e["min"] for e in entries], np.float64), 0)],
            "max": [float(v) for v in np.nanmax(np.asarray([e["max"] for e in entries], np.float64), 0)],
        }
    return merged


# -- the report ---------------------------------------------------------------------------------
def _plural(count, word):
    return f"{count:g} {word}" + ("" if count == 1 else "s")


def _percent(value, digits=2):
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _accuracy(pair):
    mean, sd = pair
    if mean is None:
        return "–"
    return f"{100 * mean:.2f}%" + (f" ± {100 * sd:.2f}" if sd is not None else "")


def _slope_text(row):
    if row["slopes"] is not None:
        s = row["slopes"]
        return f"{s['mean']:.3f} [{s['min']:.3f}, {s['max']:.3f}]"
    if row["activation"] == "rrelu":
        return f"{row['fixed_slope']:.3f} (fixed at inference)"
    return f"{row['fixed_slope']:g} (fixed)"


def report_markdown(study, rows, figures):
    state = study.state
    settings = state["settings"]
    results = _cell_results(study)
    any_card = next(iter(results.values()))[0]["card"]
    dataset = any_card["dataset"]
    environment = any_card.get("environment", {})
    commands = state["commands"]
    first = commands[0]["command"]
    eps = settings["fgsm_epsilon"]
    timing = state.get("timing")
    lines = [
        f"# Activation study: {settings['architecture']} on {settings['dataset']}",
        "",
        "Command:",
        "",
        "```",
        first,
        "```",
        "",
    ]
    if len(commands) > 1:
        lines += ["Continued (resumed) with:", "", "```"]
        lines += [c["command"] for c in commands[1:]]
        lines += ["```", ""]
    lines += [
        f"Same architecture, seeds {', '.join(map(str, settings['seeds']))}, data order and budget "
        f"for every activation: recipe `{settings['recipe']}`, {_plural(settings['epochs'], 'epoch')}, batch "
        f"{settings['batch_size']}, peak learning rate {settings['learning_rate']:g}, warmup "
        f"{_plural(settings['warmup_epochs'], 'epoch')}. Dataset `{dataset['name']}` ({dataset['source']}): "
        f"{dataset['train_examples']} training and {dataset['test_examples']} test images. "
        f"Measurements on the test split.",
        "",
        "| activation | test accuracy (mean ± sd) | never-positive units | idle slopes | parameters "
        f"| step time | vs ReLU | final slopes: mean [min, max] | zero input gradients "
        f"| FGSM accuracy (ε={eps:g}) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for row in rows:
        step = "–" if row["step_seconds"] is None else f"{1000 * row['step_seconds']:.2f} ms"
        ratio = "–" if row["step_vs_relu"] is None else f"{row['step_vs_relu']:.2f}x"
        lines.append(
            f"| {row['activation']} | {_accuracy(row['test_accuracy'])} | "
            f"{_percent(row['never_positive'])} | "
            f"{'–' if row['idle'] is None else _percent(row['idle'])} | {row['parameters']:,} | "
            f"{step} | {ratio} | {_slope_text(row)} | {_percent(row['zero_gradient'])} | "
            f"{_accuracy(row['fgsm_accuracy'])} |"
        )
    n_seeds = len(settings["seeds"])
    attack_n = next(iter(results.values()))[0]["measurements"]["attack_examples"]
    lines += [
        "",
        "Columns:",
        f"- test accuracy: mean over {n_seeds} seed(s) ± sample standard deviation"
        + (" (one seed: no spread)" if n_seeds == 1 else "") + ".",
        "- never-positive units: share of rectifier channels whose input is never positive on the "
        "test split. For ReLU these units are dead (output and gradient zero); with a negative "
        "slope they still pass a gradient scaled by it.",
        f"- idle slopes: share of learnable slopes whose inputs are negative less than "
        f"{IDLE_THRESHOLD:.0%} of the time on the test split (a slope only learns from negative "
        "inputs; a per-channel slope sees its channel, a shared slope its whole layer); – for "
        "fixed slopes.",
        "- parameters: trainable parameters.",
    ]
    if timing:
        load = timing.get("load_average")
        lines.append(
            f"- step time: one training step (forward, backward, update) on a batch of "
            f"{timing['batch_size']}, the fastest of {timing['rounds']} interleaved rounds of "
            f"{timing['steps']} steps after compilation, on {environment.get('device', 'CPU')} "
            f"({timing.get('cpu_count')} cores"
            + (f", load average {load[0]:.1f} when measured" if load else "") + "); "
            "vs ReLU: ratio to ReLU's time."
        )
    else:
        lines.append("- step time: not measured (timing switched off).")
    lines += [
        "- final slopes: the learned negative slopes of all PReLU layers after training, pooled over "
        "channels, layers and seeds (mean, then min and max); fixed slopes as used at inference.",
        f"- zero input gradients: share of exactly-zero entries of d(loss)/d(pixel) on {attack_n} "
        "test images (mean over seeds). A pixel's gradient is exactly zero only when every path "
        "from it is blocked; in an MLP every pixel reaches every first-layer unit, so that takes "
        "all of them being inactive for the image.",
        f"- FGSM accuracy: accuracy on the same {attack_n} test images after one fast-gradient-sign "
        f"step of ε={eps:g} in [0, 1] pixel units (clipped to [0, 1]), mean ± sd over seeds.",
        "",
        "## Per seed",
        "",
        "| activation | seed | test accuracy | final train accuracy | epochs | training time "
        "| images/s (median epoch) | never-positive | idle | zero input gradients "
        "| attack subset: clean accuracy | FGSM |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for activation, cells in results.items():
        for cell in cells:
            card, m = cell["card"], cell["measurements"]
            res = card["results"]
            lines.append(
                f"| {activation} | {cell['seed']} | {_percent(res['test_accuracy'])} | "
                f"{_percent(res.get('final_train_accuracy'))} | {res['epochs']} | "
                f"{res['training_seconds']:.1f} s | {res['median_images_per_second']:,.0f} | "
                f"{_percent(m['never_positive_fraction'])} | "
                f"{'–' if m['idle_fraction'] is None else _percent(m['idle_fraction'])} | "
                f"{_percent(m['zero_input_gradient_fraction'])} | {_percent(m['fgsm']['accuracy'][0])} | "
                f"{_percent(m['fgsm_accuracy'])} |"
            )
    layer_rows = []
    for activation, cells in results.items():
        names = list(cells[0]["measurements"]["layers"])
        for name in names:
            per_seed = [c["measurements"]["layers"][name] for c in cells]
            mean_negative = float(np.mean([np.mean(p["negative_fraction"]) for p in per_seed]))
            slope_stats = [c["measurements"]["slopes"].get(name) for c in cells]
            slope_stats = [s for s in slope_stats if s]
            slope = (f"{np.mean([s['mean'] for s in slope_stats]):.3f} "
                     f"[{min(s['min'] for s in slope_stats):.3f}, "
                     f"{max(s['max'] for s in slope_stats):.3f}]") if slope_stats else "–"
            idle = (f"{np.mean([p['idle'] for p in per_seed]):g} of {per_seed[0]['slopes']}"
                    if per_seed[0]["slopes"] else "–")
            layer_rows.append(
                f"| {activation} | {name} | {per_seed[0]['channels']} | {mean_negative:.3f} | "
                f"{np.mean([p['never_positive'] for p in per_seed]):g} | {idle} | {slope} |"
            )
    lines += [
        "",
        "## Per layer (mean over seeds)",
        "",
        "| activation | layer | channels | mean negative fraction | never-positive channels "
        "| idle slopes | final slopes: mean [min, max] |",
        "|---|---|---:|---:|---:|---:|---|",
        *layer_rows,
    ]
    if timing:
        lines += ["", "## Step time rounds", "",
                  "| activation | " + " | ".join(f"round {i + 1}" for i in range(timing["rounds"]))
                  + " |", "|---|" + "---:|" * timing["rounds"]]
        for activation in settings["activations"]:
            values = timing["seconds_per_step"].get(activation, [])
            lines.append(f"| {activation} | " + " | ".join(f"{1000 * v:.2f} ms" for v in values) + " |")
    lines += ["", "## Figures", ""]
    titles = {
        "activations": "Activation functions and their derivatives",
        "loss_curves": "Loss and accuracy per epoch (mean over seeds; test = the test split)",
        "fgsm": "FGSM accuracy against ε (mean over seeds)",
    }
    for label, path in figures.items():
        if label.startswith("slopes_"):
            title = f"{label[len('slopes_'):]}: slope per layer and epoch (epoch 0 = initial; " \
                    "mean over seeds, band = min to max)"
        elif label.startswith("negative_fraction_"):
            title = f"{label[len('negative_fraction_'):]}: per-channel fraction of negative inputs " \
                    "per layer (test split, all seeds)"
        else:
            title = titles.get(label, label)
        relative = pathlib.Path(path).relative_to(study.path).as_posix()
        lines += [f"### {title}", "", f"![{label}]({relative})", ""]
    lines += [
        "## Environment",
        "",
        f"- {environment.get('platform', platform.platform(terse=True))}, Python "
        f"{environment.get('python', platform.python_version())}, TensorFlow "
        f"{environment.get('tensorflow', '?')}, Keras {environment.get('keras', '?')}, "
        f"{environment.get('cpu_count', os.cpu_count())} CPU cores, device "
        f"{environment.get('device', '?')}",
        f"- study started {state['created']}; report written {_now()}",
        "",
    ]
    return "\n".join(lines)


def write_report(path):
    """Figures and `report.md` of a finished study directory; {"report", "figures", "rows"}."""
    study = Study(path)
    study.load()
    results = _cell_results(study)
    rows = _rows(results, study.state.get("timing"))
    figures = make_figures(study)
    text = report_markdown(study, rows, figures)
    report = runs.atomic_write_text(study.path / REPORT_FILE, text)
    return {"report": pathlib.Path(report), "figures": figures, "rows": rows}


# -- one run's figures ------------------------------------------------------------------------------
def plot_run(run_dir, out=None, data_dir=None, download=None, measure_model=True, batch_size=256,
             stream=None):
    """Figures of one training run: loss curves and slope trajectories from `history.json`,
    negative-fraction histograms from the run's measurements (a study cell) or, with
    `measure_model`, by measuring its model on its dataset's test split.

    Written to `out` (default RUN_DIR/figures); returns {label: path}.
    """
    from keras_prelu import data as data_lib
    from keras_prelu.diagnostics import plots

    run = runs.RunDir(run_dir, writer=False)
    if not run.path.is_dir():
        raise StudyError(f"no such run directory: {str(run.path)!r}")
    if (run.path / STATE_FILE).is_file():
        raise StudyError(f"{str(run.path)!r} is a study directory: its figures come with "
                         "`keras-prelu compare`; give one of its cells/<activation>-seed<k> runs")
    try:
        config = run.load_config()
    except FileNotFoundError:
        raise StudyError(f"{str(run.path)!r} is not a run directory (no config.json)") from None
    history = run.load_history()
    if not history.get("loss"):
        raise StudyError(f"run {str(run.path)!r} has no finished epoch yet (empty history.json)")
    folder = pathlib.Path(out) if out else run.path / FIGURES
    folder.mkdir(parents=True, exist_ok=True)
    figures = {"loss_curves": plots.plot_loss_curves(history, folder / "loss_curves.png")}
    if history.get("slopes"):
        figures["slopes"] = plots.plot_slope_trajectories(history, folder / "slopes.png")
    measurements = _read_measurements(run.path)
    if measurements is not None:
        fractions = {name: layer["negative_fraction"] for name, layer in measurements["layers"].items()}
    elif measure_model:
        from keras_prelu import diagnostics

        settings = config["settings"]
        data = data_lib.load(settings["dataset"], data_dir=data_dir or settings.get("data_dir"),
                             download=settings.get("download", True) if download is None else download)
        data = data.with_normalization(config["dataset"]["mean"], config["dataset"]["std"])
        net, source = _load_trained(run.path, config)
        if stream is not None:
            _write(stream, f"measuring negative fractions of the {source} on "
                           f"{settings['dataset']} (test split)")
        report = diagnostics.measure_negative_fraction(
            net, data.eval_dataset(batch_size, split="test"), idle_threshold=IDLE_THRESHOLD)
        fractions = {name: layer.negative_fraction for name, layer in report.layers.items()}
    else:
        fractions = {}
    if fractions:
        figures["negative_fraction"] = plots.plot_negative_fractions(
            fractions, folder / "negative_fraction.png")
    return {label: pathlib.Path(path) for label, path in figures.items()}
