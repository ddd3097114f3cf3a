"""Every registered model builds; a representative subset trains one step and survives a `.keras`
round trip in a fresh process; the full sweep runs with --run-slow."""

import json
import re

import keras
import numpy as np
import pytest

import keras_prelu
import zoo
from conftest import run_python
from zoo import blocks, registry

ALL_MODELS = zoo.list_models()
# Small inputs and few classes keep even ResNet-50 cheap on a CPU.
SMALL = {
    "cifar_resnet": {"input_shape": (16, 16, 3), "num_classes": 3},
    "imagenet_resnet": {"input_shape": (32, 32, 3), "num_classes": 5},
    "mlp": {"input_shape": (6, 6, 1), "num_classes": 4},
}
ACTIVATION_LAYERS = {
    "relu": keras.layers.ReLU,
    "leaky_relu": keras_prelu.LeakyReLU,
    "prelu": keras_prelu.PReLU,
    "prelu_shared": keras_prelu.PReLU,
    "rrelu": keras_prelu.RReLU,
}
READABLE_NAME = re.compile(
    r"(input|flatten|pool|classifier|stem_(conv|bn|act|pool)"
    r"|stage\d+_block\d+_(conv\d|bn\d|act\d|add|shortcut|shortcut_conv|shortcut_bn)"
    r"|layer\d+_(dense|bn|act|dropout))"
)


# Trained one step and round-tripped by default: every activation on the cheapest family and PReLU on
# every family (the rest of the zoo with --run-slow; a ResNet train step costs seconds on a small CPU).
REPRESENTATIVES = [
    "mlp3x256_relu",
    "mlp3x256_leaky",
    "mlp3x256_prelu",
    "mlp3x256_prelu_shared",
    "mlp3x256_rrelu",
    "resnet20_prelu",
    "resnet18_prelu",
]
OTHERS = [name for name in ALL_MODELS if name not in REPRESENTATIVES]


def _default_builds():
    """Every architecture with PReLU, and every activation on each family's smallest architecture.

    Building costs about a second per ResNet on a small CPU (variable creation), so
    the other ~35 registry entries are built with --run-slow.
    """
    smallest = {}
    for name in ALL_MODELS:  # natural order: the shallowest comes first
        entry = registry.entry(name)
        smallest.setdefault(entry.family, entry.arch)
    return [
        name
        for name in ALL_MODELS
        if registry.entry(name).arch in smallest.values()
        or registry.entry(name).defaults["activation"] == "prelu"
    ]


DEFAULT_BUILDS = _default_builds()


def _small_model(name):
    return zoo.get(name, **SMALL[registry.entry(name).family])


def _inputs(name, batch=2, seed=0):
    shape = SMALL[registry.entry(name).family]["input_shape"]
    return np.random.default_rng(seed).standard_normal((batch, *shape)).astype("float32")


def _expected_activations(entry):
    depth = entry.defaults["depth"]
    if entry.family == "cifar_resnet":
        return depth - 1  # the stem, then two per basic block
    if entry.family == "imagenet_resnet":
        from zoo.imagenet_resnet import RESNET_SPECS

        kind, blocks = RESNET_SPECS[depth]
        return 1 + sum(blocks) * (2 if kind == "basic" else 3)
    return depth


def test_representatives_cover_every_family_and_activation():
    families = {registry.entry(name).family for name in ALL_MODELS}
    assert families == set(SMALL)
    assert {registry.entry(name).family for name in REPRESENTATIVES} == families
    activations = {registry.entry(name).defaults["activation"] for name in REPRESENTATIVES}
    assert activations == set(blocks.ACTIVATION_SUFFIXES.values())


def test_default_builds_cover_every_architecture_and_activation():
    archs = {registry.entry(name).arch for name in ALL_MODELS}
    assert {registry.entry(name).arch for name in DEFAULT_BUILDS} == archs
    for family in SMALL:
        built = {
            registry.entry(n).defaults["activation"]
            for n in DEFAULT_BUILDS
            if registry.entry(n).family == family
        }
        assert built == set(blocks.ACTIVATION_SUFFIXES.values())


