"""The native CPU kernels: values, when they are chosen, and the fallbacks."""

import logging
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_prelu
from keras_prelu import _tf_kernels, native

NATIVE_OPS = ("KerasPreluForward", "KerasPreluBackward")


@pytest.fixture(scope="module")
def module():
    loaded = native.load()
    if loaded is None:
        pytest.skip(f"native kernels unavailable here: {native.status()}")
    return loaded


def reference(x, alpha, upstream, reduce_axes):
    x, alpha, upstream = (np.asarray(v, dtype="float64") for v in (x, alpha, upstream))
    y = np.where(x < 0, alpha * x, x)
    dx = np.where(x < 0, alpha * upstream, upstream)
    dalpha = np.where(x < 0, x * upstream, 0.0)
    if reduce_axes:
        dalpha = dalpha.sum(axis=tuple(reduce_axes), keepdims=True)
    return y, dx, dalpha.reshape(alpha.shape)


LAYOUTS = [
    ("channels_last", (4, 5, 6, 3), (1, 1, 1, 3)),
    ("channels_first", (4, 3, 5, 6), (1, 3, 1, 1)),
    ("shared", (4, 5, 6, 3), (1, 1, 1, 1)),
    ("scalar", (4, 5, 6, 3), ()),
    ("per_element", (4, 5, 6, 3), (1, 5, 6, 3)),
    ("dense", (7, 11), (1, 11)),
    ("rank5", (2, 3, 4, 5, 6), (1, 1, 1, 1, 6)),
    ("many_channels", (3, 5000), (1, 5000)),
    ("long_rows", (2, 9000, 3), (1, 1, 3)),
    ("no_channels", (3, 0), (1, 0)),
    # Several work items per (outer, channel) slice, and one long shared slice.
    ("long_channels_first", (2, 3, 90, 100), (1, 3, 1, 1)),
    ("long_shared", (3, 40, 100, 2), (1, 1, 1, 1)),
]


@pytest.mark.parametrize("slopes", [(-0.5, 1.5), (0.05, 0.9)], ids=["x_saved", "y_stands_in_for_x"])
@pytest.mark.parametrize("name,x_shape,alpha_shape", LAYOUTS, ids=[l[0] for l in LAYOUTS])
def test_native_matches_float64_reference(module, name, x_shape, alpha_shape, slopes):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype("float32")
    x.flat[::7] = 0.0  # zero counts as positive: dx = upstream, no slope gradient
    x.flat[3::11] = -0.0
    alpha = rng.uniform(*slopes, alpha_shape).astype("float32")
    upstream = rng.standard_normal(x_shape).astype("float32")
    reduce_axes = _broadcast_axes(x_shape, alpha_shape)
    xt, at = tf.constant(x), tf.constant(alpha)
    with tf.GradientTape() as tape:
        tape.watch([xt, at])
        y = _tf_kernels._native_prelu(module, xt, at)
    dx, dalpha = tape.gradient(y, [xt, at], output_gradients=tf.constant(upstream))
    want_y, want_dx, want_dalpha = reference(x, alpha, upstream, reduce_axes)
    np.testing.assert_array_equal(y.numpy(), want_y.astype("float32"))
    np.testing.assert_allclose(dx.numpy(), want_dx, rtol=1e-6, atol=1e-6)
    count = np.prod(x_shape) / max(1, np.prod(alpha_shape))
    np.testing.assert_allclose(dalpha.numpy(), want_dalpha, rtol=1e-5, atol=1e-6 * count)


def _broadcast_axes(x_shape, alpha_shape):
    alpha_shape = (1,) * (len(x_shape) - len(alpha_shape)) + tuple(alpha_shape)
    return tuple(i for i, size in enumerate(alpha_shape) if size == 1 and x_shape[i] != 1)


def test_native_handles_empty_batch_and_unknown_dims(module):
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 4], tf.float32)])
    def step(x):
        alpha = tf.fill([1, 1, 1, 4], 0.25)
        with tf.GradientTape() as tape:
            tape.watch([x, alpha])
            y = _tf_kernels.prelu(x, alpha, (0, 1, 2))
        return (y,) + tuple(tape.gradient(y, [x, alpha]))

    y, dx, dalpha = step(tf.zeros([0, 3, 3, 4]))
    assert y.shape == (0, 3, 3, 4) and dalpha.numpy().tolist() == [[[[0.0] * 4]]]
    x = -np.ones([2, 3, 5, 4], "float32")
    y, dx, dalpha = step(x)
    np.testing.assert_allclose(y.numpy(), -0.25 * np.ones_like(x))
    np.testing.assert_allclose(dalpha.numpy().ravel(), [-30.0] * 4)
    ops = _op_types(step.get_concrete_function())
    assert set(NATIVE_OPS) <= ops


