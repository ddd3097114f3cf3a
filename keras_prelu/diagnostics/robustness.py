"""Gradient masking and adversarial robustness: zero input gradients, FGSM and PGD curves.

A ReLU passes no gradient where its input is negative, so parts of the input
gradient are exactly zero ("masked"): gradient-based attacks see nothing
there. PReLU keeps a slope `a > 0` on the negative side and with it non-zero
input gradients.

    zero_input_gradient_fraction(model, x, y)          # share of exact zeros in dL/dx
    fgsm_accuracy(model, test_ds, [0, 0.01, 0.03])     # a RobustnessCurve
    pgd_accuracy(model, test_ds, [0, 0.01, 0.03], steps=5)

The loss is `loss` if given, else the model's compiled loss, else a
cross-entropy chosen from the labels (sparse or one-hot, binary for one
output unit), on logits unless the output layer ends in softmax or sigmoid
(`from_logits` overrides). All gradients are taken in inference mode: on
TensorFlow in compiled `tf.function`s, on JAX and PyTorch batch by batch
through `_gradients.value_and_grad` (the same numbers up to float rounding).
"""

import dataclasses
import weakref

import keras
import numpy as np
from keras import ops

from keras_prelu.utils.backends import is_tensorflow
from keras_prelu.utils.models import outputs_are_probabilities
from keras_prelu.utils.validation import check_int, check_number
from keras_prelu.diagnostics import _cache, _data, _gradients


@dataclasses.dataclass
class RobustnessCurve:
    """Accuracy under attack for each epsilon (L-infinity budget)."""

    attack: str
    epsilons: list
    accuracy: list
    examples: int
    steps: int = 1

    @property
    def clean_accuracy(self):
        """Accuracy at epsilon 0, if 0 was among the epsilons."""
        for eps, acc in zip(self.epsilons, self.accuracy, strict=True):
            if eps == 0:
                return acc
        return None

    def to_dict(self):
        return dataclasses.asdict(self)

    def __str__(self):
        pairs = ", ".join(
            f"{e:g}: {a:.4f}" for e, a in zip(self.epsilons, self.accuracy, strict=True)
        )
        return f"{self.attack} accuracy by epsilon ({self.examples} examples): {pairs}"


def _make_loss(model_ref, loss, from_logits):
    """A function (y, y_pred) -> scalar loss, and whether predictions are logits.

    `model_ref` is a weak reference: compiled functions are cached per model
    and must not keep it alive.
    """
    model = model_ref()
    logits = (not outputs_are_probabilities(model)) if from_logits is None else bool(from_logits)
    if loss is not None:
        fn = keras.losses.get(loss)
        return (lambda y, p: ops.mean(fn(y, p))), logits
    if getattr(model, "compiled", False) and getattr(model, "loss", None) is not None:
        return (lambda y, p: model_ref().compute_loss(y=y, y_pred=p, training=False)), logits

    def default(y, p):
        if p.shape[-1] == 1:
            return ops.mean(
                keras.losses.binary_crossentropy(
                    ops.reshape(ops.cast(y, p.dtype), ops.shape(p)), p, from_logits=logits
                )
            )
        if len(y.shape) == len(p.shape) and y.shape[-1] == p.shape[-1]:
            return ops.mean(
                keras.losses.categorical_crossentropy(ops.cast(y, p.dtype), p, from_logits=logits)
            )
        return ops.mean(
            keras.losses.sparse_categorical_crossentropy(y, p, from_logits=logits)
        )

    return default, logits


def _correct(y, p, logits):
    """Per-example 1.0/0.0: the prediction's class equals the label's (TensorFlow tensors)."""
    import tensorflow as tf

    if p.shape[-1] == 1:
        threshold = 0.0 if logits else 0.5
        predicted = tf.cast(tf.reshape(p, [-1]) > threshold, tf.int64)
        truth = tf.cast(tf.reshape(y, [-1]) > 0.5, tf.int64)
    else:
        predicted = tf.argmax(p, axis=-1)
        if y.shape.rank == p.shape.rank and y.shape[-1] == p.shape[-1]:
            truth = tf.argmax(y, axis=-1)
        else:
            truth = tf.cast(tf.reshape(y, [-1]), tf.int64)
    return tf.cast(tf.equal(predicted, truth), tf.float64)


