"""The training loop on every Keras backend: Keras's own compiled `fit` steps (jit on JAX).

    trainer = KerasTrainer(model, optimizer, strategy=distribute.resolve_strategy())
    result = trainer.train_epoch(data.train_dataset(128, epoch=0), steps=390)
    metrics = trainer.evaluate(data.eval_dataset(256))

The same interface as the TensorFlow `trainer.Trainer` (which `keras-prelu
train` uses under TensorFlow), so a run directory, its checkpoints, history
and model card are the same on every backend. The model is compiled with
sparse categorical cross-entropy (from logits unless it ends in a softmax)
and accuracy; each epoch is one `fit` call over `steps` batches. Steps are
compiled with the backend's compiler: `jax.jit` under JAX ("auto"), eager
PyTorch unless `jit_compile=True` asks for `torch.compile`. Under a
`keras.distribution.DataParallel` (a `distribute.KerasDistribution`) Keras
shards each batch over the devices.
"""

import time

import keras

from keras_prelu.training.distribute import KerasDistribution, resolve_strategy
from keras_prelu.training.results import epoch_result
from keras_prelu.utils.backends import backend
from keras_prelu.utils.models import outputs_are_probabilities

PROGRESS_SECONDS = 1.0  # reading a running metric waits for the device: not after every step


def optimizer_iterations(optimizer):
    """Parameter updates an optimizer (or the optimizer inside a LossScaleOptimizer) has applied."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    return int(keras.ops.convert_to_numpy(inner.iterations))


def learning_rate(optimizer, step=None):
    """The optimizer's learning rate at `step` (default: the last step taken)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        step = max(optimizer_iterations(optimizer) - 1, 0) if step is None else step
        return float(keras.ops.convert_to_numpy(rate(step)))
    return float(keras.ops.convert_to_numpy(rate))


def resolve_jit_compile(jit_compile="auto"):
    """The backend's compile choice: "auto" is jit on JAX, eager on PyTorch, Keras's "auto" on TensorFlow."""
    if jit_compile != "auto" and not isinstance(jit_compile, bool):
        raise ValueError(
            f"`jit_compile` must be True, False or 'auto'. Received: jit_compile={jit_compile!r}"
        )
    if jit_compile != "auto":
        return jit_compile
    return {"jax": True, "torch": False}.get(backend(), "auto")


class _Counted:
    """A generator over `batches` that counts the examples it handed out."""

    def __init__(self, batches, limit=None):
        self.examples = 0
        self.first_batch_size = None
        self._batches = batches
        self._limit = limit

    def __iter__(self):
        for index, (images, labels) in enumerate(self._batches):
            if self._limit is not None and index >= self._limit:
                return
            size = int(labels.shape[0])
            self.examples += size
            self.first_batch_size = self.first_batch_size or size
            yield images, labels

    def generator(self):
        return (batch for batch in self)


class _Progress(keras.callbacks.Callback):
    """Calls `progress(done, steps, result)` at most every `PROGRESS_SECONDS`, and at the end."""

    def __init__(self, progress, steps, counted):
        super().__init__()
        self._progress, self._steps, self._counted = progress, steps, counted
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        now = time.perf_counter()
        if self._progress is None or (now - self._last < PROGRESS_SECONDS and done < self._steps):
            return
        self._last = now
        count = done * (self._counted.first_batch_size or 0)
        logs = logs or {}
        self._progress(done, self._steps, epoch_result(
            float(logs.get("loss", float("nan"))) * count,
            float(logs.get("accuracy", float("nan"))) * count, count, done, now - self._start))


