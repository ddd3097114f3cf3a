"""keras_prelu.ops against NumPy float64 references and numerical differentiation."""

import numpy as np
import pytest
import tensorflow as tf

from keras_prelu import ops


def prelu_reference(x, alpha):
    return np.where(x >= 0, x, alpha * x)


def prelu_gradients_reference(x, alpha, upstream):
    """dx and dalpha (summed over broadcast axes to alpha's shape), float64."""
    dx = np.where(x >= 0, upstream, alpha * upstream)
    full = np.where(x < 0, x * upstream, 0.0)
    alpha = np.asarray(alpha)
    lead = full.ndim - alpha.ndim
    full = full.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, size in enumerate(alpha.shape) if size == 1 and full.shape[i] != 1)
    return dx, full.sum(axis=axes, keepdims=True).reshape(alpha.shape)


ALPHA_CASES = [
    ("per_channel", (4, 5, 6, 3), lambda rng: rng.uniform(0.05, 0.5, (3,))),
    ("shared", (4, 5, 6, 3), lambda rng: rng.uniform(0.05, 0.5, (1,))),
    ("channels_first", (4, 3, 5, 6), lambda rng: rng.uniform(0.05, 0.5, (3, 1, 1))),
    ("per_element", (4, 5, 3), lambda rng: rng.uniform(0.05, 0.5, (5, 3))),
    ("dense", (7, 9), lambda rng: rng.uniform(-0.5, 0.5, (9,))),
]


@pytest.mark.parametrize("name,shape,make_alpha", ALPHA_CASES, ids=[c[0] for c in ALPHA_CASES])
@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_prelu_matches_numpy_forward_and_gradients(name, shape, make_alpha, mode):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    alpha = make_alpha(rng)
    upstream = rng.standard_normal(shape)

    def forward_backward(x_t, a_t, g_t):
        with tf.GradientTape() as tape:
            tape.watch([x_t, a_t])
            y = ops.prelu(x_t, a_t)
        return (y,) + tuple(tape.gradient(y, [x_t, a_t], output_gradients=g_t))

    fn = forward_backward
    if mode != "eager":
        fn = tf.function(forward_backward, jit_compile=(mode == "xla"))
    y, dx, dalpha = fn(
        tf.constant(x, tf.float32), tf.constant(alpha, tf.float32), tf.constant(upstream, tf.float32)
    )
    dx_ref, dalpha_ref = prelu_gradients_reference(x, alpha, upstream)
    np.testing.assert_allclose(y.numpy(), prelu_reference(x, alpha), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx.numpy(), dx_ref, rtol=1e-6, atol=1e-6)
    assert dalpha.shape == alpha.shape
    np.testing.assert_allclose(dalpha.numpy(), dalpha_ref, rtol=1e-5, atol=1e-5)


def _xla_functions(concrete):
    return [f.signature.name for f in concrete.graph.as_graph_def().library.function
            if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b]


SLOPE_RANGES = {"in_unit_interval": (0.05, 0.95), "zero": (0.0, 0.0), "negative": (-0.5, 0.5),
                "above_one": (0.5, 1.5)}


