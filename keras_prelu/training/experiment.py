"""Train a zoo model on a dataset into a run directory (resumable), and evaluate finished runs.

    from keras_prelu.training import experiment
    result = experiment.train("resnet20_prelu", dataset="digits", epochs=30, out="runs/r20")
    result["test_accuracy"]
    experiment.train("resnet20_prelu", out="runs/r20", resume=True)   # after a kill
    experiment.evaluate("runs/r20")

This is what `keras-prelu train` and `keras-prelu evaluate` run; `run(settings)`
takes a `TrainSettings` directly. The run directory layout is described in
`keras_prelu.utils.run_layout` and `keras_prelu.training.runs`. It runs on the
backend Keras runs: under TensorFlow with `data` (tf.data) and `trainer.Trainer`,
elsewhere with `array_data` and `keras_loop.KerasTrainer` (`load_data`,
`make_trainer`); the run directory is the same.
"""

import contextlib
import dataclasses
import datetime
import logging
import os
import shlex
import sys

import keras
import numpy as np

import keras_prelu
import zoo
from keras_prelu import activations
from keras_prelu import ops as prelu_ops
from keras_prelu.training import progress as progress_lib
from keras_prelu.training import recipes as recipes_lib
from keras_prelu.training import distribute, keras_loop, runs, sources
from keras_prelu.training.model_card import build_model_card, median_images_per_second
from keras_prelu.training.settings import PROGRESS_MODES, ConfigError, TrainSettings
from keras_prelu.utils.backends import is_tensorflow
from keras_prelu.utils.files import OutOfSpace, is_out_of_space
from keras_prelu.utils.locks import DirectoryInUse, DirectoryLock
from keras_prelu.utils.run_layout import CONFIG_INPUT_SHAPE, CONFIG_NUM_CLASSES
from keras_prelu.utils.models import slope_variables, variables_are_finite
from keras_prelu.utils.validation import close_matches

__all__ = [
    "PROGRESS_MODES", "ConfigError", "RunDirectoryInUse", "TrainSettings", "TrainingDiverged",
    "build_model",
    "check_model_name",
    "command_line", "evaluate", "load_data", "make_trainer", "run", "train",
]
EVAL_SPLITS = sources.SPLITS
_log = logging.getLogger("keras_prelu")


class RunDirectoryInUse(ConfigError):
    """Another live process holds the run directory."""


def check_model_name(name):
    """Raise ConfigError (with suggestions) unless `name` is a zoo model."""
    known = zoo.list_models()
    if name in known:
        return name
    close = close_matches(name, known)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ConfigError(
        f"unknown model {name!r}: {hint}accepted are zoo names such as resnet20_prelu, "
        "mlp3x256_relu (`keras-prelu list` shows all)"
    )


def build_model(name, input_shape, num_classes, **overrides):
    """`zoo.get(name)` for this data's image shape and class count; errors raise ConfigError."""
    return _zoo_model(check_model_name(name), input_shape, num_classes, **overrides)


def _zoo_model(name, input_shape, num_classes, **overrides):
    """`build_model` for a name already checked."""
    try:
        return zoo.get(name, input_shape=tuple(input_shape), num_classes=int(num_classes), **overrides)
    except ValueError as error:
        raise ConfigError(f"model {name!r} cannot be built for this data: {error}") from None


def resolve_recipe(settings):
    """The named recipe with the settings' overrides (`augment="none"` switches augmentation off)."""
    try:
        recipe = recipes_lib.get(settings.recipe)
    except ValueError:
        raise ConfigError(
            f"unknown recipe {settings.recipe!r}: accepted are {recipes_lib.known_recipes()}"
        ) from None
    overrides = {key: getattr(settings, key) for key in TrainSettings.RECIPE_FIELDS}
    no_augment = overrides["augment"] == "none"
    if no_augment:
        overrides["augment"] = None
    try:
        recipe = recipe.replace(**overrides)
        return dataclasses.replace(recipe, augment=None) if no_augment else recipe
    except ValueError as error:
        raise ConfigError(str(error).splitlines()[0]) from None


