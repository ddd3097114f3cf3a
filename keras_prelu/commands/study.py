"""`keras-prelu compare MODEL ...` (the activation study) and `keras-prelu plot RUN_DIR` (one run's figures)."""

import argparse
import sys

from keras_prelu import study
from keras_prelu.commands.flags import auto_or, number, user_errors_as_usage, whole
from keras_prelu.training import experiment, progress


def _seeds(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--seeds takes the number of seeds, a whole number >= 1 (seeds 0..K-1), not {text!r}"
        )
    return value


def _activations(text):
    try:
        return study.parse_activations(text)
    except study.StudyError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers):
    compare = subparsers.add_parser(
        "compare",
        help="train one architecture with each activation over several seeds and write a report",
        description="The activation study: the same architecture, seeds, data order and budget for "
        "each activation; writes DIR/report.md (one row per activation) and PNG figures. Rerunning "
        "the same command resumes at the next unfinished (activation, seed) cell.",
    )
    compare.add_argument("model", metavar="MODEL_FAMILY_OR_NAME", nargs="?",
                         help="architecture such as mlp3x256 or resnet20, or a zoo name such as "
                         "mlp3x256_prelu (its architecture is used); optional with --preset")
    compare.add_argument("--preset", choices=list(study.PRESETS),
                         help="named settings where the phenomena show (model, dataset, seeds, "
                         "epochs, ...); every other flag still overrides. See --list-presets")
    compare.add_argument("--list-presets", action="store_true",
                         help="print the presets and what each shows, then exit")
    compare.add_argument("--dataset",
                         help="'digits' (default, bundled) or a TFDS name such as fashion_mnist")
    compare.add_argument("--activations", type=_activations, default=list(study.DEFAULT_ACTIVATIONS),
                         help=f"comma-separated, default {','.join(study.DEFAULT_ACTIVATIONS)}")
    compare.add_argument("--epochs", type=whole("--epochs", 1), help="default: the recipe's")
    compare.add_argument("--seeds", type=_seeds,
                         help=f"number of seeds, 0..K-1 (default {study.DEFAULT_SEEDS}, or the preset's)")
    compare.add_argument("--out", help="study directory (default runs/study-ARCH-DATASET-TIME)")
    compare.add_argument("--recipe", help="training recipe: default (AdamW, cosine) or resnet-cifar")
    compare.add_argument("--batch-size", type=whole("--batch-size", 1))
    compare.add_argument("--lr", dest="learning_rate", type=number("--lr", low_open=True),
                         help="peak learning rate")
    compare.add_argument("--steps-per-epoch", type=whole("--steps-per-epoch", 1),
                         help="train N batches per epoch (default: the whole training split)")
    compare.add_argument("--warmup-epochs", type=number("--warmup-epochs"),
                         help="linear warmup length (default: the recipe's)")
    compare.add_argument("--data-dir", help="TFDS data folder with prepared datasets")
    compare.add_argument("--no-download", dest="download", action="store_const", const=False,
                         help="never download; fail if the dataset is not prepared")
    compare.add_argument("--fgsm-epsilon", type=number("--fgsm-epsilon", 0.0, 1.0, low_open=True),
                         default=0.01, help="FGSM budget in [0, 1] pixel units (default 0.01)")
    compare.add_argument("--attack-examples", type=whole("--attack-examples", 1),
                         help="test images for FGSM and input gradients (default 2000, or the "
                         "preset's)")
    timing_steps = auto_or(whole("--timing-steps", 0), "--timing-steps", "a whole number >= 0")
    compare.add_argument("--timing-steps", type=timing_steps, default="auto",
                         help="training steps per timing round: 'auto' (default, about 1 s a "
                         "round) or a number; 0 skips the step-time measurement")
    compare.add_argument("--timing-rounds", type=whole("--timing-rounds", 1), default=7,
                         help="alternating rounds of the speed phase (default 7)")
    compare.add_argument("--progress", choices=progress.MODES, default="auto",
                         help="epoch progress of the training code (auto: a bar on a terminal)")
    compare.set_defaults(func=run_compare)

    plot = subparsers.add_parser(
        "plot",
        help="figures of one training run: loss curves, slope trajectories, negative fractions",
        description="PNG figures of a run directory (from `keras-prelu train` or a study cell): loss "
        "curves and slope trajectories from history.json, negative-fraction histograms from the "
        "run's measurements or by measuring its model on its dataset's test split.",
    )
    plot.add_argument("run_dir", metavar="RUN_DIR")
    plot.add_argument("--out", help="folder for the PNGs (default RUN_DIR/figures)")
    plot.add_argument("--data-dir", help="TFDS data folder (default: the run's)")
    plot.add_argument("--no-download", dest="download", action="store_const", const=False)
    plot.add_argument("--no-measure", dest="measure", action="store_false",
                      help="do not load the model and data to measure negative fractions")
    plot.set_defaults(func=run_plot)


def run_compare(args):
    if args.list_presets:
        print(study.presets.listing())
        return 0
    with user_errors_as_usage(study.StudyError):
        result = study.compare(
            args.model,
            preset=args.preset,
            steps_per_epoch=args.steps_per_epoch,
            dataset=args.dataset,
            activations=args.activations,
            epochs=args.epochs,
            seeds=args.seeds,
            out=args.out,
            recipe=args.recipe,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            warmup_epochs=args.warmup_epochs,
            data_dir=args.data_dir,
            download=args.download,
            fgsm_epsilon=args.fgsm_epsilon,
            attack_examples=args.attack_examples,
            timing_steps=args.timing_steps,
            timing_rounds=args.timing_rounds,
            progress=args.progress,
            command=experiment.command_line(),
        )
    diverged = f", {len(result['diverged'])} diverged" if result["diverged"] else ""
    print(f"{result['report']}: {len(result['summary']['activations'])} activations, "
          f"{len(result['trained'])} cells trained, {len(result['skipped'])} skipped{diverged}")
    return 0


def run_plot(args):
    with user_errors_as_usage(study.StudyError):
        figures = study.plot_run(args.run_dir, out=args.out, data_dir=args.data_dir,
                                 download=args.download, measure_model=args.measure,
                                 stream=sys.stderr)
    for path in figures.values():
        print(path)
    return 0
