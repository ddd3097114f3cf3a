"""Walk and rewrite the layer graph of Functional and Sequential models.

Everything here works on symbolic Keras tensors only (no data): `Graph` lists
the layer calls of a model in topological order, `tap_model` builds one
`keras.Model` from the model's inputs to chosen tensors inside it (nested
Functional/Sequential sub-models included), `rebuild` re-creates a model call
by call, letting a rewrite function replace or skip calls.
"""

import weakref

import keras


_VIEWS = weakref.WeakKeyDictionary()


def is_graph_model(layer):
    """True for a Functional or Sequential model (a layer graph that can be walked)."""
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth")
    )


def functional_view(model):
    """A Functional model computing `model` with the same layers and an unknown batch size.

    Functional models are returned as they are. A Sequential model gets a
    Functional twin built from a fresh `keras.Input` (cached per model), so
    that a Sequential built by calling it on a batch (fixed batch size) works.
    """
    if not is_graph_model(model):
        raise ValueError(
            "Diagnostics need a Functional or Sequential Keras model (a layer graph); "
            f"subclassed models hide their graph. Received: model={type(model).__name__}"
        )
    if not isinstance(model, keras.Sequential):
        return model
    view = _VIEWS.get(model)
    if view is None:
        try:
            reference = model.inputs[0]
        except (AttributeError, TypeError, IndexError):
            raise ValueError(
                "The Sequential model has no defined input yet: start it with "
                "`keras.Input(shape)` or call it on a batch first. "
                f"Received: model={model.name!r}"
            ) from None
        inputs = keras.Input(
            batch_shape=(None,) + tuple(reference.shape[1:]),
            dtype=reference.dtype,
            name=f"{model.name}_input",
        )
        x = inputs
        for layer in model.layers:
            x = layer(x)
        view = keras.Model(inputs, x, name=model.name)
        _VIEWS[model] = view
    return view


def input_structure(model):
    """The symbolic inputs of a Functional model as it was built (a tensor, a list, a dict), so
    that a model built from them expects the inputs the model expects."""
    structure = getattr(model, "_inputs_struct", None)
    return list(model.inputs) if structure is None else structure


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is None or history.operation is None:
        return None
    node = history.operation._inbound_nodes[history.node_index]
    return None if node.is_input else node


class Graph:
    """The layer calls (`keras` Nodes) of a model, in topological order.

    Attributes:
        model: the Functional view that was walked.
        inputs, outputs: its symbolic input and output tensors.
        nodes: the calls, each after the calls it depends on.
        names: node -> unique name: the layer name, `name#k` for its k-th
            extra call inside this model.
    """

    def __init__(self, model):
        self.model = functional_view(model)
        self.inputs = list(self.model.inputs)
        self.outputs = list(self.model.outputs)
        self.nodes = []
        seen = set()
        for output in self.outputs:
            root = _producer(output)
            if root is None or id(root) in seen:
                continue
            stack = [(root, False)]
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    self.nodes.append(node)
                    continue
                if id(node) in seen:
                    continue
                seen.add(id(node))
                stack.append((node, True))
                for tensor in reversed(node.input_tensors):
                    parent = _producer(tensor)
                    if parent is not None and id(parent) not in seen:
                        stack.append((parent, False))
        self._consumers = {}
        self._producers = {}
        for node in self.nodes:
            for tensor in node.input_tensors:
                self._consumers.setdefault(id(tensor), []).append(node)
            for tensor in node.outputs:
                self._producers[id(tensor)] = node
        self._output_ids = {id(t) for t in self.outputs}
        counts = {}
        self.names = {}
        for node in self.nodes:
            name = node.operation.name
            k = counts.get(name, 0)
            counts[name] = k + 1
            self.names[id(node)] = name if k == 0 else f"{name}#{k}"

    def name(self, node):
        return self.names[id(node)]

    def consumers(self, node):
        """The calls that read any output of `node`."""
        found = []
        for tensor in node.outputs:
            for consumer in self._consumers.get(id(tensor), []):
                if consumer not in found:
                    found.append(consumer)
        return found

    def producers(self, node):
        """The calls whose outputs `node` reads (graph inputs excluded)."""
        found = []
        for tensor in node.input_tensors:
            producer = self._producers.get(id(tensor))
            if producer is not None and producer not in found:
                found.append(producer)
        return found

    def is_model_output(self, node):
        return any(id(t) in self._output_ids for t in node.outputs)

    def sole_consumer(self, node):
        """The one call reading `node`'s single output, if it is not also a model output."""
        if len(node.outputs) != 1 or self.is_model_output(node):
            return None
        consumers = self._consumers.get(id(node.outputs[0]), [])
        return consumers[0] if len(consumers) == 1 else None


def collect_taps(model, select, where="input", prefix=""):
    """Symbolic tensors at the inputs (or outputs) of the calls `select` accepts.

    Returns a list of (name, layer, tensor) where the tensors live in the graph
    of `functional_view(model)`; calls inside nested graph models are reached
    by calling a tap model of the nested model on its symbolic input, and are
    named `outer/inner`.
    """
    graph = Graph(model)
    taps = []
    for node in graph.nodes:
        layer = node.operation
        name = prefix + graph.name(node)
        if is_graph_model(layer):
            inner = collect_taps(layer, select, where, prefix=name + "/")
            if inner:
                inner_view = functional_view(layer)
                probe = keras.Model(input_structure(inner_view), [t for _, _, t in inner])
                args = node.input_tensors
                outputs = probe(args[0] if len(args) == 1 else list(args))
                if not isinstance(outputs, (list, tuple)):
                    outputs = [outputs]
                taps.extend((n, lyr, t) for (n, lyr, _), t in zip(inner, outputs, strict=True))
            continue
        if not select(layer):
            continue
        tensors = node.input_tensors if where == "input" else node.outputs
        if len(tensors) != 1:
            continue
        taps.append((name, layer, tensors[0]))
    return taps