def _default_out(model, dataset):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{model}-{dataset}-{stamp}")


def _run_dir(given, out, resume):
    """The run directory asked for (only the chief writes: decided from TF_CONFIG, before any
    TensorFlow work)."""
    if resume and out is None:
        raise ConfigError("--resume needs --out: the run directory to continue")
    if given.model is None and not resume:
        raise ConfigError("a model name is needed, e.g. resnet20_prelu or mlp3x256_prelu")
    if given.model is not None:  # before it names a default directory
        check_model_name(given.model)
    try:
        chief = distribute.is_chief_task()
    except ValueError as error:  # a malformed TF_CONFIG
        raise ConfigError(str(error).splitlines()[0]) from None
    return runs.RunDir(out or _default_out(given.model, given.dataset or "digits"), writer=chief)


@contextlib.contextmanager
def _ownership(run_dir):
    """Hold the run directory's lock (the writing process only) for the whole run."""
    if not run_dir.writer:
        yield
        return
    try:
        lock = DirectoryLock(run_dir.path, what="run directory").acquire()
    except DirectoryInUse as error:
        raise RunDirectoryInUse(str(error)) from None
    except OSError as error:
        raise ConfigError(f"cannot use {str(run_dir.path)!r} as a run directory: "
                          f"{error.strerror or error}") from None
    try:
        yield
    finally:
        lock.release()


def _resolve_settings(given, run_dir, resume):
    """The run's settings: the saved ones when resuming (checked against `given`), else `given`
    with the defaults."""
    if resume:
        if not run_dir.holds_run():
            raise ConfigError(f"nothing to resume in {str(run_dir.path)!r}: it holds no run "
                              "(no config.json); start a new run without --resume")
        settings = given.resumed_from(run_dir.load_config()["settings"])
    elif run_dir.writer and run_dir.holds_run():  # other workers find the chief's files
        raise ConfigError(
            f"run directory {str(run_dir.path)!r} already holds a run: pass --resume to continue "
            "it, or choose another --out"
        )
    else:
        settings = given.with_defaults()
    if given.model is None:  # resuming: the saved name (a given one was checked already)
        check_model_name(settings.model)
    return settings


def _has_learnable_slopes(name):
    activation = zoo.registry.entry(name).defaults.get("activation")
    return isinstance(activation, str) and activations.activation_spec(activation).learnable


@dataclasses.dataclass
class _Session:
    """One training session of a run: what it trains, on what, and where it stands."""

    settings: TrainSettings
    run_dir: runs.RunDir
    recipe: recipes_lib.Recipe
    strategy: object
    data: object  # data.Data (TensorFlow) or array_data.ArrayData
    steps: int
    trainer: object = None  # trainer.Trainer (TensorFlow) or keras_loop.KerasTrainer
    start_epoch: int = 0
    history: dict = None
    seconds: float = 0.0
    sessions: int = 1
    jit_choice: object = None  # the xla_choice.Choice of a TensorFlow "auto" run
    epoch_hook: object = None

    @property
    def xla_decision(self):
        """How XLA was chosen: "set" by the user, the `xla_choice.Choice` source (TensorFlow),
        or "backend default" (jit on JAX, eager on PyTorch)."""
        if self.jit_choice is not None:
            return self.jit_choice.source
        return "set" if self.settings.jit_compile != "auto" else "backend default"

    @property
    def model(self):
        return self.trainer.model


