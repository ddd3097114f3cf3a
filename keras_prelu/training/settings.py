"""The settings of a training run: one dataclass, with which fields define the run.

    settings = TrainSettings(model="resnet20_prelu", dataset="digits", epochs=30)
    settings.with_defaults().precision          # "float32"
    TrainSettings.run_fields()                  # what a --resume may not change

Unset fields (None) take the recipe's values or `DEFAULTS`; the choice lists
here are the ones the command line offers.
"""

import dataclasses
import typing

from keras_prelu.training import distribute, progress, recipes, schedules, sources
from keras_prelu.utils.validation import check_int

#: `augment` values: the data module's augmentations, and "none" to switch a recipe's off.
AUGMENT_CHOICES = ("none",) + tuple(a for a in sources.AUGMENTATIONS if a is not None)
OPTIMIZERS = recipes.OPTIMIZERS
SCHEDULES = schedules.SCHEDULES
PRECISIONS = distribute.PRECISIONS
STRATEGIES = distribute.STRATEGIES
PROGRESS_MODES = progress.MODES
MAX_SEED = 2**32 - 1  # what the random generators accept
_CHOICES = {"precision": PRECISIONS, "strategy": STRATEGIES, "progress": PROGRESS_MODES}


class ConfigError(ValueError):
    """A setting that cannot work: unknown model, bad value, a resume that contradicts its run."""


def _defines_run(default=None):
    return dataclasses.field(default=default, metadata={"defines_run": True})


@dataclasses.dataclass
class TrainSettings:
    """What `keras-prelu train` was asked for. Fields marked as defining the run are fixed on
    `--resume`; the others (where the data are, how to compile, how to show progress) may change."""

    model: typing.Optional[str] = _defines_run()
    dataset: typing.Optional[str] = _defines_run()
    recipe: typing.Optional[str] = _defines_run()
    epochs: typing.Optional[int] = _defines_run()
    batch_size: typing.Optional[int] = _defines_run()
    learning_rate: typing.Optional[float] = _defines_run()
    optimizer: typing.Optional[str] = _defines_run()
    schedule: typing.Optional[str] = _defines_run()
    weight_decay: typing.Optional[float] = _defines_run()
    warmup_epochs: typing.Optional[float] = _defines_run()
    augment: typing.Optional[str] = _defines_run()
    precision: typing.Optional[str] = _defines_run()
    seed: typing.Optional[int] = _defines_run()
    val_split: typing.Optional[float] = _defines_run()
    steps_per_epoch: typing.Optional[int] = _defines_run()
    data_dir: typing.Optional[str] = None
    download: typing.Optional[bool] = None
    jit_compile: typing.Any = None
    steps_per_execution: typing.Any = None
    strategy: typing.Optional[str] = None
    progress: typing.Optional[str] = None

    DEFAULTS: typing.ClassVar[dict] = {
        "dataset": "digits", "recipe": "default", "precision": "float32", "seed": 0,
        "val_split": 0.0, "jit_compile": "auto", "steps_per_execution": "auto",
        "strategy": "auto", "download": True, "progress": "auto",
    }
    #: Fields the recipe supplies when unset.
    RECIPE_FIELDS: typing.ClassVar[tuple] = (
        "epochs", "batch_size", "learning_rate", "optimizer", "schedule", "weight_decay",
        "warmup_epochs", "augment",
    )

    @classmethod
    def run_fields(cls):
        """The fields that define a run (a resumed run must not contradict them)."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("defines_run"))

    @classmethod
    def from_dict(cls, values):
        """Settings from a dict such as a run's saved `config.json` "settings" (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self):
        return dataclasses.asdict(self)

    def with_defaults(self):
        """A copy whose unset fields hold `DEFAULTS` (recipe fields stay unset: the recipe fills them)."""
        filled = {k: v for k, v in self.DEFAULTS.items() if getattr(self, k) is None}
        return dataclasses.replace(self, **filled).checked()

    def resumed_from(self, saved):
        """The saved run's settings, with this call's changeable fields applied.

        Raises ConfigError when a field that defines the run contradicts the saved one.
        """
        saved = TrainSettings.from_dict(saved)
        for key in self.run_fields():
            value = getattr(self, key)
            if value is not None and value != getattr(saved, key):
                raise ConfigError(
                    f"--resume continues the run as it was started: {key} is "
                    f"{getattr(saved, key)!r} there, not {value!r}; drop the flag or start a new run"
                )
        changes = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not f.metadata.get("defines_run") and getattr(self, f.name) is not None
        }
        return dataclasses.replace(saved, **changes).with_defaults()

    def checked(self):
        """Self, after checking the choice fields and the seed; a bad one raises ConfigError."""
        for key, choices in _CHOICES.items():
            value = getattr(self, key)
            if value is not None and value not in choices:
                raise ConfigError(f"unknown {key} {value!r}: accepted are {list(choices)}")
        if self.seed is not None:
            try:
                check_int("seed", self.seed, minimum=0, maximum=MAX_SEED)
            except ValueError:
                raise ConfigError(f"the seed must be a whole number in 0..{MAX_SEED}, not "
                                  f"{self.seed!r}") from None
        return self
