"""Where and in what precision training runs: strategies, the chief, dtype policies.

    strategy = distribute.resolve_strategy()      # default / Mirrored / MultiWorkerMirrored
    with distribute.precision_policy("mixed_float16"), strategy.scope():
        model = zoo.get("resnet20_prelu")

Under TensorFlow a strategy is a `tf.distribute.Strategy`. Under JAX it is a
`KerasDistribution`: "mirrored" (and "auto" with several local devices) is
`keras.distribution.DataParallel` over the local devices; "multi_worker" is
TensorFlow's only. PyTorch trains on one device. TensorFlow is imported only
when Keras runs on it.
"""

import contextlib
import json
import os

import keras

from keras_prelu.utils.backends import backend, is_tensorflow
from keras_prelu.utils.validation import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# XLA on or off per device type where "auto" cannot time both (multi-worker runs).
# CPU: graph, which is never far behind (XLA ran the ReLU ResNet-20 at about half speed).
DEFAULT_JIT_COMPILE = {"CPU": False, "GPU": True, "TPU": True}


def _tf():
    import tensorflow

    return tensorflow


def local_devices():
    """The backend's local accelerator devices, else its CPU devices (names as the backend gives them)."""
    name = backend()
    if name == "tensorflow":
        tf = _tf()
        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    if name == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.local_devices()]
    if name == "torch":
        import torch

        return ["cuda:0"] if torch.cuda.is_available() else ["cpu:0"]
    return ["cpu:0"]


def device_type():
    """"GPU" when the backend sees one (TPU for a JAX TPU), else "CPU"."""
    if is_tensorflow():
        return "GPU" if _tf().config.list_logical_devices("GPU") else "CPU"
    kind = local_devices()[0].split(":")[0].lower()
    return {"gpu": "GPU", "cuda": "GPU", "tpu": "TPU"}.get(kind, "CPU")


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


class KerasDistribution:
    """Data parallelism for a backend other than TensorFlow, with the parts of the
    `tf.distribute.Strategy` interface training uses (`scope()`, `num_replicas_in_sync`).

    `distribution` is a `keras.distribution.DataParallel` (JAX) or None (one device).
    """

    def __init__(self, distribution=None, devices=None):
        self.distribution = distribution
        self.devices = list(devices or local_devices()[:1])

    @property
    def num_replicas_in_sync(self):
        return len(self.devices) if self.distribution is not None else 1

    def scope(self):
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()


def _keras_distribution(strategy):
    """`resolve_strategy` for JAX and PyTorch."""
    if isinstance(strategy, KerasDistribution):
        return strategy
    check_choice("strategy", strategy, STRATEGIES)
    if strategy == "multi_worker":
        raise ValueError(
            f"`strategy='multi_worker'` is TensorFlow's MultiWorkerMirroredStrategy; under the "
            f"{backend()} backend use 'mirrored' (every local device) or 'default'. "
            f"Received: strategy={strategy!r}"
        )
    devices = local_devices()
    several = backend() == "jax" and len(devices) > 1
    if strategy == "default" or (strategy == "auto" and not several):
        return KerasDistribution()
    if backend() != "jax":
        if len(devices) == 1:
            return KerasDistribution()
        raise ValueError(
            f"`strategy='mirrored'` needs JAX's keras.distribution; the {backend()} backend "
            f"trains on one device here. Received: strategy={strategy!r}"
        )
    parallel = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    return KerasDistribution(parallel, devices)


def resolve_strategy(strategy="auto"):
    """A `tf.distribute.Strategy` by name (a `KerasDistribution` on other backends), or
    `strategy` itself if it already is one.

    "auto": `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several
    workers, `MirroredStrategy` when several GPUs are visible, else the
    default (one-device) strategy. "mirrored" uses every local GPU, or every
    logical CPU device when there is no GPU. Under JAX, "mirrored" (and "auto"
    with several devices) is `keras.distribution.DataParallel` over the local devices.
    """
    if not is_tensorflow():
        return _keras_distribution(strategy)
    tf = _tf()
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
    return tf.distribute.MirroredStrategy(devices=local_devices())


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
    """A readable name: "MultiWorkerMirroredStrategy", "MirroredStrategy", "default",
    "DataParallel" (keras.distribution), or the class name."""
    if isinstance(strategy, KerasDistribution):
        return "default" if strategy.distribution is None else type(strategy.distribution).__name__
    tf = _tf()
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