def _correct_numpy(y, p, logits):
    """`_correct` of NumPy arrays: the number of examples classified correctly."""
    y, p = np.asarray(y), np.asarray(p)
    if p.shape[-1] == 1:
        predicted = p.reshape(-1) > (0.0 if logits else 0.5)
        truth = y.reshape(-1) > 0.5
    else:
        predicted = np.argmax(p, axis=-1)
        if y.ndim == p.ndim and y.shape[-1] == p.shape[-1]:
            truth = np.argmax(y, axis=-1)
        else:
            truth = y.reshape(-1).astype(np.int64)
    return int(np.sum(predicted == truth))


def _single_input(model, x):
    if isinstance(x, (dict, list, tuple)):
        raise ValueError(
            "Adversarial attacks here support single-input models. "
            f"Received: x of type {type(x).__name__}"
        )


def _check_epsilons(epsilons):
    if np.ndim(epsilons) == 0:
        epsilons = [epsilons]
    values = [check_number("epsilons", e, minimum=0.0) for e in epsilons]
    if not values:
        raise ValueError(f"`epsilons` must not be empty. Received: epsilons={epsilons!r}")
    return values


def _clip(x, clip_values):
    if clip_values is None:
        return x
    low, high = clip_values
    if isinstance(x, np.ndarray):
        return np.clip(x, np.asarray(low, x.dtype), np.asarray(high, x.dtype))
    import tensorflow as tf

    return tf.clip_by_value(x, tf.cast(low, x.dtype), tf.cast(high, x.dtype))


def _check_clip(clip_values):
    if clip_values is None:
        return None
    if len(clip_values) != 2 or not clip_values[0] < clip_values[1]:
        raise ValueError(
            f"`clip_values` must be (low, high) with low < high. Received: clip_values={clip_values!r}"
        )
    return (float(clip_values[0]), float(clip_values[1]))


def zero_input_gradient_fraction(model, x, y=None, loss=None, from_logits=None, seed=0):
    """Fraction of exactly-zero entries of the input gradient on a batch.

    With labels `y` the gradient is that of the loss; without, that of a fixed
    random projection of the outputs, `sum(r * outputs)` with `r ~ N(0, 1)`
    (a plain sum of outputs would have zero gradient through a softmax).
    """
    x, y_in, _ = _data.unpack(x) if isinstance(x, tuple) else (x, None, None)
    y = y_in if y is None else y
    _single_input(model, x)
    x = np.asarray(keras.ops.convert_to_numpy(x), dtype=keras.config.floatx())
    y = None if y is None else keras.ops.convert_to_numpy(y)
    key = ("zero_gradient", _cache.loss_key(loss), from_logits, int(seed), y is not None)
    make = _zero_fraction_eager
    if is_tensorflow():
        import tensorflow as tf

        make, x = _zero_fraction_fn, tf.convert_to_tensor(x)
        y = None if y is None else tf.convert_to_tensor(y)
    gradient = _cache.cached(
        model, key, lambda: make(weakref.ref(model), y is not None, loss, from_logits, seed)
    )
    return float(gradient(x, y))


def _zero_fraction_eager(model_ref, has_labels, loss, from_logits, seed):
    """`_zero_fraction_fn` for JAX and PyTorch; `r` is drawn by NumPy from `seed`."""
    loss_fn = _make_loss(model_ref, loss, from_logits)[0] if has_labels else None

    def objective(x, y):
        p = model_ref()(x, training=False)
        if y is None:
            r = np.random.default_rng(seed).standard_normal(tuple(p.shape))
            return ops.sum(ops.cast(p, "float32") * ops.convert_to_tensor(r, "float32"))
        return loss_fn(y, p)

    compiled = _gradients.gradient_function(objective, state_of=lambda: model_ref().variables)

    def gradient(x, y):
        _, (grad,), _ = compiled([x], [y])
        return float(np.mean(ops.convert_to_numpy(grad) == 0))

    return gradient