def test_outputs_reusing_input_buffers_are_correct(module):
    """Forward may write y over x, backward dx over upstream, when nothing else holds them."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 9, 9, 5)).astype("float32")
    upstream = rng.standard_normal(x.shape).astype("float32")
    alpha = rng.uniform(0.1, 0.4, (5,)).astype("float32")
    dims = tf.constant([4 * 9 * 9, 5, 1], tf.int64)

    @tf.function
    def run(x, upstream):
        # Fresh buffers referenced by nothing else, so the ops may take them over.
        y, saved = module.keras_prelu_forward(x * 2.0, alpha, dims)
        dx, dalpha = module.keras_prelu_backward(y, saved, alpha, upstream * 2.0, dims)
        return y, dx, dalpha

    y, dx, dalpha = run(tf.constant(x), tf.constant(upstream))
    want_y, want_dx, want_dalpha = reference(2 * x, alpha, 2 * upstream, (0, 1, 2))
    np.testing.assert_array_equal(y.numpy(), want_y.astype("float32"))
    np.testing.assert_allclose(dx.numpy(), want_dx, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dalpha.numpy(), want_dalpha.ravel(), rtol=1e-5, atol=1e-4)


def test_the_backward_pass_reads_x_only_when_a_slope_is_out_of_range(module):
    """Slopes in [1e-6, 1e6]: `saved` is empty and the forward op may write y over x."""
    x = tf.constant(np.random.default_rng(2).standard_normal((3, 4, 2)).astype("float32"))
    dims = tf.constant([12, 2, 1], tf.int64)
    y, saved = module.keras_prelu_forward(x, tf.constant([0.25, 0.5]), dims)
    assert saved.shape == (0,)
    for out_of_range in ([0.25, 0.0], [0.25, -0.5], [2e6, 0.5], [float("nan"), 0.5]):
        y, saved = module.keras_prelu_forward(x, tf.constant(out_of_range), dims)
        np.testing.assert_array_equal(saved.numpy(), x.numpy())

    layer = keras_prelu.PReLU()
    inputs = tf.random.normal([2, 4, 4, 3])
    layer(inputs)
    graph = _step(layer, inputs).get_concrete_function().graph
    (forward,) = [op for op in graph.get_operations() if op.type == "KerasPreluForward"]
    readers = {consumer.type for consumer in forward.inputs[0].consumers()}
    assert readers <= {"KerasPreluForward", "Shape"}  # the gradient does not hold x


def _op_types(concrete):
    types = {op.type for op in concrete.graph.get_operations()}
    for function in concrete.graph.as_graph_def().library.function:
        types |= {node.op for node in function.node_def}
    return types


def _step(layer, x, jit_compile=False, with_tape=True):
    @tf.function(jit_compile=jit_compile)
    def step():
        if not with_tape:
            return layer(x)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(layer(x)))
        return tape.gradient(loss, layer.trainable_variables)

    return step


def test_training_steps_use_native_and_inference_does_not(module):
    layer = keras_prelu.PReLU()
    x = tf.random.normal([2, 4, 4, 3])
    layer(x)
    assert set(NATIVE_OPS) <= _op_types(_step(layer, x).get_concrete_function())
    inference = _op_types(_step(layer, x, with_tape=False).get_concrete_function())
    assert not inference & set(NATIVE_OPS)
    compiled = _step(layer, x, jit_compile=True)
    assert not _op_types(compiled.get_concrete_function()) & set(NATIVE_OPS)
    np.testing.assert_allclose(compiled()[0].numpy(), _step(layer, x)()[0].numpy(), rtol=1e-5)


def test_half_precision_and_non_contiguous_slopes_use_xla(module):
    x16 = tf.random.normal([2, 4, 4, 3], dtype=tf.float16)
    layer = keras_prelu.PReLU(dtype="mixed_float16")
    layer(x16)
    assert not _op_types(_step(layer, x16).get_concrete_function()) & set(NATIVE_OPS)
    assert _tf_kernels.native_layout(4, (1, 4, 1, 3)) is None  # shared_axes=[2] only
    assert _tf_kernels.native_layout(4, (1, 1, 1, 3)) == (3, 3)
    assert _tf_kernels.native_layout(4, (1, 1, 1, 1)) == (4, 3)


def test_fit_in_graph_mode_matches_xla(module):
    def losses(jit_compile):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras_prelu.PReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=jit_compile)
        rng = np.random.default_rng(0)
        x, y = rng.standard_normal((32, 6, 6, 2)).astype("float32"), rng.integers(0, 3, 32)
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"]

    np.testing.assert_allclose(losses(False), losses(True), rtol=1e-5)


@pytest.mark.parametrize("slope", [0.3, -0.2], ids=["y_stands_in_for_x", "x_saved"])
def test_second_order_gradients_match_xla(module, monkeypatch, slope):
    """A gradient penalty differentiates the backward kernel itself."""
    x = tf.constant(np.random.default_rng(1).standard_normal([4, 3, 3, 2]).astype("float32"))

    def penalty_gradients():
        layer = keras_prelu.PReLU(alpha_initializer=keras.initializers.Constant(slope))
        layer(x)

        @tf.function
        def step():
            with tf.GradientTape() as outer:
                outer.watch(x)
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    y = tf.reduce_sum(tf.square(layer(x)) * tf.reshape(tf.range(2.0) + 1, [2]))
                gx, galpha = inner.gradient(y, [x, layer.alpha])
                penalty = tf.reduce_sum(gx * gx * x) + tf.reduce_sum(galpha * galpha)
            return outer.gradient(penalty, [x] + layer.trainable_variables)

        return step(), _op_types(step.get_concrete_function())

    native_grads, native_ops = penalty_gradients()
    monkeypatch.setenv("KERAS_PRELU_NATIVE", "0")
    xla_grads, xla_ops = penalty_gradients()
    assert "KerasPreluBackward" in native_ops and "KerasPreluBackward" not in xla_ops
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in xla_grads)
    for got, want in zip(native_grads, xla_grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_saved_model_has_no_native_ops(module, tmp_path):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras_prelu.PReLU()])
    tf.saved_model.save(model, str(tmp_path / "sm"))
    assert b"KerasPrelu" not in (tmp_path / "sm" / "saved_model.pb").read_bytes()


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("KERAS_PRELU_NATIVE", "0")
    assert native.load() is None
    assert native.status() == "disabled by KERAS_PRELU_NATIVE=0"
    layer = keras_prelu.PReLU()
    x = tf.random.normal([2, 3])
    layer(x)
    assert not _op_types(_step(layer, x).get_concrete_function()) & set(NATIVE_OPS)


def test_compile_failure_is_reported_and_falls_back(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("KERAS_PRELU_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "false")
    with pytest.raises(RuntimeError, match="failed"):
        native.compile_library(tmp_path / "k.so")
    assert os.listdir(tmp_path) == []  # no half-written library left behind
    monkeypatch.setattr(native, "_state", {"loaded": False, "module": None, "reason": ""})
    with caplog.at_level(logging.WARNING, logger="keras_prelu"):
        assert native.load() is None
        assert native.load() is None
    assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
    assert "RuntimeError" in native.status()


PLANTED = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void planted(void) {
    FILE *marker = fopen(getenv("PLANTED_MARKER"), "w");
    if (marker) { fputs("ran", marker); fclose(marker); }
}
"""


