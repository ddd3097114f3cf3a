"""The registry: listing with patterns and natural order, get with overrides, register, info, errors."""

import keras
import pytest

import keras_prelu
import zoo
from zoo import blocks, registry

SUFFIXES = list(blocks.ACTIVATION_SUFFIXES)


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so user registrations in a test do not leak."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def _tiny(depth=1, units=4, activation="relu", input_shape=(3,), num_classes=2, name=None):
    inputs = keras.Input(input_shape)
    x = inputs
    for i in range(depth):
        x = keras.layers.Dense(units, name=f"hidden{i}")(x)
        x = keras_prelu.get_activation(activation, name=f"act{i}")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name=name)


def test_every_architecture_is_registered_with_every_activation():
    archs = [
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
        "resnet18",
        "resnet34",
        "resnet50",
    ]
    archs += ["mlp3x256", "mlp6x256", "mlp3x1024", "mlp30x128"]
    expected = {f"{arch}_{suffix}" for arch in archs for suffix in SUFFIXES}
    assert set(zoo.list_models()) == expected
    for name in expected:
        suffix = next(s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(f"_{s}"))
        assert registry.entry(name).defaults["activation"] == blocks.ACTIVATION_SUFFIXES[suffix]


def test_list_models_natural_sort_and_patterns():
    relu = zoo.list_models("resnet*_relu")
    assert relu == [
        "resnet18_relu", "resnet20_relu", "resnet32_relu", "resnet34_relu",
        "resnet44_relu", "resnet50_relu", "resnet56_relu", "resnet110_relu",
    ]  # fmt: skip
    assert zoo.list_models("mlp*_relu") == [
        "mlp3x256_relu",
        "mlp3x1024_relu",
        "mlp6x256_relu",
        "mlp30x128_relu",
    ]
    assert zoo.list_models(["resnet20_*", "mlp3x256_p*"], exclude="*_shared") == [
        "mlp3x256_prelu", "resnet20_leaky", "resnet20_prelu", "resnet20_relu", "resnet20_rrelu",
    ]  # fmt: skip
    assert zoo.list_models("resnet110_*", exclude=["*prelu*", "*leaky"]) == [
        "resnet110_relu",
        "resnet110_rrelu",
    ]
    assert zoo.list_models("no_such_*") == []
    assert zoo.list_models(None) == zoo.list_models() == zoo.list_models("*")
    assert zoo.list_models("RESNET20_RELU") == []  # case-sensitive, like the names


@pytest.mark.parametrize("argument", ["include", "exclude"])
def test_list_models_rejects_non_patterns(argument):
    with pytest.raises(ValueError, match=f"Received: {argument}=3"):
        zoo.list_models(**{argument: 3})


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ValueError, match="Did you mean: .*resnet20_prelu") as error:
        zoo.get("resnet20_prelus")
    assert "Received: name='resnet20_prelus'" in str(error.value)
    with pytest.raises(ValueError, match=r"zoo.list_models\(\)"):
        zoo.info("completely_different")


def test_get_returns_an_uncompiled_functional_model_named_after_the_entry():
    model = zoo.get("mlp3x256_prelu")
    assert isinstance(model, keras.Model) and model.__class__.__name__ == "Functional"
    assert not model.compiled
    assert model.name == "mlp3x256_prelu"
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)


def test_get_overrides_common_and_family_arguments():
    model = zoo.get(
        "mlp3x256_relu", input_shape=(4, 4, 2), num_classes=3, norm="batch", dropout=0.5
    )
    assert model.input_shape == (None, 4, 4, 2) and model.output_shape == (None, 3)
    names = [layer.name for layer in model.layers]
    assert {"layer1_bn", "layer3_dropout"} <= set(names)
    assert model.get_layer("layer1_dense").use_bias is False  # BatchNorm supplies the shift
    model = zoo.get("resnet20_relu", norm="none", input_shape=(8, 8, 3))
    assert not [layer for layer in model.layers if "_bn" in layer.name]
    assert model.get_layer("stem_conv").use_bias is True


def test_activation_override_brings_its_initializer():
    model = zoo.get("mlp3x256_relu", activation="prelu", input_shape=(4,))
    assert model.name == "mlp3x256_prelu"  # the name says what was built
    assert zoo.get("resnet20_prelu", activation="relu").name == "resnet20_relu"
    assert zoo.get("resnet20_prelu", activation="prelu").name == "resnet20_prelu"
    assert isinstance(model.get_layer("layer2_act"), keras_prelu.PReLU)
    assert model.get_layer("layer2_dense").kernel_initializer.negative_slope == 0.25
    model = zoo.get(
        "mlp3x256_relu", activation="leaky", input_shape=(4,)
    )  # an alias get_activation knows
    assert isinstance(model.get_layer("layer1_act"), keras_prelu.LeakyReLU)
    assert model.name == "mlp3x256_leaky"
    with pytest.raises(ValueError, match="Received: activation='swishy'"):
        zoo.get("mlp3x256_relu", activation="swishy")


def test_override_contradicting_the_variant_raises():
    with pytest.raises(ValueError, match="Received: depth=32"):
        zoo.get("resnet20_relu", depth=32)
    with pytest.raises(ValueError, match="Received: width=128"):
        zoo.get("mlp3x256_relu", width=128)
    with pytest.raises(ValueError, match="Received: depth=34"):
        zoo.get("resnet18_prelu", depth=34)
    # Restating the variant's own value is not a contradiction.
    assert zoo.get("mlp3x256_relu", depth=3, width=256, input_shape=(2,)).name == "mlp3x256_relu"


