"""Training: the compiled loop, data, recipes, schedules, run directories, progress, whole runs.

    from keras_prelu import training
    strategy = training.resolve_strategy()
    with training.precision_policy("mixed_float16"), strategy.scope():
        model = zoo.get("resnet20_prelu")
        optimizer = training.recipes.get("resnet-cifar").make_optimizer(steps_per_epoch=390)
    trainer = training.Trainer(model, optimizer, strategy=strategy)

    training.train("resnet20_prelu", dataset="digits", epochs=30, out="runs/r20")  # a whole run

Modules: `trainer` (the compiled TensorFlow loop), `keras_loop` (the loop on
every backend: JAX, PyTorch), `distribute` (strategies, precision), `sources`
(datasets as arrays), `data` (tf.data), `array_data` (batches on the device
without TensorFlow), `recipes`, `schedules`, `runs` (run directories),
`progress`, `settings`, `model_card`, `results`, `experiment` (`train` and
`evaluate` of whole runs, on the backend Keras runs). Stands on the core,
`utils` and the zoo. TensorFlow's modules load on first use.
"""

from keras_prelu.training import (
    array_data,
    distribute,
    experiment,
    keras_loop,
    model_card,
    progress,
    recipes,
    results,
    runs,
    schedules,
    settings,
    sources,
)
from keras_prelu.training.distribute import (
    DEFAULT_JIT_COMPILE,
    PRECISIONS,
    STRATEGIES,
    KerasDistribution,
    default_jit_compile,
    device_type,
    is_chief_task,
    precision_policy,
    resolve_strategy,
    strategy_name,
)
from keras_prelu.training.experiment import ConfigError, evaluate, run, train
from keras_prelu.training.keras_loop import KerasTrainer
from keras_prelu.training.results import EpochResult
from keras_prelu.training.settings import TrainSettings
from keras_prelu.utils.backends import tensorflow_installed
from keras_prelu.utils.models import slope_variables

# TensorFlow's loop and tf.data pipeline load on first use, so that training
# under JAX or PyTorch needs no TensorFlow.
_TENSORFLOW_NAMES = {
    "AUTO_CALL_SECONDS": "trainer",
    "MAX_STEPS_PER_EXECUTION": "trainer",
    "Trainer": "trainer",
}


def __getattr__(name):
    import importlib

    module = name if name in ("data", "trainer", "xla_choice") else _TENSORFLOW_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not tensorflow_installed():
        raise ImportError(f"keras_prelu.training.{name} needs TensorFlow: pip install tensorflow")
    loaded = importlib.import_module(f"{__name__}.{module}")
    return loaded if module == name else getattr(loaded, name)


__all__ = [
    "AUTO_CALL_SECONDS",
    "DEFAULT_JIT_COMPILE",
    "MAX_STEPS_PER_EXECUTION",
    "PRECISIONS",
    "STRATEGIES",
    "ConfigError",
    "EpochResult",
    "KerasDistribution",
    "KerasTrainer",
    "TrainSettings",
    "Trainer",
    "array_data",
    "data",
    "default_jit_compile",
    "device_type",
    "distribute",
    "evaluate",
    "experiment",
    "keras_loop",
    "is_chief_task",
    "model_card",
    "precision_policy",
    "progress",
    "recipes",
    "resolve_strategy",
    "results",
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