def test_a_truncated_or_foreign_library_is_never_loaded(tmp_path):
    """A planted library (with a constructor) in place of the built one is rebuilt, not loaded."""
    import shutil
    import subprocess
    import sys

    from conftest import python_env

    if native.find_compiler() is None or shutil.which("cc") is None:
        pytest.skip("needs a C and a C++ compiler")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    target = cache / native.library_path().name
    (tmp_path / "planted.c").write_text(PLANTED)
    built = subprocess.run(["cc", "-shared", "-fPIC", str(tmp_path / "planted.c"), "-o", str(target)],
                           capture_output=True, text=True)
    if built.returncode != 0:
        pytest.skip(f"cannot build the planted library: {built.stderr[-300:]}")
    native.digest_path(target).write_text("0" * 64 + "\n")  # a digest that does not match
    marker = tmp_path / "marker"
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "import numpy as np, tensorflow as tf\n"
        "from keras_prelu import native\n"
        "module = native.load()\n"
        "x = tf.constant([[-2.0, 3.0]])\n"
        "dims = tf.constant([1, 2, 1], tf.int64)\n"
        "print('VALUES', module.keras_prelu_forward(x, tf.constant([0.25, 0.5]), dims)[0].numpy().tolist())\n"
    )
    env = python_env(KERAS_PRELU_CACHE_DIR=str(cache), PLANTED_MARKER=str(marker))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "VALUES [[-0.5, 3.0]]" in run.stdout
    assert "does not match the digest" in run.stdout + run.stderr
    assert not marker.exists()  # the planted constructor never ran
    assert native.verified(target)
    # Truncation is a mismatch too (it used to kill training with SIGBUS).
    target.write_bytes(target.read_bytes()[:1000])
    assert not native.verified(target)


def test_a_shared_cache_folder_is_refused_with_one_warning(monkeypatch, tmp_path, caplog):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("KERAS_PRELU_CACHE_DIR", str(shared))
    monkeypatch.setattr(native, "_state", {"loaded": False, "module": None, "reason": ""})
    with caplog.at_level(logging.WARNING, logger="keras_prelu"):
        assert native.load() is None
        assert native.load() is None
    assert len([r for r in caplog.records if "writable by group or others" in r.getMessage()]) == 1
    assert list(shared.iterdir()) == []  # nothing built or loaded there
