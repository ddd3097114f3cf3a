"""The compiled training loop: `tf.function` (optionally XLA) steps, several per call, under `tf.distribute`.

    strategy = training.resolve_strategy()            # default / Mirrored / MultiWorkerMirrored
    with training.precision_policy("mixed_float16"), strategy.scope():
        model = zoo.get("resnet20_prelu")
        optimizer = recipes.get("resnet-cifar").make_optimizer(steps_per_epoch=390)
    trainer = training.Trainer(model, optimizer, strategy=strategy)
    result = trainer.train_epoch(data.train_dataset(128, epoch=0), steps=390)
    metrics = trainer.evaluate(data.eval_dataset(256))

One training step: forward, sparse categorical cross-entropy averaged over
the *global* batch, loss scaling under `mixed_float16`, gradients summed
over replicas by the optimizer, update.
Each compiled call runs `steps_per_execution` steps in a `tf.range` loop
("auto" sizes calls to about `AUTO_CALL_SECONDS`), and returns summed
loss / correct / count over all replicas, so metrics are exact for any
replica count. Models must return logits (zoo models do) or end in a
softmax (detected).

XLA is picked by measurement. `jit_compile="auto"` (the default) times
graph mode and XLA on the first real training steps and keeps the faster:
on a 2-core CPU neither wins everywhere (XLA over-fuses the ReLU ResNet-20's
BatchNorm/ReLU chains and recomputes them; in graph mode PReLU runs the
native one-pass kernels of `keras_prelu.native`, under XLA its XLA kernels),
see benchmarks/train_throughput.py. Where timing cannot
decide (several workers must run identical functions) `distribute.DEFAULT_JIT_COMPILE`
gives the choice per device type.
"""

import time

import keras
import numpy as np
import tensorflow as tf

from keras_prelu.training.distribute import default_jit_compile, resolve_strategy
from keras_prelu.training.keras_loop import learning_rate, optimizer_iterations
from keras_prelu.training.results import epoch_result
from keras_prelu.utils.models import outputs_are_probabilities

AUTO_CALL_SECONDS = 0.5
MAX_STEPS_PER_EXECUTION = 1000


def _result(totals, steps, seconds):
    loss_sum, correct, count = (float(v) for v in totals[:3])
    return epoch_result(loss_sum, correct, count, steps, seconds)


def _summed_over_steps(one_step):
    """A compiled call running `one_step` on `steps` batches of an iterator, summing its totals."""

    @tf.function
    def calls(iterator, steps):
        totals = tf.zeros([3], tf.float32)
        for _ in tf.range(steps):
            totals += one_step(next(iterator))
        return totals

    return calls


