"""Peak memory of a PReLU training run against the ReLU run (ResNet-20, batch 128, CPU).

    python benchmarks/memory.py [--steps 10] [--modes graph,xla]

Each (model, mode) trains in its own fresh process: imports, data (CIFAR-shaped
random images) and model first, then the resident set size is read
(the baseline), then `--steps` training steps of `keras_prelu.training.Trainer`
run (the first traces and compiles), then the process's peak resident set
size is read. Reported: the peak, and the growth over the baseline (the
training working set: activations kept for the backward pass, gradients,
optimizer slots, compiled code). Target (../shared/PRODUCT.md): the PReLU
run's peak at most 1.15x the ReLU run's, in each mode.
"""

import argparse
import json
import os
import resource
import subprocess
import sys


def _rss_bytes():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def child(model_name, mode, steps, batch_size):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    import zoo
    from keras_prelu import optimizers, training

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 4 * batch_size
    images = rng.normal(size=(n, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, n).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size).repeat()
    model = zoo.get(model_name)
    optimizer = optimizers.get("sgd", learning_rate=0.1, momentum=0.9, weight_decay=1e-4)
    trainer = training.Trainer(model, optimizer, jit_compile=(mode == "xla"), steps_per_execution=1)
    baseline = _rss_bytes()
    trainer.train_epoch(dataset, steps=steps)
    print(json.dumps({"baseline": baseline, "peak": _peak_bytes()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", default="resnet20_relu,resnet20_prelu")
    parser.add_argument("--modes", default="graph,xla")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.steps, args.batch_size)
        return

    models, modes = args.models.split(","), args.modes.split(",")
    results = {}
    for mode in modes:
        for name in models:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, mode, "--steps", str(args.steps),
                 "--batch-size", str(args.batch_size)],
                capture_output=True, text=True, check=True,
            )
            results[(name, mode)] = json.loads(out.stdout.strip().splitlines()[-1])

    mib = 1024 * 1024
    print(f"ResNet-20 training, batch {args.batch_size}, {args.steps} steps, one fresh process per row")
    print(f"{'model':<16} {'mode':<6} {'baseline MiB':>12} {'peak MiB':>9} {'growth MiB':>11}")
    for (name, mode), r in results.items():
        print(f"{name:<16} {mode:<6} {r['baseline'] / mib:>12.0f} {r['peak'] / mib:>9.0f} "
              f"{(r['peak'] - r['baseline']) / mib:>11.0f}")
    relu = next((m for m in models if m.endswith("_relu")), None)
    prelu = next((m for m in models if m.endswith("_prelu")), None)
    if relu and prelu:
        for mode in modes:
            a, b = results[(prelu, mode)], results[(relu, mode)]
            peak = a["peak"] / b["peak"]
            growth = (a["peak"] - a["baseline"]) / max(1, b["peak"] - b["baseline"])
            verdict = "MET   " if peak <= 1.15 else "MISSED"
            print(f"{verdict} {mode}: PReLU peak / ReLU peak = {peak:.2f} (target <= 1.15); "
                  f"growth over baseline {growth:.2f}")


if __name__ == "__main__":
    main()
