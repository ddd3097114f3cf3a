"""BatchNorm next to PReLU: find scale/slope trade-offs, fold inference-mode BatchNorm away.

A BatchNormalization followed by a PReLU is not identifiable: per channel,
with `z = gamma * x_hat + beta` and the next linear layer `W`,

- PReLU is positively homogeneous, so `(gamma, beta, W) -> (c*gamma, c*beta, W/c)`
  for any `c > 0` gives the same function (the BatchNorm scale trades off
  against the next layer);
- `prelu_a(z) = -prelu_{1/a}(-a*z) ` for `a > 0`, so
  `(gamma, beta, a, W) -> (-a*gamma, -a*beta, 1/a, -W)` gives the same function:
  the sign and size of the BatchNorm scale trade off against the slope
  (a channel with `gamma < 0` learns its slope on what is, for `x_hat`, the
  positive side);
- on a channel whose inputs are all negative only the product `a * gamma`
  matters (see `NegativeFractionMonitor` for such channels).

`find_bn_prelu_pairs` reports these pairs; `fold_batchnorm` merges
inference-mode BatchNorm into the preceding Dense/convolution.
"""

import dataclasses

import keras
import numpy as np

from keras_prelu.diagnostics import _graph, _kinds

_FOLDABLE = _kinds.LINEAR_LAYERS
_TRANSPOSED = _kinds.TRANSPOSED_CONVS
_DEPTHWISE = _kinds.DEPTHWISE_CONVS


@dataclasses.dataclass
class BNPReLUPair:
    """A BatchNormalization whose output feeds a PReLU directly.

    Attributes:
        batchnorm, prelu: layer names.
        channels: number of BatchNorm channels.
        gamma_mean, gamma_min, gamma_max: the BatchNorm scale (1 without `scale`).
        slope_mean, slope_min, slope_max: the PReLU slopes.
        negative_scale_channels: channels with gamma < 0, where the slope
            acts on the positive side of the normalised input.
        shared_output: the BatchNorm output also feeds other layers.
    """

    batchnorm: str
    prelu: str
    channels: int
    gamma_mean: float
    gamma_min: float
    gamma_max: float
    slope_mean: float
    slope_min: float
    slope_max: float
    negative_scale_channels: int
    shared_output: bool

    def __str__(self):
        return (
            f"{self.batchnorm} -> {self.prelu}: {self.channels} channels, gamma in "
            f"[{self.gamma_min:.3g}, {self.gamma_max:.3g}] (mean {self.gamma_mean:.3g}), slope in "
            f"[{self.slope_min:.3g}, {self.slope_max:.3g}] (mean {self.slope_mean:.3g}); "
            f"{self.negative_scale_channels} channel(s) with gamma < 0. Non-identifiable: "
            "(gamma, beta, a, W_next) ~ (c*gamma, c*beta, a, W_next/c) ~ (-a*gamma, -a*beta, 1/a, -W_next)."
        )


def _numpy(variable):
    return _kinds.to_numpy(variable)


def find_bn_prelu_pairs(model):
    """Every BatchNormalization -> PReLU pair (nested models included, named `outer/inner`).

    Returns a list of `BNPReLUPair` (empty when there is none); see the module
    docstring for the trade-offs they allow.
    """
    pairs = []
    _collect_pairs(model, "", pairs)
    return pairs


def _collect_pairs(model, prefix, pairs):
    graph = _graph.Graph(model)
    for node in graph.nodes:
        layer = node.operation
        if _graph.is_graph_model(layer):
            _collect_pairs(layer, prefix + graph.name(node) + "/", pairs)
            continue
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        consumers = graph.consumers(node)
        for consumer in consumers:
            if not _kinds.has_learnable_slope(consumer.operation):
                continue
            gamma = _numpy(layer.gamma) if layer.scale else np.ones(_numpy(layer.moving_mean).shape)
            slopes = _kinds.slopes(consumer.operation)
            pairs.append(
                BNPReLUPair(
                    batchnorm=prefix + graph.name(node),
                    prelu=prefix + graph.name(consumer),
                    channels=int(gamma.size),
                    gamma_mean=float(gamma.mean()),
                    gamma_min=float(gamma.min()),
                    gamma_max=float(gamma.max()),
                    slope_mean=float(slopes.mean()),
                    slope_min=float(slopes.min()),
                    slope_max=float(slopes.max()),
                    negative_scale_channels=int((gamma < 0).sum()),
                    shared_output=len(consumers) > 1 or graph.is_model_output(node),
                )
            )