def _zero_fraction_fn(model_ref, has_labels, loss, from_logits, seed):
    import tensorflow as tf

    loss_fn = _make_loss(model_ref, loss, from_logits)[0] if has_labels else None

    @tf.function(reduce_retracing=True)
    def gradient(x, y):
        with tf.GradientTape() as tape:
            tape.watch(x)
            p = model_ref()(x, training=False)
            if y is None:
                objective = tf.reduce_sum(
                    tf.cast(p, tf.float32) * tf.random.stateless_normal(tf.shape(p), seed=[seed, 0])
                )
            else:
                objective = loss_fn(y, p)
        grad = tape.gradient(objective, x)
        return tf.reduce_mean(tf.cast(tf.equal(grad, 0), tf.float64))

    return gradient


def _attack_curve(model, data, epsilons, step, name, steps, batch_size):
    correct = np.zeros(len(epsilons))
    total = 0
    if is_tensorflow():
        import tensorflow as tf

        batches = (_data.unpack(batch) for batch in _data.as_dataset(data, batch_size))
    else:
        batches = _data.batches(data, batch_size)
    for x, y, _ in batches:
        if y is None:
            raise ValueError(
                f"{name} needs labels: pass (x, y) data. Received: data without labels"
            )
        _single_input(model, x)
        if is_tensorflow():
            counts = step(x, y, tf.constant(epsilons, x.dtype))
        else:
            counts = step(x, y, epsilons)
        correct += np.asarray(counts)
        total += int(x.shape[0])
    if total == 0:
        raise ValueError("The data is empty. Received: data with no batches")
    return RobustnessCurve(name, epsilons, [float(c / total) for c in correct], total, steps)


def _input_gradient(model, loss_fn, x, y):
    """dL/dx in inference mode (a tape on TensorFlow, also inside a `tf.function`)."""
    _, (grad,), _ = _gradients.value_and_grad(
        lambda x: loss_fn(y, model(x, training=False)), [x]
    )
    return grad


def _eager_attack_fn(model_ref, loss, from_logits, clip_values, steps, step_size, projected):
    """The FGSM (`projected=False`, one step) or PGD step of one NumPy batch, for JAX and
    PyTorch: the TensorFlow steps' arithmetic in the input's dtype; correct counts per epsilon."""
    loss_fn, logits = _make_loss(model_ref, loss, from_logits)
    gradient = _gradients.gradient_function(
        lambda x, y: loss_fn(y, model_ref()(x, training=False)),
        state_of=lambda: model_ref().variables,
    )

    def attack_step(x, y, epsilons):
        model = model_ref()
        x = np.asarray(x)
        real = x.dtype.type

        def direction(at):
            _, (grad,), _ = gradient([at], [y])
            return np.sign(ops.convert_to_numpy(grad))

        first = None if projected else direction(x)
        counts = []
        for eps in epsilons:
            eps = real(eps)
            if projected:
                alpha = real(2.5) * eps / real(steps) if step_size is None else real(step_size)
                adversarial = x
                for _ in range(steps):
                    step = adversarial + alpha * direction(adversarial) - x
                    adversarial = _clip(x + np.clip(step, -eps, eps), clip_values)
            else:
                adversarial = _clip(x + eps * first, clip_values)
            predictions = model.predict_on_batch(adversarial)
            counts.append(_correct_numpy(y, predictions, logits))
        return counts

    return attack_step