@pytest.mark.parametrize("slopes", sorted(SLOPE_RANGES))
def test_inference_graphs_are_plain_ops_equal_to_numpy_and_differentiable(slopes):
    """Without a tape PReLU is plain TensorFlow (no XLA cluster), bit-equal to NumPy in float32
    for slopes in (0, 1) (`maximum(x, alpha * x)`) and any others (the select form), also at
    +-inf and -0."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 5, 4)).astype("float32")
    x[0, 0, :] = [np.inf, -np.inf, -0.0, 0.0]
    low, high = SLOPE_RANGES[slopes]
    alpha = tf.Variable(rng.uniform(low, high, (4,)).astype("float32"))
    with np.errstate(invalid="ignore"):  # 0 * -inf
        want = np.where(x < 0, alpha.numpy() * x, x)

    @tf.function
    def infer(x_t):
        return ops.prelu(x_t, alpha)

    concrete = infer.get_concrete_function(tf.TensorSpec((None, 5, 4)))
    assert _xla_functions(concrete) == []
    np.testing.assert_array_equal(infer(x).numpy(), want)
    np.testing.assert_array_equal(ops.prelu(x, alpha).numpy(), want)  # eager, no tape

    finite = rng.standard_normal((6, 5, 4)).astype("float32")
    upstream = rng.standard_normal(finite.shape).astype("float32")
    x_t = tf.constant(finite)
    with tf.GradientTape() as tape:  # the graph traced without a tape, differentiated
        tape.watch(x_t)
        y = infer(x_t)
    dx, dalpha = tape.gradient(y, [x_t, alpha], output_gradients=tf.constant(upstream))
    dx_ref, dalpha_ref = prelu_gradients_reference(finite, alpha.numpy(), upstream)
    np.testing.assert_allclose(dx.numpy(), dx_ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dalpha.numpy(), dalpha_ref, rtol=1e-5, atol=1e-5)


def test_prelu_gradients_match_numerical_differentiation():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 2))
    x[np.abs(x) < 1e-2] = 0.5  # keep away from the kink at 0
    alpha = np.array([0.2, 0.7])
    (numeric, analytic) = tf.test.compute_gradient(
        lambda x_t, a_t: ops.prelu(x_t, a_t),
        [tf.constant(x, tf.float64), tf.constant(alpha, tf.float64)],
        delta=1e-6,
    )
    for n, a in zip(numeric, analytic):
        np.testing.assert_allclose(a, n, rtol=1e-6, atol=1e-6)


def test_prelu_gradient_of_alpha_is_zero_without_negative_inputs():
    x = tf.constant(np.abs(np.random.default_rng(3).standard_normal((8, 4))) + 0.1, tf.float32)
    alpha = tf.Variable([0.25] * 4)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(ops.prelu(x, alpha))
    np.testing.assert_array_equal(tape.gradient(y, alpha).numpy(), np.zeros(4))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_prelu_keeps_input_dtype_with_float32_alpha(dtype):
    x = tf.cast(tf.constant([[-2.0, 1.0], [3.0, -4.0]]), dtype)
    y = ops.prelu(x, tf.constant([0.5, 0.25]))
    assert y.dtype == x.dtype
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), [[-1.0, 1.0], [3.0, -1.0]])


def test_prelu_rejects_integer_input():
    with pytest.raises(ValueError, match="floating-point.*Received: x.dtype=int32"):
        ops.prelu(tf.constant([1, -1]), 0.25)


def test_leaky_relu_matches_numpy_and_defaults_to_maas_slope():
    x = np.linspace(-3, 3, 13).astype("float32")
    np.testing.assert_allclose(ops.leaky_relu(x).numpy(), np.where(x >= 0, x, 0.01 * x), rtol=1e-6)
    np.testing.assert_allclose(
        ops.leaky_relu(x, 0.2).numpy(), np.where(x >= 0, x, 0.2 * x), rtol=1e-6
    )


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "0.1", None])
def test_leaky_relu_rejects_bad_slopes(bad):
    with pytest.raises(ValueError, match="negative_slope"):
        ops.leaky_relu(np.ones(3, "float32"), bad)


def test_prelu_inverse_round_trips():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3)).astype("float32")
    alpha = np.array([0.1, 0.25, 2.0], "float32")
    y = ops.prelu(x, alpha)
    np.testing.assert_allclose(ops.prelu_inverse(y, alpha).numpy(), x, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, -0.3, [0.2, 0.0]])
def test_prelu_inverse_refuses_non_positive_slopes(alpha):
    with pytest.raises(ValueError, match="not invertible"):
        ops.prelu_inverse(np.ones((2, 2), "float32"), np.asarray(alpha, "float32"))


def test_constant_slopes_replace_the_variable_while_tracing():
    import keras

    alpha = keras.Variable(np.full((3,), 0.25, "float32"))
    x = tf.constant(np.linspace(-2, 2, 12, dtype="float32").reshape(4, 3))
    with ops.constant_slopes([(alpha, np.array([0.1, 0.2, 0.3], "float32"))]):
        frozen = tf.function(lambda x: ops.prelu(x, alpha))
        frozen(x)  # traced inside the block
    live = tf.function(lambda x: ops.prelu(x, alpha))
    alpha.assign(np.full((3,), 0.5, "float32"))
    want = np.where(x.numpy() < 0, x.numpy() * np.array([0.1, 0.2, 0.3], "float32"), x.numpy())
    np.testing.assert_array_equal(frozen(x).numpy(), want)
    np.testing.assert_array_equal(live(x).numpy(), np.where(x.numpy() < 0, 0.5 * x.numpy(), x.numpy()))
    graph = frozen.get_concrete_function(x).graph
    assert not {"If", "StatelessIf"} & {op.type for op in graph.get_operations()}
