"""Forward+backward time of keras_prelu.PReLU against ReLU and keras.layers.PReLU.

Input 128x32x32x16 float32, one slope per channel; each step returns the
output and the gradients for the input and the slopes. Graph mode
(tf.function) and XLA (jit_compile=True). The cases alternate within each
round (`benchmarks/rounds.py`), and each ratio reported is the median over
rounds of the two cases' times in the same round, with its range, so a busy
machine slows both sides of a ratio alike.

    python benchmarks/activations.py [--rounds 15] [--steps 10]

Targets (../shared/PRODUCT.md): PReLU <= 1.3x ReLU in each mode, and
<= 0.5x keras.layers.PReLU in graph mode.
"""

import argparse
import os
import statistics

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_prelu  # noqa: E402
from keras_prelu import native  # noqa: E402
from rounds import same_round_ratio, time_in_rounds  # noqa: E402

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal(SHAPE).astype("float32"))
    upstream = tf.constant(rng.standard_normal(SHAPE).astype("float32"))
    load_before = os.getloadavg()[0]
    native.load()
    results = []
    for mode, jit in [("graph", False), ("xla", True)]:
        steps_by_name = {
            "relu": make_step(keras.layers.ReLU(), x, upstream, jit),
            "keras_prelu.PReLU": make_step(keras_prelu.PReLU(), x, upstream, jit),
            "keras.layers.PReLU": make_step(
                keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2]),
                x, upstream, jit,
            ),
        }
        times = time_in_rounds(steps_by_name, args.rounds, args.steps, lambda out: [o.numpy() for o in out])
        results.append((mode, times))
    print(f"input {SHAPE} float32, {args.rounds} rounds x {args.steps} steps, {os.cpu_count()} CPUs, "
          f"TF {tf.__version__}, Keras {keras.__version__}, "
          f"load average before/after {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"native PReLU kernels (graph mode): {native.status()}")
    print(f"{'mode':6s} {'case':22s} {'median ms':>9s}")
    for mode, times in results:
        for name, seconds in times.items():
            print(f"{mode:6s} {name:22s} {1e3 * statistics.median(seconds):9.2f}")
    print("ratios: median of same-round ratios [min, max]")
    verdicts = []
    for mode, times in results:
        checks = [("keras_prelu.PReLU", "relu", "ReLU", 1.3)]
        if mode == "graph":
            checks.append(("keras_prelu.PReLU", "keras.layers.PReLU", "keras.layers.PReLU", 0.5))
        for numerator, denominator, label, target in checks:
            median, low, high = same_round_ratio(times[numerator], times[denominator])
            verdicts.append((f"{mode}: PReLU / {label} = {median:.2f} [{low:.2f}, {high:.2f}] "
                             f"(target <= {target:.2f})", median <= target))
    for text, ok in verdicts:
        print(("MET    " if ok else "MISSED ") + text)


if __name__ == "__main__":
    main()
