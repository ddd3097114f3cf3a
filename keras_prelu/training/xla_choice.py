"""`jit_compile="auto"` without doubling the compile: decisions remembered on disk, trials skipped
where they cannot pay off.

    choice = xla_choice.resolve(model, batch_size=128, precision="float32", total_steps=3300)
    choice.jit_compile        # True / False from an earlier run, or "auto" (time both modes now)
    ...train...
    choice.remember(trainer.autotune)

A decision is kept per (model architecture, input shape, batch, precision,
device, replicas, TensorFlow version) in `<cache dir>/xla_decisions.json`
(`$KERAS_PRELU_CACHE_DIR`). A run of fewer than `MIN_AUTOTUNE_STEPS` training
steps keeps the device's default without timing: compiling both modes (10-20 s
for a ResNet-20 on a 2-core CPU) costs more than the faster one could save.
"""

import dataclasses
import hashlib
import json

import keras
import tensorflow as tf

from keras_prelu.training import distribute
from keras_prelu.utils import files
from keras_prelu.utils.models import all_layers

CACHE_FILE = "xla_decisions.json"
MIN_AUTOTUNE_STEPS = 200


def decision_fields(model, batch_size, precision, replicas=1):
    """What a decision depends on, as a JSON-able dict (the architecture as a digest of its layers'
    classes, configurations and output shapes; layer names do not count)."""
    layers = [
        (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"},
         _output_shapes(layer))
        for layer in all_layers(model)
    ]
    digest = hashlib.sha256(json.dumps(layers, sort_keys=True, default=str).encode())
    return {
        "architecture": digest.hexdigest()[:16],
        "inputs": [list(t.shape[1:]) for t in model.inputs],
        "batch_size": int(batch_size),
        "precision": str(precision),
        "device": distribute.device_type(),
        "replicas": int(replicas),
        "tensorflow": tf.__version__,
    }


def _output_shapes(layer):
    try:
        return str(keras.tree.map_structure(lambda t: tuple(t.shape), layer.output))
    except (AttributeError, ValueError):  # a layer called several times, or never
        return None


def decision_key(fields):
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


class DecisionCache:
    """The remembered decisions: {key: {"jit_compile": bool, "fields": ..., "timing": ...}}."""

    def __init__(self, path=None):
        self.path = path or files.cache_dir() / CACHE_FILE

    def read(self):
        try:
            decisions = files.read_json(self.path)
        except (OSError, ValueError):  # absent, unreadable or damaged: decide anew
            return {}
        return decisions if isinstance(decisions, dict) else {}

    def get(self, key):
        record = self.read().get(key)
        if isinstance(record, dict) and isinstance(record.get("jit_compile"), bool):
            return record
        return None

    def put(self, key, record):
        """Add one decision (atomically; a cache that cannot be written is left as it is)."""
        decisions = self.read()
        decisions[key] = record
        try:
            files.atomic_write_json(self.path, decisions)
        except OSError:
            return False
        return True


@dataclasses.dataclass
class Choice:
    """How a run compiles: `jit_compile` (True, False or "auto") and why (`source`)."""

    jit_compile: object
    source: str
    key: str = None
    fields: dict = None
    cache: DecisionCache = None

    def remember(self, autotune):
        """Store the decision a timed trial reached (`Trainer.autotune`); once per run."""
        if self.source != "timed" or not autotune or self.cache is None:
            return False
        self.source = "timed, remembered"
        return self.cache.put(self.key, {
            "jit_compile": autotune["chose"] == "xla",
            "fields": self.fields,
            "timing": autotune,
        })


def resolve(model, batch_size, precision, total_steps, replicas=1, cache=None):
    """The `Choice` for a run asked to pick XLA automatically."""
    if total_steps < MIN_AUTOTUNE_STEPS:
        return Choice(distribute.default_jit_compile(), "device default (short run)")
    cache = cache or DecisionCache()
    fields = decision_fields(model, batch_size, precision, replicas)
    key = decision_key(fields)
    record = cache.get(key)
    if record is not None:
        return Choice(record["jit_compile"], "remembered", key, fields, cache)
    return Choice("auto", "timed", key, fields, cache)
