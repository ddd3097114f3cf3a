"""The step times of each activation, measured once per study in their own phase after training.

    timing = time_steps("mlp3x256", ["relu", "prelu"], data, recipe, rounds=7)
    timing["train"]["prelu"]         # seconds per training step, one value per round
    timing["inference"]["prelu"]     # seconds per inference step (training=False), per round

Every activation's model is built and compiled first; then each round runs
`steps` training steps and `steps` inference steps of every model on one fixed
batch, the activations in alternating order, so all see the same machine load
(after one uncounted warm-up round).
The study reports, per activation, the median over rounds of the same-round
ratio to the reference activation, with its interquartile range
(`round_ratios`): never the fastest round, which only measures luck on a shared
machine.
"""

import itertools
import time

import keras

from keras_prelu.study.measurements import quiet_retracing
from keras_prelu.study.names import model_name
from keras_prelu.training import experiment
from keras_prelu.utils.backends import is_tensorflow

# Steps of the warm-up call (traces and compiles) and of the probe that sizes "auto" rounds.
_PROBE_STEPS = 5
_MAX_AUTO_STEPS = 5000


def reset_session():
    """Free the previous models' graphs and state before building the next ones."""
    keras.backend.clear_session()


class _Contender:
    """One activation's compiled model: a training step and an inference step on a fixed batch."""

    def __init__(self, net, optimizer, batch, images, jit_compile):
        self.trainer = experiment.make_trainer(net, optimizer, jit_compile=jit_compile,
                                               steps_per_execution="auto")
        self.batch = batch
        self.images = images
        if is_tensorflow():
            import tensorflow as tf

            self.dataset = tf.data.Dataset.from_tensors(batch).repeat()
            self._infer = tf.function(lambda x: net(x, training=False))
        else:  # Keras's own compiled predict step (jit on JAX)
            self.dataset = None
            self._infer = net.predict_on_batch

    def train(self, steps):
        dataset = self.dataset if self.dataset is not None else itertools.repeat(self.batch)
        return self.trainer.train_epoch(dataset, steps)["seconds"] / steps

    def infer(self, steps):
        keras.ops.convert_to_numpy(self._infer(self.images))
        start = time.perf_counter()
        for _ in range(steps):
            output = self._infer(self.images)
        keras.ops.convert_to_numpy(output)
        return (time.perf_counter() - start) / steps


def _contenders(architecture, activations, data, recipe, batch, seed, jit_compile):
    """{activation: _Contender} compiled and warmed up, and {activation: training seconds per step}."""
    contenders, probe = {}, {}
    for activation in activations:
        keras.utils.set_random_seed(seed)
        net = experiment.build_model(model_name(architecture, activation), data.info.image_shape,
                                     data.info.num_classes)
        optimizer = recipe.make_optimizer(data.steps_per_epoch(recipe.batch_size))
        contender = _Contender(net, optimizer, batch, batch[0], jit_compile)
        contender.train(_PROBE_STEPS)  # traces and compiles
        contender.infer(_PROBE_STEPS)
        probe[activation] = contender.train(_PROBE_STEPS)
        contenders[activation] = contender
    return contenders, probe


def time_steps(architecture, activations, data, recipe, steps="auto", rounds=7, seed=0,
               jit_compile="auto", round_seconds=1.0):
    """Seconds per training and per inference step of each activation, one value per round:
    {"train": {activation: [...]}, "inference": {activation: [...]}, "steps": int}.

    `steps="auto"` sizes the training part of a round of the slowest model to
    about `round_seconds`; inference runs the same number of steps.
    """
    batch = next(iter(data.train_dataset(recipe.batch_size, epoch=0, seed=seed)))
    with quiet_retracing():
        contenders, probe = _contenders(architecture, activations, data, recipe, batch, seed,
                                        jit_compile)
        if steps == "auto":
            steps = int(min(_MAX_AUTO_STEPS, max(5, round(round_seconds / max(probe.values())))))
        train = {activation: [] for activation in activations}
        inference = {activation: [] for activation in activations}
        for activation in activations:  # one uncounted round: the first calls still warm up
            contenders[activation].train(steps)
            contenders[activation].infer(steps)
        for round_ in range(rounds):
            order = activations if round_ % 2 == 0 else list(reversed(activations))
            for activation in order:
                train[activation].append(contenders[activation].train(steps))
                inference[activation].append(contenders[activation].infer(steps))
    return {"train": train, "inference": inference, "steps": steps}


def round_ratios(seconds, reference):
    """{activation: [seconds / the reference's seconds in the same round]} (empty without the reference)."""
    base = seconds.get(reference)
    if not base:
        return {}
    return {activation: [value / ref for value, ref in zip(values, base, strict=True)]
            for activation, values in seconds.items()}