def _prepare(settings, run_dir):
    """Recipe, strategy and data for the run (the strategy before other TensorFlow work)."""
    recipe = resolve_recipe(settings)
    settings = dataclasses.replace(settings, epochs=recipe.epochs, batch_size=recipe.batch_size)
    try:
        strategy = distribute.resolve_strategy(settings.strategy)  # before other TensorFlow work
    except ValueError as error:
        raise ConfigError(str(error).splitlines()[0]) from None
    replicas = strategy.num_replicas_in_sync
    if recipe.batch_size % replicas:
        raise ConfigError(
            f"the batch size {recipe.batch_size} must split evenly over the {replicas} replicas"
        )
    if (is_tensorflow() and _has_learnable_slopes(settings.model)
            and settings.precision == "float32"):
        prelu_ops.prepare_training_kernels()  # compiles while the data load, on a first run
    data = load_data(settings.dataset, data_dir=settings.data_dir, download=settings.download,
                     val_split=settings.val_split, seed=settings.seed)
    steps = data.steps_per_epoch(recipe.batch_size)
    if steps < 1:
        raise ConfigError(
            f"the batch size {recipe.batch_size} is larger than the "
            f"{data.info.train_examples} training images of {data.info.name!r}"
        )
    if settings.steps_per_epoch is not None:
        if settings.steps_per_epoch > steps:
            raise ConfigError(
                f"--steps-per-epoch {settings.steps_per_epoch} is more than the {steps} full "
                f"batches of {recipe.batch_size} that {data.info.name!r} has per epoch"
            )
        steps = settings.steps_per_epoch
    return _Session(settings, run_dir, recipe, strategy, data, steps)


def _build(session):
    """The model and optimizer, under the precision policy and the strategy's scope."""
    settings, info = session.settings, session.data.info
    keras.utils.set_random_seed(int(settings.seed))
    with distribute.precision_policy(settings.precision), session.strategy.scope():
        net = _zoo_model(settings.model, info.image_shape, info.num_classes)
        optimizer = session.recipe.make_optimizer(session.steps)
    jit_compile = settings.jit_compile
    if jit_compile == "auto" and is_tensorflow():
        from keras_prelu.training import xla_choice

        session.jit_choice = xla_choice.resolve(
            net, session.recipe.batch_size, settings.precision,
            total_steps=session.steps * session.recipe.epochs,
            replicas=session.strategy.num_replicas_in_sync,
        )
        jit_compile = session.jit_choice.jit_compile
    session.trainer = make_trainer(net, optimizer, strategy=session.strategy,
                                   jit_compile=jit_compile,
                                   steps_per_execution=settings.steps_per_execution)


def load_data(name, **kwargs):
    """The dataset for this backend: `data.load` (tf.data) under TensorFlow, else
    `array_data.load` (NumPy arrays, batches on the device)."""
    if is_tensorflow():
        from keras_prelu.training import data as data_lib
    else:
        from keras_prelu.training import array_data as data_lib
    return data_lib.load(name, **kwargs)


def make_trainer(model, optimizer, **kwargs):
    """The compiled loop for this backend: `trainer.Trainer` under TensorFlow (tf.function/XLA,
    tf.distribute), else `keras_loop.KerasTrainer` (Keras's fit steps, jit on JAX)."""
    if is_tensorflow():
        from keras_prelu.training.trainer import Trainer
    else:
        Trainer = keras_loop.KerasTrainer
    return Trainer(model, optimizer, **kwargs)


def _restore_or_start(session, resume):
    """Continue from the newest checkpoint when resuming, else record the run's config."""
    run_dir = session.run_dir
    run_dir.create()
    state = None
    if resume:
        try:
            state = run_dir.restore(session.model, session.trainer.optimizer)
        except runs.CheckpointError as error:
            raise ConfigError(str(error)) from None
    if state is None:
        info = session.data.info
        run_dir.save_config({
            "settings": session.settings.to_dict(),
            "recipe": session.recipe.to_dict(),
            "dataset": info.to_dict(),
            CONFIG_INPUT_SHAPE: list(info.image_shape),
            CONFIG_NUM_CLASSES: info.num_classes,
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
        })
        session.history = runs.new_history()
        return
    generator_state = state.get("rng", {}).get("tf_global_generator")
    if generator_state is not None and is_tensorflow():
        import tensorflow as tf

        tf.random.get_global_generator().reset(np.asarray(generator_state, np.int64))
    session.start_epoch = int(state["epoch"])
    session.history = state["history"]
    session.seconds = float(state["train_seconds"])
    session.sessions = int(state.get("sessions", 1)) + 1


