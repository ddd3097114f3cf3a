"""Value and gradients of a scalar function on TensorFlow, JAX and PyTorch.

    value, input_grads, variable_grads = value_and_grad(fn, [x], model.trainable_weights)

`fn(*inputs)` is any scalar computation built on Keras layers and `keras.ops`;
`inputs` are arrays or tensors (the gradient is taken with respect to them)
and `variables` Keras variables. The backend decides how:

- TensorFlow: `tf.GradientTape` (it also runs inside a `tf.function`, which is
  how the diagnostics compile their passes on TensorFlow);
- JAX: `jax.value_and_grad` of a pure function of the inputs and the
  variables' values, which the variables read through a `keras.StatelessScope`;
- PyTorch: `torch.autograd.grad` with respect to leaf copies of the inputs and
  the variables' tensors.

On JAX and PyTorch `fn` runs inside a `keras.StatelessScope`, so whatever it
assigns (BatchNormalization's moving statistics in training mode, a seed
generator's state) is dropped: the model is left as it was. Gradients come
back as backend tensors; a gradient of something `fn` does not depend on is
None on TensorFlow and PyTorch and zeros on JAX.

`gradient_function(fn, variables_of, state_of)` is the same computation made
once for repeated calls: on JAX one `jax.jit`-compiled function (eager JAX
compiles every operation on its own, which costs seconds per model), to which
every call passes the current values of the variables, so it never holds
stale weights; elsewhere `value_and_grad` on each call (TensorFlow's
diagnostics compile their whole passes with `tf.function` instead).
"""

import keras

from keras_prelu.utils.backends import backend


def value_and_grad(fn, inputs=(), variables=()):
    """(value, [gradient per input], [gradient per variable]) of the scalar `fn(*inputs)`."""
    inputs, variables = list(inputs), list(variables)
    name = backend()
    if name == "tensorflow":
        return _tensorflow(fn, inputs, variables)
    if name == "jax":
        return _jax(fn, inputs, variables)
    if name == "torch":
        return _torch(fn, inputs, variables)
    raise NotImplementedError(
        "Gradients need the TensorFlow, JAX or PyTorch backend of Keras. "
        f"Received: backend={name!r}"
    )


def _tensorflow(fn, inputs, variables):
    import tensorflow as tf

    inputs = [tf.convert_to_tensor(x) for x in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = fn(*inputs)
    grads = tape.gradient(value, inputs + variables)
    return value, grads[: len(inputs)], grads[len(inputs) :]


def _jax(fn, inputs, variables):
    import jax

    inputs = [keras.ops.convert_to_tensor(x) for x in inputs]
    values = [v.value for v in variables]

    def pure(inputs, values):
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return fn(*inputs)

    value, (input_grads, variable_grads) = jax.value_and_grad(pure, argnums=(0, 1))(
        inputs, values
    )
    return value, list(input_grads), list(variable_grads)


def _torch(fn, inputs, variables):
    import torch

    inputs = [keras.ops.convert_to_tensor(x).detach().requires_grad_(True) for x in inputs]
    targets = inputs + [v.value for v in variables]
    with torch.enable_grad(), keras.StatelessScope():
        value = fn(*inputs)
    grads = torch.autograd.grad(value, targets, allow_unused=True) if targets else []
    return value.detach(), list(grads[: len(inputs)]), list(grads[len(inputs) :])


def gradient_function(fn, variables_of=tuple, state_of=tuple):
    """A function `(inputs, constants=()) -> (value, input grads, variable grads)` of the scalar
    `fn(*inputs, *constants)`, with respect to `inputs` and the variables `variables_of()`.

    `state_of()` lists every other variable `fn` reads (the model's `variables`): on JAX their
    values are arguments of the compiled function too (it compiles once per shape of the
    arguments). `constants` may hold arrays and None; they are not differentiated.
    """
    if backend() != "jax":

        def call(inputs, constants=()):
            return value_and_grad(lambda *args: fn(*args, *constants), inputs, variables_of())

        return call

    import jax

    current = {}

    def pure(inputs, values, other_values, constants):
        mapping = list(zip(current["variables"], values, strict=True))
        mapping += list(zip(current["others"], other_values, strict=True))
        with keras.StatelessScope(state_mapping=mapping):
            return fn(*inputs, *constants)

    compiled = jax.jit(jax.value_and_grad(pure, argnums=(0, 1)))

    def call(inputs, constants=()):
        variables = list(variables_of())
        differentiated = {id(v) for v in variables}
        others = [v for v in state_of() if id(v) not in differentiated]
        current.update(variables=variables, others=others)
        value, (input_grads, variable_grads) = compiled(
            [keras.ops.convert_to_tensor(x) for x in inputs],
            [v.value for v in variables],
            [v.value for v in others],
            list(constants),
        )
        return value, list(input_grads), list(variable_grads)

    return call
