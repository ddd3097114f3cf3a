"""Accuracy on real data with the project's training loop, against fixed targets.

    python benchmarks/accuracy.py                       # both tasks, seed 0 (about 2-3 minutes on 2 CPUs)
    python benchmarks/accuracy.py --task digits --seeds 0,1,2
    python benchmarks/accuracy.py --task mnist --data-dir ../shared/data/tensorflow_datasets

Tasks (each is exactly a `keras-prelu train` command, printed with its result):
  mnist   mlp3x256_prelu on MNIST, recipe "default", 10 epochs   target: test accuracy >= 98.0%
  digits  resnet20_prelu on the bundled digits, recipe "default", 30 epochs, 1-pixel shifts
          (--augment pad_crop)                                             target: >= 97.0%

MNIST comes from a prepared TFDS folder (`--data-dir`, default
../shared/data/tensorflow_datasets beside the project); downloads stay off.
Runs go to a temporary folder unless `--out` is given.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = ROOT.parent / "shared" / "data" / "tensorflow_datasets"

TASKS = {
    "mnist": dict(model="mlp3x256_prelu", dataset="mnist", recipe="default", epochs=10, target=0.980),
    "digits": dict(model="resnet20_prelu", dataset="digits", recipe="default", epochs=30, augment="pad_crop",
                   target=0.970),
}


def _command(task, seed, data_dir, out):
    parts = ["keras-prelu", "train", task["model"], "--dataset", task["dataset"], "--recipe", task["recipe"],
             "--epochs", str(task["epochs"]), "--seed", str(seed)]
    if task.get("augment"):
        parts += ["--augment", task["augment"]]
    if task["dataset"] != "digits":
        parts += ["--data-dir", str(data_dir), "--no-download"]
    return " ".join(parts + ["--out", str(out)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS) + ["all"], default="all")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--out", help="folder for the run directories (default: a temporary one)")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_prelu.training import experiment

    names = sorted(TASKS) if args.task == "all" else [args.task]
    seeds = [int(s) for s in args.seeds.split(",")]
    base = pathlib.Path(args.out) if args.out else pathlib.Path(tempfile.mkdtemp(prefix="keras-prelu-accuracy-"))
    rows, failed = [], False
    for name in names:
        task = TASKS[name]
        if task["dataset"] != "digits" and not pathlib.Path(args.data_dir, task["dataset"]).is_dir():
            print(f"{name}: skipped, no prepared {task['dataset']} under {args.data_dir}", flush=True)
            continue
        for seed in seeds:
            out = base / f"{name}-seed{seed}"
            start = time.perf_counter()
            result = experiment.train(
                task["model"], dataset=task["dataset"], recipe=task["recipe"], epochs=task["epochs"],
                augment=task.get("augment"), seed=seed, data_dir=args.data_dir if task["dataset"] != "digits" else None,
                download=False, out=str(out), progress="none",
                command=_command(task, seed, args.data_dir, out),
            )
            wall = time.perf_counter() - start
            ok = result["test_accuracy"] >= task["target"]
            failed |= not ok
            rows.append((name, seed, result["test_accuracy"], task["target"], ok, wall, result["jit_compile"],
                         _command(task, seed, args.data_dir, out)))
            print(f"{name} seed {seed}: test accuracy {100 * result['test_accuracy']:.2f}% "
                  f"(target {100 * task['target']:.1f}%: {'ok' if ok else 'MISSED'}), {wall:.0f} s", flush=True)
    print("\nresults")
    for name, seed, accuracy, target, ok, wall, jit, command in rows:
        print(f"  {name:<7} seed {seed}  {100 * accuracy:6.2f}%  target {100 * target:.1f}%  "
              f"{'ok    ' if ok else 'MISSED'}  {wall:5.0f} s  xla={jit}")
        print(f"          {command}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
