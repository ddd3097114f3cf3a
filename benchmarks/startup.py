"""Wall time of `keras-prelu train resnet20_prelu --dataset digits --epochs 1` against a plain Keras
script that builds the same zoo model and fits one epoch of the same data.

    python benchmarks/startup.py [--rounds 5]

Each contender is a fresh process (imports, data, model, compile, one epoch,
exit), alternated in rounds after one untimed warm-up each (which also
compiles the native kernels into the cache if needed). The ratio is the
median over rounds of the command's time / the script's time of the same
round, with its range. Target (../shared/PRODUCT.md): <= 1.2.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from rounds import same_round_ratio

PLAIN_KERAS = r"""
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import zoo

digits = load_digits()
images = digits.images.astype("float32")[..., None] / 16.0
x_train, x_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
mean, std = x_train.mean(), x_train.std()
model = zoo.get("resnet20_prelu", input_shape=(8, 8, 1), num_classes=10)
model.compile(keras.optimizers.AdamW(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit((x_train - mean) / std, y_train, batch_size=128, epochs=1, verbose=0)
print(model.evaluate((x_test - mean) / std, y_test, verbose=0))
"""


def _run(command, cwd):
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{command[0]} failed:\n{result.stderr[-2000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    command = shutil.which("keras-prelu")
    if command is None:
        sys.exit("the keras-prelu command is not installed: pip install -e .")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        script = os.path.join(folder, "plain_keras.py")
        with open(script, "w") as handle:
            handle.write(PLAIN_KERAS)
        contenders = {
            "keras-prelu train": lambda i: [command, "train", "resnet20_prelu", "--dataset", "digits",
                                            "--epochs", "1", "--progress", "none",
                                            "--out", os.path.join(folder, f"run{i}")],
            "plain Keras fit": lambda i: [sys.executable, script],
        }
        for name, make in contenders.items():
            _run(make("warm"), folder)
        times = {name: [] for name in contenders}
        for i in range(args.rounds):
            for name, make in contenders.items():
                times[name].append(_run(make(i), folder))
    median, low, high = same_round_ratio(times["keras-prelu train"], times["plain Keras fit"])
    print(f"one epoch of resnet20_prelu on digits, fresh process each, {args.rounds} rounds; "
          f"load average before/after {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    for name, values in times.items():
        print(f"{name:<18} median {statistics.median(values):6.1f} s   "
              + " ".join(f"{v:.1f}" for v in values))
    verdict = "MET" if median <= 1.2 else "MISSED"
    print(f"{verdict:<6} keras-prelu train / plain Keras = {median:.2f} [{low:.2f}, "
          f"{high:.2f}] (target <= 1.2)")


if __name__ == "__main__":
    main()
