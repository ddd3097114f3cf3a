"""Is a rectifier network stable at its current weights? Gains, balancing slopes, gradient flow.

    report = stability_report(model, (x_batch, y_batch))
    print(report)            # markdown tables; report.ok, report.flags

Definitions (per weight layer i: Dense, Conv*, Conv*Transpose, DepthwiseConv*):

- `|w_i|`, the **weight gain**: `sqrt(fan_in * mean(w_i**2))` (the RMS row norm
  times sqrt(fan_in)), times the inference-mode gain `rms(gamma / sqrt(var + eps))`
  of a BatchNormalization right after the layer. It is the factor by which the
  layer scales the RMS of a random input with i.i.d. entries — He et al.'s
  `n * Var(w)` under a square root — so a slope-matched He init gives
  `|w| = sqrt(2 / (1 + a**2))`. (A spectral norm would be the worst case over
  inputs, about twice this for a square random matrix, and would flag
  well-initialised nets.)
- `a_i`, the **slope** of the rectifier after the layer: 0 for ReLU, the fixed
  slope for LeakyReLU, sqrt(E[a**2]) for RReLU, the RMS of the learned
  per-channel slopes for PReLU, 1 when no rectifier follows (linear).
- **negative-path gain** `a_i * |w_i|`: the gain of a signal that stays on
  the negative side; along a chain of L layers it is `prod(a_i * |w_i|)`.
- **balancing slope** `a* = (prod |w_i|) ** (-1 / L)`: the slope that would
  make the chain's negative-path gain exactly 1.
- **expected gain** `prod |w_i| * sqrt((1 + a_i**2) / 2)`: the RMS gain of the
  chain for zero-symmetric pre-activations (He et al. 2015); 1 is stable.

A **chain** is a maximal run of weight layers with no branch or merge between
them (an MLP is one chain; each residual branch of a ResNet is one). Nested
models are inlined.

Measured at the batch: per layer the gradient norm `||dL/dW||` of the
objective with respect to the layer's trainable weights, and `||dL/dz||`, the
norm of the gradient reaching the layer's output `z` (its pre-activation). The
objective L is the loss when `batch` has labels (the `loss` argument, else the
model's compiled loss); without labels it is a fixed random projection of the
outputs, `sum(r * outputs)` with `r ~ N(0, 1)`: its gradients estimate the
Jacobian's Frobenius norm, and unlike the plain sum of outputs it does not
vanish through a softmax. The **measured gain** of a chain is
`||dL/dz_first|| / ||dL/dz_last||`: how much the backward signal grows or
shrinks along it. Under a variance-preserving init it stays near 1 whatever
the layer widths. A chain (and the whole model, first to last weight layer)
is flagged "vanishing" or "exploding" when its measured gain is outside
`[1 / tolerance, tolerance]`, or when gradients are not finite. Flags use the
measured gain because BatchNormalization in training mode rescues layers
whose weights alone would look badly scaled.
"""

import dataclasses
import math
import weakref

import keras
import numpy as np
from keras import ops

from keras_prelu import layers as prelu_layers
from keras_prelu.utils.backends import is_tensorflow
from keras_prelu.utils.validation import check_number
from keras_prelu.diagnostics import _cache, _data, _gradients, _graph, _kinds

_CONV_LIKE = _kinds.LINEAR_LAYERS
_TRANSPOSED = _kinds.TRANSPOSED_CONVS
_DEPTHWISE = _kinds.DEPTHWISE_CONVS


def is_weight_layer(layer):
    """Dense, convolution, transposed and depthwise convolution layers."""
    return isinstance(layer, _CONV_LIKE)


def _kernel(layer):
    return layer.kernel


def fan_in(layer):
    """Number of inputs feeding one output unit of a weight layer."""
    shape = tuple(_kernel(layer).shape)
    if isinstance(layer, _DEPTHWISE):
        return int(np.prod(shape[:-2]))
    if isinstance(layer, _TRANSPOSED):
        strides = np.prod(layer.strides)
        return max(1, round(np.prod(shape[:-2]) * shape[-1] / strides))
    return int(np.prod(shape[:-1]))


def weight_gain(layer):
    """`sqrt(fan_in * mean(w**2))`: the RMS gain of the layer's kernel."""
    kernel = _kinds.to_numpy(_kernel(layer))
    return float(np.sqrt(fan_in(layer) * np.mean(kernel**2)))


