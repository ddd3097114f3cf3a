"""Training throughput of ResNet-20 (batch 128, CIFAR-shaped data): this project's loop vs `model.fit`.

    python benchmarks/train_throughput.py                  # about 3-4 minutes on a 2-core CPU
    python benchmarks/train_throughput.py --loop-modes graph,xla   # also time both loop modes

One process, one run: for the ReLU and the PReLU ResNet-20 of the zoo it
builds a fresh model per runner (`model.fit` in graph mode, `model.fit` with
`jit_compile=True`, and `keras_prelu.training.Trainer` in its default
`jit_compile="auto"`, which times graph and XLA on its first real steps and
keeps the faster, or the modes asked for), compiles each with two steps, then
times `--steps` steps per runner, `--repeats` times, interleaving the
runners so that machine load hits them alike. Reported per runner: the best
window (like `timeit`, the estimate least disturbed by other processes on a
shared machine) and the median; the ratios use the best windows, and beside
them ("paired median") the median over rounds of the ratio of the two
runners' windows of the same round, robust to load that drifts during a run:
  - loop / max(fit graph, fit XLA) for each model      (target >= 1.0)
  - loop PReLU step time / loop ReLU step time         (target <= 1.10)
  - loop PReLU images/s / PyTorch's                    (target >= 1.0)
PyTorch's figure is quoted, not measured here (torch is not a dependency):
the same ResNet-20 with per-channel PReLU, 2 threads, batch 128 on this
machine type ran at about 215-230 images/s; the ratio uses 230, the top of
that range.
"""

import argparse
import os
import statistics
import sys
import time

PYTORCH_PRELU_IMAGES_PER_SECOND = (215.0, 230.0)


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per window")
    parser.add_argument("--repeats", type=int, default=7, help="timed windows per runner")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", default="resnet20_relu,resnet20_prelu")
    parser.add_argument("--fit-modes", default="graph,xla", help="model.fit modes to time")
    parser.add_argument("--loop-modes", default="default",
                        help="loop modes: 'default' (jit_compile='auto': the faster mode, timed on the "
                        "first steps), graph, xla")
    return parser.parse_args()


def main():
    args = _parse()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo
    from keras_prelu import optimizers, training

    load_before = os.getloadavg()
    rng = np.random.default_rng(0)
    n = 4 * args.batch_size
    images = rng.normal(size=(n, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, n).astype("int32")
    options = tf.data.Options()
    # Each timed window makes a new iterator; with tf.data's autotuner on, deleting one
    # waits for the autotuner's next wake-up (doubling intervals up to 2.56 s), which
    # would add up to 2.56 s to every window of both fit and the loop.
    options.autotune.enabled = False
    dataset = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .batch(args.batch_size, drop_remainder=True).repeat().prefetch(2).with_options(options)
    )
    loop_modes = args.loop_modes.split(",")

    def optimizer():
        # The ResNet recipe's optimizer (slopes exempt from decay), constant rate for timing.
        return optimizers.get("sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-3)

    runners = {}
    compile_seconds = {}
    autotune = {}
    for name in args.models.split(","):
        for mode in args.fit_modes.split(","):
            keras.utils.set_random_seed(0)
            model = zoo.get(name)
            model.compile(optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"], jit_compile=(mode == "xla"))
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
            compile_seconds[(name, f"fit {mode}")] = time.perf_counter() - start
            runners[(name, f"fit {mode}")] = (
                lambda model=model: model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0)
            )
        for mode in loop_modes:
            keras.utils.set_random_seed(0)
            model = zoo.get(name)
            jit = {"default": "auto", "xla": True, "graph": False}[mode]
            trainer = training.Trainer(model, optimizer(), jit_compile=jit)
            start = time.perf_counter()
            while trainer.jit_compile is None:  # "auto": times both modes on real steps first
                trainer.train_epoch(dataset, steps=2)
            trainer.train_epoch(dataset, steps=2)  # sizes the automatic steps per call
            compile_seconds[(name, f"loop {mode}")] = time.perf_counter() - start
            runners[(name, f"loop {mode}")] = (
                lambda trainer=trainer: trainer.train_epoch(dataset, steps=args.steps)
            )
            if trainer.autotune:
                tune = trainer.autotune
                print(f"{name}: loop auto chose {tune['chose']} (graph {tune['graph_seconds_per_step']:.3f} "
                      f"s/step, XLA {tune['xla_seconds_per_step']:.3f} s/step)", file=sys.stderr, flush=True)
                autotune[name] = tune["chose"]
        print(f"compiled {name}", flush=True, file=sys.stderr)

    times = {key: [] for key in runners}
    for _ in range(args.repeats):
        for key, run in runners.items():
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    rate = {key: args.batch_size * args.steps / min(t) for key, t in times.items()}

    def paired(slower, faster):
        """Median over rounds of time(slower) / time(faster), runners timed side by side."""
        return statistics.median(a / b for a, b in zip(times[slower], times[faster]))

    median = {key: args.batch_size * args.steps / statistics.median(t) for key, t in times.items()}

    print(f"ResNet-20 training throughput, batch {args.batch_size}, {args.steps} steps x {args.repeats} "
          f"windows per runner (best window; median beside it); device {training.device_type()}, {os.cpu_count()} CPUs, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    chosen = ", ".join(f"{name} -> {mode}" for name, mode in autotune.items())
    print(f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}; "
          f"loop 'default' = jit_compile='auto' ({chosen or 'not run'})")
    print(f"{'model':<16} {'runner':<13} {'best img/s':>10} {'median':>7} {'windows (images/s)':>26} "
          f"{'compile s':>10}")
    for key in runners:
        windows = " ".join(f"{args.batch_size * args.steps / t:.0f}" for t in times[key])
        print(f"{key[0]:<16} {key[1]:<13} {rate[key]:>10.1f} {median[key]:>7.1f} {windows:>26} "
              f"{compile_seconds[key]:>10.1f}")
    print("ratios")
    models = args.models.split(",")
    for name in models:
        best_fit = max(((name, f"fit {m}") for m in args.fit_modes.split(",")), key=rate.get)
        for mode in loop_modes:
            loop = (name, f"loop {mode}")
            print(f"  {name}: loop {mode} / best model.fit ({best_fit[1]}) = {rate[loop] / rate[best_fit]:.2f}, "
                  f"paired median {paired(best_fit, loop):.2f}   (target >= 1.0)")
    relu = next((m for m in models if m.endswith("_relu")), None)
    prelu = next((m for m in models if m.endswith("_prelu")), None)
    if relu and prelu:
        for mode in loop_modes:
            ratio = rate[(relu, f"loop {mode}")] / rate[(prelu, f"loop {mode}")]
            pair = paired((prelu, f"loop {mode}"), (relu, f"loop {mode}"))
            print(f"  loop {mode}: PReLU step time / ReLU step time = {ratio:.2f}, paired median {pair:.2f}"
                  "   (target <= 1.10)")
    if prelu:
        low, high = PYTORCH_PRELU_IMAGES_PER_SECOND
        for mode in loop_modes:
            ours = rate[(prelu, f"loop {mode}")]
            print(f"  loop {mode}: PReLU {ours:.0f} images/s / PyTorch {high:.0f} (quoted {low:.0f}-{high:.0f}) "
                  f"= {ours / high:.2f}   (target >= 1.0)")


if __name__ == "__main__":
    main()
