"""Where and in what precision training runs: `tf.distribute` strategies, the chief, dtype policies.

    strategy = distribute.resolve_strategy()      # default / Mirrored / MultiWorkerMirrored
    with distribute.precision_policy("mixed_float16"), strategy.scope():
        model = zoo.get("resnet20_prelu")
"""

import contextlib
import json
import os

import keras
import tensorflow as tf

from keras_prelu.utils.validation import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# XLA on or off per device type where "auto" cannot time both (multi-worker runs).
# CPU: graph, which is never far behind (XLA ran the ReLU ResNet-20 at about half speed).
DEFAULT_JIT_COMPILE = {"CPU": False, "GPU": True, "TPU": True}


def device_type():
    """"GPU" when TensorFlow sees one, else "CPU"."""
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def default_jit_compile(kind=None):
    return DEFAULT_JIT_COMPILE.get(kind or device_type(), False)


def _tf_config_workers():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 0
    try:
        cluster = json.loads(raw).get("cluster", {})
    except (ValueError, AttributeError):
        raise ValueError(f"TF_CONFIG is not valid JSON. Received: TF_CONFIG={raw[:80]!r}") from None
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def resolve_strategy(strategy="auto"):
    """A `tf.distribute.Strategy` by name, or `strategy` itself if it already is one.

    "auto": `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several
    workers, `MirroredStrategy` when several GPUs are visible, else the
    default (one-device) strategy. "mirrored" uses every local GPU, or every
    logical CPU device when there is no GPU.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    check_choice("strategy", strategy, STRATEGIES)
    if strategy == "auto":
        if _tf_config_workers() > 1:
            strategy = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            strategy = "mirrored"
        else:
            strategy = "default"
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices=devices)


def is_chief_task(tf_config=None):
    """Whether this process is the chief by TF_CONFIG (no TF_CONFIG or one worker: yes)."""
    raw = os.environ.get("TF_CONFIG") if tf_config is None else tf_config
    if not raw:
        return True
    try:
        config = json.loads(raw)
        cluster, task = config.get("cluster", {}), config.get("task", {})
    except (ValueError, AttributeError):
        raise ValueError(f"TF_CONFIG is not valid JSON. Received: TF_CONFIG={raw[:80]!r}") from None
    kind, index = task.get("type"), int(task.get("index", 0))
    if kind == "chief":
        return True
    if kind in (None, "worker"):
        return index == 0 and not cluster.get("chief")
    return False  # evaluator, ps


def strategy_name(strategy):
    """A readable name: "MultiWorkerMirroredStrategy", "MirroredStrategy", "default", or the class name."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "MirroredStrategy"
    if type(strategy).__name__ == "_DefaultDistributionStrategy":
        return "default"
    return type(strategy).__name__


@contextlib.contextmanager
def precision_policy(precision="float32"):
    """Build models inside this block to get `precision`'s dtype policy; the old global policy comes back after."""
    check_choice("precision", precision, PRECISIONS)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
