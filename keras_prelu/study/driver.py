"""`compare`: train one architecture with each activation for each seed, measure each cell, time the
training steps, and write the report (what `keras-prelu compare` runs).

Every (activation, seed) pair is a *cell*: zoo model `<architecture>_<suffix>`
trained by `keras_prelu.training.experiment.train` with that seed (hence the
same data order for every activation) and the same recipe, then measured on
the test split. Rerunning the same command resumes: finished cells (model card
and measurements present) are skipped, an interrupted cell continues from its
last checkpoint (or restarts when that is impossible).
"""

import datetime
import os
import sys
import time

import keras

from keras_prelu.study.cells import (
    MEASUREMENTS,
    STATE_FORMAT,
    Study,
    check_resume,
    measured_as,
    now,
    read_measurements,
    timing_covers,
)
from keras_prelu.study import presets as presets_lib
from keras_prelu.study.measurements import (
    DEFAULT_ATTACK_EXAMPLES,
    TRACKED_EXAMPLES,
    bn_prelu_pairs,
    initial_slope_values,
    load_trained,
    measure,
    stability_at_init,
    unit_tracker,
)
from keras_prelu.study.names import (
    DEFAULT_ACTIVATIONS,
    DEFAULT_SEEDS,
    StudyError,
    cell_id,
    model_name,
    parse_activations,
    parse_seeds,
    resolve_architecture,
)
from keras_prelu.study.report import plural, write_report
from keras_prelu.study.timing import reset_session, time_steps
from keras_prelu.training import experiment, runs, sources
from keras_prelu.training import recipes as recipes_lib
from keras_prelu.utils.files import atomic_write_json
from keras_prelu.utils.run_layout import CONFIG_INPUT_SHAPE, CONFIG_NUM_CLASSES, MODEL_CARD_JSON
from keras_prelu.utils.validation import check_int, check_number