def _batchnorm_gain(layer):
    gamma = _kinds.to_numpy(layer.gamma) if layer.scale else 1.0
    var = _kinds.to_numpy(layer.moving_variance)
    return float(np.sqrt(np.mean((gamma / np.sqrt(var + layer.epsilon)) ** 2)))


def effective_slope(layer):
    """RMS negative slope of a rectifier layer (sqrt(E[a**2]) for RReLU)."""
    info = _kinds.rectifier(layer)
    if isinstance(info.layer, prelu_layers.RReLU):
        return float(info.layer.rms_slope)
    values = _kinds.slopes(layer)
    return float(np.sqrt(np.mean(values**2)))


def _follow(graph, node):
    """(rectifier layer or None, slope, BatchNorm gain) after a weight layer's call."""
    fused = _kinds.fused_slope(node.operation)
    if fused != 1.0:
        return (
            node.operation.name if fused is not None else None,
            1.0 if fused is None else fused,
            1.0,
        )
    norm_gain = 1.0
    frontier, seen = [node], {id(node)}
    while frontier:
        current = frontier.pop(0)
        for consumer in graph.consumers(current):
            if id(consumer) in seen:
                continue
            seen.add(id(consumer))
            layer = consumer.operation
            if _kinds.is_rectifier(layer):
                return layer.name, effective_slope(layer), norm_gain
            if is_weight_layer(layer) or _graph.is_graph_model(layer):
                continue
            if isinstance(layer, keras.layers.BatchNormalization):
                norm_gain *= _batchnorm_gain(layer)
            elif isinstance(layer, keras.layers.Activation) and _kinds.fused_slope(layer) is None:
                return layer.name, 1.0, norm_gain  # another nonlinearity: counted as linear
            frontier.append(consumer)
    return None, 1.0, norm_gain


@dataclasses.dataclass
class LayerStability:
    """One weight layer: see the module docstring for the definitions."""

    name: str
    class_name: str
    fan_in: int
    weight_gain: float
    norm_gain: float
    activation: str | None
    slope: float
    negative_gain: float
    expected_gain: float
    grad_norm: float
    output_grad_norm: float


@dataclasses.dataclass
class ChainStability:
    """A run of weight layers without branches: gains, balancing slope, status."""

    layers: list
    weight_gain_product: float
    balancing_slope: float
    negative_path_gain: float
    expected_gain: float
    measured_gain: float | None
    status: str