def tap_model(model, select, where="input", with_outputs=False):
    """A `keras.Model` from the model's inputs to the tapped tensors.

    Returns (probe, names, layers). With `with_outputs`, the probe returns
    `[*model_outputs, *taps]` from one forward pass.
    """
    view = functional_view(model)
    taps = collect_taps(view, select, where)
    tensors = [t for _, _, t in taps]
    if with_outputs:
        tensors = list(view.outputs) + tensors
    if not tensors:
        return None, [], []
    probe = keras.Model(input_structure(view), tensors, name=f"{view.name}_probe")
    return probe, [n for n, _, _ in taps], [lyr for _, lyr, _ in taps]


class RebuildState:
    """What `rebuild` shares between graph levels: copies made so far and names taken."""

    def __init__(self):
        self.copies = {}
        self.names = set()

    def unique_name(self, name, prefix=""):
        candidate = name if name not in self.names else f"{prefix}{name}"
        k = 1
        while candidate in self.names:
            candidate = f"{prefix}{name}_{k}"
            k += 1
        self.names.add(candidate)
        return candidate

    def copy(self, layer, prefix=""):
        """A new layer with `layer`'s config; its weights are copied once the new model is built."""
        key = id(layer)
        if key not in self.copies:
            config = layer.get_config()
            config["name"] = self.unique_name(layer.name, prefix)
            self.copies[key] = (type(layer).from_config(config), layer)
        return self.copies[key][0]

    def new_layer(self, cls, config, prefix=""):
        """A new layer of `cls` from `config`, under a name not taken yet."""
        config = dict(config)
        config["name"] = self.unique_name(config.get("name") or cls.__name__.lower(), prefix)
        return cls.from_config(config)


def rebuild(model, rewrite=None, name=None):
    """A new, flat Functional model computing the graph of `model` call by call.

    `rewrite(graph, node, args, kwargs, state)` may return the outputs of a
    replacement for a call (built with `state.new_layer`, weights set by the
    rewrite after calling it), the call's input to skip it, or None to copy
    the layer (same config, same weights). Nested graph models are inlined
    (their layers become layers of the new model; a clashing name gets the
    nested model's name as a prefix).
    """
    graph = Graph(model)
    state = RebuildState()
    new_inputs = []
    for tensor in graph.inputs:
        input_name = _input_name(tensor)
        new_inputs.append(
            keras.Input(
                batch_shape=tuple(tensor.shape),
                dtype=tensor.dtype,
                name=None if input_name is None else state.unique_name(input_name),
            )
        )
    outputs = _run(graph, new_inputs, rewrite, state, prefix="")
    for new, old in state.copies.values():
        if old.weights:
            new.set_weights(old.get_weights())
    structure = getattr(graph.model, "_outputs_struct", None)
    if structure is not None:
        outputs = keras.tree.pack_sequence_as(structure, outputs)
    elif len(outputs) == 1:
        outputs = outputs[0]
    in_structure = getattr(graph.model, "_inputs_struct", None)
    inputs = (
        keras.tree.pack_sequence_as(in_structure, new_inputs)
        if in_structure is not None
        else new_inputs
    )
    return keras.Model(inputs, outputs, name=name or model.name)


def _run(graph, inputs, rewrite, state, prefix):
    values = {id(t): v for t, v in zip(graph.inputs, inputs, strict=True)}
    for node in graph.nodes:
        args, kwargs = node.arguments.fill_in(values)
        outputs = rewrite(graph, node, args, kwargs, state) if rewrite else None
        if outputs is None:
            layer = node.operation
            if is_graph_model(layer):
                inner = Graph(layer)
                outputs = _run(
                    inner, keras.tree.flatten(args), rewrite, state, prefix=f"{prefix}{layer.name}_"
                )
            else:
                outputs = state.copy(layer, prefix)(*args, **kwargs)
        flat = keras.tree.flatten(outputs)
        for old, new in zip(node.outputs, flat, strict=True):
            values[id(old)] = new
    return [values[id(t)] for t in graph.outputs]


def _input_name(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is not None and history.operation is not None:
        return history.operation.name
    return None


def _takes_training(operation):
    """Whether a call of `operation` gets the `training` flag (as Keras's Functional passes it)."""
    names = getattr(operation, "_call_context_args", None)
    if names is None:  # Keras before 3.10
        return bool(getattr(operation, "_call_has_training_arg", False))
    return "training" in names


def evaluate(graph, inputs, training=None, edit=None):
    """Run the calls of a `Graph` on concrete `inputs` with the model's own layers.

    Computes what calling the Functional model computes, call by call, so that
    `edit(node, outputs)` can replace a call's outputs before later calls read
    them (the diagnostics add zero perturbations there: their gradients are the
    gradients with respect to the call's outputs). `inputs` is the flat list of
    the model's inputs. Returns the flat list of its outputs.
    """
    values = {
        id(t): keras.ops.convert_to_tensor(v, dtype=t.dtype)
        for t, v in zip(graph.inputs, inputs, strict=True)
    }
    for node in graph.nodes:
        args, kwargs = node.arguments.fill_in(values)
        operation = node.operation
        if training is not None and _takes_training(operation):
            kwargs["training"] = training
        outputs = operation(*args, **kwargs)
        if edit is not None:
            outputs = edit(node, outputs)
        for old, new in zip(node.outputs, keras.tree.flatten(outputs), strict=True):
            values[id(old)] = new
    return [values[id(t)] for t in graph.outputs]
