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
from keras_prelu.study.measurements import load_trained, measure
from keras_prelu.study.names import (
    DEFAULT_ACTIVATIONS,
    StudyError,
    cell_id,
    model_name,
    parse_activations,
    parse_seeds,
    resolve_architecture,
)
from keras_prelu.study.report import plural, write_report
from keras_prelu.study.timing import reset_session, time_steps
from keras_prelu.training import data as data_lib
from keras_prelu.training import experiment, runs
from keras_prelu.training import recipes as recipes_lib
from keras_prelu.utils.files import atomic_write_json
from keras_prelu.utils.run_layout import MODEL_CARD_JSON
from keras_prelu.utils.validation import check_int, check_number


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
    "auto" (about 1 s per round) or 0 to skip the step-time measurement.
    Returns {"report", "figures", "rows", "out", "trained", "skipped",
    "resumed"}; progress goes to `stream` (stderr), one line per cell plus
    the training code's epoch lines.
    """
    stream = stream or sys.stderr
    activations = parse_activations(activations)
    seeds = parse_seeds(seeds)
    fgsm_epsilon, attack_examples, timing_steps, timing_rounds = _check_options(
        fgsm_epsilon, attack_examples, timing_steps, timing_rounds)
    architecture = resolve_architecture(model, activations)
    given = {"architecture": architecture, "dataset": dataset, "recipe": recipe, "epochs": epochs,
             "batch_size": batch_size, "learning_rate": learning_rate, "warmup_epochs": warmup_epochs}
    study = Study(out if out is not None else _default_out(architecture, dataset))
    state = _open_state(study, given)
    settings = state["settings"]
    settings.update({"fgsm_epsilon": fgsm_epsilon, "attack_examples": attack_examples,
                     "activations": activations, "seeds": seeds})
    state["commands"].append({"command": command or experiment.command_line(), "started": now()})
    plan = [(activation, seed) for seed in seeds for activation in activations]
    for activation, seed in plan:
        state["cells"].setdefault(cell_id(activation, seed), {
            "activation": activation, "seed": seed, "model": model_name(architecture, activation),
            "status": "pending", "updated": now()})
    # The data first: an unknown or unavailable dataset fails before anything is written.
    data_all = data_lib.load(settings["dataset"], data_dir=data_dir,
                             download=True if download is None else download)
    study.state = state
    study.path.mkdir(parents=True, exist_ok=True)
    study.save()

    outcome = {"trained": [], "skipped": [], "resumed": []}
    train_options = {"data_dir": data_dir, "download": download, "progress": progress,
                     "stream": stream}
    for number, (activation, seed) in enumerate(plan, start=1):
        head = f"[{number}/{len(plan)}] {activation} seed {seed}"
        _run_cell(study, activation, seed, data_all, train_options, head, outcome)
    _time_if_needed(study, data_all, timing_steps, timing_rounds, stream)
    return _finish(study, outcome, stream)


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
    settings = {"architecture": given["architecture"], "dataset": given["dataset"] or data_lib.DIGITS,
                "recipe": recipe.name, "epochs": recipe.epochs, "batch_size": recipe.batch_size,
                "learning_rate": recipe.learning_rate, "warmup_epochs": recipe.warmup_epochs}
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
    if not finished:
        _train_cell(study, run, activation, seed, train_options, head, outcome)
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
        warmup_epochs=settings["warmup_epochs"], seed=seed,
        command=study.state["commands"][-1]["command"], **train_options,
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
    if result is None:
        _say(stream, f"{head}: training {name} for {plural(settings['epochs'], 'epoch')} -> {run.path}")
        result = experiment.train(name, out=str(run.path), **train_args)
    outcome["trained"].append(cid)
    _say(stream, f"{head}: trained, test accuracy {100 * result['test_accuracy']:.2f}% "
                 f"({time.perf_counter() - started:.0f} s)")


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
    net, _ = load_trained(run.path)
    data = data_all.with_normalization(config["dataset"]["mean"], config["dataset"]["std"])
    result = measure(net, data, activation, fgsm_epsilon=settings["fgsm_epsilon"],
                     attack_examples=settings["attack_examples"])
    atomic_write_json(run.path / MEASUREMENTS, result)


def _time_if_needed(study, data_all, timing_steps, timing_rounds, stream):
    """Measure the step times unless the saved ones cover every activation; timing 0 drops them."""
    state, settings = study.state, study.state["settings"]
    activations = settings["activations"]
    if timing_covers(state.get("timing"), activations, settings):
        return
    if not timing_steps:
        state["timing"] = None
        study.save()
        return
    size = "about 1 s" if timing_steps == "auto" else f"{timing_steps} training steps"
    _say(stream, f"timing: {timing_rounds} interleaved rounds of {size} per activation")
    reset_session()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    times, steps = time_steps(settings["architecture"], activations, data_all, _study_recipe(settings),
                              steps=timing_steps, rounds=timing_rounds)
    state["timing"] = {"steps": steps, "rounds": timing_rounds,
                       "batch_size": settings["batch_size"], "seconds_per_step": times,
                       "load_average": None if load is None else [round(v, 2) for v in load],
                       "cpu_count": os.cpu_count(), "measured": now()}
    study.save()


def _finish(study, outcome, stream):
    """Write the report, mark the command finished, and return compare's result."""
    written = write_report(study.path)
    state = study.load()
    state["commands"][-1]["finished"] = now()
    study.save()
    _say(stream, f"report: {written['report']}")
    return {"out": str(study.path), "report": str(written["report"]), "figures": written["figures"],
            "rows": written["rows"], "trained": outcome["trained"], "skipped": outcome["skipped"],
            "resumed": outcome["resumed"]}