class KerasTrainer:
    """Compiled train and eval steps for a Keras classifier on the current Keras backend.

    Build the model and the optimizer inside `strategy.scope()` (and inside
    `distribute.precision_policy(...)` for mixed precision; under
    `mixed_float16` the optimizer is wrapped in a `LossScaleOptimizer`).

    Args:
        model: a Keras model returning logits (or softmax probabilities).
        optimizer: a Keras optimizer (slopes kept out of weight decay by
            `keras_prelu.optimizers.get` or a recipe); None for evaluation only.
        strategy: a `distribute.KerasDistribution`, or a name for `resolve_strategy`.
        jit_compile: True, False or "auto" (jit on JAX, eager on PyTorch).
        steps_per_execution: steps per compiled call: an int, or "auto" (1).
    """

    autotune = None  # no timing decision: the backend's compiler is the choice

    def __init__(self, model, optimizer, strategy=None, jit_compile="auto",
                 steps_per_execution="auto"):
        if steps_per_execution != "auto" and (
            isinstance(steps_per_execution, bool) or not isinstance(steps_per_execution, int)
            or steps_per_execution < 1
        ):
            raise ValueError(
                "`steps_per_execution` must be an int >= 1 or 'auto'. "
                f"Received: steps_per_execution={steps_per_execution!r}"
            )
        self.strategy = resolve_strategy("default" if strategy is None else strategy)
        self.steps_per_execution = steps_per_execution
        self._jit = resolve_jit_compile(jit_compile)
        self.model = model
        self.precision = model.dtype_policy.name if hasattr(model, "dtype_policy") else "float32"
        if optimizer is not None:
            with self.strategy.scope():
                if self.precision == "mixed_float16" and not isinstance(
                    optimizer, keras.optimizers.LossScaleOptimizer
                ):
                    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
                optimizer.build(model.trainable_variables)
        self.optimizer = optimizer
        self.from_logits = not outputs_are_probabilities(model)
        compile_args = {} if optimizer is None else {"optimizer": optimizer}
        with self.strategy.scope():
            model.compile(
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=self.from_logits),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                jit_compile=self._jit,
                steps_per_execution=1 if steps_per_execution == "auto" else steps_per_execution,
                auto_scale_loss=False,  # wrapped above, as the TensorFlow trainer does
                **compile_args,
            )

    @property
    def jit_compile(self):
        """Whether the steps are compiled (jit on JAX, torch.compile on PyTorch, XLA on TensorFlow)."""
        return bool(self.model.jit_compile)

    @property
    def compiler(self):
        """How the steps run: "jax.jit", "torch.compile", "xla", or "eager"/"tf.function"."""
        name = backend()
        if not self.jit_compile:
            return "tf.function" if name == "tensorflow" else "eager"
        return {"jax": "jax.jit", "torch": "torch.compile"}.get(name, "xla")

    def train_epoch(self, dataset, steps, progress=None):
        """Run `steps` training steps on batches from `dataset`; `progress(done, steps, result)`
        now and then. Returns an `EpochResult` (loss and accuracy averaged over the epoch)."""
        if self.optimizer is None:
            raise ValueError("This trainer has no optimizer (evaluation only); it cannot train.")
        if steps < 1:
            raise ValueError(f"`steps` must be >= 1. Received: steps={steps}")
        counted = _Counted(dataset, limit=steps)
        start = time.perf_counter()
        with self.strategy.scope():  # under DataParallel, Keras shards each batch over the devices
            history = self.model.fit(
                counted.generator(), epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False,
                callbacks=[_Progress(progress, steps, counted)],
            )
        seconds = time.perf_counter() - start
        count = counted.examples
        loss, accuracy = history.history["loss"][-1], history.history["accuracy"][-1]
        result = epoch_result(loss * count, accuracy * count, count, steps, seconds)
        if progress is not None:
            progress(steps, steps, result)
        return result

    def evaluate(self, dataset, progress=None, jit_compile=None):
        """Loss and accuracy over every example of `dataset` (partial batches weighted by size).

        `jit_compile` is accepted for the TensorFlow trainer's interface; the
        steps run as compiled. The result's `xla` says whether they were. Batches
        are not sharded (a last partial batch need not split over the devices).
        """
        counted = _Counted(dataset)
        start = time.perf_counter()
        logs = self.model.evaluate(counted.generator(), steps=_length(dataset) or None, verbose=0,
                                   return_dict=True)
        seconds = time.perf_counter() - start
        count = counted.examples
        result = epoch_result(logs["loss"] * count, logs["accuracy"] * count, count,
                              _length(dataset), seconds)
        if progress is not None:
            progress(result["steps"], result["steps"], result)
        result["xla"] = self.jit_compile
        return result

    @property
    def iterations(self):
        """Parameter updates applied so far (loss-scaling skips excluded)."""
        return optimizer_iterations(self.optimizer)

    def learning_rate(self, step=None):
        """The learning rate at `step` (default: the last step taken)."""
        return learning_rate(self.optimizer, step)


def _length(dataset):
    try:
        return len(dataset)
    except TypeError:
        return 0


__all__ = ["KerasDistribution", "KerasTrainer", "learning_rate", "optimizer_iterations",
           "resolve_jit_compile"]
