"""The training step time of each activation, measured once per study after training.

    times, steps = time_steps("mlp3x256", ["relu", "prelu"], data, recipe, rounds=5)

Every activation's model is compiled, then `steps` steps on one fixed batch
are timed in `rounds` interleaved rounds; the study reports the minimum per
activation (noise from other processes only ever adds time).
"""

import keras
import tensorflow as tf

from keras_prelu.study.measurements import quiet_retracing
from keras_prelu.study.names import model_name
from keras_prelu.training import experiment
from keras_prelu.training.trainer import Trainer

# Steps of the warm-up call (traces and compiles) and of the probe that sizes "auto" rounds.
_PROBE_STEPS = 5
_MAX_AUTO_STEPS = 5000


def reset_session():
    """Free the previous models' graphs and state before building the next ones."""
    keras.backend.clear_session()


def _compiled_trainers(architecture, activations, data, recipe, dataset, seed, jit_compile):
    """{activation: Trainer} with each model compiled, and {activation: seconds per step} of a probe."""
    trainers, probe = {}, {}
    for activation in activations:
        keras.utils.set_random_seed(seed)
        net = experiment.build_model(model_name(architecture, activation), data.info.image_shape,
                                     data.info.num_classes)
        optimizer = recipe.make_optimizer(data.steps_per_epoch(recipe.batch_size))
        trainer = Trainer(net, optimizer, jit_compile=jit_compile, steps_per_execution="auto")
        trainer.train_epoch(dataset, _PROBE_STEPS)  # traces and compiles
        probe[activation] = trainer.train_epoch(dataset, _PROBE_STEPS)["seconds"] / _PROBE_STEPS
        trainers[activation] = trainer
    return trainers, probe


def time_steps(architecture, activations, data, recipe, steps="auto", rounds=5, seed=0,
               jit_compile="auto", round_seconds=1.0):
    """Seconds per training step for each activation: ({activation: [one value per round]}, steps).

    Each model is built and compiled first (a warm-up call traces it); then
    `rounds` rounds run `steps` steps of each model on one fixed batch, in
    alternating order, so every activation sees the same machine load.
    `steps="auto"` sizes a round of the slowest model to about `round_seconds`.
    """
    batch = next(iter(data.train_dataset(recipe.batch_size, epoch=0, seed=seed)))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    with quiet_retracing():
        trainers, probe = _compiled_trainers(architecture, activations, data, recipe, dataset, seed,
                                             jit_compile)
        if steps == "auto":
            steps = int(min(_MAX_AUTO_STEPS, max(5, round(round_seconds / max(probe.values())))))
        times = {activation: [] for activation in activations}
        for round_ in range(rounds):
            order = activations if round_ % 2 == 0 else list(reversed(activations))
            for activation in order:
                result = trainers[activation].train_epoch(dataset, steps)
                times[activation].append(result["seconds"] / steps)
    return times, steps