@pytest.mark.parametrize(
    "name",
    [n if n in DEFAULT_BUILDS else pytest.param(n, marks=pytest.mark.slow) for n in ALL_MODELS],
)
def test_builds_with_matching_activations_and_initializers(name):
    entry = registry.entry(name)
    activation = entry.defaults["activation"]
    model = _small_model(name)
    assert model.name == name
    assert not model.compiled
    # Symbolic shapes only: the representatives below run real forward and backward passes.
    assert model.output_shape == (None, SMALL[entry.family]["num_classes"])

    for layer in model.layers:
        assert READABLE_NAME.fullmatch(layer.name), layer.name
    # No layer is called twice (a shared activation or block would show two inbound nodes).
    for layer_config in model.get_config()["layers"]:
        assert len(layer_config["inbound_nodes"]) <= 1, layer_config["name"]

    acts = [layer for layer in model.layers if re.search(r"_act\d*$", layer.name)]
    assert len(acts) == _expected_activations(entry)
    for layer in acts:
        assert type(layer) is ACTIVATION_LAYERS[activation], layer.name
        if activation.startswith("prelu"):
            (alpha,) = layer.weights
            assert alpha.name == "alpha"
            channels = layer.input.shape[-1]
            assert alpha.shape == ((1,) if activation == "prelu_shared" else (channels,))
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(alpha), 0.25)

    slope = keras_prelu.negative_slope_of(activation)
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel_initializer")]
    hidden = [layer for layer in kernels if layer.name != "classifier"]
    assert hidden and len(hidden) == len(kernels) - 1
    for layer in hidden:
        assert isinstance(layer.kernel_initializer, keras_prelu.PReLUHeNormal), layer.name
        assert layer.kernel_initializer.negative_slope == pytest.approx(slope), layer.name
    assert len({id(layer.kernel_initializer) for layer in kernels}) == len(kernels)


class _TrainedModels:
    """Trains each model one step once per module, saves it as `.keras` and remembers its predictions."""

    def __init__(self, directory):
        self.directory = directory
        self.losses = {}
        self.predictions = {}

    def train_and_save(self, name):
        if name not in self.losses:
            model = _small_model(name)
            model.compile(
                optimizer=keras.optimizers.SGD(
                    0.05, global_clipnorm=1.0
                ),  # tiny batches: bound the step
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            )
            x = _inputs(name, batch=4, seed=1)
            y = np.arange(4) % model.output_shape[-1]
            self.losses[name] = float(model.train_on_batch(x, y))
            assert np.isfinite(self.losses[name]), name
            slopes = [w for w in model.trainable_weights if w.name == "alpha"]
            if slopes:  # one step moves the slopes off their initial 0.25
                assert any(np.any(keras.ops.convert_to_numpy(w) != 0.25) for w in slopes)
            model.save(self.directory / f"{name}.keras")
            probe = _inputs(name, batch=3, seed=2)
            np.save(self.directory / f"{name}.input.npy", probe)
            self.predictions[name] = keras.ops.convert_to_numpy(model(probe, training=False))
            assert self.predictions[name].shape == (3, model.output_shape[-1])
            assert np.all(np.isfinite(self.predictions[name]))
        return self.losses[name]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return _TrainedModels(tmp_path_factory.mktemp("zoo_models"))


_RELOAD = r"""
import json, sys
import numpy as np
import keras
import keras_prelu  # registers the rectifiers, initializers and constraints
import zoo  # registers the zoo's own layers (ZeroPadShortcut), as the README says
directory, names = sys.argv[1], json.loads(sys.argv[2])
for name in names:
    model = keras.saving.load_model(f"{directory}/{name}.keras", safe_mode=True)
    probe = np.load(f"{directory}/{name}.input.npy")
    np.save(f"{directory}/{name}.reloaded.npy", keras.ops.convert_to_numpy(model(probe, training=False)))
"""


def _check_round_trip(trained, names):
    for name in names:
        trained.train_and_save(name)
    run_python("-c", _RELOAD, trained.directory, json.dumps(names), timeout=600)
    for name in names:
        reloaded = np.load(trained.directory / f"{name}.reloaded.npy")
        np.testing.assert_array_equal(reloaded, trained.predictions[name], err_msg=name)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_one_train_step_gives_finite_loss(name, trained):
    assert np.isfinite(trained.train_and_save(name))


def test_keras_round_trip_in_fresh_process(trained):
    _check_round_trip(trained, REPRESENTATIVES)


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHERS)
def test_one_train_step_gives_finite_loss_all(name, trained):
    assert np.isfinite(trained.train_and_save(name))


@pytest.mark.slow
def test_keras_round_trip_in_fresh_process_all(trained):
    _check_round_trip(trained, ALL_MODELS)