def _train_one_epoch(session, epoch, bar, summaries):
    """Train, validate, checkpoint and log one epoch."""
    settings, recipe, data, trainer = session.settings, session.recipe, session.data, session.trainer
    batches = data.train_dataset(recipe.batch_size, epoch=epoch, seed=settings.seed,
                                 augment=recipe.augment, pad_fraction=recipe.pad_fraction)
    batches = batches.take(session.steps)  # the first batches when --steps-per-epoch is shorter
    result = trainer.train_epoch(batches, session.steps, progress=bar.update)
    _check_finite(session, epoch, result["loss"])
    val = _evaluate_explained(session, epoch)
    session.history.setdefault("val_mode", []).append("xla" if val["xla"] else "graph")
    lr = trainer.learning_rate()
    slopes = {name: np.asarray(keras.ops.convert_to_numpy(v))
              for name, v in slope_variables(session.model).items()}
    runs.append_history(session.history, {
        "loss": result["loss"], "accuracy": result["accuracy"], "val_loss": val["loss"],
        "val_accuracy": val["accuracy"], "lr": lr, "epoch_seconds": result["seconds"],
        "images_per_second": result["images_per_second"]}, slopes)
    session.seconds += result["seconds"] + val["seconds"]
    _track(session, epoch + 1)
    rng_state = {"seed": int(settings.seed), "next_data_epoch": epoch + 1}
    if is_tensorflow():
        import tensorflow as tf

        rng_state["tf_global_generator"] = tf.random.get_global_generator().state.numpy().tolist()
    session.run_dir.save_checkpoint(session.model, trainer.optimizer, {
        "epoch": epoch + 1, "step": trainer.iterations, "rng": rng_state,
        "history": session.history, "train_seconds": session.seconds, "sessions": session.sessions,
    })
    session.run_dir.save_history(session.history)
    summaries.write(
        "train", epoch + 1,
        {"loss": result["loss"], "accuracy": result["accuracy"], "learning_rate": lr,
         "images_per_second": result["images_per_second"],
         **{f"slopes/{name}/mean": float(np.mean(v)) for name, v in slopes.items()}},
        {f"slopes/{name}": v for name, v in slopes.items()},
    )
    summaries.write("validation", epoch + 1, {"loss": val["loss"], "accuracy": val["accuracy"]})
    bar.end(result, session.steps, val=val, lr=lr, note=f"checkpoint {epoch + 1}")


def _track(session, epoch):
    """Record what the session's `epoch_hook` measures after `epoch` epochs (0: at initialisation)
    in the history's "tracked" section, {"epoch": [...], name: [...]}; kept with the checkpoints."""
    if session.epoch_hook is None:
        return
    measured = session.epoch_hook(session.model, session.data, epoch)
    tracked = session.history.setdefault("tracked", {"epoch": []})
    before = len(tracked["epoch"])
    tracked["epoch"].append(int(epoch))
    for name, value in measured.items():
        tracked.setdefault(name, [None] * before).append(value)


def _evaluate_explained(session, epoch):
    """Validate; a non-finite result is re-run in the other mode and what was found is logged and
    recorded in the history ("evaluation_notes"), so that a rare NaN explains itself."""
    data, trainer = session.data, session.trainer

    def batches():
        return data.eval_dataset(2 * session.recipe.batch_size,
                                 split="val" if data.has_val else "test")

    val = trainer.evaluate(batches())
    if np.isfinite(val["loss"]):
        return val
    other = trainer.evaluate(batches(), jit_compile=not val["xla"])
    weights_finite = variables_are_finite(session.model)
    mode, other_mode = ("xla", "graph") if val["xla"] else ("graph", "xla")
    note = {"epoch": epoch + 1, "mode": mode, "loss": float(val["loss"]), "other_mode": other_mode,
            "other_loss": float(other["loss"]), "weights_finite": bool(weights_finite)}
    session.history.setdefault("evaluation_notes", []).append(note)
    _log.warning("keras_prelu: validation after epoch %d gave loss %s in %s mode; %s mode gives %s; "
                 "the weights are %s", epoch + 1, val["loss"], mode, other_mode, other["loss"],
                 "finite" if weights_finite else "NOT finite")
    return other if np.isfinite(other["loss"]) else val