def _fgsm_fn(model_ref, loss, from_logits, clip_values):
    import tensorflow as tf

    loss_fn, logits = _make_loss(model_ref, loss, from_logits)

    @tf.function(reduce_retracing=True)
    def fgsm_step(x, y, epsilons):
        model = model_ref()
        direction = tf.sign(_input_gradient(model, loss_fn, x, y))

        def correct_at(eps):
            adversarial = _clip(x + eps * direction, clip_values)
            return tf.reduce_sum(_correct(y, model(adversarial, training=False), logits))

        return tf.map_fn(correct_at, epsilons, fn_output_signature=tf.float64)

    return fgsm_step


def fgsm_accuracy(
    model, data, epsilons, loss=None, from_logits=None, clip_values=None, batch_size=128
):
    """Accuracy under the fast gradient sign attack `x + eps * sign(dL/dx)` for each epsilon.

    Args:
        model: a classifier (single input).
        data: labelled data: a batched `tf.data.Dataset` of (x, y) or in-memory (x, y).
        epsilons: L-infinity budgets (0 gives the clean accuracy).
        loss, from_logits: see the module docstring.
        clip_values: (low, high) valid input range, or None.
        batch_size: for in-memory data.

    Returns:
        A `RobustnessCurve`.
    """
    epsilons = _check_epsilons(epsilons)
    clip_values = _check_clip(clip_values)
    key = ("fgsm", _cache.loss_key(loss), from_logits, clip_values)

    def make():
        if is_tensorflow():
            return _fgsm_fn(weakref.ref(model), loss, from_logits, clip_values)
        return _eager_attack_fn(weakref.ref(model), loss, from_logits, clip_values, 1, None,
                                projected=False)

    step = _cache.cached(model, key, make)
    return _attack_curve(model, data, epsilons, step, "fgsm", 1, batch_size)


def _pgd_fn(model_ref, loss, from_logits, clip_values, steps, step_size):
    import tensorflow as tf

    loss_fn, logits = _make_loss(model_ref, loss, from_logits)

    @tf.function(reduce_retracing=True)
    def pgd_step(x, y, epsilons):
        model = model_ref()

        def correct_at(eps):
            alpha = 2.5 * eps / steps if step_size is None else tf.cast(step_size, x.dtype)
            adversarial = x
            for _ in tf.range(steps):
                direction = tf.sign(_input_gradient(model, loss_fn, adversarial, y))
                adversarial = x + tf.clip_by_value(adversarial + alpha * direction - x, -eps, eps)
                adversarial = _clip(adversarial, clip_values)
            return tf.reduce_sum(_correct(y, model(adversarial, training=False), logits))

        return tf.map_fn(correct_at, epsilons, fn_output_signature=tf.float64)

    return pgd_step


def pgd_accuracy(
    model,
    data,
    epsilons,
    steps=5,
    step_size=None,
    loss=None,
    from_logits=None,
    clip_values=None,
    batch_size=128,
):
    """Accuracy under projected gradient descent (L-infinity, Madry et al. 2018).

    Starts at `x` (no random start, so epsilon 0 is the clean accuracy), takes
    `steps` signed-gradient steps of `step_size` (default `2.5 * eps / steps`)
    and projects back into the epsilon ball (and `clip_values`) after each.
    Other arguments as for `fgsm_accuracy`.
    """
    check_int("steps", steps, minimum=1)
    if step_size is not None:
        step_size = check_number("step_size", step_size, minimum=0.0, strict_minimum=True)
    epsilons = _check_epsilons(epsilons)
    clip_values = _check_clip(clip_values)
    key = ("pgd", _cache.loss_key(loss), from_logits, clip_values, steps, step_size)
    def make():
        args = (weakref.ref(model), loss, from_logits, clip_values, steps, step_size)
        return _pgd_fn(*args) if is_tensorflow() else _eager_attack_fn(*args, projected=True)

    step = _cache.cached(model, key, make)
    return _attack_curve(model, data, epsilons, step, "pgd", steps, batch_size)
