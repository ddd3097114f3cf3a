"""Train a zoo model on a dataset into a run directory (resumable), and evaluate finished runs.

    from keras_prelu import experiment
    result = experiment.train("resnet20_prelu", dataset="digits", epochs=30, out="runs/r20")
    result["test_accuracy"]
    experiment.train("resnet20_prelu", out="runs/r20", resume=True)   # after a kill
    experiment.evaluate("runs/r20")

This is what `keras-prelu train` and `keras-prelu evaluate` run. The run
directory layout is described in `keras_prelu.runs`.
"""

import dataclasses
import datetime
import os
import platform
import shlex
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from keras_prelu.training import data as data_lib
from keras_prelu.training import progress as progress_lib
from keras_prelu.training import recipes as recipes_lib
from keras_prelu.training import runs
from keras_prelu.training import trainer as training

PROGRESS_MODES = progress_lib.MODES
# Settings that define a run; a resumed run must not contradict them.
RUN_SETTINGS = (
    "model", "dataset", "recipe", "epochs", "batch_size", "learning_rate", "optimizer",
    "schedule", "weight_decay", "warmup_epochs", "augment", "precision", "seed", "val_split",
)


class ConfigError(ValueError):
    """A setting that cannot work: unknown model, bad value, a resume that contradicts its run."""


def _zoo():
    try:
        import zoo
    except ImportError as error:  # pragma: no cover - the zoo ships with the package
        raise ConfigError(f"the model zoo cannot be imported: {error}") from None
    return zoo


