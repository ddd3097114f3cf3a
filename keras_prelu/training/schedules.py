"""Learning-rate schedules: step decay (the ResNet recipe), cosine, constant, with optional linear warmup.

All are `keras.optimizers.schedules.LearningRateSchedule`s of the optimizer
step (0-based), serializable under the "keras_prelu" package.

    lr = schedules.build("step", 0.1, total_steps=64000)   # /10 at 50% and 75%
    lr = schedules.build("cosine", 1e-3, total_steps=5000, warmup_steps=200)
"""

import keras
from keras import ops

from keras_prelu.utils.validation import PACKAGE, check_choice, check_int, check_number



@keras.saving.register_keras_serializable(package=PACKAGE)
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial_learning_rate * factor ** k` after the k-th of the increasing `boundaries` (in steps).

    He et al. 2016 (CIFAR): 0.1, divided by 10 at 32k and 48k of 64k iterations.
    """

    def __init__(self, initial_learning_rate, boundaries, factor=0.1):
        self.initial_learning_rate = check_number(
            "initial_learning_rate", initial_learning_rate, minimum=0.0
        )
        boundaries = [check_int("boundaries", b, minimum=1) for b in boundaries]
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(
                f"`boundaries` must be strictly increasing. Received: boundaries={boundaries}"
            )
        self.boundaries = boundaries
        self.factor = check_number("factor", factor, minimum=0.0)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        passed = ops.zeros((), "float32")
        for boundary in self.boundaries:
            passed = passed + ops.cast(ops.greater_equal(step, float(boundary)), "float32")
        return self.initial_learning_rate * ops.power(self.factor, passed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "boundaries": list(self.boundaries),
            "factor": self.factor,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class CosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Half a cosine from `initial_learning_rate` at step 0 to `final_fraction` of it at `decay_steps`."""

    def __init__(self, initial_learning_rate, decay_steps, final_fraction=0.0):
        self.initial_learning_rate = check_number(
            "initial_learning_rate", initial_learning_rate, minimum=0.0
        )
        self.decay_steps = check_int("decay_steps", decay_steps, minimum=1)
        self.final_fraction = check_number("final_fraction", final_fraction, 0.0, 1.0)

    def __call__(self, step):
        progress = ops.minimum(ops.cast(step, "float32") / float(self.decay_steps), 1.0)
        cosine = 0.5 * (1.0 + ops.cos(3.141592653589793 * progress))
        fraction = self.final_fraction + (1.0 - self.final_fraction) * cosine
        return self.initial_learning_rate * fraction

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "final_fraction": self.final_fraction,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class Constant(keras.optimizers.schedules.LearningRateSchedule):
    """The same learning rate at every step."""

    def __init__(self, learning_rate):
        self.learning_rate = check_number("learning_rate", learning_rate, minimum=0.0)

    def __call__(self, step):
        return ops.cast(self.learning_rate, "float32") + 0.0 * ops.cast(step, "float32")

    def get_config(self):
        return {"learning_rate": self.learning_rate}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramp linearly up to the schedule's peak `schedule(0)` over `warmup_steps`, then run `schedule`.

    Step `s < warmup_steps` gets `schedule(0) * (start + (1 - start) * s / warmup_steps)`;
    step `s >= warmup_steps` gets `schedule(s - warmup_steps)`: the wrapped
    schedule starts when the warmup ends, so a decay never eats the warmup.
    """

    def __init__(self, schedule, warmup_steps, start_fraction=0.0):
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(
                "`schedule` must be a LearningRateSchedule. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        self.start_fraction = check_number("start_fraction", start_fraction, 0.0, 1.0)

    def __call__(self, step):
        if self.warmup_steps == 0:
            return self.schedule(step)
        step = ops.cast(step, "float32")
        after = ops.cast(self.schedule(ops.maximum(step - float(self.warmup_steps), 0.0)), "float32")
        peak = ops.cast(self.schedule(0), "float32")
        ramp = self.start_fraction + (1.0 - self.start_fraction) * step / float(self.warmup_steps)
        return ops.where(ops.less(step, float(self.warmup_steps)), peak * ramp, after)

    def get_config(self):
        return {
            "schedule": keras.optimizers.schedules.serialize(self.schedule),
            "warmup_steps": self.warmup_steps,
            "start_fraction": self.start_fraction,
        }


SCHEDULES = ("constant", "cosine", "step")


def build(name, learning_rate, total_steps, warmup_steps=0, boundaries=(0.5, 0.75), factor=0.1):
    """A schedule by name over `total_steps`; step boundaries are fractions of `total_steps`.

    Names: "step" (divide by 1/`factor` at each boundary fraction), "cosine"
    (to zero at `total_steps`), "constant". `warmup_steps > 0` adds a linear
    warmup from zero to `learning_rate`; the decay then runs over the steps
    left, and step boundaries stay at their fractions of `total_steps`.
    """
    check_choice("schedule", name, SCHEDULES)
    check_int("total_steps", total_steps, minimum=1)
    check_int("warmup_steps", warmup_steps, minimum=0)
    decay_steps = max(1, total_steps - warmup_steps)
    if name == "step":
        fractions = [check_number("boundaries", b, 0.0, 1.0) for b in boundaries]
        steps = sorted({max(1, round(f * total_steps) - warmup_steps) for f in fractions})
        schedule = StepDecay(learning_rate, steps, factor)
    elif name == "cosine":
        schedule = CosineDecay(learning_rate, decay_steps)
    else:
        schedule = Constant(learning_rate)
    if warmup_steps:
        schedule = LinearWarmup(schedule, warmup_steps)
    return schedule