class Trainer:
    """Compiled train and eval steps for a Keras classifier under a `tf.distribute` strategy.

    Build the model and the optimizer inside `strategy.scope()` (and inside
    `precision_policy(...)` for mixed precision). Under a `mixed_float16`
    policy the optimizer is wrapped in a `keras.optimizers.LossScaleOptimizer`
    (dynamic loss scaling) unless it already is one.

    Args:
        model: a Keras model returning logits (or softmax probabilities).
        optimizer: a Keras optimizer; use `keras_prelu.optimizers.get` or a
            recipe so PReLU slopes are not decayed. None for evaluation only.
        strategy: a `tf.distribute.Strategy` or a name for `resolve_strategy`.
        jit_compile: XLA for the steps: True, False, or "auto": time both modes
            on the first training steps and keep the faster (on one worker;
            several workers use `DEFAULT_JIT_COMPILE` for the device type).
        steps_per_execution: steps per compiled call, an int or "auto".
        label_smoothing: for the cross-entropy.
    """

    def __init__(self, model, optimizer, strategy=None, jit_compile="auto",
                 steps_per_execution="auto", label_smoothing=0.0):
        self.strategy = resolve_strategy("default" if strategy is None else strategy)
        if jit_compile != "auto" and not isinstance(jit_compile, bool):
            raise ValueError(f"`jit_compile` must be True, False or 'auto'. Received: jit_compile={jit_compile!r}")
        if jit_compile == "auto" and self._multi_worker:
            # Workers must run the same functions: no per-worker timing decision.
            jit_compile = default_jit_compile()
        self._jit = None if jit_compile == "auto" else jit_compile
        self._tuning = None if jit_compile == "auto" else False
        self.autotune = None
        if steps_per_execution != "auto" and (
            isinstance(steps_per_execution, bool)
            or not isinstance(steps_per_execution, int)
            or steps_per_execution < 1
        ):
            raise ValueError(
                "`steps_per_execution` must be an int >= 1 or 'auto'. "
                f"Received: steps_per_execution={steps_per_execution!r}"
            )
        self.steps_per_execution = steps_per_execution
        self._auto_steps = 1
        self.model = model
        self._check_in_scope(model.variables, "model")
        policy = model.dtype_policy.name if hasattr(model, "dtype_policy") else "float32"
        if optimizer is not None:
            with self.strategy.scope():
                if policy == "mixed_float16" and not isinstance(
                    optimizer, keras.optimizers.LossScaleOptimizer
                ):
                    optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
                optimizer.build(model.trainable_variables)
        self.optimizer = optimizer
        self.precision = policy
        self.from_logits = not outputs_are_probabilities(model)
        self.label_smoothing = float(label_smoothing)
        self._build_functions()

    def _check_in_scope(self, variables, what):
        if self.strategy.num_replicas_in_sync == 1 and not isinstance(
            self.strategy, tf.distribute.MultiWorkerMirroredStrategy
        ):
            return
        for variable in variables[:1]:
            value = getattr(variable, "value", variable)
            if not isinstance(value, tf.distribute.DistributedValues):
                raise ValueError(
                    f"The {what} was not built inside `strategy.scope()`; build it there so its "
                    f"variables are mirrored across the {self.strategy.num_replicas_in_sync} replicas."
                )

    # -- the per-replica steps -------------------------------------------------
    def _per_example_loss(self, labels, outputs):
        outputs = tf.cast(outputs, tf.float32)
        num_classes = outputs.shape[-1]
        if self.label_smoothing:
            targets = tf.one_hot(labels, num_classes)
            return keras.losses.categorical_crossentropy(
                targets, outputs, from_logits=self.from_logits, label_smoothing=self.label_smoothing
            )
        return keras.losses.sparse_categorical_crossentropy(
            labels, outputs, from_logits=self.from_logits
        )

    @staticmethod
    def _totals(per_example, outputs, labels):
        predictions = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        correct = tf.reduce_sum(tf.cast(tf.equal(predictions, tf.cast(labels, tf.int32)), tf.float32))
        return tf.stack(
            [tf.reduce_sum(per_example), correct, tf.cast(tf.size(labels), tf.float32)]
        )

    def _gradients(self, data):
        """Forward and backward on one replica's batch: (gradients, totals)."""
        images, labels = data
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(images, training=True)
            per_example = self._per_example_loss(labels, outputs)
            # Mean over the global batch: the optimizer sums gradients over replicas.
            global_batch = tf.cast(tf.shape(per_example)[0], tf.float32) * float(
                self.strategy.num_replicas_in_sync
            )
            loss = tf.reduce_sum(per_example) / global_batch
            if self.model.losses:
                loss += tf.nn.scale_regularization_loss(
                    tf.add_n([tf.cast(x, tf.float32) for x in self.model.losses])
                )
            scaled_loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        return gradients, self._totals(per_example, outputs, labels)

    def _eval_step(self, data):
        images, labels = data
        outputs = self.model(images, training=False)
        per_example = self._per_example_loss(labels, outputs)
        return self._totals(per_example, outputs, labels)

    # -- compiled calls -----------------------------------------------------------
    @property
    def _multi_worker(self):
        return isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)

    @property
    def jit_compile(self):
        """Whether the steps run under XLA: True/False, or None while "auto" has not decided yet."""
        return self._jit

    @property
    def compiler(self):
        """How the steps are compiled: "xla", "tf.function", or None while "auto" has not decided."""
        return None if self._jit is None else ("xla" if self._jit else "tf.function")

    def _build_functions(self):
        self._functions = {}

    def _compiled(self, jit):
        """The compiled calls of one mode (built on first use): train_calls, eval_calls, one_eval."""
        if jit in self._functions:
            return self._functions[jit]
        strategy = self.strategy
        sum_op = tf.distribute.ReduceOp.SUM
        # XLA compiles one device's work. With one replica that is the whole
        # step; with several, each replica's forward/backward (the gradient
        # all-reduce and the update stay outside, as XLA cannot span devices).
        several = strategy.num_replicas_in_sync > 1 or self._multi_worker
        whole_step_jit = jit and not several
        gradients = self._gradients
        if jit and several:
            gradients = tf.function(self._gradients, jit_compile=True, reduce_retracing=True)

        def train_step(data):
            grads, totals = gradients(data)
            self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))
            return totals

        def one_train(data):
            return strategy.reduce(sum_op, strategy.run(train_step, args=(data,)), axis=None)

        def one_eval(data):
            return strategy.reduce(sum_op, strategy.run(self._eval_step, args=(data,)), axis=None)

        one_train = tf.function(one_train, jit_compile=whole_step_jit, reduce_retracing=True)
        one_eval = tf.function(one_eval, jit_compile=whole_step_jit, reduce_retracing=True)

        train_calls, eval_calls = _summed_over_steps(one_train), _summed_over_steps(one_eval)
        self._functions[jit] = (train_calls, eval_calls, one_eval)
        return self._functions[jit]

    def _run_train(self, jit, iterator, size):
        return self._compiled(jit)[0](iterator, tf.constant(size, tf.int32)).numpy()

    def _autotune_call(self, iterator, remaining):
        """One step of the "auto" XLA decision; returns (totals, steps run).

        Each mode runs one untimed step (tracing and compiling), then three
        timed calls each, alternating, each long enough to time (about
        0.1 s); the faster median time per step wins. These are ordinary
        training steps: both modes update the same variables.
        """
        tune = self._tuning
        if tune is None:
            tune = self._tuning = {"queue": [False, True], "timed": {False: [], True: []},
                                   "size": {False: 1, True: 1}}
        if not tune["queue"]:
            tune["queue"] = [False, True]
        jit = tune["queue"].pop(0)
        warmed = jit in tune.setdefault("warm", set())
        size = min(tune["size"][jit] if warmed else 1, remaining)
        start = time.perf_counter()
        totals = self._run_train(jit, iterator, size)
        seconds = time.perf_counter() - start
        if not warmed:
            tune["warm"].add(jit)
            tune.setdefault("compile_seconds", {})[jit] = seconds
        else:
            tune["timed"][jit].append(seconds / size)
            if seconds < 0.1:
                tune["size"][jit] = min(MAX_STEPS_PER_EXECUTION, max(size * 2, int(0.1 * size / max(seconds, 1e-6))))
        if all(len(v) >= 3 for v in tune["timed"].values()):
            self._decide(tune)
        return totals, size

    def _decide(self, tune):
        """Keep the faster mode; within the timing noise, the device's default (no XLA compile)."""
        timed = tune["timed"]
        per_step = {mode: float(np.median(v)) for mode, v in timed.items()}
        # Noise: the relative spread of each mode's timed calls, the larger of the two.
        noise = max((max(v) - min(v)) / per_step[mode] for mode, v in timed.items())
        difference = abs(per_step[True] - per_step[False]) / min(per_step.values())
        tie = difference <= noise
        self._jit = default_jit_compile() if tie else per_step[True] < per_step[False]
        self.autotune = {
            "chose": "xla" if self._jit else "graph",
            "within_noise": tie,
            "relative_difference": difference,
            "relative_noise": noise,
            "graph_seconds_per_step": per_step[False],
            "xla_seconds_per_step": per_step[True],
            "graph_compile_seconds": tune["compile_seconds"][False],
            "xla_compile_seconds": tune["compile_seconds"][True],
        }
        self._tuning = False

    def _distribute(self, dataset):
        # The default strategy hands the dataset back unchanged.
        return self.strategy.experimental_distribute_dataset(dataset)

    def _call_size(self, remaining):
        if self.steps_per_execution == "auto":
            return max(1, min(self._auto_steps, remaining))
        return max(1, min(self.steps_per_execution, remaining))

    def _adapt(self, steps, seconds):
        """Size the next automatic call to take about AUTO_CALL_SECONDS."""
        if self.steps_per_execution != "auto" or seconds <= 0:
            return
        per_step = seconds / steps
        target = int(AUTO_CALL_SECONDS / per_step)
        self._auto_steps = max(1, min(MAX_STEPS_PER_EXECUTION, target, 4 * self._auto_steps))

    def train_epoch(self, dataset, steps, progress=None):
        """Run `steps` training steps from `dataset` (batches of the global batch size).

        `progress(steps_done, steps, totals_so_far_result)` is called after each
        compiled call. Returns an `EpochResult`.
        """
        if self.optimizer is None:
            raise ValueError("This Trainer has no optimizer (evaluation only); it cannot train.")
        if steps < 1:
            raise ValueError(f"`steps` must be >= 1. Received: steps={steps}")
        iterator = iter(self._distribute(dataset))
        totals = np.zeros(3)
        done = 0
        start = time.perf_counter()
        first = True
        while done < steps:
            if self._tuning is not False:
                call_totals, size = self._autotune_call(iterator, steps - done)
                totals += call_totals
            else:
                size = self._call_size(steps - done)
                call_start = time.perf_counter()
                totals += self._run_train(self._jit, iterator, size)
                elapsed = time.perf_counter() - call_start
                if not first:  # the first call may trace and compile
                    self._adapt(size, elapsed)
                elif self.steps_per_execution == "auto":
                    self._auto_steps = max(self._auto_steps, 2)
                first = False
            done += size
            if progress is not None:
                progress(done, steps, _result(totals, done, time.perf_counter() - start))
        return _result(totals, done, time.perf_counter() - start)

    def evaluate(self, dataset, progress=None, jit_compile=None):
        """Loss and accuracy over every example of `dataset` (partial batches included).

        Under several replicas the last partial batch is split among them
        (some may get empty batches); sums make the metrics exact anyway.
        `jit_compile` picks the mode for this call (default: the training's);
        the result's `xla` says which ran.
        """
        jit = bool(self._jit) if jit_compile is None else bool(jit_compile)
        result = self._evaluate(dataset, progress, jit)
        result["xla"] = jit
        return result

    def _evaluate(self, dataset, progress, jit):
        _, eval_calls, one_eval = self._compiled(jit)
        steps = int(dataset.cardinality())
        distributed = self._distribute(dataset)
        totals = np.zeros(3)
        start = time.perf_counter()
        if steps < 0:  # unknown length: one compiled step per batch
            steps = 0
            for batch in distributed:
                totals += one_eval(batch).numpy()
                steps += 1
            return _result(totals, steps, time.perf_counter() - start)
        iterator = iter(distributed)
        done = 0
        size = 1 if self.steps_per_execution == "auto" else self.steps_per_execution
        while done < steps:
            size = min(size, steps - done)
            totals += eval_calls(iterator, tf.constant(size, tf.int32)).numpy()
            done += size
            if progress is not None:
                progress(done, steps, _result(totals, done, time.perf_counter() - start))
            if self.steps_per_execution == "auto":
                size = min(MAX_STEPS_PER_EXECUTION, size * 4)
        return _result(totals, done, time.perf_counter() - start)

    @property
    def iterations(self):
        """Parameter updates applied so far (loss-scaling skips excluded)."""
        return optimizer_iterations(self.optimizer)

    def learning_rate(self, step=None):
        """The learning rate at `step` (default: the last step taken)."""
        return learning_rate(self.optimizer, step)