def _output_channel_axis(layer, rank):
    if isinstance(layer, keras.layers.Dense):
        return rank - 1
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else rank - 1


def _bn_axes(bn, rank):
    axis = bn.axis if isinstance(bn.axis, (list, tuple)) else [bn.axis]
    return sorted(a % rank for a in axis)


def _foldable_pairs(graph):
    """{id(weight node): bn node} for the BatchNorms `fold_batchnorm` can fold."""
    calls = {}
    for node in graph.nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1
    found = {}
    for node in graph.nodes:
        layer = node.operation
        if not isinstance(layer, _FOLDABLE) or calls[id(layer)] > 1:
            continue
        if getattr(getattr(layer, "activation", None), "__name__", None) != "linear":
            continue
        bn_node = graph.sole_consumer(node)
        if bn_node is None or not isinstance(bn_node.operation, keras.layers.BatchNormalization):
            continue
        bn = bn_node.operation
        if calls[id(bn)] > 1 or getattr(bn, "renorm", False):
            continue
        rank = len(node.outputs[0].shape)
        if _bn_axes(bn, rank) != [_output_channel_axis(layer, rank)]:
            continue
        found[id(node)] = bn_node
    return found


def _folded_weights(layer, bn):
    """Kernel and bias of `layer` with the inference-mode `bn` after it folded in."""
    mean, var = _numpy(bn.moving_mean), _numpy(bn.moving_variance)
    gamma = _numpy(bn.gamma) if bn.scale else np.ones_like(mean)
    beta = _numpy(bn.beta) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + bn.epsilon)
    shift = beta - mean * scale
    kernel = _numpy(layer.kernel)
    if isinstance(layer, _TRANSPOSED):
        kernel = kernel * scale[:, None]
    elif isinstance(layer, _DEPTHWISE):
        kernel = kernel * scale.reshape(kernel.shape[-2], kernel.shape[-1])
    else:
        kernel = kernel * scale
    bias = _numpy(layer.bias) if layer.use_bias else np.zeros_like(mean)
    return kernel, bias * scale + shift


def fold_batchnorm(model):
    """A new model with every inference-mode BatchNorm folded into the Dense/convolution before it.

    Folds `BN(W x + b)` into `W' x + b'` with `s = gamma / sqrt(var + eps)`,
    `W' = W * s` (per output channel) and `b' = b * s + beta - mean * s`, for
    Dense, Conv1D/2D/3D, their transposes and depthwise convolutions with a
    linear activation whose output feeds only the BatchNorm (normalising the
    channel axis). Other BatchNorms are kept. The result computes what the
    model computes in inference mode (to float rounding, about 1e-6
    relative) and can't be trained as a BatchNorm model; the input model is
    left unchanged. Nested models are inlined.
    """

    def rewrite(graph, node, args, kwargs, state):
        key = id(graph.model)
        if key not in graph_pairs:
            graph_pairs[key] = _foldable_pairs(graph)
        pairs = graph_pairs[key]
        bn_nodes = {id(bn): weight for weight, bn in pairs.items()}
        if id(node) in bn_nodes:
            return args[0]
        if id(node) not in pairs:
            return None
        layer, bn = node.operation, pairs[id(node)].operation
        config = layer.get_config()
        config["use_bias"] = True
        new = state.new_layer(type(layer), config)
        outputs = new(*args, **kwargs)
        kernel, bias = _folded_weights(layer, bn)
        new.kernel.assign(kernel.astype(new.kernel.dtype))
        new.bias.assign(bias.astype(new.bias.dtype))
        return outputs

    graph_pairs = {}
    return _graph.rebuild(model, rewrite)


def foldable_batchnorms(model):
    """(layer, batchnorm) name pairs that `fold_batchnorm` folds (top level and nested)."""
    found = []
    _collect_foldable(model, "", found)
    return found


def _collect_foldable(model, prefix, found):
    graph = _graph.Graph(model)
    pairs = _foldable_pairs(graph)
    for node in graph.nodes:
        if _graph.is_graph_model(node.operation):
            _collect_foldable(node.operation, prefix + graph.name(node) + "/", found)
        elif id(node) in pairs:
            found.append((prefix + graph.name(node), prefix + graph.name(pairs[id(node)])))
