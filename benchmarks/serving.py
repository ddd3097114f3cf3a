"""Inference latency of the PReLU ResNet-20 against its ReLU twin: in-process graph mode and an
exported SavedModel served with plain TensorFlow (plain and XLA-compiled), at batch 1 and 128.

    python benchmarks/serving.py [--rounds 15] [--calls 20]
    python benchmarks/serving.py --models resnet20_relu,resnet20_prelu_shared

Both zoo models (A, the baseline, and B; default the ReLU and the per-channel
PReLU ResNet-20) get random weights (PReLU slopes drawn around 0.25, moving
variances around 1), are exported with `keras_prelu.export.export_model`
(verified against Keras), plain and with `jit_compile=True`, and loaded back
with `tf.saved_model.load`. Each case times `--calls` calls per round; B and A
alternate within a round, and the ratio reported is the median over rounds of
B's time / A's time in the same round, with its range. Target
(../shared/PRODUCT.md): SavedModel PReLU / ReLU <= 1.10 at batch 1 and 128.
"""

import argparse
import os
import statistics
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the keras-prelu command does

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
from keras_prelu.export import export_model  # noqa: E402
from rounds import same_round_ratio, time_in_rounds  # noqa: E402

MODELS = "resnet20_relu,resnet20_prelu"  # the baseline, then the model timed against it


def _model(name):
    model = zoo.get(name)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        if variable.path.endswith("alpha"):
            variable.assign(rng.uniform(0.1, 0.4, variable.shape).astype("float32"))
        elif variable.path.endswith("moving_variance"):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    return model


def _cases(folder, batches, models):
    """{(kind, batch, model name): a no-argument callable running one inference}."""
    cases = {}
    for name in models:
        model = _model(name)
        graph = tf.function(lambda x, model=model: model(x, training=False))
        served = {}
        for kind, jit_compile in (("saved_model", False), ("saved_model xla", True)):
            target = os.path.join(folder, f"{name}-{jit_compile}")
            export_model(model, target, "saved_model", jit_compile=jit_compile)
            served[kind] = tf.saved_model.load(target).signatures["serve"]
        input_name = list(served["saved_model"].structured_input_signature[1])[0]
        for batch in batches:
            x = tf.constant(np.random.default_rng(1).normal(size=(batch, 32, 32, 3)).astype("float32"))
            cases[("graph", batch, name)] = lambda graph=graph, x=x: graph(x)
            for kind, signature in served.items():
                cases[(kind, batch, name)] = (
                    lambda served=signature, x=x, key=input_name: served(**{key: x}))
    return cases


def _time(cases, rounds, calls):
    def wait(out):
        np.asarray(next(iter(out.values())) if isinstance(out, dict) else out)

    return time_in_rounds(cases, rounds, calls, wait)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--batches", default="1,128")
    parser.add_argument("--models", default=MODELS,
                        help="the baseline zoo model, then the one timed against it "
                        "(e.g. resnet20_relu,resnet20_prelu_shared)")
    args = parser.parse_args()
    if len(args.models.split(",")) != 2:
        parser.error(f"--models takes two zoo names, A,B. Received: {args.models!r}")
    base, other = args.models.split(",")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        cases = _cases(folder, [int(b) for b in args.batches.split(",")], (base, other))
        print("timing", file=sys.stderr, flush=True)
        times = _time(cases, args.rounds, args.calls)
    print(f"ResNet-20 inference, {args.rounds} rounds x {args.calls} calls; TensorFlow {tf.__version__}, "
          f"{os.cpu_count()} CPUs, TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}, "
          f"load average before/after {load_before:.2f} / {os.getloadavg()[0]:.2f}")
    print(f"A = {base}, B = {other}")
    print(f"{'kind':<16} {'batch':>5} {'A ms':>8} {'B ms':>9} {'B/A [min, max]':>24}")
    for kind, batch, _ in [k for k in cases if k[2] == base]:
        a, b = times[(kind, batch, base)], times[(kind, batch, other)]
        median, low, high = same_round_ratio(b, a)
        verdict = "" if not kind.startswith("saved_model") else (
            "   MET (<= 1.10)" if median <= 1.10 else "   MISSED (<= 1.10)")
        print(f"{kind:<16} {batch:>5} {1000 * statistics.median(a):>8.2f} "
              f"{1000 * statistics.median(b):>9.2f} {median:>9.2f} "
              f"[{low:.2f}, {high:.2f}]{verdict}")


if __name__ == "__main__":
    main()
