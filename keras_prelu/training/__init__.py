"""Training: the compiled loop, data, recipes, schedules, run directories, progress, whole runs.

    from keras_prelu import training
    strategy = training.resolve_strategy()
    with training.precision_policy("mixed_float16"), strategy.scope():
        model = zoo.get("resnet20_prelu")
        optimizer = training.recipes.get("resnet-cifar").make_optimizer(steps_per_epoch=390)
    trainer = training.Trainer(model, optimizer, strategy=strategy)

    training.train("resnet20_prelu", dataset="digits", epochs=30, out="runs/r20")  # a whole run

Modules: `trainer` (the compiled loop), `distribute` (strategies, precision), `data`, `recipes`,
`schedules`, `runs` (run directories), `progress`, `settings`, `model_card`,
`experiment` (`train` and `evaluate` of whole runs). Stands on the core,
`utils` and the zoo.

Without TensorFlow only `sources` and `array_data` (data for every backend) are
here; any other name raises an ImportError that names what needs TensorFlow.
"""

from keras_prelu.training import array_data, sources  # backend-neutral: NumPy and keras.ops

try:
    import tensorflow  # noqa: F401 - the other modules are TensorFlow programs
except ImportError:
    def __getattr__(name):
        if name in __all__:  # every public name but `sources` and `array_data`, bound above
            raise ImportError(f"keras_prelu.training.{name} needs TensorFlow: pip install tensorflow")
        raise AttributeError(f"module 'keras_prelu.training' has no attribute {name!r}")

else:
    from keras_prelu.training import (
        data,
        distribute,
        experiment,
        model_card,
        progress,
        recipes,
        runs,
        schedules,
        settings,
        trainer,
    )
    from keras_prelu.training.distribute import (
        DEFAULT_JIT_COMPILE,
        PRECISIONS,
        STRATEGIES,
        default_jit_compile,
        device_type,
        is_chief_task,
        precision_policy,
        resolve_strategy,
        strategy_name,
    )
    from keras_prelu.training.experiment import ConfigError, evaluate, run, train
    from keras_prelu.training.settings import TrainSettings
    from keras_prelu.training.trainer import (
        AUTO_CALL_SECONDS,
        MAX_STEPS_PER_EXECUTION,
        EpochResult,
        Trainer,
    )
    from keras_prelu.utils.models import slope_variables

__all__ = [
    "AUTO_CALL_SECONDS",
    "DEFAULT_JIT_COMPILE",
    "MAX_STEPS_PER_EXECUTION",
    "PRECISIONS",
    "STRATEGIES",
    "ConfigError",
    "EpochResult",
    "TrainSettings",
    "Trainer",
    "array_data",
    "data",
    "default_jit_compile",
    "device_type",
    "distribute",
    "evaluate",
    "experiment",
    "is_chief_task",
    "model_card",
    "precision_policy",
    "progress",
    "recipes",
    "resolve_strategy",
    "run",
    "runs",
    "schedules",
    "settings",
    "slope_variables",
    "sources",
    "strategy_name",
    "train",
    "trainer",
]
