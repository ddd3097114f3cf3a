"""Sculpting: remove rectifiers that have gone linear and merge the linear layers around them.

A PReLU whose slopes are all 1 is the identity. `sculpt` replaces every
PReLU (or LeakyReLU) whose slopes all lie within `tol` of 1 by the identity,
then merges the linear layers this makes adjacent:

- `Dense -> Dense` becomes one Dense: `W = W1 @ W2`, `b = b1 @ W2 + b2`;
- `ConvND -> ConvND(1x1, stride 1)` becomes one ConvND with the first
  convolution's geometry and the composed kernel;
- `ConvND (channels_last) -> Dense` likewise (a Dense acts on the channels).

The first layer of a merged pair must have a linear activation; the merged
layer keeps the second's activation. A merge that would add parameters (a
bottleneck, `n -> k -> m` with `k < n*m/(n+m)`) is skipped and reported.

Error bound: replacing `prelu_a` by the identity changes each input `x` of
that layer by `|a - 1| * |min(x, 0)| <= tol * |x|`. The change of the model's
output is at most the sum over removed layers of `tol * ||min(x, 0)||` times
the Lipschitz constant of the rest of the network from that layer on. With
slopes exactly 1 the only difference is float rounding of the merged kernels
(about 1e-6 relative in float32). Pass `x` to measure the actual change.
"""

import dataclasses

import keras
import numpy as np

from keras_prelu import layers as prelu_layers
from keras_prelu.utils.validation import check_number
from keras_prelu.diagnostics import _data, _graph, _kinds

_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


@dataclasses.dataclass
class SculptResult:
    """What `sculpt` did.

    Attributes:
        model: the new model (the input model is left unchanged).
        removed: [(layer name, max |a - 1|)] of the rectifiers replaced by the identity.
        merged: [(names of the merged layers, name of the new layer)].
        skipped: [(names, reason)] of merges that were possible but not done.
        tol: the tolerance used.
        max_abs_error: max |new(x) - old(x)| on the `x` given to `sculpt`, else None.
        parameters_before, parameters_after: parameter counts.
    """

    model: object
    removed: list
    merged: list
    skipped: list
    tol: float
    max_abs_error: float | None
    parameters_before: int
    parameters_after: int

    def __str__(self):
        lines = [
            f"sculpt(tol={self.tol:g}): {self.parameters_before} -> {self.parameters_after} parameters"
        ]
        for name, deviation in self.removed:
            lines.append(f"  removed {name} (max |a - 1| = {deviation:.3g})")
        for names, new in self.merged:
            lines.append(f"  merged {' + '.join(names)} -> {new}")
        for names, reason in self.skipped:
            lines.append(f"  kept {' + '.join(names)}: {reason}")
        if not (self.removed or self.merged):
            lines.append("  nothing to remove")
        if self.max_abs_error is not None:
            lines.append(f"  max |output change| on the check batch: {self.max_abs_error:.3g}")
        return "\n".join(lines)


def _slope_deviation(layer):
    """max |a - 1| over the layer's slopes, or None when it is not an identity candidate."""
    info = _kinds.rectifier(layer)
    if info is None or info.kind == _kinds.RELU:
        return None
    inner = info.layer
    if isinstance(inner, keras.layers.ReLU) and (
        inner.max_value is not None or float(inner.threshold) != 0.0
    ):
        return None
    if isinstance(inner, prelu_layers.RReLU):
        return max(abs(inner.lower - 1.0), abs(inner.upper - 1.0))
    if isinstance(inner, keras.layers.Activation):
        return None
    return float(np.max(np.abs(_kinds.slopes(layer) - 1.0)))


def _numpy(variable):
    return _kinds.to_numpy(variable)


def _is_linear(layer):
    return getattr(getattr(layer, "activation", None), "__name__", None) == "linear"


def _is_pointwise_conv(layer):
    return (
        isinstance(layer, _CONV)
        and all(k == 1 for k in layer.kernel_size)
        and all(s == 1 for s in layer.strides)
        and all(d == 1 for d in layer.dilation_rate)
        and layer.groups == 1
    )


@dataclasses.dataclass
class _Spec:
    """A linear layer as (class, config, kernel, bias), kernel's last axis = outputs."""

    cls: type
    config: dict
    kernel: np.ndarray
    bias: np.ndarray
    names: list

    @property
    def parameters(self):
        return int(self.kernel.size + self.bias.size)


def _spec(layer):
    kernel = _numpy(layer.kernel)
    bias = _numpy(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1])
    return _Spec(type(layer), layer.get_config(), kernel, bias, [layer.name])


def _parameters(layer):
    return int(sum(np.prod(w.shape) for w in layer.weights))


def _can_follow(spec, layer):
    """Can `layer` be composed after `spec` (before activation checks)?"""
    if issubclass(spec.cls, keras.layers.Dense):
        return isinstance(layer, keras.layers.Dense)
    if isinstance(layer, keras.layers.Dense):
        return spec.config.get("data_format", "channels_last") == "channels_last"
    return (
        _is_pointwise_conv(layer)
        and type(layer) is spec.cls
        and layer.data_format == spec.config.get("data_format")
    )


