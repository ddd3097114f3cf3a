"""Training recipes: optimizer, learning-rate schedule, batch size, epochs and augmentation, by name.

    recipe = recipes.get("resnet-cifar", epochs=30)
    optimizer = recipe.make_optimizer(steps_per_epoch=390)

`resnet-cifar` is He et al. 2016, section 4.2: batch 128, SGD with momentum
0.9, lr 0.1 divided by 10 at 50% and 75% of training (32k and 48k of 64k
iterations), weight decay 1e-4, 4-pixel padding + random crop + horizontal
flip. 64k iterations of batch 128 on CIFAR-10's 50k training images are 164
epochs.

Weight decay. Papers (and PyTorch/Caffe) use coupled L2 decay for SGD: the
gradient gets `wd * w` added, so the momentum buffer amplifies it by
1 / (1 - momentum). Keras optimizers decay decoupled (`w -= lr * wd_keras * w`,
outside the momentum). A recipe states the published coefficient; for SGD
`make_optimizer` passes Keras `wd / (1 - momentum)`, which removes the same
fraction of each weight per step once the momentum is in steady state. AdamW's
coefficient is decoupled by definition and passes through unchanged. Either
way the optimizer comes from `keras_prelu.optimizers.get`, so PReLU slopes
are never decayed (He et al. 2015).
"""

import dataclasses

from keras_prelu import optimizers
from keras_prelu.training import schedules
from keras_prelu.training.sources import check_augment
from keras_prelu.utils.validation import check_choice, close_matches, check_int, check_number

OPTIMIZERS = ("adamw", "sgd")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train: every field is a plain value, so a recipe is recorded as JSON in the run directory.

    `pad_fraction` is the padding before the random crop, as a fraction of the
    image side (0.125 = 4 pixels on 32x32, 1 pixel on 8x8).
    `warmup_epochs` ramps the learning rate linearly from 0.
    """

    name: str
    description: str
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    schedule: str = "cosine"
    boundaries: tuple = (0.5, 0.75)
    decay_factor: float = 0.1
    warmup_epochs: float = 0.0
    augment: str = None
    pad_fraction: float = 0.125

    def __post_init__(self):
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, schedules.SCHEDULES)
        check_augment(self.augment)
        check_number("learning_rate", self.learning_rate, minimum=0.0, strict_minimum=True)
        check_number("momentum", self.momentum, minimum=0.0, maximum=0.999)
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        check_number("warmup_epochs", self.warmup_epochs, minimum=0.0)
        check_number("pad_fraction", self.pad_fraction, minimum=0.0, maximum=1.0)
        for field in ("batch_size", "epochs"):
            check_int(field, getattr(self, field), minimum=1)
        object.__setattr__(self, "boundaries", tuple(self.boundaries))

    def replace(self, **overrides):
        """A copy with some fields changed; `None` values are ignored (unset command-line flags)."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(
                f"Unknown recipe field(s) {unknown}. Known: "
                f"{sorted(f.name for f in dataclasses.fields(self))}"
            )
        return dataclasses.replace(self, **overrides)

    def to_dict(self):
        data = dataclasses.asdict(self)
        data["boundaries"] = list(self.boundaries)
        return data

    @classmethod
    def from_dict(cls, data):
        return cls(**data)

    def keras_weight_decay(self):
        """The coefficient handed to the Keras optimizer (see the module docstring)."""
        if self.optimizer == "sgd":
            return self.weight_decay / (1.0 - self.momentum)
        return self.weight_decay

    def learning_rate_schedule(self, steps_per_epoch, epochs=None):
        epochs = self.epochs if epochs is None else epochs
        total = max(1, int(steps_per_epoch) * int(epochs))
        return schedules.build(
            self.schedule,
            self.learning_rate,
            total_steps=total,
            warmup_steps=int(round(self.warmup_epochs * steps_per_epoch)),
            boundaries=self.boundaries,
            factor=self.decay_factor,
        )

    def make_optimizer(self, steps_per_epoch, epochs=None):
        """A new Keras optimizer with this recipe's schedule; PReLU slopes exempt from decay."""
        schedule = self.learning_rate_schedule(steps_per_epoch, epochs)
        decay = self.keras_weight_decay() or None
        if self.optimizer == "sgd":
            return optimizers.get(
                "sgd", learning_rate=schedule, momentum=self.momentum, weight_decay=decay
            )
        return optimizers.get("adamw", learning_rate=schedule, weight_decay=decay or 0.0)


RECIPES = {
    "default": Recipe(
        name="default",
        description="AdamW, lr 1e-3 with 1 warmup epoch then cosine to 0, weight decay 1e-4 "
        "(decoupled), batch 128, no augmentation",
        optimizer="adamw",
        learning_rate=1e-3,
        weight_decay=1e-4,
        batch_size=128,
        epochs=20,
        schedule="cosine",
        warmup_epochs=1.0,
    ),
    "resnet-cifar": Recipe(
        name="resnet-cifar",
        description="He et al. 2016 CIFAR recipe: SGD momentum 0.9, lr 0.1 /10 at 50% and 75%, "
        "weight decay 1e-4 (L2), batch 128, 164 epochs (64k iterations), "
        "4-pixel pad + random crop + horizontal flip",
        optimizer="sgd",
        learning_rate=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        batch_size=128,
        epochs=164,
        schedule="step",
        boundaries=(0.5, 0.75),
        decay_factor=0.1,
        augment="pad_crop_flip",
        pad_fraction=0.125,
    ),
}


def known_recipes():
    return sorted(RECIPES)


def get(name, **overrides):
    """The recipe `name` with `overrides` applied (None values ignored)."""
    if isinstance(name, Recipe):
        return name.replace(**overrides)
    if name not in RECIPES:
        close = close_matches(name, known_recipes(), n=2)
        hint = f" Did you mean {close}?" if close else ""
        raise ValueError(f"Unknown recipe. Known: {known_recipes()}.{hint} Received: recipe={name!r}")
    return RECIPES[name].replace(**overrides)
