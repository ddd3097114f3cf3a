"""Training throughput of ResNet-20 (batch 128, CIFAR-shaped data): this project's loop against
`model.fit` and against PyTorch eager, in one process, in alternating rounds.

    python benchmarks/train_throughput.py                  # about 4-6 minutes on a 2-core CPU
    python benchmarks/train_throughput.py --loop-modes default,graph,xla

For the ReLU and the PReLU ResNet-20 of the zoo it builds a fresh model per
runner: `model.fit` in graph mode and with `jit_compile=True`,
`keras_prelu.training.Trainer` as `keras-prelu train` runs it
(`jit_compile="auto"`, or the modes asked for), and, when `torch` is
importable (`pip install -e ".[bench]"`), the same network in PyTorch eager
(`benchmarks/torch_resnet.py`: option-A shortcuts, per-channel PReLU 0.25 or
ReLU, SGD with momentum) on `--threads` threads. Each runner is warmed up
(traced, compiled), then every round times `--steps` steps of each runner in
turn, so load on a shared machine hits them alike. Reported: the median
images/s per runner with its windows, and each ratio as the median over
rounds of the ratio of two runners' windows of the same round, with the
range of those ratios:
  - loop / best model.fit, per model                         (target >= 1.0)
  - loop PReLU step time / loop ReLU step time               (target <= 1.05)
  - loop images/s / PyTorch eager images/s, PReLU and ReLU   (target >= 1.0)
Like the `keras-prelu` command, it turns TensorFlow's oneDNN CPU kernels on
unless TF_ENABLE_ONEDNN_OPTS is set (`--onednn 0` to compare).
"""

import argparse
import os
import statistics
import sys
import time

from rounds import same_round_ratio  # benchmarks/rounds.py (no TensorFlow import)


def _parse():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per window")
    parser.add_argument("--repeats", type=int, default=7, help="timed windows per runner")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", default="resnet20_relu,resnet20_prelu")
    parser.add_argument("--fit-modes", default="graph,xla", help="model.fit modes to time")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's intra-op threads")
    parser.add_argument("--onednn", choices=("1", "0"), default=None,
                        help="TF_ENABLE_ONEDNN_OPTS (default: as the keras-prelu command: 1 unless set)")
    parser.add_argument("--loop-modes", default="default",
                        help="loop modes: 'default' (jit_compile='auto': the faster mode, timed on the "
                        "first steps), graph, xla")
    return parser.parse_args()


def main():
    args = _parse()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.onednn is not None:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = args.onednn
    else:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
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

    runners.update(_torch_runners(args))

    times = {key: [] for key in runners}
    for _ in range(args.repeats):
        for key, run in runners.items():
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)
    _report(args, times, compile_seconds, autotune, load_before, training, tf, keras)


def _torch_runners(args):
    """PyTorch eager runners for the same ResNet-20 (empty when torch is not importable)."""
    try:
        import torch

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_resnet import CifarResNet
    except ImportError as error:
        print(f"PyTorch not timed: {error}", file=sys.stderr)
        return {}
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch_size, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch_size,))
    runners = {}
    for kind in ("relu", "prelu"):
        if f"resnet20_{kind}" not in args.models.split(","):
            continue
        model = CifarResNet(20, kind).train()
        slopes = [m.weight for m in model.modules() if isinstance(m, torch.nn.PReLU)]
        others = [p for p in model.parameters() if all(p is not s for s in slopes)]
        optimizer = torch.optim.SGD([{"params": others, "weight_decay": 1e-3},
                                     {"params": slopes, "weight_decay": 0.0}], lr=0.1, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def run(model=model, optimizer=optimizer, steps=args.steps):
            for _ in range(steps):
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(x), y).backward()
                optimizer.step()

        run(steps=2)  # warm-up
        runners[(f"resnet20_{kind}", "pytorch eager")] = run
    return runners


def _ratio_text(times, slower, faster):
    """Median over rounds of time(slower) / time(faster), [min, max] of those ratios."""
    return same_round_ratio(times[slower], times[faster])


def _report(args, times, compile_seconds, autotune, load_before, training, tf, keras):
    images = args.batch_size * args.steps
    median = {key: images / statistics.median(t) for key, t in times.items()}
    print(f"ResNet-20 training throughput, batch {args.batch_size}, {args.steps} steps x {args.repeats} "
          f"rounds per runner (median of windows); device {training.device_type()}, "
          f"{os.cpu_count()} CPUs, TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}")
    chosen = ", ".join(f"{name} -> {mode}" for name, mode in autotune.items())
    print(f"load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f}; "
          f"loop 'default' = jit_compile='auto' ({chosen or 'not run'})")
    print(f"{'model':<16} {'runner':<14} {'median img/s':>12} {'windows (images/s)':>30} {'warm-up s':>10}")
    for key in times:
        windows = " ".join(f"{images / t:.0f}" for t in times[key])
        warm = compile_seconds.get(key)
        print(f"{key[0]:<16} {key[1]:<14} {median[key]:>12.1f} {windows:>30} "
              f"{'' if warm is None else f'{warm:.1f}':>10}")
    print("ratios: median of same-round ratios [min, max]")
    models = args.models.split(",")
    loop_modes = args.loop_modes.split(",")
    for name in models:
        best_fit = max(((name, f"fit {m}") for m in args.fit_modes.split(",")), key=median.get)
        for mode in loop_modes:
            med, low, high = _ratio_text(times, best_fit, (name, f"loop {mode}"))
            print(f"  {name}: loop {mode} / model.fit ({best_fit[1]}) = {med:.2f} [{low:.2f}, {high:.2f}]"
                  "   (target >= 1.0)")
    relu = next((m for m in models if m.endswith("_relu")), None)
    prelu = next((m for m in models if m.endswith("_prelu")), None)
    if relu and prelu:
        for mode in loop_modes:
            med, low, high = _ratio_text(times, (prelu, f"loop {mode}"), (relu, f"loop {mode}"))
            print(f"  loop {mode}: PReLU step time / ReLU step time = {med:.2f} [{low:.2f}, {high:.2f}]"
                  "   (target <= 1.05)")
    for name in models:
        torch_key = (name, "pytorch eager")
        if torch_key not in times:
            continue
        for mode in loop_modes:
            med, low, high = _ratio_text(times, torch_key, (name, f"loop {mode}"))
            print(f"  {name}: loop {mode} / PyTorch eager = {med:.2f} [{low:.2f}, {high:.2f}]"
                  "   (target >= 1.0)")


if __name__ == "__main__":
    main()