def test_unknown_or_invalid_arguments_raise():
    with pytest.raises(ValueError, match="Received: widht=3"):
        zoo.get("resnet20_relu", widht=3)
    with pytest.raises(ValueError, match="Received: norm='layer'"):
        zoo.get("resnet20_relu", norm="layer")
    with pytest.raises(ValueError, match="Received: num_classes=0"):
        zoo.get("mlp3x256_relu", num_classes=0)
    with pytest.raises(ValueError, match=r"Received: input_shape=\(32, 32\)"):
        zoo.get("resnet20_relu", input_shape=(32, 32))
    with pytest.raises(ValueError, match="Received: dropout=1.5"):
        zoo.get("mlp3x256_relu", dropout=1.5)


def test_family_builders_validate_depth():
    with pytest.raises(ValueError, match="Received: depth=21"):
        zoo.build_cifar_resnet(depth=21)
    with pytest.raises(ValueError, match="Received: depth=19"):
        zoo.build_imagenet_resnet(depth=19)
    assert zoo.build_cifar_resnet(depth=8, input_shape=(8, 8, 3)).name == "cifar_resnet8"


def test_register_function_and_decorator(scratch_registry):
    assert zoo.register("tiny_net", _tiny, depth=2) is _tiny
    assert "tiny_net" in zoo.list_models("tiny*")
    model = zoo.get("tiny_net", units=5)
    assert model.name == "tiny_net" and model.get_layer("hidden1").units == 5
    assert zoo.get("tiny_net", depth=1).get_layer("hidden0")  # user defaults are overridable

    @zoo.register("tiny_prelu", activation="prelu")
    def tiny_prelu(**kwargs):
        return _tiny(**kwargs)

    assert callable(tiny_prelu)

    @zoo.register
    def tiny_bare(name=None):
        return _tiny(name=name)

    assert zoo.get("tiny_bare").name == "tiny_bare"
    assert isinstance(zoo.get("tiny_prelu").get_layer("act0"), keras_prelu.PReLU)
    details = zoo.info("tiny_prelu")
    assert details["family"] == "tiny_prelu" and details["activation"] == "prelu"
    assert details["params"] == 3 * 4 + 4 + 4 + 4 * 2 + 2  # dense, slopes, classifier
    assert details["paper"] is None and details["published"] is None


def test_register_taken_name_raises(scratch_registry):
    with pytest.raises(ValueError, match="already registered.*Received: name='resnet20_relu'"):
        zoo.register("resnet20_relu", _tiny)
    zoo.register("mine", _tiny)
    with pytest.raises(ValueError, match="Received: name='mine'"):
        zoo.register("mine", _tiny)
    with pytest.raises(ValueError, match="Received: name='mine'"):
        zoo.register("mine")(_tiny)


def test_register_rejects_bad_entries(scratch_registry):
    with pytest.raises(ValueError, match="Received: name=''"):
        zoo.register("", _tiny)
    with pytest.raises(ValueError, match="Received: builder=3"):
        zoo.register("three", 3)
    with pytest.raises(ValueError, match="Received: colour='red'"):
        zoo.register("red_net", _tiny, colour="red")
    zoo.register("not_a_model", lambda **kwargs: "nope")
    with pytest.raises(ValueError, match="must return a keras.Model"):
        zoo.get("not_a_model")
    assert "three" not in zoo.list_models() and "red_net" not in zoo.list_models()


def test_info_cifar_resnet():
    details = zoo.info("resnet20_relu")
    assert details == {
        "name": "resnet20_relu",
        "family": "cifar_resnet",
        "depth": 20,
        "width": 16,
        "activation": "relu",
        "norm": "batch",
        "input_shape": (32, 32, 3),
        "num_classes": 10,
        "params": 269_722,
        "total_params": 269_722 + 2 * 688,  # BatchNorm moving mean and variance
        "paper": details["paper"],
        "published": {
            "metric": "CIFAR-10 test error (%)",
            "value": 8.75,
            "source": "He et al. 2016, Table 6",
            "activation": "relu",
        },
    }
    assert "He et al. 2016" in details["paper"]


def test_info_published_figures():
    expected = {
        "resnet32_prelu": 7.51, "resnet44_leaky": 7.17, "resnet56_rrelu": 6.97, "resnet110_relu": 6.43,
        "resnet18_relu": 69.758, "resnet34_prelu_shared": 73.314, "resnet50_relu": 76.130,
    }  # fmt: skip
    for name, value in expected.items():
        assert registry.entry(name).published["value"] == value
    entry = registry.entry("resnet50_relu")  # zoo.info on it runs in test_zoo_params
    assert entry.published["metric"] == "ImageNet top-1 accuracy (%)"
    config = entry.config()
    assert (config["input_shape"], config["num_classes"], config["depth"]) == (
        (224, 224, 3),
        1000,
        50,
    )
    mlp = zoo.info("mlp30x128_prelu")
    assert (mlp["depth"], mlp["width"], mlp["norm"], mlp["published"]) == (30, 128, "none", None)
    assert (mlp["input_shape"], mlp["num_classes"]) == ((28, 28, 1), 10)
