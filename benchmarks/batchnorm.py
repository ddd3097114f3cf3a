"""The zoo's BatchNormalization (TensorFlow's fused kernel in training) against
`keras.layers.BatchNormalization` in a ResNet-20 training step, same loop, alternating rounds.

    python benchmarks/batchnorm.py        # about 2 minutes on a 2-core CPU

Each ResNet-20 (ReLU, PReLU) is built from the zoo twice: as the zoo builds it
(`keras_prelu.normalization.BatchNormalization`) and with every BatchNormalization
replaced by Keras's own (same config). Each runs `keras_prelu.training.Trainer`
steps in graph mode on one CIFAR-shaped batch of 128; rounds alternate the four
runners. Printed: images/s (median of rounds) and the median of same-round
ratios of step times, fused / Keras, with their range, and the load average.
"""

import os
import statistics
import sys

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from keras_prelu.normalization import BatchNormalization  # noqa: E402
from keras_prelu.training.trainer import Trainer  # noqa: E402
from rounds import same_round_ratio  # noqa: E402

ROUNDS, STEPS, BATCH = 7, 4, 128


def with_keras_batchnorm(model):
    def clone(layer):
        if isinstance(layer, BatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def main():
    rng = np.random.default_rng(0)
    batch = (rng.normal(size=(BATCH, 32, 32, 3)).astype("float32"),
             rng.integers(0, 10, BATCH).astype("int32"))
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    runners = {}
    for name in ("resnet20_relu", "resnet20_prelu"):
        for kind in ("fused", "keras"):
            keras.utils.set_random_seed(0)
            model = zoo.get(name, input_shape=(32, 32, 3))
            if kind == "keras":
                model = with_keras_batchnorm(model)
            trainer = Trainer(model, keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=False,
                              steps_per_execution=STEPS)
            trainer.train_epoch(dataset, STEPS)  # traces
            runners[(name, kind)] = trainer
    load_before = os.getloadavg()[0]
    times = {key: [] for key in runners}
    for round_ in range(ROUNDS):
        order = list(runners.items())
        for key, trainer in (order if round_ % 2 == 0 else reversed(order)):
            times[key].append(trainer.train_epoch(dataset, STEPS)["seconds"] / STEPS)
    print(f"ResNet-20 training step, batch {BATCH}, {ROUNDS} rounds x {STEPS} steps, graph mode, "
          f"TensorFlow {tf.__version__}, load average before/after {load_before:.2f} / "
          f"{os.getloadavg()[0]:.2f}")
    for name in ("resnet20_relu", "resnet20_prelu"):
        median, low, high = same_round_ratio(times[(name, "fused")], times[(name, "keras")])
        print(f"{name:16s} keras BN {BATCH / statistics.median(times[(name, 'keras')]):6.1f} img/s   "
              f"fused BN {BATCH / statistics.median(times[(name, 'fused')]):6.1f} img/s   "
              f"step fused/keras = {median:.2f} [{low:.2f}, {high:.2f}]")


if __name__ == "__main__":
    main()
