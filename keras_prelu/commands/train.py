"""`keras-prelu train NAME ...` and `keras-prelu evaluate RUN_DIR ...`."""

import dataclasses
import sys

from keras_prelu.commands.flags import auto_or, number, user_errors_as_usage, whole
from keras_prelu.training import experiment, progress, settings
from keras_prelu.training.settings import TrainSettings


def register(subparsers):
    train = subparsers.add_parser(
        "train",
        help="train a zoo model on a dataset into a run directory",
        description="Train a zoo model (see `keras-prelu list`) on 'digits' (bundled, offline) or "
        "a TFDS image-classification dataset. Checkpoints every epoch; --resume continues.",
    )
    train.add_argument("model", metavar="NAME", help="zoo model, e.g. resnet20_prelu, mlp3x256_relu")
    train.add_argument("--dataset", help="'digits' (default, bundled) or a TFDS name: mnist, "
                       "fashion_mnist, cifar10, cifar100, ...")
    train.add_argument("--recipe", help="training recipe: default (AdamW, cosine) or resnet-cifar "
                       "(He et al. 2016)")
    train.add_argument("--epochs", type=whole("--epochs"))
    train.add_argument("--batch-size", type=whole("--batch-size"), help="global batch size")
    train.add_argument("--lr", type=number("--lr", low_open=True), dest="learning_rate",
                       help="peak learning rate")
    train.add_argument("--optimizer", choices=settings.OPTIMIZERS)
    train.add_argument("--schedule", choices=settings.SCHEDULES)
    train.add_argument("--weight-decay", type=number("--weight-decay"),
                       help="as published: L2 for SGD, decoupled for AdamW; never on PReLU slopes")
    train.add_argument("--warmup-epochs", type=number("--warmup-epochs"))
    train.add_argument("--augment", choices=settings.AUGMENT_CHOICES, help="override the recipe's augmentation")
    train.add_argument("--precision", choices=settings.PRECISIONS)
    xla = train.add_mutually_exclusive_group()
    xla.add_argument("--xla", dest="jit_compile", action="store_const", const=True,
                     help="compile the steps with XLA")
    xla.add_argument("--no-xla", dest="jit_compile", action="store_const", const=False,
                     help="plain graph mode (default on CPU, where it measured faster)")
    train.add_argument("--steps-per-execution", type=auto_or(whole("--steps-per-execution"), "--steps-per-execution", "a whole number >= 1"),
                       help="training steps per compiled call, or 'auto' (default)")
    train.add_argument("--steps-per-epoch", type=whole("--steps-per-epoch"), metavar="N",
                       help="train N batches per epoch instead of the whole training split "
                       "(a short epoch, as Keras's steps_per_epoch)")
    train.add_argument("--data-dir", help="TFDS data folder with prepared datasets")
    train.add_argument("--no-download", dest="download", action="store_const", const=False,
                       help="never download; fail if the dataset is not prepared")
    train.add_argument("--out", help="run directory (default runs/NAME-DATASET-TIME)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--seed", type=int)
    train.add_argument("--val-split", type=number("--val-split", high=1.0, high_open=True),
                       help="fraction of train held out for validation (default 0: validate on test)")
    train.add_argument("--strategy", choices=settings.STRATEGIES,
                       help="tf.distribute strategy (auto: TF_CONFIG workers, else local GPUs, else one device)")
    train.add_argument("--progress", choices=settings.PROGRESS_MODES, help="progress display (auto: a bar on a terminal, "
                       "else lines)")
    train.add_argument("--progress-every", type=number("--progress-every"), default=10.0, metavar="SECONDS",
                       help="with --progress lines: at most one line per this many seconds (default 10; "
                       "0: after every compiled call)")
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser(
        "evaluate",
        help="evaluate a run's model on a dataset split",
        description="Loss and accuracy of a run's final model (or newest checkpoint).",
    )
    evaluate.add_argument("run_dir", metavar="RUN_DIR")
    evaluate.add_argument("--dataset", help="default: the dataset the run trained on")
    evaluate.add_argument("--split", choices=experiment.EVAL_SPLITS, default="test")
    evaluate.add_argument("--batch-size", type=whole("--batch-size"), default=256)
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--no-download", dest="download", action="store_false")
    xla = evaluate.add_mutually_exclusive_group()
    xla.add_argument("--xla", dest="jit_compile", action="store_const", const=True)
    xla.add_argument("--no-xla", dest="jit_compile", action="store_const", const=False)
    evaluate.set_defaults(func=run_evaluate)


def run_train(args):
    given = TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})
    with user_errors_as_usage():
        result = experiment.run(
            given, out=args.out, resume=args.resume, progress_every=args.progress_every,
            command=experiment.command_line(),
        )
    if result["chief"]:
        card = result["card"]
        progress.summary(
            [
                ("model", card["model"]),
                ("dataset", f"{card['dataset']['name']} ({card['dataset']['train_examples']} train / "
                            f"{card['dataset']['test_examples']} test)"),
                ("epochs", result["epochs"]),
                ("train accuracy", f"{100 * card['results']['final_train_accuracy']:.2f}%"),
                ("test accuracy", f"{100 * result['test_accuracy']:.2f}%"),
                ("test loss", f"{result['test_loss']:.4f}"),
                ("time", f"{result['seconds']:.1f} s training, "
                         f"{result['images_per_second']:,.0f} images/s (median epoch)"),
                ("xla", _xla_line(result)),
                ("run", result["run_dir"]),
            ],
            stream=sys.stdout,
            title=f"test accuracy {100 * result['test_accuracy']:.2f}%",
        )
    return 0


def _xla_line(result):
    state = {True: "on", False: "off", None: "undecided"}[result["jit_compile"]]
    tune = result.get("autotune")
    if tune:
        tie = ", within noise: device default" if tune.get("within_noise") else ""
        state += (f" (auto: graph {tune['graph_seconds_per_step'] * 1000:.1f} ms/step, "
                  f"XLA {tune['xla_seconds_per_step'] * 1000:.1f} ms/step{tie})")
    elif result.get("xla_decision") not in (None, "set"):
        state += f" (auto: {result['xla_decision']})"
    return state


def run_evaluate(args):
    with user_errors_as_usage():
        result = experiment.evaluate(
            args.run_dir, args.dataset, data_dir=args.data_dir, download=args.download,
            batch_size=args.batch_size, split=args.split,
            jit_compile="auto" if args.jit_compile is None else args.jit_compile,
        )
    print(
        f"{result['dataset']} {result['split']}: accuracy {100 * result['accuracy']:.2f}% "
        f"loss {result['loss']:.4f} ({result['examples']} images, {result['source']})"
    )
    return 0
