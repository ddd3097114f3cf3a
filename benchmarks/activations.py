"""Forward+backward time of keras_prelu.PReLU against ReLU and keras.layers.PReLU.

Input 128x32x32x16 float32, one slope per channel; each step returns the
output and the gradients for the input and the slopes. Graph mode (tf.function) and XLA (jit_compile=True). The cases are
timed in interleaved rounds and compared by their medians, so a busy machine
slows all of them alike.

    python benchmarks/activations.py [--rounds 15] [--steps 10]

Targets (../shared/PRODUCT.md): PReLU <= 1.3x ReLU in each mode, and
<= 0.5x keras.layers.PReLU in graph mode.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_prelu  # noqa: E402
from keras_prelu import native  # noqa: E402
from rounds import time_in_rounds  # noqa: E402

SHAPE = (128, 32, 32, 16)


def make_step(layer, x, upstream, jit_compile):
    layer.build(x.shape)
    variables = list(layer.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
        return [y] + tape.gradient(y, [x] + variables, output_gradients=upstream)

    return step


def time_cases(steps_by_name, rounds, steps):
    """The median over interleaved rounds of each case's seconds per step."""
    samples = time_in_rounds(steps_by_name, rounds, steps, lambda out: [o.numpy() for o in out])
    return {name: float(np.median(s)) for name, s in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(SHAPE).astype("float32"))
    upstream = tf.constant(rng.standard_normal(SHAPE).astype("float32"))
    print(f"input {SHAPE} float32, {os.cpu_count()} CPUs, TF {tf.__version__}, Keras {keras.__version__}")
    native.load()
    print(f"native PReLU kernels (graph mode): {native.status()}")
    print(f"{'mode':6s} {'case':22s} {'ms':>8s} {'vs ReLU':>8s} {'vs keras PReLU':>15s}")
    verdicts = []
    for mode, jit in [("graph", False), ("xla", True)]:
        steps_by_name = {
            "relu": make_step(keras.layers.ReLU(), x, upstream, jit),
            "keras_prelu.PReLU": make_step(keras_prelu.PReLU(), x, upstream, jit),
            "keras.layers.PReLU": make_step(
                keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2]),
                x, upstream, jit,
            ),
        }
        med = time_cases(steps_by_name, args.rounds, args.steps)
        for name, seconds in med.items():
            print(
                f"{mode:6s} {name:22s} {seconds * 1e3:8.2f} {seconds / med['relu']:7.2f}x "
                f"{seconds / med['keras.layers.PReLU']:14.2f}x"
            )
        ratio_relu = med["keras_prelu.PReLU"] / med["relu"]
        verdicts.append((f"{mode}: PReLU / ReLU = {ratio_relu:.2f} (target <= 1.30)", ratio_relu <= 1.3))
        if mode == "graph":
            ratio_keras = med["keras_prelu.PReLU"] / med["keras.layers.PReLU"]
            verdicts.append(
                (f"{mode}: PReLU / keras.layers.PReLU = {ratio_keras:.2f} (target <= 0.50)", ratio_keras <= 0.5)
            )
    for text, ok in verdicts:
        print(("MET    " if ok else "MISSED ") + text)


if __name__ == "__main__":
    main()