def check_model_name(name):
    """Raise ConfigError (with suggestions) unless `name` is a zoo model."""
    zoo = _zoo()
    if name in zoo.list_models():
        return
    import difflib

    close = difflib.get_close_matches(str(name), zoo.list_models(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ConfigError(
        f"unknown model {name!r}: {hint}accepted are zoo names such as resnet20_prelu, "
        "mlp3x256_relu (`keras-prelu list` shows all)"
    )


def build_model(name, input_shape, num_classes, **overrides):
    """`zoo.get(name)` for this data's image shape and class count; unknown names raise ConfigError."""
    check_model_name(name)
    zoo = _zoo()
    try:
        return zoo.get(name, input_shape=tuple(input_shape), num_classes=int(num_classes), **overrides)
    except ValueError as error:
        raise ConfigError(f"model {name!r} cannot be built for this data: {error}") from None


def _recipe(settings):
    try:
        recipe = recipes_lib.get(settings["recipe"])
    except ValueError:
        raise ConfigError(
            f"unknown recipe {settings['recipe']!r}: accepted are {recipes_lib.known_recipes()}"
        ) from None
    overrides = {
        key: settings.get(key)
        for key in ("epochs", "batch_size", "learning_rate", "optimizer", "schedule",
                    "weight_decay", "warmup_epochs", "augment")
    }
    no_augment = overrides.get("augment") == "none"
    if no_augment:
        overrides["augment"] = None
    try:
        recipe = recipe.replace(**overrides)
        return dataclasses.replace(recipe, augment=None) if no_augment else recipe
    except ValueError as error:
        raise ConfigError(str(error).splitlines()[0]) from None


def _resolve_settings(run_dir, resume, given):
    """The run's settings: the saved ones when resuming (checked against `given`), else `given` + defaults."""
    if resume:
        if not run_dir.holds_run():
            raise ConfigError(f"nothing to resume in {str(run_dir.path)!r}: it holds no run "
                              "(no config.json); start a new run without --resume")
        saved = run_dir.load_config()["settings"]
        for key in RUN_SETTINGS:
            value = given.get(key)
            if value is not None and value != saved.get(key):
                raise ConfigError(
                    f"--resume continues the run as it was started: {key} is {saved.get(key)!r} "
                    f"there, not {value!r}; drop the flag or start a new run"
                )
        settings = dict(saved)
        for key in ("data_dir", "download", "jit_compile", "steps_per_execution", "strategy", "progress"):
            if given.get(key) is not None:
                settings[key] = given[key]
        return settings
    if run_dir.writer and run_dir.holds_run():  # other workers find the chief's files
        raise ConfigError(
            f"run directory {str(run_dir.path)!r} already holds a run: pass --resume to continue "
            "it, or choose another --out"
        )
    settings = {key: given.get(key) for key in given}
    defaults = {"dataset": "digits", "recipe": "default", "precision": "float32", "seed": 0,
                "val_split": 0.0, "jit_compile": "auto", "steps_per_execution": "auto",
                "strategy": "auto", "download": True, "progress": "auto"}
    for key, value in defaults.items():
        if settings.get(key) is None:
            settings[key] = value
    return settings


def _default_out(model, dataset):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{model}-{dataset}-{stamp}")


def _environment(strategy):
    cpus = os.cpu_count()
    return {
        "device": training.device_type(),
        "replicas": strategy.num_replicas_in_sync,
        "strategy": training.strategy_name(strategy),
        "cpu_count": cpus,
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def _slopes(model):
    return {name: np.asarray(v.numpy()) for name, v in training.slope_variables(model).items()}


def train(
    model,
    dataset=None,
    recipe=None,
    *,
    epochs=None,
    batch_size=None,
    learning_rate=None,
    optimizer=None,
    schedule=None,
    weight_decay=None,
    warmup_epochs=None,
    augment=None,
    precision=None,
    jit_compile=None,
    steps_per_execution=None,
    data_dir=None,
    download=None,
    out=None,
    resume=False,
    seed=None,
    val_split=None,
    strategy=None,
    progress=None,
    progress_every=10.0,
    stream=None,
    command=None,
):
    """Train zoo model `model` on `dataset` with `recipe` (overrides as keywords) into run directory `out`.

    Unset arguments (None) take the recipe's / the defaults' values (dataset
    "digits", recipe "default", float32, seed 0, XLA per device type), or,
    with `resume=True`, the run's saved ones. Checkpoints every epoch; the
    final model, history and model card at the end. Returns a dict with
    `run_dir`, `test_accuracy`, `test_loss`, `epochs`, `history`, `seconds`.
    """
    given = dict(
        model=model, dataset=dataset, recipe=recipe, epochs=epochs, batch_size=batch_size,
        learning_rate=learning_rate, optimizer=optimizer, schedule=schedule,
        weight_decay=weight_decay, warmup_epochs=warmup_epochs, augment=augment,
        precision=precision, jit_compile=jit_compile, steps_per_execution=steps_per_execution,
        data_dir=data_dir, download=download, seed=seed, val_split=val_split,
        strategy=strategy, progress=progress,
    )
    if resume and out is None:
        raise ConfigError("--resume needs --out: the run directory to continue")
    if model is None and not resume:
        raise ConfigError("a model name is needed, e.g. resnet20_prelu or mlp3x256_prelu")
    # Only the chief writes (decided from TF_CONFIG, before any TensorFlow work).
    writer = training.is_chief_task()
    out = out or _default_out(model, dataset or "digits")
    run_dir = runs.RunDir(out, writer=writer)
    settings = _resolve_settings(run_dir, resume, given)
    stream = stream or sys.stderr
    if settings["progress"] not in PROGRESS_MODES:
        raise ConfigError(f"progress must be one of {list(PROGRESS_MODES)}, not {settings['progress']!r}")
    if settings["precision"] not in training.PRECISIONS:
        raise ConfigError(
            f"unknown precision {settings['precision']!r}: accepted are {list(training.PRECISIONS)}"
        )
    if settings["strategy"] not in training.STRATEGIES:
        raise ConfigError(
            f"unknown strategy {settings['strategy']!r}: accepted are {list(training.STRATEGIES)}"
        )
    recipe_obj = _recipe(settings)
    for key in ("epochs", "batch_size"):
        settings[key] = getattr(recipe_obj, key)
    check_model_name(settings["model"])
    # The strategy before other TF work: MultiWorkerMirroredStrategy must come first.
    strategy_obj = training.resolve_strategy(settings["strategy"])
    replicas = strategy_obj.num_replicas_in_sync
    if recipe_obj.batch_size % replicas:
        raise ConfigError(
            f"the batch size {recipe_obj.batch_size} must split evenly over the {replicas} replicas"
        )

    data = data_lib.load(
        settings["dataset"], data_dir=settings.get("data_dir"), download=settings["download"],
        val_split=settings["val_split"], seed=settings["seed"],
    )
    steps = data.steps_per_epoch(recipe_obj.batch_size)
    if steps < 1:
        raise ConfigError(
            f"the batch size {recipe_obj.batch_size} is larger than the "
            f"{data.info.train_examples} training images of {data.info.name!r}"
        )

    keras.utils.set_random_seed(int(settings["seed"]))
    with training.precision_policy(settings["precision"]), strategy_obj.scope():
        net = build_model(settings["model"], data.info.image_shape, data.info.num_classes)
        opt = recipe_obj.make_optimizer(steps)
    trainer = training.Trainer(
        net, opt, strategy=strategy_obj, jit_compile=settings["jit_compile"],
        steps_per_execution=settings["steps_per_execution"],
    )

    run_dir.create()
    state = None
    if resume:
        try:
            state = run_dir.restore(net, trainer.optimizer)
        except runs.CheckpointError as error:
            raise ConfigError(str(error)) from None
    if state is None:
        config = {
            "settings": {k: settings[k] for k in settings},
            "recipe": recipe_obj.to_dict(),
            "dataset": data.info.to_dict(),
            "model_input_shape": list(data.info.image_shape),
            "num_classes": data.info.num_classes,
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        run_dir.save_config(config)
    generator_state = (state or {}).get("rng", {}).get("tf_global_generator")
    if generator_state is not None:
        tf.random.get_global_generator().reset(np.asarray(generator_state, np.int64))
    start_epoch = 0 if state is None else int(state["epoch"])
    history = runs.new_history() if state is None else state["history"]
    seconds_so_far = 0.0 if state is None else float(state["train_seconds"])
    sessions = 1 if state is None else int(state.get("sessions", 1)) + 1

    bar = progress_lib.EpochProgress(recipe_obj.epochs, mode=settings["progress"], stream=stream,
                                     interval=progress_every)
    if not writer:
        bar = progress_lib.EpochProgress(recipe_obj.epochs, mode="none", stream=stream)
    summaries = runs.TensorBoardLog(run_dir.log_dir, enabled=writer)
    eval_split = "val" if data.has_val else "test"
    eval_batch = 2 * recipe_obj.batch_size
    if start_epoch and writer:
        stream.write(f"resumed {run_dir} after epoch {start_epoch} (step {trainer.iterations})\n")
    for epoch in range(start_epoch, recipe_obj.epochs):
        bar.start(epoch)
        dataset_epoch = data.train_dataset(
            recipe_obj.batch_size, epoch=epoch, seed=settings["seed"], augment=recipe_obj.augment,
            pad_fraction=recipe_obj.pad_fraction,
        )
        result = trainer.train_epoch(dataset_epoch, steps, progress=bar.update)
        val = trainer.evaluate(data.eval_dataset(eval_batch, split=eval_split))
        lr = trainer.learning_rate()
        slopes = _slopes(net)
        runs.append_history(
            history,
            {"loss": result["loss"], "accuracy": result["accuracy"], "val_loss": val["loss"],
             "val_accuracy": val["accuracy"], "lr": lr, "epoch_seconds": result["seconds"],
             "images_per_second": result["images_per_second"]},
            slopes,
        )
        seconds_so_far += result["seconds"] + val["seconds"]
        rng_state = {"seed": int(settings["seed"]), "next_data_epoch": epoch + 1,
                     "tf_global_generator": tf.random.get_global_generator().state.numpy().tolist()}
        run_dir.save_checkpoint(net, trainer.optimizer, {
            "epoch": epoch + 1, "step": trainer.iterations, "rng": rng_state, "history": history,
            "train_seconds": seconds_so_far, "sessions": sessions,
        })
        run_dir.save_history(history)
        summaries.write(
            "train", epoch + 1,
            {"loss": result["loss"], "accuracy": result["accuracy"], "learning_rate": lr,
             "images_per_second": result["images_per_second"],
             **{f"slopes/{name}/mean": float(np.mean(v)) for name, v in slopes.items()}},
            {f"slopes/{name}": v for name, v in slopes.items()},
        )
        summaries.write("validation", epoch + 1, {"loss": val["loss"], "accuracy": val["accuracy"]})
        bar.end(result, steps, val=val, lr=lr, note=f"checkpoint {epoch + 1}")

    test = trainer.evaluate(data.eval_dataset(eval_batch, split="test"))
    run_dir.save_history(history)
    run_dir.save_final_model(net)
    card = _model_card(settings, recipe_obj, data, trainer, strategy_obj, history, test,
                       seconds_so_far, sessions, command)
    run_dir.write_model_card(card)
    return {
        "run_dir": str(run_dir),
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "epochs": len(history["loss"]),
        "history": history,
        "seconds": seconds_so_far,
        "images_per_second": _mean_rate(history),
        "jit_compile": trainer.jit_compile,
        "autotune": trainer.autotune,
        "replicas": strategy_obj.num_replicas_in_sync,
        "chief": writer,
        "card": card,
    }


def _mean_rate(history):
    """Median images/s over the epochs, leaving out the first (it traces and compiles) when there are more."""
    rates = history.get("images_per_second") or []
    rates = rates[1:] if len(rates) > 1 else rates
    return float(np.median(rates)) if rates else float("nan")


def _model_card(settings, recipe, data, trainer, strategy, history, test, seconds, sessions, command):
    zoo = _zoo()
    try:
        info = zoo.info(settings["model"])
        model_info = {k: info[k] for k in ("family", "depth", "width", "activation", "paper")
                      if info.get(k) is not None}
    except Exception:  # the card must not fail a finished run
        model_info = {}
    model_info["trainable_parameters"] = int(sum(int(np.prod(v.shape)) for v in trainer.model.trainable_variables))
    model_info["input_shape"] = list(data.info.image_shape)
    model_info["num_classes"] = data.info.num_classes
    best = int(np.argmax(history["val_accuracy"])) if history["val_accuracy"] else None
    results = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "epochs": len(history["loss"]),
        "final_train_accuracy": history["accuracy"][-1] if history["accuracy"] else None,
        "training_seconds": round(seconds, 1),
        "median_images_per_second": round(_mean_rate(history), 1),
    }
    if best is not None:
        results["best_val_accuracy"] = history["val_accuracy"][best]
        results["best_val_epoch"] = best + 1
    if history["slopes"]:
        results["final_mean_slopes"] = {k: v["mean"][-1] for k, v in history["slopes"].items()}
    return {
        "model": settings["model"],
        "dataset": {**data.info.to_dict(),
                    "validation": "held-out part of train" if data.has_val else "test split"},
        "recipe": recipe.to_dict(),
        "training": {
            "precision": settings["precision"],
            "xla": trainer.jit_compile,
            "xla_setting": settings["jit_compile"],
            "xla_autotune": trainer.autotune,
            "seed": settings["seed"],
            "sessions": sessions,
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        },
        "results": results,
        "environment": _environment(strategy),
        "command": command or "",
        "keras_prelu_version": _version(),
    }


def _version():
    import keras_prelu

    return keras_prelu.__version__


def _load_run_model(run_dir, config):
    model_file = run_dir.file(runs.MODEL_FILE)
    if model_file.is_file():
        _zoo()  # registers the zoo's custom objects
        return keras.saving.load_model(model_file), "model.keras"
    settings = config["settings"]
    net = build_model(settings["model"], config["model_input_shape"], config["num_classes"])
    weights = run_dir.file(runs.WEIGHTS_FILE)
    if weights.is_file():
        net.load_weights(weights)
        return net, runs.WEIGHTS_FILE
    checkpoint = run_dir.latest_checkpoint()
    if checkpoint is None:
        raise ConfigError(f"run {str(run_dir.path)!r} has no final model and no checkpoint to evaluate yet")
    runs.restore_model_variables(checkpoint, net)
    return net, f"checkpoint {checkpoint.name}"


def evaluate(run, dataset=None, *, data_dir=None, download=True, batch_size=256, split="test",
             jit_compile="auto"):
    """Loss and accuracy of a run's model (final model, else its newest checkpoint) on a dataset split.

    The images get the normalisation the model was trained with. Returns a
    dict with `loss`, `accuracy`, `examples`, `dataset`, `split`, `source`.
    """
    run_dir = runs.RunDir(run, writer=False)
    if not run_dir.path.is_dir():
        raise ConfigError(f"no such run directory: {str(run_dir.path)!r}")
    try:
        config = run_dir.load_config()
    except FileNotFoundError:
        raise ConfigError(f"{str(run_dir.path)!r} is not a run directory (no config.json)") from None
    if split not in ("train", "test", "val"):
        raise ConfigError(f"unknown split {split!r}: accepted are train, test, val")
    name = dataset or config["settings"]["dataset"]
    data = data_lib.load(name, data_dir=data_dir, download=download,
                         val_split=config["settings"].get("val_split", 0.0) if name == config["settings"]["dataset"] else 0.0,
                         seed=config["settings"].get("seed", 0))
    trained = config["dataset"]
    if tuple(data.info.image_shape) != tuple(config["model_input_shape"]):
        raise ConfigError(
            f"dataset {name!r} has images of shape {tuple(data.info.image_shape)}; the run's model "
            f"takes {tuple(config['model_input_shape'])}"
        )
    if data.info.num_classes != config["num_classes"]:
        raise ConfigError(
            f"dataset {name!r} has {data.info.num_classes} classes; the run's model predicts "
            f"{config['num_classes']}"
        )
    data = data.with_normalization(trained["mean"], trained["std"])
    net, source = _load_run_model(run_dir, config)
    trainer = training.Trainer(net, None, jit_compile=jit_compile)
    if split == "val" and not data.has_val:
        raise ConfigError(f"dataset {name!r} has no validation split in this run")
    result = trainer.evaluate(data.eval_dataset(batch_size, split=split))
    return {"loss": result["loss"], "accuracy": result["accuracy"], "examples": result["examples"],
            "dataset": name, "split": split, "source": source,
            "seconds": result["seconds"]}


def command_line():
    """The command that started this process, for model cards."""
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0])] + sys.argv[1:])
