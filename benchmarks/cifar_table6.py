"""He et al. 2016, Table 6: the CIFAR ResNets trained on CIFAR-10 with ReLU and PReLU.

    python benchmarks/cifar_table6.py --data-dir ../shared/data --out runs/table6
    KERAS_BACKEND=jax python benchmarks/cifar_table6.py --data-dir DATA --depths 20,56 --out OUT
    python benchmarks/cifar_table6.py --data-dir DATA --iterations 20 --depths 20   # a smoke run

Each (depth, activation) is a `keras-prelu` training run (`keras_prelu.training.train`) with the
`resnet-cifar` recipe: batch 128, SGD momentum 0.9, weight decay 1e-4 (never on the slopes),
lr 0.1 divided by 10 at 50% and 75% of the iterations, 64k iterations, 4-pixel pad + random
crop + horizontal flip. It runs on the backend Keras runs (`KERAS_BACKEND`): JAX needs no
TensorFlow, so the table can be made on a machine with JAX on a GPU. A finished cell is read
back, an interrupted one resumed, so the script can be run again after a kill.

It writes OUT/table6.md and OUT/table6.json: test error beside the paper's (ReLU, Table 6),
training throughput (median images/s over the epochs after the first), the device and backend.
CIFAR-10 here is read from the JPEG archive in ../shared/data: every image was re-encoded as
JPEG by its publisher (mean absolute pixel error 5.8/255), so errors are close to, not equal
to, figures on the original CIFAR-10.
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import keras

from keras_prelu.training import distribute, experiment
from keras_prelu.training.model_card import backend_version

# He et al. 2016 (Deep Residual Learning), Table 6: CIFAR-10 test error (%), ReLU ResNets.
PAPER_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43}
PAPER_ITERATIONS = 64_000
ACTIVATIONS = ("relu", "prelu")
JPEG_NOTE = ("CIFAR-10 from the JPEG re-encoded archive (../shared/data/cifar10_jpeg.npz: mean "
             "absolute pixel error 5.8/255 against the original): errors are close to, not "
             "equal to, errors on the original CIFAR-10.")


def _ints(text):
    values = [int(v) for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in PAPER_ERROR]
    if not values or unknown:
        raise argparse.ArgumentTypeError(
            f"depths are among {sorted(PAPER_ERROR)}, comma-separated; not {text!r}")
    return values


def _activations(text):
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(v not in ACTIVATIONS for v in values):
        raise argparse.ArgumentTypeError(f"activations are among {ACTIVATIONS}; not {text!r}")
    return values


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True,
                        help="a folder holding cifar10_jpeg.npz (or the file itself)")
    parser.add_argument("--out", default="runs/table6")
    parser.add_argument("--depths", type=_ints, default=[20, 32, 44, 56, 110])
    parser.add_argument("--activations", type=_activations, default=list(ACTIVATIONS))
    parser.add_argument("--iterations", type=int, default=PAPER_ITERATIONS,
                        help=f"training steps per run (paper: {PAPER_ITERATIONS})")
    parser.add_argument("--batch-size", type=int, default=128, help="paper: 128")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "mixed_float16", "mixed_bfloat16"))
    parser.add_argument("--progress", default="auto", choices=("auto", "bar", "lines", "none"))
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.batch_size < 1:
        parser.error("--iterations and --batch-size take whole numbers >= 1")
    return args


def schedule(iterations, train_examples, batch_size):
    """(epochs, steps per epoch) for `iterations` steps: full epochs, or one short epoch."""
    full = train_examples // batch_size
    steps = min(full, iterations)
    return max(1, round(iterations / steps)), steps


def _device_name():
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return jax.devices()[0].device_kind
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else platform.processor()
    except Exception:  # noqa: BLE001 - a name for the table only
        pass
    return platform.processor() or platform.machine()


def run_cell(args, depth, activation, epochs, steps):
    """Train (or resume, or read back) one run; its row of the table."""
    name = f"resnet{depth}_{activation}"
    out = pathlib.Path(args.out) / name
    card_file = out / "model_card.json"
    start = time.perf_counter()
    if not card_file.exists():
        experiment.train(
            name, dataset="cifar10", recipe="resnet-cifar", data_dir=args.data_dir,
            download=False, epochs=epochs, steps_per_epoch=steps, batch_size=args.batch_size,
            seed=args.seed, precision=args.precision, progress=args.progress, out=str(out),
            resume=(out / "config.json").exists(),
        )
    card = json.loads(card_file.read_text())
    results = card["results"]
    return {
        "model": name, "depth": depth, "activation": activation,
        "test_error": 100.0 * (1.0 - results["test_accuracy"]),
        "paper_error": PAPER_ERROR[depth] if activation == "relu" else None,
        "images_per_second": results["median_images_per_second"],
        "training_seconds": results["training_seconds"],
        "iterations": epochs * steps, "epochs": epochs,
        "parameters": card["model_info"]["trainable_parameters"],
        "backend": card["environment"].get("backend"),
        "device": card["environment"]["device"],
        "wall_seconds_this_call": round(time.perf_counter() - start, 1),
    }


def markdown(rows, facts):
    lines = [
        "| model | activation | test error (%) | paper (ReLU, Table 6) | images/s | iterations "
        "| training time |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        paper = f"{row['paper_error']:.2f}" if row["paper_error"] is not None else "-"
        lines.append(
            f"| ResNet-{row['depth']} | {row['activation']} | {row['test_error']:.2f} | {paper} "
            f"| {row['images_per_second']:.0f} | {row['iterations']:,} "
            f"| {row['training_seconds'] / 60:.1f} min |"
        )
    lines += [
        "",
        f"Backend {facts['backend']} {facts['backend_version']} on {facts['device']} "
        f"({facts['device_name']}), {facts['precision']}, batch {facts['batch_size']}, "
        f"seed {facts['seed']}; the paper: 64,000 iterations.",
        "",
        JPEG_NOTE,
        "",
        f"Command: `{facts['command']}`",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    data = experiment.load_data("cifar10", data_dir=args.data_dir, download=False)
    epochs, steps = schedule(args.iterations, data.info.train_examples, args.batch_size)
    rows = [run_cell(args, depth, activation, epochs, steps)
            for depth in args.depths for activation in args.activations]
    facts = {
        "backend": keras.backend.backend(),
        "backend_version": backend_version(),
        "device": distribute.device_type(),
        "device_name": _device_name(),
        "precision": args.precision,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "dataset": data.info.source,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "note": JPEG_NOTE,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, facts)
    (out / "table6.md").write_text(table)
    (out / "table6.json").write_text(json.dumps({"rows": rows, "facts": facts}, indent=2))
    print(table)
    return rows


if __name__ == "__main__":
    main()