def _compose(spec, layer):
    second = _numpy(layer.kernel).reshape(-1, _numpy(layer.kernel).shape[-1])
    bias2 = _numpy(layer.bias) if layer.use_bias else np.zeros(second.shape[-1])
    kernel = np.tensordot(spec.kernel, second, axes=[[-1], [0]])
    bias = spec.bias @ second + bias2
    config = dict(spec.config)
    config["activation"] = keras.activations.serialize(layer.activation)
    config["use_bias"] = True
    config["units" if issubclass(spec.cls, keras.layers.Dense) else "filters"] = int(
        second.shape[-1]
    )
    return _Spec(spec.cls, config, kernel, bias, spec.names + [layer.name])


def _first_of_link(layer):
    return (
        isinstance(layer, (keras.layers.Dense,) + _CONV)
        and (not isinstance(layer, _CONV) or layer.groups == 1)
        and _is_linear(layer)
    )


def _plan(graph, removable, merge):
    """Merge chains for one graph: {id(first node): (spec, [nodes])}, skipped list."""
    calls = {}
    for node in graph.nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1

    def next_linear(node):
        """The weight node reached from `node` through removed identities only (>= 1 of them)."""
        if calls[id(node.operation)] > 1:
            return None
        current, passed = graph.sole_consumer(node), 0
        while current is not None and id(current) in removable:
            passed += 1
            current = graph.sole_consumer(current)
        if current is None or passed == 0 or calls[id(current.operation)] > 1:
            return None
        if len(current.input_tensors) != 1:
            return None
        return current

    links = {}
    for node in graph.nodes:
        if _first_of_link(node.operation):
            target = next_linear(node)
            if target is not None and isinstance(target.operation, (keras.layers.Dense,) + _CONV):
                links[id(node)] = target
    plans, skipped, absorbed = {}, [], set()
    if not merge:
        return plans, skipped
    for node in graph.nodes:
        if id(node) not in links or id(node) in absorbed:
            continue
        spec, members, cost = _spec(node.operation), [node], _parameters(node.operation)
        current = node
        while id(current) in links:
            target = links[id(current)]
            if not _can_follow(spec, target.operation):
                break
            candidate = _compose(spec, target.operation)
            total = cost + _parameters(target.operation)
            if candidate.parameters > total:
                skipped.append(
                    (
                        [graph.name(current), graph.name(target)],
                        f"merging would grow parameters from {total} to {candidate.parameters}",
                    )
                )
                break
            spec, cost = candidate, candidate.parameters
            members.append(target)
            if not _is_linear(target.operation):
                break
            current = target
        if len(members) > 1:
            plans[id(node)] = (spec, members)
            absorbed.update(id(m) for m in members)
    return plans, skipped


def sculpt(model, tol=1e-3, merge=True, x=None):
    """Remove rectifiers whose slopes are all within `tol` of 1 and merge the linear layers around them.

    Args:
        model: a Functional or Sequential model (left unchanged).
        tol: a layer goes when max |a - 1| <= tol over its slopes.
        merge: also merge the linear layers made adjacent (see module docstring).
        x: optional input batch: `max_abs_error` reports the output change on it.

    Returns:
        A `SculptResult` (`.model` is the new model).
    """
    tol = check_number("tol", tol, minimum=0.0)
    removed, merged, skipped = [], [], []
    plans_by_graph = {}

    def prepare(graph):
        key = id(graph.model)
        if key not in plans_by_graph:
            removable = {}
            for node in graph.nodes:
                deviation = _slope_deviation(node.operation)
                if deviation is not None and deviation <= tol and len(node.input_tensors) == 1:
                    removable[id(node)] = deviation
            plans, skips = _plan(graph, removable, merge)
            placement = {}
            for first_id, (spec, members) in plans.items():
                for member in members[1:]:
                    placement[id(member)] = first_id
            plans_by_graph[key] = (removable, plans, placement, {})
            skipped.extend(skips)
        return plans_by_graph[key]

    def rewrite(graph, node, args, kwargs, state):
        removable, plans, placement, outputs_of = prepare(graph)
        if id(node) in removable:
            removed.append((graph.name(node), removable[id(node)]))
            return args[0]
        if id(node) in placement:
            return outputs_of[placement[id(node)]]
        if id(node) not in plans:
            return None
        spec, members = plans[id(node)]
        config = dict(spec.config)
        config["name"] = f"{members[0].operation.name}_merged"
        new = state.new_layer(spec.cls, config)
        outputs = new(*args, **kwargs)
        new.kernel.assign(spec.kernel.reshape(new.kernel.shape).astype(new.kernel.dtype))
        new.bias.assign(spec.bias.astype(new.bias.dtype))
        outputs_of[id(node)] = outputs
        merged.append(([graph.name(m) for m in members], new.name))
        return outputs

    new_model = _graph.rebuild(model, rewrite)
    error = None
    if x is not None:
        batch, _, _ = _data.unpack(tuple(x) if isinstance(x, list) else x)
        old = keras.tree.flatten(model(batch, training=False))
        new = keras.tree.flatten(new_model(batch, training=False))
        error = max(
            float(np.max(np.abs(_numpy(a) - _numpy(b)))) if np.size(_numpy(a)) else 0.0
            for a, b in zip(old, new, strict=True)
        )
    return SculptResult(
        model=new_model,
        removed=removed,
        merged=merged,
        skipped=skipped,
        tol=tol,
        max_abs_error=error,
        parameters_before=int(model.count_params()),
        parameters_after=int(new_model.count_params()),
    )