class TrainingDiverged(ConfigError):
    """The loss or the weights became non-finite; nothing non-finite was saved."""


def _check_finite(session, epoch, loss):
    """Stop before anything non-finite is saved: the last checkpoint stays the last finite one."""
    if np.isfinite(loss) and variables_are_finite(session.model):
        return
    what = f"the loss is {loss:g}" if not np.isfinite(loss) else "weights are not finite"
    kept = (f"the checkpoint of epoch {epoch} is kept" if epoch else "no checkpoint was written")
    raise TrainingDiverged(
        f"training diverged in epoch {epoch + 1} (by step {session.trainer.iterations}): {what}; "
        f"{kept}. Try a lower learning rate (--lr, now {session.recipe.learning_rate:g})"
        + (" or --precision float32" if session.settings.precision != "float32" else "")
    )


def _train_epochs(session, stream, progress_every):
    writer = session.run_dir.writer
    epochs = session.recipe.epochs
    bar = progress_lib.EpochProgress(epochs, mode=session.settings.progress if writer else "none",
                                     stream=stream, interval=progress_every)
    summaries = runs.TensorBoardLog(session.run_dir.log_dir, enabled=writer)
    if session.start_epoch and writer:
        stream.write(f"resumed {session.run_dir} after epoch {session.start_epoch} "
                     f"(step {session.trainer.iterations})\n")
    if session.start_epoch == 0:
        _track(session, 0)
    for epoch in range(session.start_epoch, epochs):
        bar.start(epoch)
        _train_one_epoch(session, epoch, bar, summaries)
        if session.jit_choice is not None and writer:
            session.jit_choice.remember(session.trainer.autotune)


def _finish(session, command):
    """Test the final model, save it with the history and the model card; the run's result dict."""
    trainer, history = session.trainer, session.history
    test = trainer.evaluate(session.data.eval_dataset(2 * session.recipe.batch_size, split="test"))
    session.run_dir.save_history(history)
    final_files = session.run_dir.save_final_model(session.model)
    card = build_model_card(session.settings, session.recipe, session.data, trainer,
                            session.strategy, history, test, session.seconds, session.sessions,
                            command, keras_prelu.__version__, xla_decision=session.xla_decision,
                            final_files=final_files)
    session.run_dir.write_model_card(card)
    return {
        "run_dir": str(session.run_dir),
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "test_examples": test["examples"],
        "epochs": len(history["loss"]),
        "history": history,
        "seconds": session.seconds,
        "images_per_second": median_images_per_second(history),
        "jit_compile": trainer.jit_compile,
        "autotune": trainer.autotune,
        "xla_decision": session.xla_decision,
        "replicas": session.strategy.num_replicas_in_sync,
        "chief": session.run_dir.writer,
        "card": card,
    }


def run(settings, out=None, resume=False, progress_every=10.0, stream=None, command=None,
        epoch_hook=None):
    """Train as `settings` (a `TrainSettings`) say into run directory `out`; see `train`."""
    run_dir = _run_dir(settings, out, resume)
    with _ownership(run_dir):  # before any other work: one process per run directory
        try:
            session = _prepare(_resolve_settings(settings, run_dir, resume), run_dir)
            session.epoch_hook = epoch_hook
            _build(session)
            _restore_or_start(session, resume)
            _train_epochs(session, stream or sys.stderr, progress_every)
            return _finish(session, command)
        except OSError as error:
            if not is_out_of_space(error):
                raise
            raise OutOfSpace(_out_of_space_message(run_dir)) from None


def _out_of_space_message(run_dir):
    checkpoint = run_dir.latest_checkpoint()
    kept = ("no checkpoint was written yet" if checkpoint is None else
            f"kept the last good checkpoint, {checkpoint.name} (epoch "
            f"{runs.read_checkpoint_state(checkpoint)['epoch']}); free space, then continue with --resume")
    return f"no space left on the device holding {str(run_dir.path)!r}: {kept}"