def compare(
    model=None,
    dataset=None,
    activations=DEFAULT_ACTIVATIONS,
    *,
    preset=None,
    epochs=None,
    seeds=None,
    out=None,
    recipe=None,
    batch_size=None,
    learning_rate=None,
    warmup_epochs=None,
    steps_per_epoch=None,
    data_dir=None,
    download=None,
    fgsm_epsilon=0.01,
    attack_examples=None,
    timing_steps="auto",
    timing_rounds=7,
    progress="lines",
    stream=None,
    command=None,
):
    """Train `model`'s architecture with each activation for each seed, measure, write the report.

    `model`: an architecture ("mlp3x256") or a zoo name whose architecture is
    used ("mlp3x256_prelu"). `preset`: a name from `presets.PRESETS` that
    fills every argument left unset (model, dataset, seeds, epochs, ...).
    `dataset`: "digits" (default) or a TFDS name. `seeds`: how many seeds
    (0..seeds-1, default 5). Unset training settings (None) take the recipe's
    values, or a resumed study's. `fgsm_epsilon` is in pixel units ([0, 1]
    images); `attack_examples` test images are attacked (default 2000).
    `timing_steps`: steps per timing round, "auto" (about 1 s per
    round) or 0 to skip the speed phase. Returns {"report", "figures",
    "summary", "out", "trained", "skipped", "resumed", "diverged"}; progress
    goes to `stream` (stderr), one line per cell plus the training code's
    epoch lines.
    """
    stream = stream or sys.stderr
    chosen = presets_lib.resolve(preset, {
        "model": model, "dataset": dataset, "seeds": seeds, "epochs": epochs, "recipe": recipe,
        "learning_rate": learning_rate, "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch, "attack_examples": attack_examples})
    if chosen["model"] is None:
        raise StudyError("give a model (an architecture such as mlp3x256) or a --preset "
                         f"({', '.join(presets_lib.PRESETS)})")
    activations = parse_activations(activations)
    seeds = parse_seeds(DEFAULT_SEEDS if chosen["seeds"] is None else chosen["seeds"])
    fgsm_epsilon, attack_examples, timing_steps, timing_rounds = _check_options(
        fgsm_epsilon, _or_default(chosen["attack_examples"], DEFAULT_ATTACK_EXAMPLES), timing_steps,
        timing_rounds)
    architecture = resolve_architecture(chosen["model"], activations)
    given = {"architecture": architecture, "dataset": chosen["dataset"], "recipe": chosen["recipe"],
             "epochs": chosen["epochs"], "batch_size": chosen["batch_size"],
             "learning_rate": chosen["learning_rate"], "warmup_epochs": warmup_epochs,
             "steps_per_epoch": _checked_steps(chosen["steps_per_epoch"]),
             "backend": keras.backend.backend()}
    study = Study(out if out is not None else _default_out(architecture, chosen["dataset"]))
    state = _open_state(study, given)
    settings = state["settings"]
    settings.update({"fgsm_epsilon": fgsm_epsilon, "attack_examples": attack_examples,
                     "activations": activations, "seeds": seeds})
    if preset is not None:
        settings["preset"] = preset
    state["commands"].append({"command": command or experiment.command_line(), "started": now()})
    plan = [(activation, seed) for seed in seeds for activation in activations]
    for activation, seed in plan:
        state["cells"].setdefault(cell_id(activation, seed), {
            "activation": activation, "seed": seed, "model": model_name(architecture, activation),
            "status": "pending", "updated": now()})
    # The data first: an unknown or unavailable dataset fails before anything is written.
    data_all = experiment.load_data(settings["dataset"], data_dir=data_dir,
                                    download=True if download is None else download)
    study.state = state
    study.path.mkdir(parents=True, exist_ok=True)
    study.save()

    outcome = {"trained": [], "skipped": [], "resumed": [], "diverged": []}
    train_options = {"data_dir": data_dir, "download": download, "progress": progress,
                     "stream": stream}
    for number, (activation, seed) in enumerate(plan, start=1):
        head = f"[{number}/{len(plan)}] {activation} seed {seed}"
        _run_cell(study, activation, seed, data_all, train_options, head, outcome)
    _stability_if_needed(study, data_all, stream)
    _time_if_needed(study, data_all, timing_steps, timing_rounds, stream)
    return _finish(study, outcome, stream)


def _or_default(value, default):
    return default if value is None else value


def _checked_steps(steps_per_epoch):
    if steps_per_epoch is None:
        return None
    try:
        return check_int("steps_per_epoch", steps_per_epoch, minimum=1)
    except ValueError:
        raise StudyError(f"--steps-per-epoch takes a whole number >= 1, not {steps_per_epoch!r}") from None


def _check_options(fgsm_epsilon, attack_examples, timing_steps, timing_rounds):
    """The measurement options, checked (StudyError naming the flag), as plain floats and ints."""
    try:
        fgsm_epsilon = check_number("fgsm_epsilon", fgsm_epsilon, minimum=0, maximum=1,
                                    strict_minimum=True)
    except ValueError:
        raise StudyError(f"--fgsm-epsilon takes a number in (0, 1] (pixel units), not {fgsm_epsilon!r}") from None
    checks = [("--attack-examples", attack_examples, 1), ("--timing-rounds", timing_rounds, 1)]
    if timing_steps != "auto":
        checks.append(("--timing-steps", timing_steps, 0))
    checked = []
    for label, value, minimum in checks:
        try:
            checked.append(check_int(label, value, minimum=minimum))
        except ValueError:
            raise StudyError(f"{label} takes a whole number >= {minimum}, not {value!r}") from None
    attack_examples, timing_rounds = checked[:2]
    if timing_steps != "auto":
        timing_steps = checked[2]
    return fgsm_epsilon, attack_examples, timing_steps, timing_rounds


def _default_out(architecture, dataset):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"study-{architecture}-{dataset or 'digits'}-{stamp}")


def _open_state(study, given):
    """The state of a study to resume (its cell settings checked), or a new one from the recipe."""
    if study.exists():
        state = study.load()
        check_resume(state["settings"], given, study.path)
        state["settings"] = dict(state["settings"])
        return state
    if study.path.exists() and (not study.path.is_dir() or any(study.path.iterdir())):
        raise StudyError(f"{str(study.path)!r} exists and holds no study; choose another --out")
    try:
        recipe = recipes_lib.get(given["recipe"] or "default", epochs=given["epochs"],
                                 batch_size=given["batch_size"],
                                 learning_rate=given["learning_rate"],
                                 warmup_epochs=given["warmup_epochs"])
    except ValueError as error:
        raise StudyError(str(error).splitlines()[0]) from None
    settings = {"architecture": given["architecture"], "dataset": given["dataset"] or sources.DIGITS,
                "recipe": recipe.name, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
                "learning_rate": recipe.learning_rate, "warmup_epochs": recipe.warmup_epochs,
                "steps_per_epoch": given["steps_per_epoch"], "backend": given["backend"]}
    return {"format": STATE_FORMAT, "created": now(), "settings": settings, "commands": [],
            "cells": {}, "timing": None}


def _study_recipe(settings):
    return recipes_lib.get(settings["recipe"], epochs=settings["epochs"],
                           batch_size=settings["batch_size"],
                           learning_rate=settings["learning_rate"],
                           warmup_epochs=settings["warmup_epochs"])


def _say(stream, text):
    stream.write(text + "\n")
    stream.flush()


def _run_cell(study, activation, seed, data_all, train_options, head, outcome):
    """Train (or resume) and measure one cell, unless it finished earlier with these settings."""
    settings = study.state["settings"]
    cid = cell_id(activation, seed)
    run = runs.RunDir(study.cell_dir(cid))
    finished = run.file(MODEL_CARD_JSON).is_file()
    measurements = read_measurements(run.path)
    if finished and measurements is not None and measured_as(measurements, settings):
        _say(train_options["stream"], f"{head}: finished earlier, skipped ({run.path})")
        outcome["skipped"].append(cid)
        study.set_cell(cid, status="done")
        return
    if study.state["cells"][cid].get("status") == "diverged" and run.holds_run():
        _say(train_options["stream"], f"{head}: diverged earlier, skipped ({run.path})")
        outcome["diverged"].append(cid)
        return
    if not finished and not _train_cell(study, run, activation, seed, train_options, head, outcome):
        return
    study.set_cell(cid, status="trained")
    _measure_cell(run, activation, data_all, settings, train_options["stream"], head)
    study.set_cell(cid, status="done")


def _train_cell(study, run, activation, seed, train_options, head, outcome):
    """Train one cell into its run directory, resuming an interrupted run when possible."""
    settings = study.state["settings"]
    stream = train_options["stream"]
    cid = cell_id(activation, seed)
    name = model_name(settings["architecture"], activation)
    train_args = dict(
        dataset=settings["dataset"], recipe=settings["recipe"], epochs=settings["epochs"],
        batch_size=settings["batch_size"], learning_rate=settings["learning_rate"],
        warmup_epochs=settings["warmup_epochs"], steps_per_epoch=settings.get("steps_per_epoch"),
        seed=seed, command=study.state["commands"][-1]["command"],
        epoch_hook=unit_tracker(TRACKED_EXAMPLES), **train_options,
    )
    study.set_cell(cid, status="training")
    started = time.perf_counter()
    result = None
    reset_session()
    if run.holds_run():
        _say(stream, f"{head}: resuming {name} in {run.path}")
        try:
            result = experiment.train(name, out=str(run.path), resume=True, **train_args)
            outcome["resumed"].append(cid)
        except experiment.RunDirectoryInUse:
            raise  # another process trains this cell: never touch its directory
        except (experiment.ConfigError, runs.CheckpointError) as error:
            aside = _set_aside(run.path)
            _say(stream, f"{head}: cannot resume ({str(error).splitlines()[0]}); kept the old "
                         f"cell as {aside.name}, restarting")
    try:
        if result is None:
            _say(stream, f"{head}: training {name} for {plural(settings['epochs'], 'epoch')} -> {run.path}")
            result = experiment.train(name, out=str(run.path), **train_args)
    except experiment.TrainingDiverged as error:
        # A result, not a crash: the cell is reported as diverged and left out of the statistics.
        message = str(error).splitlines()[0]
        study.set_cell(cid, status="diverged", error=message)
        outcome["diverged"].append(cid)
        _say(stream, f"{head}: DIVERGED ({message}); the study goes on without this cell")
        return False
    outcome["trained"].append(cid)
    _say(stream, f"{head}: trained, test accuracy {100 * result['test_accuracy']:.2f}% "
                 f"({time.perf_counter() - started:.0f} s)")
    return True


def _set_aside(path):
    """Move a cell directory that cannot be resumed out of the way (never delete results)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.unresumable-{stamp}")
    counter = 1
    while aside.exists():
        aside = path.with_name(f"{path.name}.unresumable-{stamp}-{counter}")
        counter += 1
    os.replace(path, aside)
    return aside


def _measure_cell(run, activation, data_all, settings, stream, head):
    """Measure one trained cell on the test split, normalised as in its training; writes measurements.json."""
    _say(stream, f"{head}: measuring (dead/idle units, input gradients, FGSM)")
    config = run.load_config()
    initial = initial_slope_values(config["settings"]["model"], config[CONFIG_INPUT_SHAPE],
                                   config[CONFIG_NUM_CLASSES], config["settings"]["seed"])
    net, _ = load_trained(run.path)
    data = data_all.with_normalization(config["dataset"]["mean"], config["dataset"]["std"])
    result = measure(net, data, activation, initial_slopes=initial,
                     fgsm_epsilon=settings["fgsm_epsilon"], attack_examples=settings["attack_examples"])
    result["bn_prelu_pairs"] = bn_prelu_pairs(net)
    atomic_write_json(run.path / MEASUREMENTS, result)


def _time_if_needed(study, data_all, timing_steps, timing_rounds, stream):
    """The speed phase, unless the saved one covers every activation; timing 0 drops it."""
    state, settings = study.state, study.state["settings"]
    activations = settings["activations"]
    if timing_covers(state.get("timing"), activations, settings):
        return
    if not timing_steps:
        state["timing"] = None
        study.save()
        return
    size = "about 1 s" if timing_steps == "auto" else f"{timing_steps} steps"
    _say(stream, f"speed: {timing_rounds} alternating rounds of {size} of training and of "
                 "inference per activation")
    reset_session()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    timing = time_steps(settings["architecture"], activations, data_all, _study_recipe(settings),
                        steps=timing_steps, rounds=timing_rounds)
    after = os.getloadavg() if hasattr(os, "getloadavg") else None
    state["timing"] = {**timing, "rounds": timing_rounds, "batch_size": settings["batch_size"],
                       "load_average": None if load is None else [round(v, 2) for v in load],
                       "load_average_after": None if after is None else [round(v, 2) for v in after],
                       "cpu_count": os.cpu_count(), "measured": now()}
    study.save()


def _stability_if_needed(study, data_all, stream):
    """Each activation's stability at initialisation (seed 0, one training batch), once per study."""
    state, settings = study.state, study.state["settings"]
    saved = state.get("stability") or {}
    missing = [a for a in settings["activations"] if a not in saved]
    if not missing:
        return
    _say(stream, f"stability at initialisation: {', '.join(missing)}")
    reset_session()
    recipe = _study_recipe(settings)
    batch = next(iter(data_all.train_dataset(recipe.batch_size, epoch=0, seed=0)))
    for activation in missing:
        saved[activation] = stability_at_init(model_name(settings["architecture"], activation),
                                              data_all.info, batch)
    state["stability"] = saved
    study.save()


def _finish(study, outcome, stream):
    """Write the report (with the summary in study.json), mark the command finished; compare's result."""
    written = write_report(study.path)
    state = study.load()
    state["commands"][-1]["finished"] = now()
    study.save()
    _say(stream, f"report: {written['report']}")
    return {"out": str(study.path), "report": str(written["report"]), "figures": written["figures"],
            "summary": written["summary"], "trained": outcome["trained"],
            "skipped": outcome["skipped"], "resumed": outcome["resumed"],
            "diverged": outcome["diverged"]}