@dataclasses.dataclass
class StabilityReport:
    """Result of `stability_report`: `layers`, `chains`, the end-to-end gain, `flags`."""

    layers: list
    chains: list
    end_to_end_gain: float | None
    end_to_end_status: str
    objective: str
    tolerance: float
    flags: list

    @property
    def ok(self):
        return not self.flags

    def layer(self, name):
        for entry in self.layers:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_dict(self):
        return _plain(dataclasses.asdict(self))

    def to_markdown(self):
        lines = [
            f"Objective: {self.objective}; tolerance x{self.tolerance:g}.",
            "",
            "| layer | fan-in | abs(w) | slope a | a*abs(w) | expected gain | grad norm dL/dW | grad norm dL/dz |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for e in self.layers:
            lines.append(
                f"| {e.name} | {e.fan_in} | {e.weight_gain:.3g} | {e.slope:.3g} | "
                f"{e.negative_gain:.3g} | {e.expected_gain:.3g} | {e.grad_norm:.3g} | "
                f"{e.output_grad_norm:.3g} |"
            )
        lines += [
            "",
            "| chain | L | prod abs(w) | balancing slope a* | negative-path gain | expected gain | measured gain | status |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for c in self.chains:
            shown = c.layers[0] if len(c.layers) == 1 else f"{c.layers[0]} .. {c.layers[-1]}"
            measured = "-" if c.measured_gain is None else f"{c.measured_gain:.3g}"
            lines.append(
                f"| {shown} | {len(c.layers)} | {c.weight_gain_product:.3g} | "
                f"{c.balancing_slope:.3g} | {c.negative_path_gain:.3g} | {c.expected_gain:.3g} | "
                f"{measured} | {c.status} |"
            )
        end = "-" if self.end_to_end_gain is None else f"{self.end_to_end_gain:.3g}"
        lines += [
            "",
            f"End to end (first to last weight layer): measured gain {end}, {self.end_to_end_status}.",
        ]
        lines.append("Flags: " + ("; ".join(self.flags) if self.flags else "none"))
        return "\n".join(lines)

    def __str__(self):
        return self.to_markdown()


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _chains(graph, weight_nodes):
    ids = {id(n) for n in weight_nodes}
    successors, predecessors = {}, {id(n): [] for n in weight_nodes}
    for node in weight_nodes:
        found, frontier, seen = [], [node], {id(node)}
        while frontier:
            current = frontier.pop()
            for consumer in graph.consumers(current):
                if id(consumer) in seen:
                    continue
                seen.add(id(consumer))
                if id(consumer) in ids:
                    found.append(consumer)
                else:
                    frontier.append(consumer)
        successors[id(node)] = found
        for succ in found:
            predecessors[id(succ)].append(node)

    def continues(u):
        succ = successors[id(u)]
        return len(succ) == 1 and len(predecessors[id(succ[0])]) == 1

    chains, placed = [], set()
    for node in weight_nodes:
        if id(node) in placed:
            continue
        preds = predecessors[id(node)]
        if len(preds) == 1 and continues(preds[0]):
            continue
        chain = [node]
        placed.add(id(node))
        while continues(chain[-1]):
            chain.append(successors[id(chain[-1])][0])
            placed.add(id(chain[-1]))
        chains.append(chain)
    return chains


def _status(gain, tolerance):
    if gain is None:
        return "ok"
    if not math.isfinite(gain):
        return "exploding" if gain > 0 or math.isnan(gain) else "vanishing"
    if gain < 1.0 / tolerance:
        return "vanishing"
    if gain > tolerance:
        return "exploding"
    return "ok"


def _ratio(a, b):
    if b == 0.0:
        return 0.0 if a == 0.0 else math.inf
    return a / b


def stability_report(model, batch, loss=None, training=True, tolerance=10.0, seed=0):
    """Weight gains, balancing slopes and measured gradient flow of `model` at its current weights.

    Args:
        model: a Functional or Sequential model.
        batch: `x`, `(x, y)` or `(x, y, sample_weight)` (or a dataset: its
            first batch is used).
        loss: loss for the labels (name or callable); default: the model's
            compiled loss. Ignored without labels.
        training: run the forward pass in training mode (BatchNorm uses batch
            statistics, as while training).
        tolerance: flag gains outside `[1 / tolerance, tolerance]`.
        seed: seed of the random output projection used without labels.

    Returns:
        A `StabilityReport` (see the module docstring for every quantity).
    """
    tolerance = check_number("tolerance", tolerance, minimum=1.0, strict_minimum=True)
    view = _graph.functional_view(model)
    nested = any(_graph.is_graph_model(layer) for layer in view.layers)
    if nested:  # analyse a flat copy (same weights, copied now)
        view = _graph.rebuild(view)
    graph = _graph.Graph(view)
    weight_nodes = [n for n in graph.nodes if is_weight_layer(n.operation)]
    if not weight_nodes:
        raise ValueError(
            "stability_report needs at least one Dense or convolution layer. "
            f"Received: model={model.name!r}"
        )
    x, y, sample_weight = (
        _data.first_batch(batch)
        if _data.is_dataset(batch)
        else _data.unpack(tuple(batch) if isinstance(batch, list) else batch)
    )

    def make():
        return _objective(model, view, weight_nodes, y is not None, loss, training, seed)

    if nested:
        objective, compute = make()
    else:
        key = ("stability", _cache.loss_key(loss), bool(training), int(seed), y is not None)
        objective, compute = _cache.cached(model, key, make)
    grad_norms, output_norms = compute(x, y, sample_weight)
    grad_norms = [float(v) for v in grad_norms]
    output_norms = [float(v) for v in output_norms]

    entries = _layer_entries(graph, weight_nodes, grad_norms, output_norms)
    flags = []
    if any(not math.isfinite(v) for v in grad_norms + output_norms):
        flags.append("non-finite gradients")
    chains = _chain_entries(graph, weight_nodes, entries, tolerance, flags)
    first, last = entries[id(weight_nodes[0])], entries[id(weight_nodes[-1])]
    end_to_end = (
        _ratio(first.output_grad_norm, last.output_grad_norm) if len(weight_nodes) > 1 else None
    )
    end_status = _status(end_to_end, tolerance)
    if end_status != "ok":
        flags.append(
            f"{end_status} gradients from {last.name} back to {first.name} (gain {end_to_end:.3g})"
        )
    return StabilityReport(
        layers=[entries[id(n)] for n in weight_nodes],
        chains=chains,
        end_to_end_gain=end_to_end,
        end_to_end_status=end_status,
        objective=objective,
        tolerance=tolerance,
        flags=flags,
    )


def _layer_entries(graph, weight_nodes, grad_norms, output_norms):
    """{id(node): LayerStability} for every weight layer, from its weights and measured norms."""
    entries = {}
    for i, node in enumerate(weight_nodes):
        layer = node.operation
        activation, slope, norm_gain = _follow(graph, node)
        gain = weight_gain(layer) * norm_gain
        entries[id(node)] = LayerStability(
            name=graph.name(node),
            class_name=type(layer).__name__,
            fan_in=fan_in(layer),
            weight_gain=gain,
            norm_gain=norm_gain,
            activation=activation,
            slope=slope,
            negative_gain=slope * gain,
            expected_gain=gain * math.sqrt((1.0 + slope**2) / 2.0),
            grad_norm=grad_norms[i],
            output_grad_norm=output_norms[i],
        )
    return entries


def _chain_entries(graph, weight_nodes, entries, tolerance, flags):
    """A ChainStability per chain of weight layers; a line in `flags` for each one out of tolerance."""
    chains = []
    for chain in _chains(graph, weight_nodes):
        members = [entries[id(n)] for n in chain]
        product = float(np.prod([m.weight_gain for m in members]))
        balancing = product ** (-1.0 / len(members)) if product > 0 else math.inf
        measured = None
        if len(members) > 1:
            measured = _ratio(members[0].output_grad_norm, members[-1].output_grad_norm)
        status = _status(measured, tolerance)
        chains.append(
            ChainStability(
                layers=[m.name for m in members],
                weight_gain_product=product,
                balancing_slope=balancing,
                negative_path_gain=float(np.prod([m.negative_gain for m in members])),
                expected_gain=float(np.prod([m.expected_gain for m in members])),
                measured_gain=measured,
                status=status,
            )
        )
        if status != "ok":
            flags.append(
                f"{status} chain {members[0].name} .. {members[-1].name} "
                f"(measured gain {measured:.3g}, expected {chains[-1].expected_gain:.3g})"
            )
    return chains


def _objective(model, view, weight_nodes, has_labels, loss, training, seed):
    """(description, function x, y, sample_weight -> (weight grad norms, output grad norms)):
    compiled on TensorFlow, batch by batch elsewhere.

    The function holds the model weakly (it is cached per model).
    """
    model_ref = weakref.ref(model)
    n_outputs = len(view.outputs)
    wanted = {id(n.operation) for n in weight_nodes}
    probe, _, _ = _graph.tap_model(
        view, lambda layer: id(layer) in wanted, where="output", with_outputs=True
    )
    layers = [n.operation for n in weight_nodes]
    variables = [layer.trainable_weights for layer in layers]
    loss_fn = None
    if has_labels:
        if loss is not None:
            loss_fn = keras.losses.get(loss)
            description = (
                f"loss {getattr(loss_fn, 'name', None) or getattr(loss_fn, '__name__', str(loss))}"
            )
        elif getattr(model, "compiled", False) and getattr(model, "loss", None) is not None:
            loss_fn = None
            description = "the model's compiled loss"
        else:
            raise ValueError(
                "The batch has labels but the model is not compiled with a loss: pass "
                "`loss=` or a batch without labels. Received: loss=None"
            )
    else:
        description = "random projection sum(r * outputs), r ~ N(0, 1)"
    build = _tf_compute if is_tensorflow() else _eager_compute
    compute = build(model_ref, view, weight_nodes, probe, n_outputs, variables, loss_fn,
                    training, seed)
    return description, compute


def _tf_compute(model_ref, view, weight_nodes, probe, n_outputs, variables, loss_fn, training,
                seed):
    """The TensorFlow pass: one `tf.function`, gradients with respect to the probe's taps."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def compute(x, y, sample_weight):
        with tf.GradientTape() as tape:
            values = probe(x, training=training)
            outputs, taps = values[:n_outputs], values[n_outputs:]
            y_pred = outputs[0] if n_outputs == 1 else outputs
            if y is not None and loss_fn is None:
                objective = model_ref().compute_loss(
                    x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
                )
            elif y is not None:
                objective = loss_fn(y, y_pred)
                if sample_weight is not None:
                    objective = tf.reduce_mean(objective * tf.cast(sample_weight, objective.dtype))
                objective = tf.reduce_mean(objective)
            else:
                objective = tf.add_n(
                    [
                        tf.reduce_sum(
                            tf.cast(o, tf.float32)
                            * tf.random.stateless_normal(tf.shape(o), seed=[seed, i])
                        )
                        for i, o in enumerate(outputs)
                    ]
                )
        flat_vars = [v for group in variables for v in group]
        grads = tape.gradient(objective, flat_vars + list(taps))
        weight_grads, tap_grads = grads[: len(flat_vars)], grads[len(flat_vars) :]
        norms, k = [], 0
        for group in variables:
            parts = [
                tf.reduce_sum(tf.square(tf.cast(g, tf.float64)))
                for g in weight_grads[k : k + len(group)]
                if g is not None
            ]
            k += len(group)
            norms.append(tf.sqrt(tf.add_n(parts)) if parts else tf.constant(0.0, tf.float64))
        output_norms = [
            tf.constant(0.0, tf.float64) if g is None else tf.norm(tf.cast(g, tf.float64))
            for g in tap_grads
        ]
        return norms, output_norms

    return compute


def _eager_compute(model_ref, view, weight_nodes, probe, n_outputs, variables, loss_fn,
                   training, seed):
    """The JAX and PyTorch pass: the graph runs call by call (`_graph.evaluate`) with a zero
    added to each weight layer's output, whose gradient is the gradient reaching that output.
    Without labels `r` is drawn by NumPy (from `seed`), not by TensorFlow's generator."""
    graph = _graph.Graph(view)
    graph.model = None  # cached per model: hold its layers, never the model itself
    state = list({id(v): v for node in graph.nodes for v in node.operation.variables}.values())
    position = {id(node): i for i, node in enumerate(weight_nodes)}
    flat_vars = [v for group in variables for v in group]
    count = len(weight_nodes)

    def objective(*args):
        deltas, (inputs, y, sample_weight) = args[:count], args[count:]

        def edit(node, outputs):
            i = position.get(id(node))
            return outputs if i is None else outputs + deltas[i]

        outputs = _graph.evaluate(graph, inputs, training, edit)
        y_pred = outputs[0] if n_outputs == 1 else outputs
        if y is not None and loss_fn is None:
            return model_ref().compute_loss(
                x=inputs, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
            )
        if y is not None:
            value = loss_fn(y, y_pred)
            if sample_weight is not None:
                value = ops.mean(value * ops.cast(sample_weight, value.dtype))
            return ops.mean(value)
        total = 0.0
        for i, o in enumerate(outputs):
            r = np.random.default_rng([seed, i]).standard_normal(tuple(o.shape))
            total = total + ops.sum(ops.cast(o, "float32") * ops.convert_to_tensor(r, "float32"))
        return total

    gradient = _gradients.gradient_function(
        objective, variables_of=lambda: flat_vars, state_of=lambda: state
    )

    def compute(x, y, sample_weight):
        specs = probe.compute_output_spec(keras.tree.map_structure(_spec, x))[n_outputs:]
        zeros = [np.zeros(spec.shape, spec.dtype) for spec in specs]
        _, tap_grads, weight_grads = gradient(zeros, [keras.tree.flatten(x), y, sample_weight])
        norms, k = [], 0
        for group in variables:
            parts = [_square_sum(g) for g in weight_grads[k : k + len(group)] if g is not None]
            k += len(group)
            norms.append(math.sqrt(sum(parts)) if parts else 0.0)
        return norms, [0.0 if g is None else math.sqrt(_square_sum(g)) for g in tap_grads]

    return compute


def _spec(value):
    return keras.KerasTensor(np.shape(value), keras.backend.standardize_dtype(value.dtype))


def _square_sum(gradient):
    return float(np.sum(np.square(ops.convert_to_numpy(gradient).astype(np.float64))))