def train(model, dataset=None, recipe=None, *, out=None, resume=False, progress_every=10.0,
          stream=None, command=None, epoch_hook=None, **settings):
    """Train zoo model `model` on `dataset` with `recipe` (overrides as keywords) into run directory `out`.

    Keywords are the fields of `TrainSettings` (epochs, batch_size,
    learning_rate, optimizer, schedule, weight_decay, warmup_epochs, augment,
    precision, jit_compile, steps_per_execution, data_dir, download, seed,
    val_split, steps_per_epoch, strategy, progress). Unset ones (None) take the recipe's / the
    defaults' values (dataset "digits", recipe "default", float32, seed 0), or,
    with `resume=True`, the run's saved ones. Checkpoints every epoch; the
    final model, history and model card at the end. Returns a dict with
    `run_dir`, `test_accuracy`, `test_loss`, `epochs`, `history`, `seconds`.

    `epoch_hook(model, data, epoch)`, when given, is called at initialisation
    (epoch 0) and after every epoch; the JSON-able dict it returns is recorded
    in `history["tracked"]` (one list per key, beside "epoch").
    """
    try:
        given = TrainSettings(model=model, dataset=dataset, recipe=recipe, **settings)
    except TypeError as error:
        raise TypeError(f"train() {str(error).split('() ', 1)[-1]}") from None
    return run(given, out=out, resume=resume, progress_every=progress_every, stream=stream,
               command=command, epoch_hook=epoch_hook)


def evaluate(run_dir, dataset=None, *, data_dir=None, download=True, batch_size=256, split="test",
             jit_compile="auto"):
    """Loss and accuracy of a run's model (final model, else its newest checkpoint) on a dataset split.

    The images get the normalisation the model was trained with. Returns a
    dict with `loss`, `accuracy`, `examples`, `dataset`, `split`, `source`.
    """
    run = runs.RunDir(run_dir, writer=False)
    if not run.path.is_dir():
        raise ConfigError(f"no such run directory: {str(run.path)!r}")
    try:
        config = run.load_config()
    except FileNotFoundError:
        raise ConfigError(f"{str(run.path)!r} is not a run directory (no config.json)") from None
    if split not in EVAL_SPLITS:
        raise ConfigError(f"unknown split {split!r}: accepted are {', '.join(EVAL_SPLITS)}")
    data = _evaluation_data(config, dataset, data_dir, download)
    if split == "val" and not data.has_val:
        raise ConfigError(f"dataset {data.info.name!r} has no validation split in this run")
    try:
        net, source = run.load_model()
    except (FileNotFoundError, runs.RunFileError) as error:
        raise ConfigError(str(error)) from None
    result = make_trainer(net, None, jit_compile=jit_compile).evaluate(
        data.eval_dataset(batch_size, split=split))
    return {"loss": result["loss"], "accuracy": result["accuracy"], "examples": result["examples"],
            "dataset": data.info.name, "split": split, "source": source,
            "seconds": result["seconds"]}


def _evaluation_data(config, dataset, data_dir, download):
    """`dataset` (default: the run's own) checked against the run's model, normalised as in training."""
    saved = config["settings"]
    name = dataset or saved["dataset"]
    own = name == saved["dataset"]
    data = load_data(name, data_dir=data_dir, download=download,
                     val_split=saved.get("val_split", 0.0) if own else 0.0,
                     seed=saved.get("seed", 0))
    if tuple(data.info.image_shape) != tuple(config[CONFIG_INPUT_SHAPE]):
        raise ConfigError(
            f"dataset {name!r} has images of shape {tuple(data.info.image_shape)}; the run's model "
            f"takes {tuple(config[CONFIG_INPUT_SHAPE])}"
        )
    if data.info.num_classes != config[CONFIG_NUM_CLASSES]:
        raise ConfigError(
            f"dataset {name!r} has {data.info.num_classes} classes; the run's model predicts "
            f"{config[CONFIG_NUM_CLASSES]}"
        )
    trained = config["dataset"]
    return data.with_normalization(trained["mean"], trained["std"])


def command_line():
    """The command that started this process, for model cards."""
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.argv[0])] + sys.argv[1:])
